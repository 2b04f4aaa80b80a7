/** The plain growing key/value cache. Follows mlx-lm's `KVCache` (models/cache.py). */
import * as mx from '@mlxn/core';
import type { Cache, StateEntry } from './base.js';
import { checkKV, trimCount } from './checks.js';
import { STEP } from './growth.js';
import { KVBuffers } from './kv-buffers.js';
import { type AttentionMask, attentionMask } from './mask.js';
import { QuantizedKVCache, type QuantizedKVCacheOptions, type QuantizedTriple } from './quantized.js';
import { intEntry, kvStateEntries } from './state-entries.js';

/**
 * Keys and values `[B, heads, L, headDim]` in a buffer that grows in steps of 256 tokens, so
 * appending a token writes into free space instead of copying the whole buffer.
 *
 * @example
 * const cache = new KVCache();
 * const [k, v] = cache.updateAndFetch(mx.zeros([1, 2, 5, 8]), mx.zeros([1, 2, 5, 8]));
 * cache.offset; // 5
 */
export class KVCache implements Cache {
  readonly className = 'KVCache' as const;
  /** Growth step in tokens. */
  static readonly step = STEP;
  #buffers = new KVBuffers('KVCache');
  /** Tokens stored. */
  offset = 0;

  /**
   * Says how many tokens this cache is expected to hold in the end (a prompt plus the most
   * tokens a generation may add; 0: unknown, the default). When growth comes within one step
   * (256 tokens) of that end, the buffer grows to exactly it: no unused tail of a whole step, and
   * no later growth that copies the buffer. A hint only: storing more still works, growing in
   * steps again.
   */
  reserve(tokens: number): void {
    this.#buffers.reserve(tokens);
  }

  /** Appends `keys`/`values` and returns all stored keys and values (`[B, heads, offset, D]`). */
  updateAndFetch(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array] {
    checkKV(keys, values, 'KVCache.updateAndFetch');
    this.#buffers.write(keys, values, this.offset);
    this.offset += keys.shape[2];
    return this.keysAndValues();
  }

  /**
   * @internal For a model that builds its forward natively: the buffers (owned by the cache;
   * do not dispose), the position the next keys are written at and the reserved end.
   */
  nativeState(): [mx.Array | null, mx.Array | null, number, number] {
    return [this.#buffers.keys, this.#buffers.values, this.offset, this.#buffers.reserved];
  }

  /**
   * @internal Takes over the buffers a native forward wrote `n` new tokens into (what
   * `updateAndFetch` would have stored).
   */
  adoptNative(keys: mx.Array, values: mx.Array, n: number): void {
    this.#buffers.replace(keys, values);
    this.offset += n;
  }

  /** The stored keys and values (new handles the caller may dispose). */
  keysAndValues(): [mx.Array, mx.Array] {
    return this.#buffers.fetch(this.offset);
  }

  /** Tokens stored. */
  size(): number {
    return this.offset;
  }

  /** Buffer capacity in tokens (a multiple of 256 past the last growth, or the reserved end). */
  get capacity(): number {
    return this.#buffers.capacity;
  }

  empty(): boolean {
    return this.#buffers.empty();
  }

  get nbytes(): number {
    return this.#buffers.nbytes;
  }

  /** `[keys, values, offset]` with keys and values cut to `offset` (what files store). */
  get state(): StateEntry[] {
    return [...this.#buffers.stateEntries(this.offset), this.offset];
  }

  set state(v: StateEntry[]) {
    const [keys, values] = kvStateEntries(v, 3, 'KVCache');
    const offset = intEntry(v[2], 'KVCache.state offset');
    if (keys !== null && values !== null) {
      if (keys.ndim !== 4 || values.ndim !== 4)
        throw new Error(`KVCache.state: keys and values must be 4-D, got [${keys.shape}] and [${values.shape}]`);
      if (offset < 0 || offset > keys.shape[2] || offset > values.shape[2]) {
        throw new Error(`KVCache.state: offset ${offset} is outside the stored ${keys.shape[2]} tokens`);
      }
    } else if (offset !== 0) {
      throw new Error(`KVCache.state: offset ${offset} with no keys`);
    }
    this.#buffers.replaceShared(keys, values);
    this.offset = offset;
  }

  isTrimmable(): boolean {
    return true;
  }

  trim(n: number): number {
    const t = trimCount(this.offset, n, 'KVCache.trim');
    this.offset -= t;
    return t;
  }

  /**
   * A `QuantizedKVCache` holding these keys and values quantized (defaults: group size 64,
   * 4 bits, as mlx-lm's `to_quantized`); generation switches to it after a number of tokens.
   */
  toQuantized(options: QuantizedKVCacheOptions = {}): QuantizedKVCache {
    const groupSize = options.groupSize ?? 64;
    const bits = options.bits ?? 4;
    const q = new QuantizedKVCache({ groupSize, bits });
    if (this.#buffers.empty() || this.offset === 0) return q;
    mx.tidy(() => {
      const [k, v] = this.keysAndValues();
      const qk = mx.quantize(k, { groupSize, bits }) as QuantizedTriple;
      const qv = mx.quantize(v, { groupSize, bits }) as QuantizedTriple;
      q.state = [qk, qv, this.offset, groupSize, bits];
    });
    return q;
  }

  /** The mask for `n` new queries: `null` for one token, `'causal'` (or an array) otherwise. */
  makeMask(n: number, options: { returnArray?: boolean; windowSize?: number } = {}): AttentionMask {
    return attentionMask(n, this.offset, options);
  }

  dispose(): void {
    this.#buffers.dispose();
  }

  /** A cache with this state (as loaded from a file). */
  static fromState(state: StateEntry[]): KVCache {
    const c = new KVCache();
    c.state = state;
    return c;
  }
}
