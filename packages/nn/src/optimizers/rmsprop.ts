// RMSprop, Adagrad and AdaDelta; semantics follow mlx.optimizers.
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type LearningRate, Optimizer, type ParamState } from './optimizer.js';

function positive(name: string, what: string, v: number): void {
  if (!(v > 0)) throw new RangeError(`${name}: ${what} must be > 0, got ${v}`);
}

/**
 * RMSprop: `v = α v + (1 - α) g²`, `w = w - lr g / (√v + eps)`.
 * @example const opt = new RMSprop({ learningRate: 1e-2, alpha: 0.99 });
 */
export class RMSprop extends Optimizer {
  readonly alpha: number;
  readonly eps: number;

  constructor(options: { learningRate: LearningRate; alpha?: number; eps?: number }) {
    super({ zeroState: ['v'] });
    checkOptionKeys(options, ['learningRate', 'alpha', 'eps'], 'RMSprop');
    const { learningRate, alpha = 0.99, eps = 1e-8 } = options;
    if (!(alpha >= 0)) throw new RangeError(`RMSprop: alpha must be >= 0, got ${alpha}`);
    positive('RMSprop', 'eps', eps);
    this.maybeSchedule('learning_rate', learningRate);
    this.alpha = alpha;
    this.eps = eps;
  }

  protected hyperparameters() {
    return { alpha: this.alpha, eps: this.eps };
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = this.learningRateFor(gradient);
    const v = mx.add(mx.multiply(this.alpha, state.v), mx.multiply(1 - this.alpha, mx.square(gradient)));
    state.v = v;
    return mx.subtract(parameter, mx.divide(mx.multiply(lr, gradient), mx.add(mx.sqrt(v), this.eps)));
  }
}

/**
 * Adagrad: `v = v + g²`, `w = w - lr g / (√v + eps)`.
 * @example const opt = new Adagrad({ learningRate: 0.1 });
 */
export class Adagrad extends Optimizer {
  readonly eps: number;

  constructor(options: { learningRate: LearningRate; eps?: number }) {
    super({ zeroState: ['v'] });
    checkOptionKeys(options, ['learningRate', 'eps'], 'Adagrad');
    const { learningRate, eps = 1e-8 } = options;
    positive('Adagrad', 'eps', eps);
    this.maybeSchedule('learning_rate', learningRate);
    this.eps = eps;
  }

  protected hyperparameters() {
    return { eps: this.eps };
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = this.learningRateFor(gradient);
    const v = mx.add(state.v, mx.square(gradient));
    state.v = v;
    return mx.subtract(parameter, mx.divide(mx.multiply(lr, gradient), mx.add(mx.sqrt(v), this.eps)));
  }
}

/**
 * AdaDelta with a learning rate.
 * @example const opt = new AdaDelta({ learningRate: 1, rho: 0.9 });
 */
export class AdaDelta extends Optimizer {
  readonly rho: number;
  readonly eps: number;

  constructor(options: { learningRate: LearningRate; rho?: number; eps?: number }) {
    super({ zeroState: ['v', 'u'] });
    checkOptionKeys(options, ['learningRate', 'rho', 'eps'], 'AdaDelta');
    const { learningRate, rho = 0.9, eps = 1e-6 } = options;
    if (!(rho >= 0)) throw new RangeError(`AdaDelta: rho must be >= 0, got ${rho}`);
    positive('AdaDelta', 'eps', eps);
    this.maybeSchedule('learning_rate', learningRate);
    this.rho = rho;
    this.eps = eps;
  }

  protected hyperparameters() {
    return { rho: this.rho, eps: this.eps };
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = this.learningRateFor(gradient);
    const { rho, eps } = this;
    const v = mx.add(mx.multiply(rho, state.v), mx.multiply(1 - rho, mx.square(gradient)));
    const d = mx.multiply(mx.divide(mx.sqrt(mx.add(state.u, eps)), mx.sqrt(mx.add(v, eps))), gradient);
    const u = mx.add(mx.multiply(rho, state.u), mx.multiply(1 - rho, mx.square(d)));
    state.v = v;
    state.u = u;
    return mx.subtract(parameter, mx.multiply(lr, d));
  }
}
