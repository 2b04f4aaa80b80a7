// Adam, AdamW and Adamax; semantics follow mlx.optimizers (no bias correction unless asked).
import type * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { adamaxRule, adamRule, compiledRule, type UpdateRule } from './fused-rules.js';
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
  protected static readonly optionKeys: readonly string[] = [
    'learningRate',
    'betas',
    'eps',
    'biasCorrection',
  ] satisfies (keyof AdamOptions)[];
  readonly betas: [number, number];
  readonly eps: number;
  readonly biasCorrection: boolean;

  constructor(options: AdamOptions) {
    super({ zeroState: ['m', 'v'] });
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

  /** The compiled update rule of this optimizer's hyperparameters (`fused-rules.ts`). */
  protected rule(): UpdateRule {
    const h = { betas: this.betas, eps: this.eps, biasCorrection: this.biasCorrection, weightDecay: this.decoupledWeightDecay() };
    return compiledRule(`adam ${JSON.stringify(h)}`, () => adamRule(h));
  }

  /** The decoupled weight decay applied before the update: AdamW's `weightDecay`, 0 for Adam. */
  protected decoupledWeightDecay(): number {
    return 0;
  }

  #rule?: UpdateRule;

  protected applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    this.#rule ??= this.rule();
    const [p, m, v] = this.#rule(gradient, parameter, state.m, state.v, this.learningRate, this.step);
    state.m = m;
    state.v = v;
    return p;
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

  protected override decoupledWeightDecay(): number {
    return this.weightDecay;
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

  protected override rule(): UpdateRule {
    const h = { betas: this.betas, eps: this.eps };
    return compiledRule(`adamax ${JSON.stringify(h)}`, () => adamaxRule(h));
  }
}
