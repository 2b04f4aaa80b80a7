/** Reading the entries of a state tuple that a cache is given (from a file or another cache). */
import * as mx from '@mlxn/core';
import type { StateEntry } from './base.js';
import { describeWithShape } from './checks.js';

export function intEntry(v: StateEntry | undefined, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (v instanceof mx.Array && v.size === 1) {
    const x = v.item();
    if (typeof x === 'number' && Number.isInteger(x)) return x;
    if (typeof x === 'bigint') return Number(x);
  }
  throw new Error(`${what}: expected an integer, got ${describeWithShape(v)}`);
}

export function arrayEntry(v: StateEntry | undefined, what: string): mx.Array | null {
  if (v === null) return null;
  if (v instanceof mx.Array) return v;
  throw new Error(`${what}: expected an array or null, got ${describeWithShape(v)}`);
}

export function checkStateLength(v: StateEntry[], n: number, cls: string): void {
  if (!globalThis.Array.isArray(v) || v.length !== n) {
    throw new Error(`${cls}.state: expected ${n} entries, got ${globalThis.Array.isArray(v) ? v.length : describeWithShape(v)}`);
  }
}

/**
 * Checks a state's length and its first two entries, the stored keys and values, which must be
 * both arrays or both null (an empty cache). Shared by the caches that store plain arrays.
 */
export function kvStateEntries(v: StateEntry[], n: number, cls: string): [mx.Array, mx.Array] | [null, null] {
  checkStateLength(v, n, cls);
  const keys = arrayEntry(v[0], `${cls}.state keys`);
  const values = arrayEntry(v[1], `${cls}.state values`);
  if (keys === null || values === null) {
    if (keys !== values) throw new Error(`${cls}.state: keys and values must both be arrays or both null`);
    return [null, null];
  }
  return [keys, values];
}
