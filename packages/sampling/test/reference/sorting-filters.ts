// Today's (pre-partial-selection) plain-JS filters and sampler, verbatim but for imports: the
// reference the partial-selection implementation must match draw for draw (js-draws.test.ts).
// It sorts the whole vocabulary; never use it outside tests.
/**
 * The filters of mlx-lm's sample_utils.py over Float32Array rows, computed in float32 the way
 * MLX computes them (Math.fround at each step), so kept sets match the MLX path.
 */

import { type Logits, rowsOf, sameForm } from '../../src/js/rows.js';
import { checkMinP, checkTokenIds, checkTopK, checkTopP, checkXtc } from '../../src/options.js';

const f = Math.fround;
const NEG_INF = Number.NEGATIVE_INFINITY;

/** Indices of the row sorted by value, largest first (ties: lower index first). */
function descending(row: Float32Array): Uint32Array {
  const idx = new Uint32Array(row.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return idx.sort((a, b) => row[b] - row[a] || a - b);
}

function topKRow(row: Float32Array, k: number): Float32Array {
  const out = new Float32Array(row.length).fill(NEG_INF);
  const order = descending(row);
  for (let i = 0; i < k; i++) out[order[i]] = row[order[i]];
  return out;
}

/** Keeps the `topK` largest log-probabilities of each row; the rest become -inf. */
export function applyTopK(logprobs: Float32Array, topK: number): Float32Array;
export function applyTopK(logprobs: readonly Float32Array[], topK: number): Float32Array[];
export function applyTopK(logprobs: Logits, topK: number): Float32Array | Float32Array[] {
  const rows = rowsOf(logprobs, 'applyTopK');
  const k = checkTopK(topK, rows[0].length);
  return sameForm(
    logprobs,
    rows.map((r) => topKRow(r, k)),
  );
}

function topPRow(row: Float32Array, topP: number): Float32Array {
  const n = row.length;
  const sorted = Float32Array.from(row).sort();
  const probs = sorted.map((v) => f(Math.exp(v)));
  // Mass strictly above each sorted position (reverse exclusive cumsum, float32).
  const above = new Float32Array(n);
  let acc = 0;
  for (let i = n - 1; i >= 0; i--) {
    above[i] = acc;
    acc = f(acc + probs[i]);
  }
  const total = f(above[0] + probs[0]);
  const cut = f(f(topP) * total);
  let dropped = 0;
  for (let i = 0; i < n; i++) if (above[i] >= cut) dropped++;
  const threshold = sorted[Math.min(dropped, n - 1)];
  return row.map((v) => (v < threshold ? NEG_INF : v));
}

/** Nucleus filter: keeps the most likely tokens whose probability mass reaches `topP`. */
export function applyTopP(logprobs: Float32Array, topP: number): Float32Array;
export function applyTopP(logprobs: readonly Float32Array[], topP: number): Float32Array[];
export function applyTopP(logprobs: Logits, topP: number): Float32Array | Float32Array[] {
  const rows = rowsOf(logprobs, 'applyTopP');
  const p = checkTopP(topP);
  return sameForm(
    logprobs,
    rows.map((r) => topPRow(r, p)),
  );
}

function minPRow(row: Float32Array, minP: number, keep: number): Float32Array {
  let top = NEG_INF;
  for (const v of row) if (v > top) top = v;
  const threshold = f(top + f(Math.log(minP)));
  const out = row.map((v) => (v < threshold ? NEG_INF : v));
  if (keep > 1) {
    const order = descending(row);
    for (let i = 0; i < Math.min(keep, row.length); i++) out[order[i]] = row[order[i]];
  }
  return out;
}

/** Removes tokens less likely than `minP` times the top token; the top `minTokensToKeep` stay. */
export function applyMinP(logprobs: Float32Array, minP: number, minTokensToKeep?: number): Float32Array;
export function applyMinP(logprobs: readonly Float32Array[], minP: number, minTokensToKeep?: number): Float32Array[];
export function applyMinP(logprobs: Logits, minP: number, minTokensToKeep = 1): Float32Array | Float32Array[] {
  const rows = rowsOf(logprobs, 'applyMinP');
  const [p, keep] = checkMinP(minP, minTokensToKeep);
  return sameForm(
    logprobs,
    rows.map((r) => minPRow(r, p, keep)),
  );
}

function softmaxRow(row: Float32Array): Float64Array {
  let m = NEG_INF;
  for (const v of row) if (v > m) m = v;
  const e = Float64Array.from(row, (v) => Math.exp(v - m));
  let s = 0;
  for (const v of e) s += v;
  return e.map((v) => f(v / s));
}

function xtcRow(row: Float32Array, threshold: number, special: readonly number[]): Float32Array {
  const probs = softmaxRow(row);
  const t = f(threshold);
  let least = Number.POSITIVE_INFINITY;
  for (const p of probs) if (p > t && p < least) least = p;
  const out = row.map((v, i) => (probs[i] > least ? NEG_INF : v));
  for (const s of special) out[s] = row[s];
  return out;
}

export interface RandomOptions {
  /** Uniform numbers in [0, 1); default `Math.random`. See `seededRandom`. */
  random?: () => number;
}

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
  const [p, t, special] = checkXtc(xtcProbability, xtcThreshold, xtcSpecialTokens);
  checkTokenIds(special, rows[0].length, 'xtcSpecialTokens');
  const u = (options.random ?? Math.random)();
  if (u > p)
    return sameForm(
      logits,
      rows.map((r) => Float32Array.from(r)),
    );
  return sameForm(
    logits,
    rows.map((r) => xtcRow(r, t, special)),
  );
}
