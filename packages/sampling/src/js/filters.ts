/**
 * The filters of mlx-lm's sample_utils.py over Float32Array rows (one row or a batch), each
 * returning new rows with the removed entries set to -inf. The kernels are in kept.ts.
 */
import { checkDefinedOptionKeys, checkMinP, checkTokenIds, checkTopK, checkTopP, checkXtc } from '../options.js';
import { checkedMax, densify, everyEntry, minPKept, topKKept, xtcKept } from './kept.js';
import { type Logits, rowsOf, sameForm } from './rows.js';
import { topPThreshold } from './top-p.js';

const NEG_INF = Number.NEGATIVE_INFINITY;

/** Keeps the `topK` largest log-probabilities of each row; the rest become -inf. */
export function applyTopK(logprobs: Float32Array, topK: number): Float32Array;
export function applyTopK(logprobs: readonly Float32Array[], topK: number): Float32Array[];
export function applyTopK(logprobs: Logits, topK: number): Float32Array | Float32Array[] {
  const rows = rowsOf(logprobs, 'applyTopK');
  const k = checkTopK(topK, rows[0].length);
  return sameForm(
    logprobs,
    rows.map((r) => {
      checkedMax(r, 'applyTopK');
      return densify(r, topKKept(r, everyEntry(r), k));
    }),
  );
}

/** Nucleus filter: keeps the most likely tokens whose probability mass reaches `topP`. */
export function applyTopP(logprobs: Float32Array, topP: number): Float32Array;
export function applyTopP(logprobs: readonly Float32Array[], topP: number): Float32Array[];
export function applyTopP(logprobs: Logits, topP: number): Float32Array | Float32Array[] {
  const rows = rowsOf(logprobs, 'applyTopP');
  const p = checkTopP(topP);
  return sameForm(
    logprobs,
    rows.map((r) => {
      const threshold = topPThreshold(r, p, 'applyTopP');
      return r.map((v) => (v < threshold ? NEG_INF : v));
    }),
  );
}

/** Removes tokens less likely than `minP` times the top token; the top `minTokensToKeep` stay. */
export function applyMinP(logprobs: Float32Array, minP: number, minTokensToKeep?: number): Float32Array;
export function applyMinP(logprobs: readonly Float32Array[], minP: number, minTokensToKeep?: number): Float32Array[];
export function applyMinP(logprobs: Logits, minP: number, minTokensToKeep = 1): Float32Array | Float32Array[] {
  const rows = rowsOf(logprobs, 'applyMinP');
  const [p, keep] = checkMinP(minP, minTokensToKeep);
  return sameForm(
    logprobs,
    rows.map((r) => densify(r, minPKept(r, everyEntry(r), p, keep, checkedMax(r, 'applyMinP')))),
  );
}

export interface RandomOptions {
  /** Uniform numbers in [0, 1); default `Math.random`. See `seededRandom`. */
  random?: () => number;
}

export const RANDOM_OPTIONS: readonly string[] = ['random'] satisfies (keyof RandomOptions)[];

/**
 * XTC ("exclude top choices"): with probability `xtcProbability` (one draw per call, shared by
 * the batch, as in mlx-lm) removes every token above `xtcThreshold` except the least likely of them.
 */
export function applyXtc(
  logits: Float32Array,
  xtcProbability: number,
  xtcThreshold: number,
  xtcSpecialTokens?: readonly number[],
  options?: RandomOptions,
): Float32Array;
export function applyXtc(
  logits: readonly Float32Array[],
  xtcProbability: number,
  xtcThreshold: number,
  xtcSpecialTokens?: readonly number[],
  options?: RandomOptions,
): Float32Array[];
export function applyXtc(
  logits: Logits,
  xtcProbability: number,
  xtcThreshold: number,
  xtcSpecialTokens: readonly number[] = [],
  options: RandomOptions = {},
): Float32Array | Float32Array[] {
  const rows = rowsOf(logits, 'applyXtc');
  checkDefinedOptionKeys(options, RANDOM_OPTIONS, 'applyXtc');
  const [p, t, special] = checkXtc(xtcProbability, xtcThreshold, xtcSpecialTokens);
  checkTokenIds(special, rows[0].length, 'xtcSpecialTokens');
  for (const r of rows) checkedMax(r, 'applyXtc');
  const u = (options.random ?? Math.random)();
  if (u > p)
    return sameForm(
      logits,
      rows.map((r) => Float32Array.from(r)),
    );
  return sameForm(
    logits,
    rows.map((r) => densify(r, xtcKept(r, everyEntry(r), t, special))),
  );
}
