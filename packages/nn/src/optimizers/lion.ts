// Lion; semantics follow mlx.optimizers.Lion.
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type LearningRate, Optimizer, type ParamState } from './optimizer.js';

/**
 * Lion: `c = b1 m + (1 - b1) g`, `m = b2 m + (1 - b2) g`, `w = w (1 - lr λ) - lr sign(c)`.
 * @example const opt = new Lion({ learningRate: 1e-4, weightDecay: 0.1 });
 */
export class Lion extends Optimizer {
  readonly betas: [number, number];
  readonly weightDecay: number;

  constructor(options: { learningRate: LearningRate; betas?: [number, number]; weightDecay?: number }) {
    super({ zeroState: ['m'] });
    checkOptionKeys(options, ['learningRate', 'betas', 'weightDecay'], 'Lion');
    const { learningRate, betas = [0.9, 0.99], weightDecay = 0 } = options;
    betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) throw new RangeError(`Lion: beta${i + 1} must be in [0, 1), got ${b}`);
    });
    this.maybeSchedule('learning_rate', learningRate);
    this.betas = [betas[0], betas[1]];
    this.weightDecay = weightDecay;
  }

  protected hyperparameters() {
    return { betas: this.betas, weightDecay: this.weightDecay };
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const lr = this.learningRateFor(gradient);
    const [b1, b2] = this.betas;
    const m = state.m;
    const c = mx.add(mx.multiply(b1, m), mx.multiply(1 - b1, gradient));
    state.m = mx.add(mx.multiply(b2, m), mx.multiply(1 - b2, gradient));
    let p = parameter;
    if (this.weightDecay > 0) p = mx.multiply(mx.subtract(1, mx.multiply(lr, this.weightDecay)), p);
    return mx.subtract(p, mx.multiply(lr, mx.sign(c)));
  }
}
