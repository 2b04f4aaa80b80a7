// Adam, AdamW and Adamax; semantics follow mlx.optimizers (no bias correction unless asked).
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type LearningRate, Optimizer, type ParamState } from './optimizer.js';

export interface AdamOptions {
  learningRate: LearningRate;
  /** Running-average coefficients (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Applies bias correction (default false, as MLX). */
  biasCorrection?: boolean;
}

function checkBetas(name: string, betas: number[]): void {
  betas.forEach((b, i) => {
    if (!(b >= 0 && b < 1)) throw new RangeError(`${name}: beta${i + 1} must be in [0, 1), got ${b}`);
  });
}

/**
 * Adam: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g²`, `w = w - lr m / (√v + eps)`.
 * @example const opt = new Adam({ learningRate: 1e-3 });
 */
export class Adam extends Optimizer {
  /** The options this class takes (a subclass that adds some lists them too). */
  protected static readonly optionKeys: readonly string[] = ['learningRate', 'betas', 'eps', 'biasCorrection'] satisfies (keyof AdamOptions)[];
  readonly betas: [number, number];
  readonly eps: number;
  readonly biasCorrection: boolean;

  constructor(options: AdamOptions) {
    super();
    checkOptionKeys(options, (new.target as unknown as typeof Adam).optionKeys, new.target.name);
    const { learningRate, betas = [0.9, 0.999], eps = 1e-8, biasCorrection = false } = options;
    checkBetas(this.constructor.name, betas);
    if (!(eps >= 0)) throw new RangeError(`${this.constructor.name}: eps must be >= 0, got ${eps}`);
    this.maybeSchedule('learning_rate', learningRate);
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.biasCorrection = biasCorrection;
  }

  protected hyperparameters(): Record<string, unknown> {
    return { betas: this.betas, eps: this.eps, biasCorrection: this.biasCorrection };
  }

  protected initSingle(parameter: mx.Array, state: ParamState): void {
    state.m = mx.zerosLike(parameter);
    state.v = mx.zerosLike(parameter);
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = mx.astype(this.learningRate, gradient.dtype);
    const [b1, b2] = this.betas;
    const m = mx.add(mx.multiply(b1, state.m), mx.multiply(1 - b1, gradient));
    const v = mx.add(mx.multiply(b2, state.v), mx.multiply(1 - b2, mx.square(gradient)));
    state.m = m;
    state.v = v;
    if (this.biasCorrection) {
      const step = this.step;
      const c1 = mx.astype(mx.divide(lr, mx.subtract(1, mx.power(b1, step))), gradient.dtype);
      const c2 = mx.astype(mx.rsqrt(mx.subtract(1, mx.power(b2, step))), gradient.dtype);
      return mx.subtract(parameter, mx.divide(mx.multiply(c1, m), mx.add(mx.multiply(mx.sqrt(v), c2), this.eps)));
    }
    return mx.subtract(parameter, mx.divide(mx.multiply(lr, m), mx.add(mx.sqrt(v), this.eps)));
  }
}

export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay (default 0.01). */
  weightDecay?: number;
}

/**
 * AdamW: Adam on `w (1 - lr λ)` (decoupled weight decay).
 * @example const opt = new AdamW({ learningRate: 1e-3, weightDecay: 0.01 });
 */
export class AdamW extends Adam {
  protected static override readonly optionKeys: readonly string[] = [...Adam.optionKeys, 'weightDecay'];
  readonly weightDecay: number;

  constructor(options: AdamWOptions) {
    super(options);
    this.weightDecay = options.weightDecay ?? 0.01;
  }

  protected hyperparameters(): Record<string, unknown> {
    return { ...super.hyperparameters(), weightDecay: this.weightDecay };
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = mx.astype(this.learningRate, gradient.dtype);
    return super.applySingle(gradient, mx.multiply(parameter, mx.subtract(1, mx.multiply(lr, this.weightDecay))), state);
  }
}

/**
 * Adamax: Adam with the infinity norm, `v = max(b2 v, |g|)`.
 * @example const opt = new Adamax({ learningRate: 2e-3 });
 */
export class Adamax extends Adam {
  protected static override readonly optionKeys: readonly string[] = ['learningRate', 'betas', 'eps'];

  constructor(options: Omit<AdamOptions, 'biasCorrection'>) {
    super(options);
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = mx.astype(this.learningRate, gradient.dtype);
    const [b1, b2] = this.betas;
    const m = mx.add(mx.multiply(b1, state.m), mx.multiply(1 - b1, gradient));
    const v = mx.maximum(mx.multiply(b2, state.v), mx.abs(gradient));
    state.m = m;
    state.v = v;
    return mx.subtract(parameter, mx.divide(mx.multiply(lr, m), mx.add(v, this.eps)));
  }
}
