/**
 * The smallest and largest value of small integer arrays made from host data, remembered when
 * they are made: `take` and the other gathers check their indices' bounds (ops/indexing.ts),
 * and reading the values back goes through the evaluation lock, which waits while the
 * evaluation thread encodes a step. A server dropping a finished row between queued steps
 * (a `take` per layer) waited that long for each layer.
 */
import type { Array } from './array.js';

/** Arrays with more elements are not scanned when made (the read is then worth its cost). */
const MAX_REMEMBERED = 4096;

/** Host values as a typed array holds them. */
export type HostValues = { readonly length: number; readonly [i: number]: number | bigint };

const ranges = new WeakMap<Array, readonly [number | bigint, number | bigint]>();

/** Remembers the range of `values` (the data `a` was made from, as copied into it). */
export function rememberHostRange(a: Array, values: HostValues): void {
  const n = values.length;
  if (n === 0 || n > MAX_REMEMBERED) return;
  let lo = values[0];
  let hi = values[0];
  for (let i = 1; i < n; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  ranges.set(a, [lo, hi]);
}

/** `[min, max]` of an integer array made from host data, if it was small enough to remember. */
export function hostRange(a: Array): readonly [number | bigint, number | bigint] | undefined {
  return ranges.get(a);
}

/** Forgets `a`'s range: its storage was replaced (`Array.adoptStorage`). */
export function forgetHostRange(a: Array): void {
  ranges.delete(a);
}
