/** What every cache shares: the state layout of mlx-lm's `_BaseCache` and array ownership. */
import * as mx from '@mlxn/core';
import { grownCapacity } from './growth.js';

/**
 * One entry of a cache's state, in mlx-lm's order: arrays, plain integers, `null` (an empty
 * cache) or a quantized triple `[packed, scales, biases]`.
 */
export type StateEntry = mx.Array | number | null | mx.Array[];

/** A layer's key/value cache; all caches of this package implement it. */
export interface Cache {
  /** mlx-lm's class name, written to prompt-cache files. */
  readonly className: 'KVCache' | 'RotatingKVCache' | 'QuantizedKVCache' | 'BatchKVCache';
  /** Whether nothing has been stored yet. */
  empty(): boolean;
  /** Whether `trim` can drop tokens from the end. */
  isTrimmable(): boolean;
  /** Drops up to `n` tokens from the end; returns how many were dropped. */
  trim(n: number): number;
  /** The state as mlx-lm's `state` tuple (arrays stay owned by the cache). */
  state: StateEntry[];
  /** Bytes held by the stored keys and values. */
  readonly nbytes: number;
  /** Releases the stored arrays now. */
  dispose(): void;
}

/** The ops a growing buffer uses along the sequence axis (axis 2 of `[B, heads, L, D]`). */
export function seqSlice(a: mx.Array, start: number, stop?: number): mx.Array {
  return a.index(mx.sl(), mx.sl(), mx.sl(start, stop));
}

/** A new handle on the same array, so callers may dispose what they get back. */
export function share(a: mx.Array): mx.Array {
  return mx.array(a);
}

/** Takes ownership of `next` (out of any tidy scope) and releases `prev` when it is replaced. */
export function own<T extends mx.Array | null>(prev: mx.Array | null, next: T): T {
  if (next !== null) mx.keep(next);
  if (prev !== null && prev !== next && !prev.disposed) prev.dispose();
  return next;
}

export function checkKV(keys: mx.Array, values: mx.Array, what: string): void {
  if (!(keys instanceof mx.Array) || !(values instanceof mx.Array)) {
    throw new TypeError(`${what}: keys and values must be mx.Array`);
  }
  if (keys.ndim !== 4 || values.ndim !== 4) {
    throw new Error(`${what}: keys and values must be [B, heads, L, headDim], got shapes [${keys.shape}] and [${values.shape}]`);
  }
  const [b, h, l] = keys.shape;
  const [vb, vh, vl] = values.shape;
  if (b !== vb || h !== vh || l !== vl) {
    throw new Error(`${what}: keys [${keys.shape}] and values [${values.shape}] disagree on B, heads or L`);
  }
  if (l < 1) throw new Error(`${what}: at least one token is needed, got L = 0`);
  if (keys.dtype !== values.dtype) throw new Error(`${what}: keys are ${keys.dtype} but values are ${values.dtype}`);
}

export function checkAgainst(buf: mx.Array | null, keys: mx.Array, what: string): void {
  if (buf === null) return;
  const [b, h, , d] = buf.shape;
  if (keys.shape[0] !== b || keys.shape[1] !== h || keys.shape[3] !== d) {
    throw new Error(`${what}: the cache holds [${b}, ${h}, L, ${d}] but got keys [${keys.shape}]`);
  }
  if (keys.dtype !== buf.dtype) throw new Error(`${what}: the cache holds ${buf.dtype} but got ${keys.dtype}`);
}

export function checkPositive(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got ${String(n)}`);
}

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

/** A value as an error message shows it: an array by its shape and dtype, a list by its length. */
export function describeWithShape(v: unknown): string {
  if (v instanceof mx.Array) return `array [${v.shape}] ${v.dtype}`;
  if (globalThis.Array.isArray(v)) return `list of ${v.length}`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
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

/** `own` for an array a caller handed in: the cache keeps its own handle, the caller keeps theirs. */
export function ownShared(prev: mx.Array | null, next: mx.Array | null): mx.Array | null {
  return own(prev, next === null ? null : share(next));
}

/** Bytes held by a cache's key and value buffers (`null`: not allocated yet). */
export function bufferBytes(keys: mx.Array | null, values: mx.Array | null): number {
  return (keys?.nbytes ?? 0) + (values?.nbytes ?? 0);
}

/** Checks the argument of a cache's `trim` and says how many of the `held` tokens it drops. */
export function trimCount(held: number, n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${what}: expected a non-negative integer, got ${n}`);
  return Math.min(held, n);
}

export const STEP = 256;

/** Checks the argument of a cache's `reserve`. */
export function checkReserve(tokens: number, cls: string): number {
  if (!Number.isInteger(tokens) || tokens < 0 || tokens > 2 ** 30)
    throw new RangeError(`${cls}.reserve: tokens must be an integer in [0, 2^30], got ${describeWithShape(tokens)}`);
  return tokens;
}

/**
 * Writes `update` (`[B, heads, L, D]`) into a step-grown buffer at position `prev`, growing the
 * buffer by whole steps first when it has no room (the used part is kept, free space is zeros),
 * or to exactly `reserved` tokens when that end is less than a step away.
 * Shared by `KVCache` and `BatchKVCache`, whose key and value buffers grow the same way.
 */
export function writeGrowing(buffer: mx.Array | null, update: mx.Array, prev: number, reserved = 0): mx.Array {
  const [b, h, l, d] = update.shape;
  const capacity = buffer?.shape[2] ?? 0;
  // No buffer yet means capacity 0, which always grows: `grown` is a number whenever buffer is null.
  const grown = grownCapacity(capacity, prev, l, STEP, reserved) ?? capacity;
  let buf = buffer;
  if (buf === null || grown !== capacity) {
    const fresh = mx.zeros([b, h, grown - prev, d], update.dtype);
    buf = buf === null ? fresh : mx.concatenate([prev < capacity ? seqSlice(buf, 0, prev) : buf, fresh], 2);
  }
  return mx.sliceUpdate(buf, update, [0, 0, prev, 0]);
}
