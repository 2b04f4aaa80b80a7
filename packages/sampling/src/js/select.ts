/**
 * Partial selection for the plain-JS filters: an O(n) radix sort of float32 values (largest
 * first) for the candidates top-p has to sum in order, and a bounded heap for the k largest
 * entries of a row. Neither sorts the whole vocabulary with a comparator.
 */

/**
 * A float32's bits mapped to a uint32 key whose ascending order is the values' descending order
 * (negative values: larger value, smaller bits; non-negative values: reversed below them).
 */
export const descendingKey = (bits: number): number => (bits >= 0x80000000 ? bits : 0x7fffffff - bits);

/** Inverse of `descendingKey` (the map is its own inverse on each half). */
export const bitsOfKey = (key: number): number => (key >= 0x80000000 ? key : 0x7fffffff - key);

/** Digit counts, reused by every call (the sort is synchronous). */
const counts = [new Uint32Array(2048), new Uint32Array(2048), new Uint32Array(1024)];

const DIGITS = [
  { shift: 0, mask: 0x7ff },
  { shift: 11, mask: 0x7ff },
  { shift: 22, mask: 0x3ff },
];

/**
 * Sorts `keys[0, len)` ascending (LSD radix, three passes of 11/11/10 bits), using `scratch`
 * (at least `len` long) as the second buffer. Returns whichever of the two holds the result.
 * A pass whose digit is the same for every key is skipped.
 */
export function radixSortKeys(keys: Uint32Array, len: number, scratch: Uint32Array): Uint32Array {
  for (const c of counts) c.fill(0);
  const [c0, c1, c2] = counts;
  for (let i = 0; i < len; i++) {
    const k = keys[i];
    c0[k & 0x7ff]++;
    c1[(k >>> 11) & 0x7ff]++;
    c2[k >>> 22]++;
  }
  let src = keys;
  let dst = scratch;
  for (let d = 0; d < 3; d++) {
    const count = counts[d];
    const { shift, mask } = DIGITS[d];
    let sum = 0;
    let trivial = false;
    for (let b = 0; b < count.length; b++) {
      const c = count[b];
      if (c === len) trivial = true;
      count[b] = sum;
      sum += c;
    }
    if (trivial) continue;
    for (let i = 0; i < len; i++) {
      const k = src[i];
      dst[count[(k >>> shift) & mask]++] = k;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

/**
 * The `k` largest entries of `row` among `candidates` (indices in ascending order; null means
 * every index), ties going to the lower index — the order of a stable descending sort — as
 * ascending indices. Entries equal to -Infinity are never selected. A min-heap of size k: an
 * entry that does not beat the heap's worst costs one comparison.
 */
export function topKIndices(row: Float32Array, candidates: Int32Array | null, count: number, k: number): Int32Array {
  const heap = new Int32Array(k);
  let size = 0;
  // Worse = smaller value, or equal value and larger index (scanned later, so it loses ties).
  const worse = (a: number, b: number) => row[a] < row[b] || (row[a] === row[b] && a > b);
  const siftDown = (at: number) => {
    for (;;) {
      const l = 2 * at + 1;
      if (l >= size) return;
      const r = l + 1;
      const c = r < size && worse(heap[r], heap[l]) ? r : l;
      if (!worse(heap[c], heap[at])) return;
      const t = heap[c];
      heap[c] = heap[at];
      heap[at] = t;
      at = c;
    }
  };
  const n = candidates === null ? row.length : count;
  for (let j = 0; j < n; j++) {
    const i = candidates === null ? j : candidates[j];
    const v = row[i];
    if (v === Number.NEGATIVE_INFINITY) continue;
    if (size < k) {
      let at = size++;
      heap[at] = i;
      while (at > 0) {
        const p = (at - 1) >> 1;
        if (!worse(heap[at], heap[p])) break;
        const t = heap[p];
        heap[p] = heap[at];
        heap[at] = t;
        at = p;
      }
    } else if (v > row[heap[0]]) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.slice(0, size).sort();
}
