/**
 * Top-p followed by top-k (the sampler's usual filters) on one Float32Array row, usually
 * without top-p's exact threshold: with `k` small, only the `k` largest entries matter.
 *
 * Top-p keeps every entry at or above its threshold, an up-set of the row in the order
 * (value descending, index ascending) that top-k also uses; top-k of an up-set is the `k`
 * largest entries of the row (`top`) cut down to that up-set. So top-k after top-p keeps the
 * entries of `top` at or above top-p's threshold, and the threshold is needed only when it lies
 * inside `top`. Top-p's definition (see top-p.ts): with `massAbove[j]` the float32 sum of the
 * `j` largest probabilities, `cut = fround(topP * total)`, top-p keeps the positions where
 * `massAbove[j] < cut` (a prefix) and every entry tied with the last of them. `massAbove[j]`
 * for j < k is computed exactly from `top`; `total` is the float32 sum over the whole
 * vocabulary, and only bounds on it are needed to place `cut` between two of those sums:
 * - the real sum S of the probabilities lies between sums of per-bucket bounds from top-p's
 *   histogram (exact probabilities for `top`, which holds most of the mass);
 * - a float32 sum of n non-negative terms whose partial sums are normal numbers lies within
 *   a factor (1 ± u)^(n - 1) of S, u = 2^-24 + 2^-52 (fround of a float64 sum: two roundings).
 * When the bounds do not decide (the cut is too close to one of the k sums, or the row's
 * probabilities underflow or overflow float32) the caller takes the exact path.
 */
import type { Kept } from './kept.js';
import { topKIndices } from './select.js';
import { bucketBottom, bucketOfSignedBits, bucketTop, countByBucket, maxAndHistogram, NEG_INF_BUCKET } from './top-p.js';

const f = Math.fround;
/** exp(v) is a normal float32 (>= 2^-126) for every v at or above this. */
const NORMAL_EXP_FLOOR = -87;
/** Largest float32 sum the relative error bound is used for (well below the float32 maximum). */
const LARGEST_TOTAL = 2 ** 126;
/** Unit roundoff of fround(a + b) computed in float64, and a margin for float64 rounding. */
const U = 2 ** -24 + 2 ** -52;
const FLOAT64_MARGIN = 1e-9;
/** Per-entry bounds on fround(Math.exp(v)) from bounds on v (exp's and fround's rounding). */
const LOW_FACTOR = 1 - 2 ** -23;
const HIGH_FACTOR = 1 + 2 ** -23;
const SUBNORMAL_STEP = 2 ** -149;

let massAbove = new Float64Array(0);

/**
 * Top-p then top-k on `row` (k < row.length, checked by the caller): the kept entries and the
 * row's maximum, or undefined when the bounds do not decide (then run the filters one by one).
 * NaN and +Infinity are errors (`what` names the caller).
 */
export function topPTopKKept(row: Float32Array, topP: number, k: number, what: string): { kept: Kept; max: number } | undefined {
  const max = maxAndHistogram(row, what);
  if (!(max >= NORMAL_EXP_FLOOR)) return undefined;
  const top = topKIndices(row, null, row.length, k);
  if (top.length < k) return undefined; // fewer than k entries above -inf
  const order = Array.from(top).sort((a, b) => row[b] - row[a]);
  if (massAbove.length < k) massAbove = new Float64Array(k);
  // The histogram without `top`, whose probabilities are summed exactly instead.
  const bits = new Int32Array(row.buffer, row.byteOffset, row.length);
  let mass = 0;
  let topSum = 0;
  for (let j = 0; j < k; j++) {
    const p = f(Math.exp(row[order[j]]));
    massAbove[j] = mass;
    mass = f(mass + p);
    topSum += p;
    countByBucket[bucketOfSignedBits(bits[order[j]])]--;
  }
  let restLow = 0;
  let restHigh = 0;
  const first = bucketOfSignedBits(bits[order[0]]);
  for (let b = first; b < NEG_INF_BUCKET; b++) {
    const c = countByBucket[b];
    if (c === 0) continue;
    const bottom = bucketBottom(b);
    if (bottom >= NORMAL_EXP_FLOOR) restLow += c * Math.exp(bottom) * LOW_FACTOR;
    restHigh += c * (Math.exp(bucketTop(b)) * HIGH_FACTOR + SUBNORMAL_STEP);
  }
  const n = row.length;
  const totalLow = (topSum + restLow) * (1 - U) ** (n - 1) * (1 - FLOAT64_MARGIN);
  const totalHigh = (topSum + restHigh) * (1 + U) ** (n - 1) * (1 + FLOAT64_MARGIN);
  if (!(totalHigh < LARGEST_TOTAL)) return undefined;
  const pTop = f(topP);
  const cutLow = f(pTop * totalLow);
  const cutHigh = f(pTop * totalHigh);
  let keptCount = 0;
  while (keptCount < k && massAbove[keptCount] < cutLow) keptCount++;
  // Every top-k entry is kept by top-p.
  if (keptCount === k) return { kept: { indices: top, count: k }, max };
  if (massAbove[keptCount] < cutHigh) return undefined;
  const threshold = row[order[Math.max(keptCount - 1, 0)]];
  const kept = top.filter((i) => row[i] >= threshold);
  return { kept: { indices: kept, count: kept.length }, max };
}
