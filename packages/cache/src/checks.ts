/** The checks of what callers hand the caches (keys and values, counts), and how their errors show values. */
import * as mx from '@mlxn/core';

/** A value as an error message shows it: an array by its shape and dtype, a list by its length. */
export function describeWithShape(v: unknown): string {
  if (v instanceof mx.Array) return `array [${v.shape}] ${v.dtype}`;
  if (globalThis.Array.isArray(v)) return `list of ${v.length}`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
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

/** Checks the argument of a cache's `trim` and says how many of the `held` tokens it drops. */
export function trimCount(held: number, n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${what}: expected a non-negative integer, got ${n}`);
  return Math.min(held, n);
}

/** Checks the argument of a cache's `reserve`. */
export function checkReserve(tokens: number, cls: string): number {
  if (!Number.isInteger(tokens) || tokens < 0 || tokens > 2 ** 30)
    throw new RangeError(`${cls}.reserve: tokens must be an integer in [0, 2^30], got ${describeWithShape(tokens)}`);
  return tokens;
}
