// The GRPO policy loss with TRL 1.16's per-token objectives and normalisers. Everything stays on
// the device (no host reads), so it can run inside mx.valueAndGrad; the metrics are lazy scalars.
import * as mx from '@mlxn/core';
import type { GRPOConfig } from './config.js';

/** The config fields the loss reads; missing ones take TRL 1.16's defaults. */
export type LossConfig = Pick<
  GRPOConfig,
  | 'lossType'
  | 'importanceSamplingLevel'
  | 'epsilon'
  | 'delta'
  | 'beta'
  | 'useBiasCorrectionKl'
  | 'sapoTemperatureNeg'
  | 'sapoTemperaturePos'
  | 'topEntropyQuantile'
  | 'maxCompletionLength'
  | 'offPolicyMaskThreshold'
  | 'vespoKPos'
  | 'vespoLambdaPos'
  | 'vespoKNeg'
  | 'vespoLambdaNeg'
> & {
  /** null → epsilon (TRL's rule). */
  epsilonHigh: number | null;
};

export const DEFAULT_LOSS_CONFIG: Readonly<LossConfig> = Object.freeze({
  lossType: 'dapo',
  importanceSamplingLevel: 'token',
  epsilon: 0.2,
  epsilonHigh: null,
  delta: null,
  beta: 0,
  useBiasCorrectionKl: true,
  sapoTemperatureNeg: 1.05,
  sapoTemperaturePos: 1.0,
  topEntropyQuantile: 1.0,
  maxCompletionLength: 512,
  offPolicyMaskThreshold: null,
  vespoKPos: 2.0,
  vespoLambdaPos: 3.0,
  vespoKNeg: 3.0,
  vespoLambdaNeg: 2.0,
});

export interface GRPOLossInputs {
  /** Per-token log-probabilities of the completion tokens under the policy, [B, C]; differentiated. */
  logprobs: mx.Array;
  /** Log-probabilities of the policy that generated the batch, [B, C]. Omitted → `stopGradient(logprobs)` (numIterations 1). */
  oldLogprobs?: mx.Array | null;
  /** Reference-model log-probabilities, [B, C]; required when beta ≠ 0. */
  refLogprobs?: mx.Array | null;
  /** One advantage per completion [B] (or per token [B, C]). */
  advantages: mx.Array;
  /** 1 for completion tokens that count (truncated completions already zeroed when maskTruncatedCompletions), [B, C]. */
  completionMask: mx.Array;
  /**
   * Per-token entropy of the policy, [B, C]: needed when topEntropyQuantile < 1 or with an entropy
   * bonus (then differentiated, as TRL does); logged when given.
   */
  entropy?: mx.Array | null;
  /**
   * The entropy bonus's coefficient for this micro-batch (`EntropyController.applyCoef()`):
   * loss − coef · (mean entropy over the counted, entropy-masked tokens) / gradientAccumulationSteps.
   * null/omitted: no bonus (TRL's entropy_coef 0 without the adaptive controller). 0 is a bonus
   * that is on but gated off: `policy_loss` and the window statistics are still reported.
   */
  entropyBonusCoef?: number | null;
  config?: Partial<LossConfig>;
  /**
   * Micro-batches in the current accumulation window (TRL's current_gradient_accumulation_steps).
   * grpo, bnpo, dr_grpo and sapo divide the loss by it. Default 1.
   */
  gradientAccumulationSteps?: number;
  /**
   * dapo and cispo: active completion tokens in the whole generation batch (all stepsPerGeneration
   * micro-batches, after masking), TRL's num_items_in_batch. Default: this micro-batch's count.
   */
  numItemsInBatch?: number | mx.Array;
  /** dapo and cispo: TRL's steps_per_generation; the normaliser is numItemsInBatch · GA / stepsPerGeneration. Default = gradientAccumulationSteps. */
  stepsPerGeneration?: number;
  /**
   * dapo, cispo and vespo in data-parallel training: the number of processes, by which TRL
   * divides the job-wide `numItemsInBatch` (each process's share of the averaged gradient). Default 1.
   */
  numProcesses?: number;
}

export interface ClipRatioMetrics {
  /** Tokens (or sequences) with ratio < 1 − ε and negative advantage, over active tokens. */
  lowMean: mx.Array;
  highMean: mx.Array;
  regionMean: mx.Array;
  /** Smallest per-sequence low-clip fraction (NaN when no sequence has tokens). */
  lowMin: mx.Array;
  highMax: mx.Array;
}

export interface GRPOLossMetrics {
  /** grpo, bnpo, dr_grpo, dapo. */
  clipRatio?: ClipRatioMetrics;
  /** cispo: fraction of active tokens whose ratio exceeds epsilonHigh with positive advantage. */
  cispoClipRatio?: mx.Array;
  /** Mean per-token KL (k3, times the importance ratio when useBiasCorrectionKl) when beta ≠ 0. */
  kl?: mx.Array;
  /** Mean per-token entropy over active tokens, when entropy was given. */
  entropy?: mx.Array;
  /** vespo: mean of the per-sequence Gamma weights φ (TRL's vespo/phi_seq_mean). */
  vespoPhiSeqMean?: mx.Array;
  /** With an entropy bonus: the policy loss before the bonus (TRL's policy_loss). */
  policyLoss?: mx.Array;
}

/** A micro-batch's share of the accumulation window's entropy (for the adaptive controller). */
export interface EntropyWindowStats {
  /** Σ entropy over the tokens the bonus acts on. */
  sum: mx.Array;
  /** How many tokens the bonus acts on. */
  count: mx.Array;
}

export interface GRPOLossResult {
  /** The scalar to differentiate (already divided for gradient accumulation as TRL does). */
  loss: mx.Array;
  /** TRL's policy_loss: the loss before the accumulation division and the entropy bonus (equal to loss for dapo, cispo and vespo without a bonus). */
  policyLoss: mx.Array;
  metrics: GRPOLossMetrics;
  /** With an entropy bonus: this micro-batch's entropy sum and token count (detached). */
  entropyStats?: EntropyWindowStats;
}

/** An input the configuration needs; grpoLoss's callers pass it whenever the config asks for it. */
function required(a: mx.Array | null | undefined, what: string): mx.Array {
  if (a === null || a === undefined) throw new TypeError(`grpoLoss: the inputs lack ${what}`);
  return a;
}

function checkShape(name: string, a: mx.Array | null | undefined, shape: number[]): void {
  if (a === null || a === undefined) return;
  if (a.ndim !== 2 || a.shape[0] !== shape[0] || a.shape[1] !== shape[1]) {
    throw new RangeError(`grpoLoss: ${name} must have shape [${shape.join(', ')}], got [${a.shape.join(', ')}]`);
  }
}

// Half-precision inputs are computed in float32; float64 inputs (CPU only, used by the parity
// tests against TRL's float64 goldens) stay float64.
const f32 = (a: mx.Array): mx.Array => (a.dtype === 'float32' || a.dtype === 'float64' ? a : mx.astype(a, 'float32'));

/**
 * TRL's get_high_entropy_mask: true where a counted token's entropy is at or above the
 * (1 − topEntropyQuantile) quantile (linear interpolation) of the counted tokens' entropies.
 * @example const keep = highEntropyMask(entropy, mask, 0.2); // top 20 % of tokens by entropy
 */
export function highEntropyMask(entropy: mx.Array, mask: mx.Array, topEntropyQuantile: number): mx.Array {
  const q = 1 - topEntropyQuantile;
  const e = mx.stopGradient(f32(entropy));
  const counted = mx.greater(mask, 0);
  const flatE = mx.reshape(e, [-1]);
  const flatCounted = mx.reshape(counted, [-1]);
  // Uncounted positions sort to the end, so the first n sorted values are the counted ones.
  const sorted = mx.sort(mx.where(flatCounted, flatE, Infinity));
  const n = mx.sum(mx.astype(flatCounted, e.dtype));
  const pos = mx.multiply(q, mx.subtract(n, 1));
  const lo = mx.floor(pos);
  const hi = mx.ceil(pos);
  const idx = mx.arange(0, flatE.size, 1, { dtype: e.dtype });
  const pick = (at: mx.Array) => mx.sum(mx.where(mx.equal(idx, at), sorted, 0));
  const below = pick(lo);
  const above = pick(hi);
  const threshold = mx.add(below, mx.multiply(mx.subtract(above, below), mx.subtract(pos, lo)));
  return mx.logicalAnd(mx.greaterEqual(mx.multiply(e, mx.astype(mask, 'float32')), threshold), counted);
}

/** Mean of x over counted tokens; a per-sequence x ([B, 1]) is averaged over sequences (TRL's global_masked_mean). */
function maskedMean(x: mx.Array, mask: mx.Array): mx.Array {
  if (x.shape[1] === 1) return mx.mean(x);
  return mx.divide(mx.sum(mx.multiply(x, mask)), mx.maximum(mx.sum(mask), 1));
}

/** Per-sequence mean over counted tokens (NaN for a sequence without any); [B]. */
function perSequenceMean(x: mx.Array, mask: mx.Array): mx.Array {
  if (x.shape[1] === 1) return mx.reshape(x, [-1]);
  return mx.divide(mx.sum(mx.multiply(x, mask), -1), mx.sum(mask, -1));
}

function nanReduce(x: mx.Array, kind: 'min' | 'max'): mx.Array {
  const nan = mx.isnan(x);
  const filler = kind === 'min' ? Infinity : -Infinity;
  const r = kind === 'min' ? mx.min(mx.where(nan, filler, x)) : mx.max(mx.where(nan, filler, x));
  return mx.where(mx.all(nan), NaN, r);
}

/**
 * TRL 1.16's GRPO-family loss for one micro-batch.
 * @example
 * const { loss, metrics } = grpoLoss({ logprobs, advantages, completionMask: mask, config: { lossType: 'dapo' } });
 */
export function grpoLoss(inputs: GRPOLossInputs): GRPOLossResult {
  const cfg: LossConfig = { ...DEFAULT_LOSS_CONFIG, ...stripUndefined(inputs.config ?? {}) };
  const { logprobs, completionMask } = inputs;
  if (logprobs.ndim !== 2) throw new RangeError(`grpoLoss: logprobs must be [B, C], got [${logprobs.shape.join(', ')}]`);
  const shape = logprobs.shape;
  checkShape('completionMask', completionMask, shape);
  checkShape('oldLogprobs', inputs.oldLogprobs, shape);
  checkShape('refLogprobs', inputs.refLogprobs, shape);
  checkShape('entropy', inputs.entropy, shape);
  const ga = inputs.gradientAccumulationSteps ?? 1;
  const spg = inputs.stepsPerGeneration ?? ga;
  const processes = inputs.numProcesses ?? 1;
  for (const [name, v] of [
    ['gradientAccumulationSteps', ga],
    ['stepsPerGeneration', spg],
    ['numProcesses', processes],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`grpoLoss: ${name} must be a positive integer, got ${v}`);
  }
  if (cfg.beta !== 0 && !inputs.refLogprobs) throw new TypeError('grpoLoss: refLogprobs are required when beta ≠ 0');
  if (cfg.topEntropyQuantile < 1 && !inputs.entropy) {
    throw new TypeError('grpoLoss: entropy is required when topEntropyQuantile < 1');
  }
  const bonusCoef = inputs.entropyBonusCoef ?? null;
  if (bonusCoef !== null && !Number.isFinite(bonusCoef))
    throw new RangeError(`grpoLoss: entropyBonusCoef must be a finite number, got ${bonusCoef}`);
  if (bonusCoef !== null && !inputs.entropy) throw new TypeError('grpoLoss: entropy is required with an entropy bonus');
  if (cfg.lossType === 'dr_grpo' && !(cfg.maxCompletionLength > 0)) {
    throw new RangeError('grpoLoss: dr_grpo needs maxCompletionLength > 0');
  }

  const epsLow = cfg.epsilon;
  const epsHigh = cfg.epsilonHigh ?? cfg.epsilon;
  const mask = f32(completionMask);
  const logp = f32(logprobs);
  const oldLogp = inputs.oldLogprobs ? f32(inputs.oldLogprobs) : mx.stopGradient(logp);
  let adv = f32(inputs.advantages);
  if (adv.ndim === 1) {
    if (adv.shape[0] !== shape[0]) throw new RangeError(`grpoLoss: advantages must have ${shape[0]} entries, got ${adv.shape[0]}`);
    adv = mx.reshape(adv, [shape[0], 1]);
  } else {
    checkShape('advantages', adv, shape);
  }
  const entropyMask =
    cfg.topEntropyQuantile < 1
      ? highEntropyMask(required(inputs.entropy, 'entropy (topEntropyQuantile < 1)'), completionMask, cfg.topEntropyQuantile)
      : null;

  const logRatio = mx.subtract(logp, oldLogp);
  const logWeights =
    cfg.importanceSamplingLevel === 'token'
      ? logRatio
      : mx.divide(mx.sum(mx.multiply(logRatio, mask), -1, true), mx.maximum(mx.sum(mask, -1, true), 1));
  let coef1 = mx.exp(logWeights); // [B, C] or [B, 1]

  let perTokenKl: mx.Array | undefined;
  if (cfg.beta !== 0) {
    const d = mx.subtract(f32(required(inputs.refLogprobs, 'refLogprobs (beta is not 0)')), logp);
    perTokenKl = mx.subtract(mx.subtract(mx.exp(d), d), 1);
    if (cfg.useBiasCorrectionKl) perTokenKl = mx.multiply(perTokenKl, coef1);
  }

  let perTokenLoss: mx.Array;
  let phiSeq: mx.Array | undefined;
  switch (cfg.lossType) {
    case 'cispo': {
      const clamped = mx.stopGradient(mx.minimum(coef1, epsHigh));
      perTokenLoss = mx.negative(mx.multiply(mx.multiply(clamped, adv), logp));
      break;
    }
    case 'sapo': {
      const temps = mx.where(mx.greater(adv, 0), cfg.sapoTemperaturePos, cfg.sapoTemperatureNeg);
      const gate = mx.divide(mx.multiply(mx.sigmoid(mx.multiply(temps, mx.subtract(coef1, 1))), 4), temps);
      perTokenLoss = mx.negative(mx.multiply(gate, adv));
      break;
    }
    case 'vespo': {
      // The Gamma weight only scales the gradient of −A·log π (TRL computes it without gradient).
      phiSeq = vespoGammaWeights(mx.stopGradient(logRatio), adv, mask, cfg);
      perTokenLoss = mx.negative(mx.multiply(mx.multiply(phiSeq, adv), logp));
      break;
    }
    case 'grpo':
    case 'bnpo':
    case 'dr_grpo':
    case 'dapo':
    case 'luspo': {
      const coef2 = mx.clip(coef1, 1 - epsLow, 1 + epsHigh);
      if (cfg.delta !== null) coef1 = mx.minimum(coef1, cfg.delta); // two-sided clipping
      perTokenLoss = mx.negative(mx.minimum(mx.multiply(coef1, adv), mx.multiply(coef2, adv)));
      break;
    }
    default:
      throw new RangeError(`grpoLoss: unknown lossType ${JSON.stringify(cfg.lossType)}`);
  }

  // TRL's order: off-policy mask, entropy mask, then the KL term (which neither mask touches).
  if (cfg.offPolicyMaskThreshold !== null) {
    perTokenLoss = mx.multiply(perTokenLoss, offPolicyMask(adv, logp, oldLogp, mask, cfg.offPolicyMaskThreshold));
  }
  if (entropyMask) perTokenLoss = mx.multiply(perTokenLoss, entropyMask);
  if (perTokenKl) perTokenLoss = mx.add(perTokenLoss, mx.multiply(cfg.beta, perTokenKl));

  const maskedLoss = mx.multiply(perTokenLoss, mask); // broadcasts a per-sequence loss onto its tokens
  let policyLoss: mx.Array;
  let loss: mx.Array;
  switch (cfg.lossType) {
    case 'grpo':
    case 'sapo':
      policyLoss = mx.mean(mx.divide(mx.sum(maskedLoss, -1), mx.maximum(mx.sum(mask, -1), 1)));
      loss = mx.divide(policyLoss, ga);
      break;
    case 'bnpo':
      policyLoss = mx.divide(mx.sum(maskedLoss), mx.maximum(mx.sum(mask), 1));
      loss = mx.divide(policyLoss, ga);
      break;
    case 'dr_grpo':
      policyLoss = mx.divide(mx.sum(maskedLoss), shape[0] * cfg.maxCompletionLength);
      loss = mx.divide(policyLoss, ga);
      break;
    case 'luspo':
      // Each sequence's loss is summed over its tokens (scaled by its length), then averaged.
      policyLoss = mx.mean(mx.sum(maskedLoss, -1));
      loss = mx.divide(policyLoss, ga);
      break;
    default: {
      // dapo, cispo, vespo: tokens of the whole generation batch (of every process), rescaled to
      // one accumulation window and to this process's share of the averaged gradient.
      const items = inputs.numItemsInBatch ?? mx.sum(mask);
      const normalizer = mx.multiply(mx.maximum(items, 1), ga / spg / processes);
      policyLoss = mx.divide(mx.sum(maskedLoss), normalizer);
      loss = policyLoss;
    }
  }

  const metrics: GRPOLossMetrics = {};
  let entropyStats: EntropyWindowStats | undefined;
  if (bonusCoef !== null) {
    // The bonus is the mean entropy over the tokens the policy loss acts on, whatever the loss
    // type's normaliser; only the accumulation division applies. Entropy is differentiated.
    const ent = f32(required(inputs.entropy, 'entropy (an entropy bonus)'));
    const effective = entropyMask ? mx.multiply(mask, entropyMask) : mask;
    const entSum = mx.sum(mx.multiply(ent, effective));
    const count = mx.sum(effective);
    const entropyLoss = mx.divide(mx.divide(entSum, mx.maximum(count, 1)), ga);
    loss = mx.subtract(loss, mx.multiply(bonusCoef, entropyLoss));
    metrics.policyLoss = mx.stopGradient(policyLoss);
    entropyStats = { sum: mx.stopGradient(entSum), count };
  }
  if (perTokenKl) metrics.kl = maskedMean(mx.stopGradient(perTokenKl), mask);
  if (inputs.entropy) metrics.entropy = maskedMean(mx.stopGradient(f32(inputs.entropy)), mask);
  const c1 = mx.stopGradient(coef1);
  if (cfg.lossType === 'cispo') {
    metrics.cispoClipRatio = maskedMean(asFloat(mx.logicalAnd(mx.greater(c1, epsHigh), mx.greater(adv, 0))), mask);
  } else if (cfg.lossType === 'vespo') {
    if (phiSeq) metrics.vespoPhiSeqMean = maskedMean(phiSeq, mask);
  } else if (cfg.lossType !== 'sapo') {
    const low = asFloat(mx.logicalAnd(mx.less(c1, 1 - epsLow), mx.less(adv, 0)));
    const high = asFloat(mx.logicalAnd(mx.greater(c1, 1 + epsHigh), mx.greater(adv, 0)));
    const region = mx.maximum(low, high);
    metrics.clipRatio = {
      lowMean: maskedMean(low, mask),
      highMean: maskedMean(high, mask),
      regionMean: maskedMean(region, mask),
      lowMin: nanReduce(perSequenceMean(low, mask), 'min'),
      highMax: nanReduce(perSequenceMean(high, mask), 'max'),
    };
  }
  return { loss, policyLoss, metrics, ...(entropyStats ? { entropyStats } : {}) };
}

/**
 * DeepSeek-V3.2's off-policy sequence mask (TRL's get_off_policy_mask): 1 keeps a sequence, 0
 * drops it; a sequence is dropped when its advantage is negative and its mean KL to the sampling
 * policy (mean over counted tokens of log π_old − log π, NaN counted as 0) exceeds `threshold`.
 */
export function offPolicyMask(
  advantages: mx.Array,
  logprobs: mx.Array,
  samplingLogprobs: mx.Array,
  mask: mx.Array,
  threshold: number,
): mx.Array {
  const kl = mx.subtract(samplingLogprobs, mx.stopGradient(logprobs));
  const klNoNan = mx.where(mx.isnan(kl), 0, kl);
  const seqKl = mx.divide(mx.sum(mx.multiply(klNoNan, mask), -1, true), mx.maximum(mx.sum(mask, -1, true), 1));
  return asFloat(mx.logicalOr(mx.greaterEqual(advantages, 0), mx.lessEqual(seqKl, threshold)));
}

const LOG_1E_8 = Math.log(1e-8);

/**
 * VESPO's per-sequence Gamma weights (TRL's get_gamma_weights), [B, 1]: w = exp(Σ clamp(log
 * ratio, −20, 20)) over counted tokens (log w clamped to [log 1e-8, 20]), and
 * φ(w) = exp(λ + k·log w − λ·w) with (k, λ) chosen by the advantage's sign (λ ≥ 1e-4); a
 * non-finite φ becomes 0.
 */
export function vespoGammaWeights(
  logRatio: mx.Array,
  advantages: mx.Array,
  mask: mx.Array,
  cfg: Pick<LossConfig, 'vespoKPos' | 'vespoLambdaPos' | 'vespoKNeg' | 'vespoLambdaNeg'>,
): mx.Array {
  const seq = mx.sum(mx.multiply(mx.clip(logRatio, -20, 20), mask), -1, true);
  const logW = mx.clip(seq, LOG_1E_8, 20);
  const w = mx.exp(logW);
  const nonNeg = mx.greaterEqual(advantages, 0);
  const k = mx.where(nonNeg, cfg.vespoKPos, cfg.vespoKNeg);
  const lambda = mx.maximum(mx.where(nonNeg, cfg.vespoLambdaPos, cfg.vespoLambdaNeg), 1e-4);
  const phi = mx.exp(mx.subtract(mx.add(lambda, mx.multiply(k, logW)), mx.multiply(lambda, w)));
  return mx.stopGradient(mx.where(mx.isfinite(phi), phi, 0));
}

const asFloat = (b: mx.Array): mx.Array => mx.astype(b, 'float32');

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Reads the lazy metric scalars into plain numbers (call outside valueAndGrad, after the step). */
export function lossMetricsToNumbers(metrics: GRPOLossMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  const read = (a: mx.Array) => Number(a.item());
  if (metrics.clipRatio) {
    out['clip_ratio/low_mean'] = read(metrics.clipRatio.lowMean);
    out['clip_ratio/high_mean'] = read(metrics.clipRatio.highMean);
    out['clip_ratio/region_mean'] = read(metrics.clipRatio.regionMean);
    out['clip_ratio/low_min'] = read(metrics.clipRatio.lowMin);
    out['clip_ratio/high_max'] = read(metrics.clipRatio.highMax);
  }
  if (metrics.cispoClipRatio) out.cispo_clip_ratio = read(metrics.cispoClipRatio);
  if (metrics.vespoPhiSeqMean) out['vespo/phi_seq_mean'] = read(metrics.vespoPhiSeqMean);
  if (metrics.kl) out.kl = read(metrics.kl);
  if (metrics.entropy) out.entropy = read(metrics.entropy);
  if (metrics.policyLoss) out.policy_loss = read(metrics.policyLoss);
  return out;
}
