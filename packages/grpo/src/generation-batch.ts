/**
 * One GRPO generation batch after it is generated and scored: the rows every rank shares (its
 * statistics and rewards), the metrics logged of it, the log-probabilities it keeps, and its
 * split into the micro-batches (`TrainBatch`) the next steps train on.
 */
import * as mx from '@mlxn/core';
import type { AdvantageResult } from './advantages.js';
import type { DataParallel } from './data-parallel.js';
import { seededPermutation } from './dataset.js';
import type { MetricsLog } from './metrics.js';
import type { Rollouts } from './rollouts.js';
import { trainBatchLogprobs } from './train-logprobs.js';
import type { TrainableModel } from './trainable-model.js';

/** One micro-batch of a buffered generation batch. */
export interface TrainBatch {
  /** `[b, P + C]` int32. */
  inputIds: mx.Array;
  /** `[b, P + C]` float32. */
  attentionMask: mx.Array;
  /** `[b, C]` float32. */
  completionMask: mx.Array;
  promptLength: number;
  /** `[b]` float32. */
  advantages: mx.Array;
  /** `[b, C]`: the generating policy's log-probabilities, when they must be stored (see TRL). */
  oldLogprobs: mx.Array | null;
  /** `[b, C]`: the reference's log-probabilities (beta > 0). */
  refLogprobs: mx.Array | null;
  /** Loss tokens in the whole generation batch (TRL's `num_items_in_batch`). */
  numItemsInBatch: number;
  /** Real (prompt + completion) tokens of this micro-batch, for tokens/s. */
  tokens: number;
}

/** Rewards of a generation batch: `[completion][function]`, `null` where a function does not apply. */
export type RewardsPerFunc = (number | null)[][];

/** One completion of a generation batch, as `generationRows` shares it between ranks. */
export interface GenerationRow {
  failed: boolean;
  promptTokens: number;
  modelTokens: number;
  truncated: boolean;
  /** Tokens the loss counts (0 for a truncated completion with maskTruncatedCompletions). */
  lossTokens: number;
  toolCalls: number;
  toolFailures: number;
  rewards: (number | null)[];
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * What the generation batch's statistics need from each completion, with the rewards: this
 * process's rows alone, or in a job every rank's (one all-gather, in rank order). A rank whose
 * generation or scoring failed sends rows marked `failed`, so every rank stops, not only it.
 */
export function generationRows(
  rollouts: Rollouts | undefined,
  rewardsPerFunc: RewardsPerFunc | undefined,
  share: number,
  failed: boolean,
  options: { maskTruncatedCompletions: boolean; numRewardFuncs: number; dataParallel: DataParallel | null; step: number },
): GenerationRow[] {
  const funcs = options.numRewardFuncs;
  const local: number[][] = [];
  for (let i = 0; i < share; i++) {
    if (failed || rollouts === undefined || rewardsPerFunc === undefined) {
      local.push([1, ...new Array<number>(6 + funcs).fill(0)]);
      continue;
    }
    const own = modelTokens(rollouts, i);
    const truncated = rollouts.truncated[i];
    local.push([
      0,
      rollouts.promptIds[i].length,
      own,
      truncated ? 1 : 0,
      options.maskTruncatedCompletions && truncated ? 0 : own,
      // The rank's tool counts ride on its first row.
      i === 0 ? rollouts.toolCallCount : 0,
      i === 0 ? rollouts.toolFailureCount : 0,
      ...rewardsPerFunc[i].map((r) => (r === null ? Number.NaN : r)),
    ]);
  }
  const dp = options.dataParallel;
  const table = dp === null ? local : dp.gatherRows(local, 7 + funcs, `the rewards of step ${options.step}`);
  return table.map((r) => ({
    failed: r[0] !== 0,
    promptTokens: r[1],
    modelTokens: r[2],
    truncated: r[3] !== 0,
    lossTokens: r[4],
    toolCalls: r[5],
    toolFailures: r[6],
    rewards: r.slice(7).map((v) => (Number.isNaN(v) ? null : v)),
  }));
}

/** Tokens of completion `i` the model generated (all of them without tools). */
function modelTokens(rollouts: Rollouts, i: number): number {
  const mask = rollouts.toolMask?.[i];
  return mask ? mask.reduce((a, b) => a + b, 0) : rollouts.completionIds[i].length;
}

/** Adds the generation batch's metrics (TRL's completion lengths, tool use and advantages) to `m`. */
export function logGenerationMetrics(
  m: MetricsLog,
  rows: readonly GenerationRow[],
  adv: AdvantageResult,
  numInputTokensSeen: number,
  withTools: boolean,
): void {
  // With tools, lengths count the model's own tokens only (TRL: the tool mask's ones).
  const lengths = rows.map((r) => r.modelTokens);
  const truncated = rows.map((r) => r.truncated);
  m.add('num_tokens', numInputTokensSeen);
  m.add('completions/mean_length', mean(lengths));
  m.add('completions/min_length', Math.min(...lengths));
  m.add('completions/max_length', Math.max(...lengths));
  m.add('completions/clipped_ratio', mean(truncated.map((t) => (t ? 1 : 0))));
  const term = lengths.filter((_, i) => !truncated[i]);
  // TRL reports 0 for the terminated lengths when no completion terminated.
  m.add('completions/mean_terminated_length', term.length ? mean(term) : 0);
  m.add('completions/min_terminated_length', term.length ? Math.min(...term) : 0);
  m.add('completions/max_terminated_length', term.length ? Math.max(...term) : 0);
  if (withTools) {
    const calls = rows.reduce((a, r) => a + r.toolCalls, 0);
    const failures = rows.reduce((a, r) => a + r.toolFailures, 0);
    m.add('tools/call_frequency', calls / Math.max(1, rows.length));
    m.add('tools/failure_frequency', calls > 0 ? failures / calls : 0);
  }
  m.addAll(adv.metrics);
}

/** Log-probabilities of `batch`'s completions under `model`, `chunk` rows per forward, detached. */
export function chunkedLogprobs(model: TrainableModel, batch: TrainBatch, chunk: number, temperature: number): mx.Array {
  const b = batch.inputIds.shape[0];
  const parts: mx.Array[] = [];
  for (let s = 0; s < b; s += chunk) {
    const sl = mx.sl(s, Math.min(b, s + chunk));
    const part: TrainBatch = {
      ...batch,
      inputIds: mx.index(batch.inputIds, sl),
      attentionMask: mx.index(batch.attentionMask, sl),
      completionMask: mx.index(batch.completionMask, sl),
    };
    const lp = mx.stopGradient(trainBatchLogprobs(model, part, { temperature }).logprobs);
    mx.eval(lp);
    parts.push(lp);
  }
  return parts.length === 1 ? parts[0] : mx.concatenate(parts, 0);
}

/**
 * The `n` rows of `whole` shuffled (from `seed`), then split into `stepsPerGeneration`
 * micro-batches (TRL's shuffle_sequence_dict + split_tensor_dict), evaluated; `rowTokens` holds
 * each row's real tokens.
 */
export function shuffleIntoMicroBatches(
  whole: TrainBatch,
  options: { n: number; seed: number; stepsPerGeneration: number; rowTokens: readonly number[] },
): TrainBatch[] {
  const { n, stepsPerGeneration, rowTokens } = options;
  const perm = seededPermutation(n, options.seed, 1);
  const permArr = mx.array(Int32Array.from(perm), { dtype: 'int32' });
  const per = n / stepsPerGeneration;
  const out: TrainBatch[] = [];
  for (let s = 0; s < stepsPerGeneration; s++) {
    const idx = mx.index(permArr, mx.sl(s * per, (s + 1) * per));
    const take = (a: mx.Array) => mx.take(a, idx, 0);
    const takeIfAny = (a: mx.Array | null) => (a === null ? null : take(a));
    const rows = perm.slice(s * per, (s + 1) * per);
    out.push({
      inputIds: take(whole.inputIds),
      attentionMask: take(whole.attentionMask),
      completionMask: take(whole.completionMask),
      promptLength: whole.promptLength,
      advantages: take(whole.advantages),
      oldLogprobs: takeIfAny(whole.oldLogprobs),
      refLogprobs: takeIfAny(whole.refLogprobs),
      numItemsInBatch: whole.numItemsInBatch,
      tokens: rows.reduce((a, r) => a + rowTokens[r], 0),
    });
  }
  mx.eval(out.map(batchArrays));
  return out;
}

/** The arrays a micro-batch owns. */
export function batchArrays(b: TrainBatch): mx.Array[] {
  return [b.inputIds, b.attentionMask, b.completionMask, b.advantages, b.oldLogprobs, b.refLogprobs].filter(
    (x): x is mx.Array => x !== null,
  );
}
