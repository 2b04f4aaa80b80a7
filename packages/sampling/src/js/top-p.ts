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
import { nonFiniteError } from './rows.js';
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
const bitsOfFloat = (x: number): number => {
  F32[0] = x;
  return U32[0];
};
const biasedExponent = (x: number): number => bitsOfFloat(x) >>> 23;

/**
 * Histogram of the row by the top 16 bits of `descendingKey` (sign, exponent and 7 mantissa
 * bits: buckets 1/128 of a value's magnitude wide), in ascending key order = descending value.
 */
const BUCKETS = 65536;
export const countByBucket = new Uint32Array(BUCKETS);
/** Buckets from here up hold -inf (and NaN bit patterns): no mass. */
export const NEG_INF_BUCKET = descendingKey(0xff800000) >>> 16;

/** Buffers, grown to the largest vocabulary seen and reused (the kernels are synchronous). */
let headIndices = new Int32Array(0);
let tailValues = new Float32Array(0);
let tailEntryUlps = new Float64Array(0);
let keys = new Uint32Array(0);
let scratch = new Uint32Array(0);
let massAbove = new Float32Array(0);

function reserve(n: number): void {
  if (keys.length >= n) return;
  headIndices = new Int32Array(n);
  tailValues = new Float32Array(n);
  tailEntryUlps = new Float64Array(n);
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
  /** The row's largest value. */
  max: number;
  /** The float32 sum of every probability, largest first (what the cut is a fraction of). */
  total: number;
  /** Ties on a half ulp the fast path resolved (-1: the exact fallback ran). */
  resolvedTies: number;
}

/** The top-p threshold of `row`; -inf when the row is all -inf. */
export function topPThreshold(row: Float32Array, topP: number, what: string): number {
  return topPSelect(row, topP, what).threshold;
}

/**
 * Top-p of `row`: the threshold, the row's maximum and, usually, the kept indices without
 * another pass. NaN and +Infinity are errors (`what` names the caller).
 */
export function topPSelect(row: Float32Array, topP: number, what: string): TopPResult {
  reserve(row.length);
  const max = maxAndHistogram(row, what);
  if (max === NEG_INF) return { threshold: NEG_INF, indices: null, count: 0, max, total: 0, resolvedTies: -1 };
  return headAndTail(row, topP, max) ?? { ...sortedThreshold(row, topP, max), indices: null, count: 0, max, resolvedTies: -1 };
}

/** The histogram bucket of a float32 given its bits as a signed int32 (see `maxAndHistogram`). */
export const bucketOfSignedBits = (b: number): number => (b < 0 ? b >>> 16 : 0x7fff - (b >>> 16));

/** One pass: the row's maximum (NaN and +Infinity are errors) and `countByBucket`. */
export function maxAndHistogram(row: Float32Array, what: string): number {
  countByBucket.fill(0);
  // Signed bits keep the arithmetic in small integers: the bucket is the top 16 bits of
  // `descendingKey`, written out (negative values: the bits; others: reversed below them).
  const bits = new Int32Array(row.buffer, row.byteOffset, row.length);
  let m = NEG_INF;
  let bad = -1;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v > m) m = v;
    else if (Number.isNaN(v) && bad < 0) bad = i;
    const b = bits[i];
    countByBucket[b < 0 ? b >>> 16 : 0x7fff - (b >>> 16)]++;
  }
  if (bad >= 0) throw nonFiniteError(what, bad, Number.NaN);
  if (m === Number.POSITIVE_INFINITY) throw nonFiniteError(what, row.indexOf(m), m);
  return m;
}

const valueOfBits = (bits: number) => {
  U32[0] = bits;
  return F32[0];
};
/** The largest and smallest float32 values of a histogram bucket. */
export const bucketTop = (b: number) => valueOfBits(bitsOfKey(b * 65536));
export const bucketBottom = (b: number) => valueOfBits(bitsOfKey(b * 65536 + 0xffff));
/** Estimated probability mass of a bucket (its count times exp of its middle value). */
const bucketMass = (b: number) =>
  countByBucket[b] === 0 || b >= NEG_INF_BUCKET ? 0 : countByBucket[b] * Math.exp((bucketTop(b) + bucketBottom(b)) / 2);

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
/** The most ties `resolveTies` takes on (each costs a pass over the tail). */
const MAX_TIES = 8;
/** Value and ulp count (rounded half up) of each tie, in the order found. */
const tieValues = new Float64Array(MAX_TIES);
const tieUlps = new Float64Array(MAX_TIES);
function ulpsOfTail(perUlp: number): void {
  let ulps = 0;
  let ties = 0;
  for (let j = 0; j < tailCount; j++) {
    const q = f(Math.exp(tailValues[j])) * perUlp;
    // Math.round, but faster in V8; q + 0.5 is exact wherever it matters (q >= 2^-29).
    const nearest = Math.floor(q + 0.5);
    tailEntryUlps[j] = nearest;
    ulps += nearest;
    if (nearest - q === 0.5) {
      if (ties < MAX_TIES) {
        tieValues[ties] = tailValues[j];
        tieUlps[ties] = nearest;
      }
      ties++;
    }
  }
  tailUlps = ulps;
  tailTies = ties;
}

/**
 * The correction (in ulps) that the tail's ties need, added to a sum that holds `startUlps`
 * ulps before the tail. A tie adds k - 1/2 ulps and rounds to the even neighbour, so it adds
 * k - 1 or k depending on the sum's parity at that moment: that is the start, plus everything
 * larger in the tail (its ulps, one pass each), plus the corrections of the larger ties, taken
 * largest first. Entries of equal value are equal ties, added one after another.
 */
function resolveTies(startUlps: number): number {
  const order = Array.from({ length: tailTies }, (_, t) => t).sort((a, b) => tieValues[b] - tieValues[a]);
  let correction = 0;
  for (let t = 0; t < order.length; ) {
    const value = tieValues[order[t]];
    let above = 0;
    for (let j = 0; j < tailCount; j++) above += tailEntryUlps[j] * +(tailValues[j] > value);
    let units = startUlps + above + correction;
    for (; t < order.length && tieValues[order[t]] === value; t++) {
      const k = tieUlps[order[t]];
      const added = (units + k - 1) % 2 === 0 ? k - 1 : k;
      correction += added - k;
      units += added;
    }
  }
  return correction;
}

/** The fast path (see the file's comment); undefined when one of its checks fails. */
function headAndTail(row: Float32Array, topP: number, max: number): TopPResult | undefined {
  const first = descendingKey(bitsOfFloat(max)) >>> 16;
  let estimate = 0;
  for (let b = first; b < NEG_INF_BUCKET; b++) estimate += bucketMass(b);
  if (!(estimate > 0 && estimate < Number.POSITIVE_INFINITY)) return undefined;
  const pTop = f(topP);
  // The binade the float32 total ends in, assuming the lower one when the estimate is near a
  // power of two (a normalised row sums to about 1, in float32 usually just below).
  const binadeStart = 2 ** Math.floor(Math.log2(estimate * 0.94));
  // The head holds the cut with room to spare (buckets are narrow: the estimate is close) and
  // reaches that binade.
  const need = Math.max((pTop + (1 - pTop) / 8) * estimate, binadeStart * 1.02);
  if (need >= estimate * 0.999) return undefined;
  let lastHeadBucket = first;
  for (let mass = bucketMass(first); mass < need; mass += bucketMass(++lastHeadBucket));
  // The entries of those buckets, decided by an exact float32 comparison from here on.
  const headFloor = bucketBottom(lastHeadBucket);
  // In that binade float32 numbers are the multiples of `ulp` (checked against the head's sum
  // below), and each tail entry adds a whole number of them.
  const e = biasedExponent(binadeStart);
  const ulp = 2 * HALF_ULP[e];
  const perUlp = 1 / ulp;
  // Below `tailFloor` an entry is under half an ulp and adds nothing.
  splitRow(row, headFloor, Math.log(HALF_ULP[e]) - 1e-4);
  ulpsOfTail(perUlp);
  if (tailTies > MAX_TIES) return undefined;
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
  // The head's sum is a whole number of ulps (it is a float32 in this binade).
  const ties = tailTies === 0 ? 0 : resolveTies(headMass * perUlp);
  total += (tailUlps + ties) * ulp;
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
  return { threshold, indices: headIndices.subarray(0, count), count, max, total, resolvedTies: tailTies };
}

/**
 * Every candidate radix-sorted and summed in order, stopping at the first probability below
 * half an ulp of the running sum (it and every smaller one leave the sum as it is).
 */
function sortedThreshold(row: Float32Array, topP: number, max: number): { threshold: number; total: number } {
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
  return { threshold: desc[Math.max(keptCount - 1, 0)], total };
}
