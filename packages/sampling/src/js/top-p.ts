/**
 * mlx-lm's top-p threshold over one Float32Array row, bit for bit as a full ascending sort
 * computes it, without sorting the vocabulary.
 *
 * The definition: probabilities `fround(exp(v))` summed in float32 from the largest down give
 * `total`; `cut = fround(topP * total)`; the threshold is the value at the last position (from
 * the top) where the mass above it is still below `cut`, and every entry reaching it is kept.
 *
 * Only additions that change the float32 sum depend on the order. Three facts make most of the
 * vocabulary order-free:
 * - a probability below half a float32 ulp of the running sum never changes it;
 * - while the sum stays in one binade [2^e, 2^(e+1)), where float32 numbers are the multiples
 *   of u = ulp, adding p adds exactly round(p / u) * u (p >= u/2 makes `acc + p` exact in
 *   float64, so `fround` rounds once), whatever the order, unless p / u ends in exactly .5
 *   (then the result depends on the sum's parity);
 * - the cut falls where the mass above reaches topP of the total, near the top.
 * So the few largest entries (the "head", chosen from a histogram of the mass so that it holds
 * the cut and puts the sum in its final binade) are radix-sorted and summed in order, and the
 * rest (the "tail") only contributes a count of ulps, with no branch on the data in its hot
 * loops (random data defeats branch prediction). When a check fails (the tail crosses a binade,
 * a tie, the cut beyond the head) the threshold is computed by radix-sorting every entry that
 * can change the sum instead (below half an ulp of the largest probability none can); both give
 * the full sort's result.
 */
import { bitsOfKey, descendingKey, radixSortKeys } from './select.js';

const f = Math.fround;
const NEG_INF = Number.NEGATIVE_INFINITY;
const MOST_NEGATIVE_F32 = -3.4028234663852886e38;

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
/** HALF_ULP[e]: half the gap between float32 numbers with biased exponent e and the next one up. */
const HALF_ULP = new Float64Array(256);
/** BINADE_END[e]: where that gap doubles. */
const BINADE_END = new Float64Array(256);
{
  let half = 2 ** -150;
  let end = 2 ** -125;
  HALF_ULP[0] = half;
  BINADE_END[0] = end;
  for (let e = 1; e < 256; e++) {
    HALF_ULP[e] = half;
    BINADE_END[e] = end;
    half *= 2;
    end *= 2;
  }
}
const biasedExponent = (x: number): number => {
  F32[0] = x;
  return U32[0] >>> 23;
};

/** Histogram of the row: buckets of 1/64 nat below the maximum (the last one takes the rest). */
const BUCKETS_PER_NAT = 64;
const BUCKETS = 16384;
const countByBucket = new Uint32Array(BUCKETS);

/** Buffers, grown to the largest vocabulary seen and reused (the kernels are synchronous). */
let headIndices = new Int32Array(0);
let tailValues = new Float32Array(0);
let keys = new Uint32Array(0);
let scratch = new Uint32Array(0);
let massAbove = new Float32Array(0);

function reserve(n: number): void {
  if (keys.length >= n) return;
  headIndices = new Int32Array(n);
  tailValues = new Float32Array(n);
  keys = new Uint32Array(n);
  scratch = new Uint32Array(n);
  massAbove = new Float32Array(n);
}

/** The entries top-p keeps: ascending indices (`count` of them) and the threshold value. */
export interface TopPResult {
  threshold: number;
  /** The kept indices when the fast path found them (a view into a reused buffer), else null. */
  indices: Int32Array | null;
  count: number;
}

/** The top-p threshold of `row` (whose largest value is `max`); -inf when the row is all -inf. */
export function topPThreshold(row: Float32Array, topP: number, max: number): number {
  return topPSelect(row, topP, max).threshold;
}

/** Top-p of `row`: the threshold and, usually, the kept indices without another pass. */
export function topPSelect(row: Float32Array, topP: number, max: number): TopPResult {
  reserve(row.length);
  if (max === NEG_INF) return { threshold: NEG_INF, indices: null, count: 0 };
  return headAndTail(row, topP, max) ?? { threshold: sortedThreshold(row, topP, max), indices: null, count: 0 };
}

/** Counts of the row's entries per 1/64 nat below `max`. */
function fillHistogram(row: Float32Array, max: number): void {
  countByBucket.fill(0);
  for (let i = 0; i < row.length; i++) countByBucket[Math.min((max - row[i]) * BUCKETS_PER_NAT, BUCKETS - 1) | 0]++;
}

const bucketMass = (b: number, max: number) => countByBucket[b] * Math.exp(max - (b + 0.5) / BUCKETS_PER_NAT);

/** Results of `splitRow` (module state: no allocation per call). */
let headCount = 0;
let tailCount = 0;

/**
 * One pass, without branching on the data (random data defeats branch prediction): the
 * indices of the head (v >= headFloor) into `headIndices`, and the tail entries that can
 * change the sum (tailFloor <= v < headFloor) into `tailValues`. Each slot is written
 * unconditionally and kept by advancing the count by 0 or 1.
 */
function splitRow(row: Float32Array, headFloor: number, tailFloor: number): void {
  let heads = 0;
  let tails = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    headIndices[heads] = i;
    tailValues[tails] = v;
    const inHead = +(v >= headFloor);
    heads += inHead;
    tails += +(v >= tailFloor) - inHead;
  }
  headCount = heads;
  tailCount = tails;
}

/**
 * The ulps the tail adds to a sum in a binade whose ulp is 1 / `perUlp` (a power of two, so
 * the products are exact): round(fround(exp(v)) / ulp) summed, and how many entries land
 * exactly on a half ulp (ties, which round to even and so depend on the order).
 */
let tailUlps = 0;
let tailTies = 0;
function ulpsOfTail(perUlp: number): void {
  let ulps = 0;
  let ties = 0;
  for (let j = 0; j < tailCount; j++) {
    const q = f(Math.exp(tailValues[j])) * perUlp;
    // Math.round, but faster in V8; q + 0.5 is exact wherever it matters (q >= 2^-29).
    const nearest = Math.floor(q + 0.5);
    ulps += nearest;
    if (nearest - q === 0.5) ties++;
  }
  tailUlps = ulps;
  tailTies = ties;
}

/** The fast path (see the file's comment); undefined when one of its checks fails. */
function headAndTail(row: Float32Array, topP: number, max: number): TopPResult | undefined {
  fillHistogram(row, max);
  // Estimated mass per bucket (within exp(±1/128) of the truth); the head holds the cut with
  // room to spare and the binade the total ends in.
  let estimate = 0;
  for (let b = 0; b < BUCKETS; b++) if (countByBucket[b] > 0) estimate += bucketMass(b, max);
  if (!(estimate > 0 && estimate < Number.POSITIVE_INFINITY)) return undefined;
  const pTop = f(topP);
  // The binade the float32 total ends in, assuming the lower one when the estimate is near a
  // power of two (a normalised row sums to about 1, in float32 usually just below).
  const binadeStart = 2 ** Math.floor(Math.log2(estimate * 0.94));
  const need = Math.max((pTop + (1 - pTop) / 4) * estimate, binadeStart * 1.02);
  if (need >= estimate * 0.999) return undefined;
  let lastHeadBucket = 0;
  for (let mass = bucketMass(0, max); mass < need; mass += bucketMass(++lastHeadBucket, max));
  // The entries of those buckets, decided by an exact float32 comparison from here on.
  const headFloor = f(max - (lastHeadBucket + 1) / BUCKETS_PER_NAT);
  // In that binade float32 numbers are the multiples of `ulp` (checked against the head's sum
  // below), and each tail entry adds a whole number of them.
  const e = biasedExponent(binadeStart);
  const ulp = 2 * HALF_ULP[e];
  const perUlp = 1 / ulp;
  // Below `tailFloor` an entry is under half an ulp and adds nothing.
  splitRow(row, headFloor, Math.log(HALF_ULP[e]) - 1e-4);
  ulpsOfTail(perUlp);
  if (tailTies > 0) return undefined;
  const n = headCount;
  const rowBits = new Uint32Array(row.buffer, row.byteOffset, row.length);
  for (let j = 0; j < n; j++) keys[j] = descendingKey(rowBits[headIndices[j]]);
  const sorted = radixSortKeys(keys, n, scratch);
  for (let j = 0; j < n; j++) sorted[j] = bitsOfKey(sorted[j]);
  const head = new Float32Array(sorted.buffer, 0, n);
  let total = 0;
  for (let j = 0; j < n; j++) {
    const p = f(Math.exp(head[j]));
    massAbove[j] = total;
    total = f(total + p);
  }
  // The head's sum must already be in the binade the tail was counted for.
  if (!(total > 0 && total < Number.POSITIVE_INFINITY) || biasedExponent(total) !== e) return undefined;
  const headMass = total;
  total += tailUlps * ulp;
  if (total >= BINADE_END[e]) return undefined; // the tail crosses into the next binade
  const cut = f(pTop * total);
  if (cut > headMass) return undefined;
  let keptCount = n;
  for (let j = 0; j < n; j++) {
    if (massAbove[j] >= cut) {
      keptCount = j;
      break;
    }
  }
  const threshold = head[Math.max(keptCount - 1, 0)];
  let count = 0;
  for (let j = 0; j < n; j++) if (row[headIndices[j]] >= threshold) headIndices[count++] = headIndices[j];
  return { threshold, indices: headIndices.subarray(0, count), count };
}

/**
 * Every candidate radix-sorted and summed in order, stopping at the first probability below
 * half an ulp of the running sum (it and every smaller one leave the sum as it is).
 */
function sortedThreshold(row: Float32Array, topP: number, max: number): number {
  const pMax = f(Math.exp(max));
  // Below `lowest`, fround(exp(v)) < HALF_ULP(pMax) (1e-4 absorbs exp's and fround's rounding),
  // and the sum holds pMax before any of them; with pMax 0 or +inf every finite value counts.
  const lowest = pMax > 0 && pMax < Number.POSITIVE_INFINITY ? Math.log(HALF_ULP[biasedExponent(pMax)]) - 1e-4 : MOST_NEGATIVE_F32;
  const rowBits = new Uint32Array(row.buffer, row.byteOffset, row.length);
  let len = 0;
  for (let i = 0; i < row.length; i++) if (row[i] >= lowest) keys[len++] = descendingKey(rowBits[i]);
  const sorted = radixSortKeys(keys, len, scratch);
  for (let j = 0; j < len; j++) sorted[j] = bitsOfKey(sorted[j]);
  const desc = new Float32Array(sorted.buffer, 0, len);
  let total = 0;
  let halfUlp = HALF_ULP[0];
  let binadeEnd = BINADE_END[0];
  let summed = len;
  for (let j = 0; j < len; j++) {
    const p = f(Math.exp(desc[j]));
    if (p < halfUlp) {
      summed = j;
      break;
    }
    massAbove[j] = total;
    total = f(total + p);
    if (total >= binadeEnd) {
      const e = biasedExponent(total);
      halfUlp = HALF_ULP[e];
      binadeEnd = BINADE_END[e];
    }
  }
  const cut = f(f(topP) * total);
  // massAbove is non-decreasing and reaches `total` >= cut at `summed`.
  let keptCount = summed;
  for (let j = 0; j < summed; j++) {
    if (massAbove[j] >= cut) {
      keptCount = j;
      break;
    }
  }
  return desc[Math.max(keptCount - 1, 0)];
}
