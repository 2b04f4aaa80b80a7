// mlx-lm's filters (sample_utils.py) written the plainest way, one row at a time: sort the whole
// vocabulary, then cut. The partial-selection kernels of src/js must keep exactly the entries
// these keep (js-draws.test.ts, js-top-p-top-k.test.ts), so each step is rounded to float32
// (Math.fround) where MLX computes in float32. Arguments are taken as valid: checking them is the
// production code's job, tested on its own. Slow by design; never use it outside tests.

const f = Math.fround;
const NEG_INF = Number.NEGATIVE_INFINITY;

/** Indices of the row sorted by value, largest first (ties: lower index first). */
function descending(row: Float32Array): number[] {
  return Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
}

/** The largest value (NaN is passed over). */
function largest(row: Float32Array): number {
  let m = NEG_INF;
  for (const v of row) if (v > m) m = v;
  return m;
}

/** A copy of `row` in which only the entries at `indices` keep their value; the rest are -inf. */
function onlyAt(row: Float32Array, indices: Iterable<number>): Float32Array {
  const out = new Float32Array(row.length).fill(NEG_INF);
  for (const i of indices) out[i] = row[i];
  return out;
}

/** Top-k: the `k` largest entries. */
export function topK(row: Float32Array, k: number): Float32Array {
  return onlyAt(row, descending(row).slice(0, k));
}

/**
 * Top-p: walking the sorted row from the least likely entry up, every entry whose probability mass
 * above it (a float32 sum) already reaches `topP` of the total is dropped; entries tied with the
 * least likely survivor stay too.
 */
export function topP(row: Float32Array, p: number): Float32Array {
  const ascending = Float32Array.from(row).sort();
  const n = ascending.length;
  const massAbove = new Float32Array(n);
  let sum = 0;
  for (let i = n - 1; i >= 0; i--) {
    massAbove[i] = sum;
    sum = f(sum + f(Math.exp(ascending[i])));
  }
  const cut = f(f(p) * sum);
  const dropped = massAbove.filter((mass) => mass >= cut).length;
  const threshold = ascending[Math.min(dropped, n - 1)];
  return row.map((v) => (v < threshold ? NEG_INF : v));
}

/** Min-p: drops entries less likely than `p` times the top one, but never the `keep` most likely. */
export function minP(row: Float32Array, p: number, keep: number): Float32Array {
  const order = descending(row);
  const threshold = f(row[order[0]] + f(Math.log(p)));
  const kept = order.filter((i, rank) => rank < keep || row[i] >= threshold);
  return onlyAt(row, kept);
}

/**
 * XTC once its coin has come up: of the entries whose probability is above `threshold`, only the
 * least likely stays; `special` token ids are never dropped.
 */
export function xtc(row: Float32Array, threshold: number, special: readonly number[]): Float32Array {
  const top = largest(row);
  const weights = Array.from(row, (v) => Math.exp(v - top));
  const total = weights.reduce((a, b) => a + b, 0);
  const probs = weights.map((w) => f(w / total));
  const above = probs.filter((q) => q > f(threshold));
  const least = above.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  return row.map((v, i) => (probs[i] > least && !special.includes(i) ? NEG_INF : v));
}

/**
 * A draw from `softmax(row / temperature)`: float64 weights summed in index order, one uniform
 * number, a walk in index order; -inf entries can never be drawn.
 */
export function categorical(row: Float32Array, temperature: number, random: () => number): number {
  const scale = f(1 / temperature);
  const scaled = row.map((v) => f(v * scale));
  const top = largest(scaled);
  if (top === NEG_INF) throw new RangeError('categoricalSampling: every token has been filtered out');
  const weights = Array.from(scaled, (v) => Math.exp(v - top));
  let u = random() * weights.reduce((a, b) => a + b, 0);
  let last = 0;
  for (const [i, w] of weights.entries()) {
    if (w === 0) continue;
    last = i;
    u -= w;
    if (u < 0) return i;
  }
  return last;
}
