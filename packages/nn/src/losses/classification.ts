// Classification losses; semantics follow mlx.nn.losses (cross_entropy, binary_cross_entropy,
// nll_loss, kl_div_loss, hinge_loss).
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { applyWeights, checkSameShape, type Reduction, reduce } from './reduce.js';

export interface CrossEntropyOptions {
  /** Per-target weights, shaped like the unreduced loss. */
  weights?: mx.Array;
  /** The class axis (default -1). */
  axis?: number;
  /** In [0, 1): mixes the target distribution with a uniform one (default 0). */
  labelSmoothing?: number;
  /**
   * Class-index targets equal to this contribute zero loss, and `'mean'` divides by the number of
   * the other targets (PyTorch's `ignore_index`; MLX has no such option).
   */
  ignoreIndex?: number;
  /** Default `'none'`, as MLX. */
  reduction?: Reduction;
}

const normAxis = (axis: number, ndim: number, what: string): number => {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= ndim) throw new RangeError(`${what}: axis ${axis} is out of range for ${ndim} dimensions`);
  return a;
};

/**
 * Cross entropy of unnormalised `logits` against class indices (shape of `logits` without
 * `axis`) or probabilities (same shape as `logits`).
 *
 * @example
 * const loss = crossEntropy(mx.array([[2, -1], [-1, 2]]), mx.array([0, 1]), { reduction: 'mean' });
 * loss.item(); // 0.0485873
 */
export function crossEntropy(logits: mx.Array, targets: mx.Array, options: CrossEntropyOptions = {}): mx.Array {
  checkOptionKeys(options, ['weights', 'axis', 'labelSmoothing', 'ignoreIndex', 'reduction'], 'crossEntropy');
  const what = 'crossEntropy';
  const { weights, axis = -1, labelSmoothing = 0, ignoreIndex, reduction = 'none' } = options;
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw new RangeError(`${what}: labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
  const ax = normAxis(axis, logits.ndim, what);
  const asProbs = targets.ndim === logits.ndim;
  const expected = asProbs ? logits.shape : logits.shape.filter((_, i) => i !== ax);
  if (targets.shape.length !== expected.length || targets.shape.some((d, i) => d !== expected[i])) {
    throw new RangeError(`${what}: targets shape [${targets.shape}] does not match logits shape [${logits.shape}]`);
  }
  if (!asProbs && !mx.isInteger(targets.dtype)) throw new TypeError(`${what}: class-index targets must be integers, got ${targets.dtype}`);
  if (ignoreIndex !== undefined && asProbs) throw new TypeError(`${what}: ignoreIndex needs class-index targets`);

  const mask = ignoreIndex === undefined ? undefined : mx.notEqual(targets, ignoreIndex);
  const idx = mask === undefined ? targets : mx.where(mask, targets, mx.zerosLike(targets));
  const shifted = mx.subtract(logits, mx.stopGradient(mx.max(logits, ax, true)));
  const score = asProbs ? mx.sum(mx.multiply(shifted, targets), ax) : mx.squeeze(mx.takeAlongAxis(shifted, mx.expandDims(idx, ax), ax), ax);
  const lse = mx.logsumexp(shifted, ax);
  let loss: mx.Array;
  if (labelSmoothing > 0) {
    const adjusted = mx.multiply(1 - labelSmoothing, score);
    const smoothed = mx.multiply(mx.negative(mx.mean(shifted, ax)), labelSmoothing);
    loss = mx.add(mx.subtract(lse, adjusted), smoothed);
  } else {
    loss = mx.subtract(lse, score);
  }
  loss = applyWeights(loss, weights, what);
  if (mask === undefined) return reduce(loss, reduction, what);
  loss = mx.where(mask, loss, mx.zerosLike(loss));
  if (reduction === 'mean') return mx.divide(mx.sum(loss), mx.maximum(mx.sum(mask), 1));
  return reduce(loss, reduction, what);
}

export interface BinaryCrossEntropyOptions {
  weights?: mx.Array;
  /** `inputs` are logits (default) or probabilities (log-probabilities clipped at -100). */
  withLogits?: boolean;
  /** Default `'mean'`, as MLX. */
  reduction?: Reduction;
}

/**
 * Binary cross entropy against targets in {0, 1}.
 * @example binaryCrossEntropy(mx.array([0.105361, 0.223144]), mx.array([0, 1])).item(); // 0.539245
 */
export function binaryCrossEntropy(inputs: mx.Array, targets: mx.Array, options: BinaryCrossEntropyOptions = {}): mx.Array {
  checkOptionKeys(options, ['weights', 'withLogits', 'reduction'], 'binaryCrossEntropy');
  const what = 'binaryCrossEntropy';
  const { weights, withLogits = true, reduction = 'mean' } = options;
  checkSameShape(inputs, targets, what, ['inputs', 'targets']);
  let loss: mx.Array;
  if (withLogits) {
    loss = mx.subtract(mx.logaddexp(0.0, inputs), mx.multiply(inputs, targets));
  } else {
    const logP = mx.clip(mx.log(inputs), -100, null);
    const log1mP = mx.clip(mx.log(mx.subtract(1, inputs)), -100, null);
    loss = mx.negative(mx.add(mx.multiply(targets, logP), mx.multiply(mx.subtract(1, targets), log1mP)));
  }
  return reduce(applyWeights(loss, weights, what), reduction, what);
}

export interface AxisReductionOptions {
  /** The distribution axis (default -1). */
  axis?: number;
  /** Default `'none'`, as MLX. */
  reduction?: Reduction;
}

/**
 * Negative log likelihood of log-probabilities `inputs` at class indices `targets`.
 * @example nllLoss(mx.logSoftmax(logits, -1), labels, { reduction: 'mean' });
 */
export function nllLoss(inputs: mx.Array, targets: mx.Array, options: AxisReductionOptions = {}): mx.Array {
  checkOptionKeys(options, ['axis', 'reduction'], 'nllLoss');
  const { axis = -1, reduction = 'none' } = options;
  const loss = mx.negative(mx.squeeze(mx.takeAlongAxis(inputs, mx.expandDims(targets, axis), axis), axis));
  return reduce(loss, reduction, 'nllLoss');
}

/**
 * Kullback-Leibler divergence `sum(exp(targets) * (targets - inputs), axis)`; both are
 * log-probabilities.
 * @example klDivLoss(mx.logSoftmax(p, -1), mx.logSoftmax(q, -1), { reduction: 'mean' });
 */
export function klDivLoss(inputs: mx.Array, targets: mx.Array, options: AxisReductionOptions = {}): mx.Array {
  checkOptionKeys(options, ['axis', 'reduction'], 'klDivLoss');
  const { axis = -1, reduction = 'none' } = options;
  const loss = mx.sum(mx.multiply(mx.exp(targets), mx.subtract(targets, inputs)), axis);
  return reduce(loss, reduction, 'klDivLoss');
}

/**
 * Hinge loss `max(0, 1 - inputs * targets)` with targets in {-1, 1}.
 * @example hingeLoss(mx.array([0.5, -2]), mx.array([1, -1])).tolist(); // [0.5, 0]
 */
export function hingeLoss(inputs: mx.Array, targets: mx.Array, options: { reduction?: Reduction } = {}): mx.Array {
  checkOptionKeys(options, ['reduction'], 'hingeLoss');
  const loss = mx.maximum(mx.subtract(1, mx.multiply(inputs, targets)), 0);
  return reduce(loss, options.reduction ?? 'none', 'hingeLoss');
}
