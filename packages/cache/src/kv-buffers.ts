/**
 * The key and value buffers of the caches that grow in steps (`KVCache`, `BatchKVCache`): they
 * grow, are cut and are replaced together, and the cache owns them.
 */
import * as mx from '@mlxn/core';
import { bufferBytes, own, ownShared, seqSlice } from './arrays.js';
import { checkAgainst, checkReserve } from './checks.js';
import { grownCapacity, STEP } from './growth.js';

/**
 * Writes `update` (`[B, heads, L, D]`) into a step-grown buffer at position `prev`, growing the
 * buffer by whole steps first when it has no room (the used part is kept, free space is zeros),
 * or to exactly `reserved` tokens when that end is less than a step away.
 */
function writeGrowing(buffer: mx.Array | null, update: mx.Array, prev: number, reserved: number): mx.Array {
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

/**
 * Keys and values `[B, heads, capacity, D]` with free space past the positions written. The
 * cache keeps its own count of positions and passes it in; `cls` names the cache in errors.
 */
export class KVBuffers {
  #keys: mx.Array | null = null;
  #values: mx.Array | null = null;
  #reserved = 0;

  /** Names the write in errors; built once, as `write` runs per layer per token. */
  readonly #writeWhat: string;

  constructor(readonly cls: string) {
    this.#writeWhat = `${cls}.updateAndFetch`;
  }

  /** The key buffer (owned here; do not dispose), `null` before the first write. */
  get keys(): mx.Array | null {
    return this.#keys;
  }

  /** The value buffer (owned here; do not dispose), `null` before the first write. */
  get values(): mx.Array | null {
    return this.#values;
  }

  /** Where the buffers are expected to end (0: unknown); see `KVCache.reserve`. */
  get reserved(): number {
    return this.#reserved;
  }

  reserve(positions: number): void {
    this.#reserved = checkReserve(positions, this.cls);
  }

  /** Writes `keys` and `values` (checked already by `checkKV`) at position `at`, growing first if needed. */
  write(keys: mx.Array, values: mx.Array, at: number): void {
    checkAgainst(this.#keys, keys, this.#writeWhat);
    checkAgainst(this.#values, values, this.#writeWhat);
    this.#keys = own(this.#keys, writeGrowing(this.#keys, keys, at, this.#reserved));
    this.#values = own(this.#values, writeGrowing(this.#values, values, at, this.#reserved));
  }

  /** The first `end` positions of keys and values (new handles the caller may dispose). */
  fetch(end: number): [mx.Array, mx.Array] {
    if (this.#keys === null || this.#values === null) throw new Error(`${this.cls}: the cache is empty`);
    return [seqSlice(this.#keys, 0, end), seqSlice(this.#values, 0, end)];
  }

  /** `fetch(end)` as a state's first two entries: `[null, null]` while nothing is stored. */
  stateEntries(end: number): [mx.Array, mx.Array] | [null, null] {
    return this.#keys === null ? [null, null] : this.fetch(end);
  }

  /** Takes ownership of new buffers (`null`, `null`: none), releasing the ones they replace. */
  replace(keys: mx.Array | null, values: mx.Array | null): void {
    this.#keys = own(this.#keys, keys);
    this.#values = own(this.#values, values);
  }

  /** `replace` with arrays the caller keeps: the buffers are new handles on them. */
  replaceShared(keys: mx.Array | null, values: mx.Array | null): void {
    this.#keys = ownShared(this.#keys, keys);
    this.#values = ownShared(this.#values, values);
  }

  /** Replaces keys and values by `f` of each, when there are any. */
  map(f: (buffer: mx.Array) => mx.Array): void {
    if (this.#keys !== null && this.#values !== null) this.replace(f(this.#keys), f(this.#values));
  }

  empty(): boolean {
    return this.#keys === null;
  }

  /** Capacity in positions. */
  get capacity(): number {
    return this.#keys?.shape[2] ?? 0;
  }

  get nbytes(): number {
    return bufferBytes(this.#keys, this.#values);
  }

  dispose(): void {
    this.replace(null, null);
  }
}
