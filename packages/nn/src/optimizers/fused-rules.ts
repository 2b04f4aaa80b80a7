// The element-wise update rules of the Adam family as pure functions of arrays, and their
// compiled forms. A rule written op by op makes about twenty graph nodes per parameter; as one
// shapeless `mx.compile`d function MLX fuses them into one kernel per parameter (the same ops in
// the same order, so the same values: the optimizer tests compare with Python MLX's unfused
// updates). On the CPU that cut the dispatch-bound MLP step of `bench:nn`; on a GPU it saves
// kernel launches.
import * as mx from '@mlxn/core';

/** One parameter's update: `[parameter, m, v]` from the gradient, the old values, the float32 learning rate and the uint64 step count after this update. */
export type UpdateRule = (
  gradient: mx.Array,
  parameter: mx.Array,
  m: mx.Array,
  v: mx.Array,
  learningRate: mx.Array,
  step: mx.Array,
) => mx.Array[];

export interface AdamHyperparameters {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly biasCorrection: boolean;
  /** Decoupled weight decay (AdamW); 0 makes no op. */
  readonly weightDecay: number;
}

export function adamRule(h: AdamHyperparameters): UpdateRule {
  const [b1, b2] = h.betas;
  return (gradient, parameter, m0, v0, learningRate, step) => {
    const lr = mx.astype(learningRate, gradient.dtype);
    const p = h.weightDecay === 0 ? parameter : mx.multiply(parameter, mx.subtract(1, mx.multiply(lr, h.weightDecay)));
    const m = mx.add(mx.multiply(b1, m0), mx.multiply(1 - b1, gradient));
    const v = mx.add(mx.multiply(b2, v0), mx.multiply(1 - b2, mx.square(gradient)));
    if (h.biasCorrection) {
      const c1 = mx.astype(mx.divide(lr, mx.subtract(1, mx.power(b1, step))), gradient.dtype);
      const c2 = mx.astype(mx.rsqrt(mx.subtract(1, mx.power(b2, step))), gradient.dtype);
      return [mx.subtract(p, mx.divide(mx.multiply(c1, m), mx.add(mx.multiply(mx.sqrt(v), c2), h.eps))), m, v];
    }
    return [mx.subtract(p, mx.divide(mx.multiply(lr, m), mx.add(mx.sqrt(v), h.eps))), m, v];
  };
}

export function adamaxRule(h: Pick<AdamHyperparameters, 'betas' | 'eps'>): UpdateRule {
  const [b1, b2] = h.betas;
  return (gradient, parameter, m0, v0, learningRate) => {
    const lr = mx.astype(learningRate, gradient.dtype);
    const m = mx.add(mx.multiply(b1, m0), mx.multiply(1 - b1, gradient));
    const v = mx.maximum(mx.multiply(b2, v0), mx.abs(gradient));
    return [mx.subtract(parameter, mx.divide(mx.multiply(lr, m), mx.add(v, h.eps))), m, v];
  };
}

// Shared by every optimizer with the same rule and hyperparameters, for the life of the process:
// a compiled function per optimizer instance would be erased when the instance is collected, and
// MLX's active memory would then move with the garbage collector. Bounded for hyperparameter
// sweeps; an evicted entry is erased once no optimizer uses it.
const MAX_RULES = 64;
const compiledRules = new Map<string, UpdateRule>();

/** The compiled form of `make()`, keyed by `key` (which must name everything the rule bakes in). */
export function compiledRule(key: string, make: () => UpdateRule): UpdateRule {
  let rule = compiledRules.get(key);
  if (rule === undefined) {
    rule = mx.compile(make(), { shapeless: true });
    if (compiledRules.size >= MAX_RULES) compiledRules.delete(compiledRules.keys().next().value as string);
    compiledRules.set(key, rule);
  }
  return rule;
}
