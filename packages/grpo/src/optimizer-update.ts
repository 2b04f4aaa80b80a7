/**
 * The arithmetic of one optimizer step, apart from the training loop that decides when it runs:
 * summing micro-batches' gradients, then clipping them, decaying the weights and updating with
 * Adam, with the memory of every replaced array given back as soon as it can be.
 */
import * as mx from '@mlxn/core';
import { type Adam, clipGradNorm, type Module, type ParamDict } from '@mlxn/nn';
import { disposeExcept, mapTree, zipTrees } from './param-trees.js';

// HF's get_decay_parameter_names: no weight decay on biases and normalisation weights.
const NO_DECAY = /(^|\.)(bias|[a-z_]*norm[a-z_]*\.weight)$|layernorm|rmsnorm/i;

/**
 * `sum` + one micro-batch's `grads` (the new sum; both inputs are disposed): in float32, or with
 * `inParameterDtype` in each parameter's dtype (torch's `.grad` sums; under bf16 autocast the
 * gradients come in bfloat16 and float32 weights sum them in float32). `sum` null: the first.
 */
export function addGradients(sum: ParamDict | null, grads: ParamDict, model: Module, inParameterDtype: boolean): ParamDict {
  const dtypes = inParameterDtype ? new Map(mx.treeFlattenWithPaths(model.trainableParameters()).map(([k, p]) => [k, p.dtype])) : null;
  const widen = (g: mx.Array, path: string) => {
    const dtype = dtypes?.get(path) ?? 'float32';
    return g.dtype === dtype ? g : mx.astype(g, dtype);
  };
  if (sum === null) {
    const g32 = mapTree(grads, widen);
    const kept = mx.keep(g32);
    if (g32 !== grads) disposeExcept(grads, g32);
    return kept;
  }
  const next = mx.keep(mx.tidy(() => zipTrees(sum, mapTree(grads, widen), mx.add)));
  mx.eval(next);
  mx.dispose([sum, grads]);
  return next;
}

/**
 * Applies summed gradients (and disposes them): clips them to `maxGradNorm` (reporting the norm
 * before clipping; 0: no clipping), decays the weights (not norms and biases) and updates with
 * the optimizer at `learningRate`. A non-finite loss (`finite: false`) or gradient norm skips the
 * update. The replaced weights are disposed, except the KL reference's (`reference()`).
 */
export function applyGradients(
  model: Module,
  optimizer: Adam,
  grads: ParamDict,
  options: { finite: boolean; learningRate: number; maxGradNorm: number; weightDecay: number; reference: () => ParamDict | null },
): { gradNorm: number; skipped: boolean } {
  const lr = options.learningRate;
  let skipped: boolean;
  // Only the norm is evaluated here (whether to skip depends on it). The clipped gradients
  // stay lazy inside the update's graph, so no clipped copy of every gradient is held beside
  // the sums (for Qwen3-0.6B, 2.4 GB of float32).
  const [clipped, norm] = mx.tidy(() => {
    const [cl, n] =
      options.maxGradNorm > 0
        ? clipGradNorm(grads, options.maxGradNorm)
        : [
            grads,
            mx.sqrt(mx.treeFlattenWithPaths(grads).reduce<mx.Array | number>((s, [, g]) => mx.add(s, mx.sum(mx.square(g))), 0) as mx.Array),
          ];
    mx.eval(n);
    return [cl, n] as const;
  });
  const gradNorm = Number(norm.item());
  if (!options.finite || !Number.isFinite(gradNorm)) {
    skipped = true;
  } else {
    optimizer.learningRate = lr;
    const old = model.trainableParameters();
    mx.tidy(() => {
      if (options.weightDecay > 0) {
        const decay = 1 - lr * options.weightDecay;
        model.update(mapTree(old, (p, path) => (NO_DECAY.test(path) ? p : mx.astype(mx.multiply(p, decay), p.dtype))));
      }
      optimizer.update(model, clipped);
      // The sums are referenced by the update's graph alone from here, so each is freed as
      // soon as its parameter's update has used it.
      if (clipped !== grads) mx.dispose(grads);
      mx.eval(model.trainableParameters(), optimizer.state);
    });
    // The replaced weights are garbage now, unless they are the KL reference's.
    const keep = new Set(mx.treeFlattenWithPaths(options.reference()).map(([, a]) => a));
    for (const [, a] of mx.treeFlattenWithPaths(model.trainableParameters())) keep.add(a);
    for (const [, a] of mx.treeFlattenWithPaths(old)) if (!keep.has(a)) a.dispose();
    skipped = false;
  }
  mx.dispose([grads, clipped, norm]);
  return { gradNorm, skipped };
}
