// Adafactor (Shazeer & Stern, 2018); semantics follow mlx.optimizers.Adafactor.
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type LearningRate, Optimizer, type ParamState } from './optimizer.js';

export interface AdafactorOptions {
  /** Used only with `relativeStep: false` (default: none). */
  learningRate?: LearningRate;
  /** [added to g², floor of the parameter scale] (default [1e-30, 1e-3]). */
  eps?: [number, number];
  /** Clips the unscaled update's RMS (default 1). */
  clipThreshold?: number;
  /** Exponent of the second-moment decay (default -0.8). */
  decayRate?: number;
  /** Uses a first moment with this coefficient (default: none). */
  beta1?: number;
  weightDecay?: number;
  /** Scales the step by the parameter's RMS (default true). */
  scaleParameter?: boolean;
  /** Uses `min(1e-2, 1/√step)` instead of the learning rate (default true). */
  relativeStep?: boolean;
  /** With relativeStep: `min(1e-6 step, 1/√step)` (default false). */
  warmupInit?: boolean;
}

const rms = (a: mx.Array) => mx.sqrt(mx.mean(mx.square(a)));

/**
 * Adafactor: factored second moments for matrices (row and column averages).
 * @example const opt = new Adafactor({ learningRate: 1e-2, relativeStep: false });
 */
export class Adafactor extends Optimizer {
  readonly eps: [number, number];
  readonly clipThreshold: number;
  readonly decayRate: number;
  readonly beta1: number | undefined;
  readonly weightDecay: number;
  readonly scaleParameter: boolean;
  readonly relativeStep: boolean;
  readonly warmupInit: boolean;

  constructor(options: AdafactorOptions = {}) {
    super();
    checkOptionKeys(
      options,
      ['learningRate', 'eps', 'clipThreshold', 'decayRate', 'beta1', 'weightDecay', 'scaleParameter', 'relativeStep', 'warmupInit'],
      'Adafactor',
    );
    const {
      learningRate,
      eps = [1e-30, 1e-3],
      clipThreshold = 1.0,
      decayRate = -0.8,
      beta1,
      weightDecay = 0,
      scaleParameter = true,
      relativeStep = true,
      warmupInit = false,
    } = options;
    if (learningRate !== undefined) this.maybeSchedule('learning_rate', learningRate);
    else if (!relativeStep) throw new TypeError('Adafactor: relativeStep: false needs a learningRate');
    this.eps = [eps[0], eps[1]];
    this.clipThreshold = clipThreshold;
    this.decayRate = decayRate;
    this.beta1 = beta1;
    this.weightDecay = weightDecay;
    this.scaleParameter = scaleParameter;
    this.relativeStep = relativeStep;
    this.warmupInit = warmupInit;
  }

  protected hyperparameters() {
    const { eps, clipThreshold, decayRate, beta1, weightDecay, scaleParameter, relativeStep, warmupInit } = this;
    return { eps, clipThreshold, decayRate, beta1: beta1 ?? null, weightDecay, scaleParameter, relativeStep, warmupInit };
  }

  protected initSingle(parameter: mx.Array, state: ParamState): void {
    const shape = parameter.shape;
    if (parameter.ndim >= 2) {
      state.exp_avg_sq_row = mx.zeros(shape.slice(0, -1), { dtype: parameter.dtype });
      state.exp_avg_sq_col = mx.zeros([...shape.slice(0, -2), shape[shape.length - 1]], { dtype: parameter.dtype });
    } else {
      state.exp_avg_sq = mx.zerosLike(parameter);
    }
    if (this.beta1 !== undefined) state.exp_avg = mx.zerosLike(parameter);
  }

  private stepSize(step: mx.Array, parameterRms: mx.Array): mx.Array {
    let relative: mx.Array;
    if (this.relativeStep) {
      const minStep = this.warmupInit ? mx.multiply(1e-6, step) : 1e-2;
      relative = mx.minimum(minStep, mx.rsqrt(step));
    } else {
      relative = this.learningRate;
    }
    relative = mx.astype(relative, parameterRms.dtype);
    return this.scaleParameter ? mx.multiply(mx.maximum(this.eps[1], parameterRms), relative) : mx.multiply(1.0, relative);
  }

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    const step = this.step;
    const parameterRms = rms(parameter);
    const lr = this.stepSize(step, parameterRms);
    const beta2 = mx.subtract(1.0, mx.astype(mx.power(step, this.decayRate), parameterRms.dtype));
    const oneMinus = mx.subtract(1, beta2);
    let update = mx.add(mx.square(gradient), this.eps[0]);
    if (gradient.ndim >= 2) {
      const row = mx.add(mx.multiply(beta2, state.exp_avg_sq_row), mx.multiply(oneMinus, mx.mean(update, -1)));
      const col = mx.add(mx.multiply(beta2, state.exp_avg_sq_col), mx.multiply(oneMinus, mx.mean(update, -2)));
      state.exp_avg_sq_row = row;
      state.exp_avg_sq_col = col;
      const r = mx.rsqrt(mx.divide(row, mx.mean(row, -1, true)));
      const c = mx.rsqrt(col);
      update = mx.multiply(mx.multiply(mx.expandDims(r, -1), mx.expandDims(c, -2)), gradient);
    } else {
      const avg = mx.add(mx.multiply(beta2, state.exp_avg_sq), mx.multiply(oneMinus, update));
      state.exp_avg_sq = avg;
      update = mx.multiply(mx.rsqrt(avg), gradient);
    }
    update = mx.divide(update, mx.maximum(1.0, mx.divide(rms(update), this.clipThreshold)));
    update = mx.multiply(lr, update);
    if (this.beta1 !== undefined) {
      const avg = mx.add(mx.multiply(this.beta1, state.exp_avg), mx.multiply(1 - this.beta1, update));
      state.exp_avg = avg;
      update = avg;
    }
    let p = parameter;
    if (this.weightDecay !== 0) p = mx.add(p, mx.multiply(p, mx.multiply(-this.weightDecay, lr)));
    return mx.subtract(p, update);
  }
}
