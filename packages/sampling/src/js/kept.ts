/**
 * The filters of mlx-lm's sample_utils.py as kernels over one Float32Array row and the set of
 * entries still kept, computed in float32 the way MLX computes them (Math.fround at each step)
 * so kept sets match the MLX path. Filters only ever replace entries with -inf, so a chain of
 * them is a shrinking set of indices: the sampler passes that set from filter to filter and
 * draws from it without materialising a row per filter. Entries equal to -inf are never kept
 * (they can neither be drawn nor change a sum).
 */
import { nonFiniteError } from './rows.js';
import { topKIndices } from './select.js';
import { topPSelect } from './top-p.js';

const f = Math.fround;
const NEG_INF = Number.NEGATIVE_INFINITY;

/** Ascending indices into the row (`null`: every entry that is not -inf). */
export interface Kept {
  indices: Int32Array | null;
  count: number;
}

export const everyEntry = (row: Float32Array): Kept => ({ indices: null, count: row.length });

/** The row's largest value; NaN and +Infinity are errors (no distribution to sample from). */
export function checkedMax(row: Float32Array, what: string): number {
  let m = NEG_INF;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v > m) {
      m = v;
      if (v === Number.POSITIVE_INFINITY) throw nonFiniteError(what, i, v);
    } else if (Number.isNaN(v)) {
      throw nonFiniteError(what, i, v);
    }
  }
  return m;
}

/** Calls `fn(i)` for each kept index, in ascending order. */
function forEachKept(row: Float32Array, kept: Kept, fn: (i: number) => void): void {
  if (kept.indices === null) {
    for (let i = 0; i < row.length; i++) if (row[i] !== NEG_INF) fn(i);
  } else {
    for (let j = 0; j < kept.count; j++) fn(kept.indices[j]);
  }
}

function keepWhere(row: Float32Array, kept: Kept, pred: (i: number) => boolean): Kept {
  const out = new Int32Array(kept.indices === null ? row.length : kept.count);
  let count = 0;
  forEachKept(row, kept, (i) => {
    if (pred(i)) out[count++] = i;
  });
  return { indices: out, count };
}

/** Top-p on the full row (it is the first filter of the chain). */
export function topPKept(row: Float32Array, topP: number, what: string): { kept: Kept; max: number } {
  const { threshold, indices, count, max } = topPSelect(row, topP, what);
  // `indices` lives in a buffer the next row's top-p reuses.
  if (indices !== null) return { kept: { indices: indices.slice(), count }, max };
  return { kept: keepWhere(row, everyEntry(row), (i) => row[i] >= threshold), max };
}

/** Min-p: entries at least `minP` times as likely as the top one, and the `keep` most likely. */
export function minPKept(row: Float32Array, kept: Kept, minP: number, keep: number, max: number): Kept {
  const threshold = f(max + f(Math.log(minP)));
  const out = keepWhere(row, kept, (i) => row[i] >= threshold);
  if (keep <= 1 || out.count === kept.count) return out;
  return union(out, topKKept(row, kept, keep));
}

/** Top-k: the `k` largest kept entries (ties: lower index first). */
export function topKKept(row: Float32Array, kept: Kept, k: number): Kept {
  const indices = topKIndices(row, kept.indices, kept.count, k);
  return { indices, count: indices.length };
}

/** XTC once its coin has come up: drops every entry above the least likely of those over `threshold`. */
export function xtcKept(row: Float32Array, kept: Kept, threshold: number, special: readonly number[]): Kept {
  let m = NEG_INF;
  forEachKept(row, kept, (i) => {
    if (row[i] > m) m = row[i];
  });
  if (m === NEG_INF) return { indices: new Int32Array(0), count: 0 };
  let s = 0;
  forEachKept(row, kept, (i) => {
    s += Math.exp(row[i] - m);
  });
  const t = f(threshold);
  const prob = (i: number) => f(Math.exp(row[i] - m) / s);
  let least = Number.POSITIVE_INFINITY;
  forEachKept(row, kept, (i) => {
    const p = prob(i);
    if (p > t && p < least) least = p;
  });
  const out = keepWhere(row, kept, (i) => prob(i) <= least);
  if (special.length === 0) return out;
  const isKept = new Set<number>();
  forEachKept(row, kept, (i) => isKept.add(i));
  const extra = Int32Array.from(new Set(special.filter((i) => isKept.has(i)))).sort();
  return union(out, { indices: extra, count: extra.length });
}

/** The kept indices written out (`null` stands for every entry, 0 to count - 1). */
const indicesOf = (k: Kept): Int32Array => k.indices ?? Int32Array.from({ length: k.count }, (_, i) => i);

/** Union of two kept sets (ascending, possibly overlapping). */
function union(a: Kept, b: Kept): Kept {
  const ai = indicesOf(a);
  const bi = indicesOf(b);
  const out = new Int32Array(a.count + b.count);
  let i = 0;
  let j = 0;
  let count = 0;
  while (i < a.count || j < b.count) {
    const x = i < a.count ? ai[i] : Number.POSITIVE_INFINITY;
    const y = j < b.count ? bi[j] : Number.POSITIVE_INFINITY;
    out[count++] = Math.min(x, y);
    if (x <= y) i++;
    if (y <= x) j++;
  }
  return { indices: out, count };
}

/** The row with every entry outside `kept` set to -inf (the dense filters' result). */
export function densify(row: Float32Array, kept: Kept): Float32Array {
  if (kept.indices === null) return Float32Array.from(row);
  const out = new Float32Array(row.length).fill(NEG_INF);
  for (let j = 0; j < kept.count; j++) out[kept.indices[j]] = row[kept.indices[j]];
  return out;
}

let weights = new Float64Array(0);

/**
 * A draw from `softmax(fround(v * scale))` over the kept entries: float64 weights summed in
 * index order, one uniform number, a walk in index order (as a dense loop over the row would).
 */
export function drawKept(row: Float32Array, kept: Kept, scale: number, random: () => number): number {
  let vmax = NEG_INF;
  forEachKept(row, kept, (i) => {
    if (row[i] > vmax) vmax = row[i];
  });
  // fround(v * scale) is non-decreasing in v, so its maximum is at the largest value.
  const m = f(vmax * scale);
  if (m === NEG_INF) throw new RangeError('categoricalSampling: every token has been filtered out');
  const n = kept.indices === null ? row.length : kept.count;
  if (weights.length < n) weights = new Float64Array(Math.max(n, row.length));
  let total = 0;
  if (kept.indices === null) {
    for (let i = 0; i < n; i++) {
      const w = Math.exp(f(row[i] * scale) - m);
      weights[i] = w;
      total += w;
    }
  } else {
    for (let j = 0; j < n; j++) {
      const w = Math.exp(f(row[kept.indices[j]] * scale) - m);
      weights[j] = w;
      total += w;
    }
  }
  let u = random() * total;
  let last = 0;
  for (let j = 0; j < n; j++) {
    const w = weights[j];
    if (w === 0) continue;
    last = kept.indices === null ? j : kept.indices[j];
    u -= w;
    if (u < 0) return last;
  }
  return last;
}
