// Regression and embedding losses; semantics follow mlx.nn.losses (mse_loss, l1_loss,
// smooth_l1_loss, huber_loss, log_cosh_loss, gaussian_nll_loss, cosine_similarity_loss,
// margin_ranking_loss, triplet_loss).
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { checkSameShape, type Reduction, reduce, sameShape } from './reduce.js';

export interface ReductionOptions {
  reduction?: Reduction;
}

/**
 * Mean squared error (default reduction `'mean'`).
 * @example mseLoss(mx.array([1, 2]), mx.array([0, 0])).item(); // 2.5
 */
export function mseLoss(predictions: mx.Array, targets: mx.Array, options: ReductionOptions = {}): mx.Array {
  checkOptionKeys(options, ['reduction'], 'mseLoss');
  checkSameShape(predictions, targets, 'mseLoss');
  return reduce(mx.square(mx.subtract(predictions, targets)), options.reduction ?? 'mean', 'mseLoss');
}

/**
 * Mean absolute error (default reduction `'mean'`).
 * @example l1Loss(mx.array([1, -2]), mx.array([0, 0])).item(); // 1.5
 */
export function l1Loss(predictions: mx.Array, targets: mx.Array, options: ReductionOptions = {}): mx.Array {
  checkOptionKeys(options, ['reduction'], 'l1Loss');
  checkSameShape(predictions, targets, 'l1Loss');
  return reduce(mx.abs(mx.subtract(predictions, targets)), options.reduction ?? 'mean', 'l1Loss');
}

/**
 * Smooth L1: `0.5 d² / beta` where `|d| < beta`, else `|d| - 0.5 beta` (default reduction `'mean'`).
 * @example smoothL1Loss(mx.array([0.5, 3]), mx.array([0, 0])).item(); // 1.3125
 */
export function smoothL1Loss(predictions: mx.Array, targets: mx.Array, options: { beta?: number; reduction?: Reduction } = {}): mx.Array {
  checkOptionKeys(options, ['beta', 'reduction'], 'smoothL1Loss');
  checkSameShape(predictions, targets, 'smoothL1Loss');
  const beta = options.beta ?? 1.0;
  const diff = mx.abs(mx.subtract(predictions, targets));
  const loss = mx.where(mx.less(diff, beta), mx.divide(mx.multiply(0.5, mx.square(diff)), beta), mx.subtract(mx.abs(diff), 0.5 * beta));
  return reduce(loss, options.reduction ?? 'mean', 'smoothL1Loss');
}

/**
 * Huber loss with threshold `delta` (default reduction `'none'`).
 * @example huberLoss(mx.array([0.5, 3]), mx.array([0, 0])).tolist(); // [0.125, 2.5]
 */
export function huberLoss(inputs: mx.Array, targets: mx.Array, options: { delta?: number; reduction?: Reduction } = {}): mx.Array {
  checkOptionKeys(options, ['delta', 'reduction'], 'huberLoss');
  const delta = options.delta ?? 1.0;
  const abs = mx.abs(mx.subtract(inputs, targets));
  const quadratic = mx.minimum(abs, delta);
  const linear = mx.subtract(abs, quadratic);
  const loss = mx.add(mx.multiply(0.5, mx.power(quadratic, 2)), mx.multiply(delta, linear));
  return reduce(loss, options.reduction ?? 'none', 'huberLoss');
}

/**
 * `log(cosh(inputs - targets))` (default reduction `'none'`).
 * @example logCoshLoss(mx.array([0]), mx.array([0])).item(); // 0
 */
export function logCoshLoss(inputs: mx.Array, targets: mx.Array, options: ReductionOptions = {}): mx.Array {
  checkOptionKeys(options, ['reduction'], 'logCoshLoss');
  const e = mx.subtract(inputs, targets);
  const loss = mx.subtract(mx.logaddexp(e, mx.negative(e)), Math.log(2));
  return reduce(loss, options.reduction ?? 'none', 'logCoshLoss');
}

/**
 * Gaussian negative log likelihood with predicted means `inputs` and variances `vars`
 * (default reduction `'mean'`).
 * @example gaussianNllLoss(mu, y, sigma2, { full: true });
 */
export function gaussianNllLoss(
  inputs: mx.Array,
  targets: mx.Array,
  vars: mx.Array,
  options: { full?: boolean; eps?: number; reduction?: Reduction } = {},
): mx.Array {
  checkOptionKeys(options, ['full', 'eps', 'reduction'], 'gaussianNllLoss');
  checkSameShape(inputs, targets, 'gaussianNllLoss', ['inputs', 'targets']);
  checkSameShape(inputs, vars, 'gaussianNllLoss', ['inputs', 'vars']);
  const v = mx.maximum(vars, options.eps ?? 1e-6);
  let loss = mx.multiply(0.5, mx.add(mx.log(v), mx.divide(mx.square(mx.subtract(targets, inputs)), v)));
  if (options.full) loss = mx.add(loss, 0.5 * Math.log(2 * Math.PI));
  return reduce(loss, options.reduction ?? 'mean', 'gaussianNllLoss');
}

/**
 * Cosine similarity `x1·x2 / max(|x1| |x2|, eps)` along `axis` (default 1; reduction `'none'`).
 * @example cosineSimilarityLoss(mx.array([[1, 0]]), mx.array([[1, 1]])).tolist(); // [0.707107]
 */
export function cosineSimilarityLoss(
  x1: mx.Array,
  x2: mx.Array,
  options: { axis?: number; eps?: number; reduction?: Reduction } = {},
): mx.Array {
  checkOptionKeys(options, ['axis', 'eps', 'reduction'], 'cosineSimilarityLoss');
  const { axis = 1, eps = 1e-8, reduction = 'none' } = options;
  const n1 = mx.linalg.norm(x1, null, axis);
  const n2 = mx.linalg.norm(x2, null, axis);
  const loss = mx.divide(mx.sum(mx.multiply(x1, x2), axis), mx.maximum(mx.multiply(n1, n2), eps));
  return reduce(loss, reduction, 'cosineSimilarityLoss');
}

/**
 * `max(0, -targets * (inputs1 - inputs2) + margin)` with targets in {-1, 1} (reduction `'none'`).
 * @example marginRankingLoss(a, b, mx.array([1, -1, 1]), { margin: 0.1 });
 */
export function marginRankingLoss(
  inputs1: mx.Array,
  inputs2: mx.Array,
  targets: mx.Array,
  options: { margin?: number; reduction?: Reduction } = {},
): mx.Array {
  checkOptionKeys(options, ['margin', 'reduction'], 'marginRankingLoss');
  if (!sameShape(inputs1.shape, inputs2.shape) || !sameShape(inputs1.shape, targets.shape)) {
    throw new RangeError(
      `marginRankingLoss: shapes differ: inputs1 [${inputs1.shape}], inputs2 [${inputs2.shape}], targets [${targets.shape}]`,
    );
  }
  const loss = mx.maximum(0, mx.add(mx.multiply(mx.negative(targets), mx.subtract(inputs1, inputs2)), options.margin ?? 0));
  return reduce(loss, options.reduction ?? 'none', 'marginRankingLoss');
}

/**
 * Triplet loss `max(|a - p|_p - |a - n|_p + margin, 0)` along `axis` (reduction `'none'`).
 * @example tripletLoss(anchors, positives, negatives, { margin: 1 });
 */
export function tripletLoss(
  anchors: mx.Array,
  positives: mx.Array,
  negatives: mx.Array,
  options: { axis?: number; p?: number; margin?: number; eps?: number; reduction?: Reduction } = {},
): mx.Array {
  checkOptionKeys(options, ['axis', 'p', 'margin', 'eps', 'reduction'], 'tripletLoss');
  const { axis = -1, p = 2, margin = 1.0, eps = 1e-6, reduction = 'none' } = options;
  const dist = (b: mx.Array) => mx.power(mx.add(mx.sum(mx.power(mx.abs(mx.subtract(anchors, b)), p), axis), eps), 1.0 / p);
  const loss = mx.maximum(mx.add(mx.subtract(dist(positives), dist(negatives)), margin), 0);
  return reduce(loss, reduction, 'tripletLoss');
}
