// Stochastic gradient descent; semantics follow mlx.optimizers.SGD.
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type LearningRate, Optimizer, type ParamState } from './optimizer.js';

export interface SGDOptions {
  learningRate: LearningRate;
  /** Momentum strength (default 0). */
  momentum?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** Nesterov momentum (needs momentum > 0 and no dampening). */
  nesterov?: boolean;
}

/**
 * SGD: `v = momentum v + (1 - dampening) g`, `w = w - lr v`.
 * @example const opt = new SGD({ learningRate: 0.1, momentum: 0.9 });
 */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly dampening: number;
  readonly nesterov: boolean;

  constructor(options: SGDOptions) {
    super({ zeroState: ['v'] });
    checkOptionKeys(options, ['learningRate', 'momentum', 'weightDecay', 'dampening', 'nesterov'], 'SGD');
    const { learningRate, momentum = 0, weightDecay = 0, dampening = 0, nesterov = false } = options;
    if (nesterov && (momentum <= 0 || dampening !== 0))
      throw new RangeError('SGD: Nesterov momentum requires a momentum and zero dampening');
    this.maybeSchedule('learning_rate', learningRate);
    this.momentum = momentum;
    this.weightDecay = weightDecay;
    this.dampening = dampening;
    this.nesterov = nesterov;
  }

  protected hyperparameters() {
    return { momentum: this.momentum, weightDecay: this.weightDecay, dampening: this.dampening, nesterov: this.nesterov };
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    let g = gradient;
    if (this.weightDecay !== 0) g = mx.add(g, mx.multiply(this.weightDecay, parameter));
    const lr = this.learningRateFor(g);
    if (this.momentum <= 0) return mx.subtract(parameter, mx.multiply(lr, g));
    let v = mx.multiply(this.momentum, state.v);
    v = this.dampening > 0 ? mx.add(v, mx.multiply(1 - this.dampening, g)) : mx.add(v, g);
    const update = this.nesterov ? mx.add(g, mx.multiply(this.momentum, v)) : v;
    state.v = v;
    return mx.subtract(parameter, mx.multiply(lr, update));
  }
}
