/** A sliding-window cache. Follows mlx-lm's `RotatingKVCache` (models/cache.py). */
import * as mx from '@mlxn/core';
import { bufferBytes, own, ownShared, seqSlice, share } from './arrays.js';
import type { Cache, StateEntry } from './base.js';
import { checkAgainst, checkKV, checkPositive, trimCount } from './checks.js';
import { STEP } from './growth.js';
import { type AttentionMask, createCausalMask } from './mask.js';
import { intEntry, kvStateEntries } from './state-entries.js';

export interface RotatingKVCacheOptions {
  /** Tokens kept (the window, `keep` included). */
  maxSize: number;
  /** The first `keep` tokens are never evicted (attention sinks). Default 0. */
  keep?: number;
}

/**
 * Keeps the first `keep` tokens and the most recent ones, at most `maxSize` in all. Single-token
 * steps write in place into a ring buffer; a multi-token prefill puts the buffer back in
 * temporal order and keeps `maxSize - 1` old tokens so every new token sees a full window.
 *
 * @example
 * const cache = new RotatingKVCache({ maxSize: 512, keep: 4 });
 */
export class RotatingKVCache implements Cache {
  readonly className = 'RotatingKVCache' as const;
  static readonly step = STEP;
  #keys: mx.Array | null = null;
  #values: mx.Array | null = null;
  /** Tokens seen in all (positions; may exceed `maxSize`). */
  offset = 0;
  maxSize: number;
  keep: number;
  /** Write position in the ring buffer. */
  idx = 0;

  constructor(options: RotatingKVCacheOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('RotatingKVCache: expected { maxSize, keep? }');
    checkPositive(options.maxSize, 'RotatingKVCache: maxSize');
    const keep = options.keep ?? 0;
    if (!Number.isInteger(keep) || keep < 0 || keep >= options.maxSize) {
      throw new RangeError(`RotatingKVCache: keep must be an integer in [0, maxSize), got ${keep}`);
    }
    this.maxSize = options.maxSize;
    this.keep = keep;
  }

  #trimCat(trimSize: number, v: mx.Array, append?: mx.Array): mx.Array {
    const parts = trimSize > 0 ? [seqSlice(v, 0, this.keep), seqSlice(v, trimSize + this.keep)] : [v];
    if (append !== undefined) parts.push(append);
    return parts.length === 1 ? parts[0] : mx.concatenate(parts, 2);
  }

  /** The buffer in temporal order, cut to the used part. */
  #temporalOrder(v: mx.Array): mx.Array {
    if (this.idx === v.shape[2]) return v;
    if (this.idx < this.offset) {
      return mx.concatenate([seqSlice(v, 0, this.keep), seqSlice(v, this.idx), seqSlice(v, this.keep, this.idx)], 2);
    }
    return seqSlice(v, 0, this.idx);
  }

  #updateConcat(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array] {
    if (this.#keys === null || this.#values === null) {
      this.#keys = own(null, share(keys));
      this.#values = own(null, share(values));
    } else {
      const k = this.#temporalOrder(this.#keys);
      const v = this.#temporalOrder(this.#values);
      this.idx = k.shape[2];
      // Up to maxSize + L - 1 tokens, so each new token attends to a full window.
      const trimSize = this.idx - this.maxSize + 1;
      this.#keys = own(this.#keys, this.#trimCat(trimSize, k, keys));
      this.#values = own(this.#values, this.#trimCat(trimSize, v, values));
    }
    this.offset += keys.shape[2];
    this.idx = this.#keys.shape[2];
    if (this.#values === null) throw new Error('RotatingKVCache: keys without values');
    return [share(this.#keys), share(this.#values)];
  }

  #updateInPlace(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array] {
    const [b, h, s, dk] = keys.shape;
    const prev = this.offset;
    let k = this.#keys;
    let v = this.#values;
    if (k === null || v === null || (prev >= k.shape[2] && k.shape[2] < this.maxSize)) {
      const newSize = Math.min(STEP, this.maxSize - prev);
      const newK = mx.zeros([b, h, newSize, dk], keys.dtype);
      const newV = mx.zeros([b, h, newSize, values.shape[3]], values.dtype);
      k = k === null ? newK : mx.concatenate([k, newK], 2);
      v = v === null ? newV : mx.concatenate([v, newV], 2);
      this.idx = prev;
    }
    const trimSize = k.shape[2] - this.maxSize;
    if (trimSize > 0) {
      k = this.#trimCat(trimSize, k);
      v = this.#trimCat(trimSize, v);
      this.idx = this.maxSize;
    }
    if (this.idx === this.maxSize) this.idx = this.keep;
    this.#keys = own(this.#keys, mx.sliceUpdate(k, keys, [0, 0, this.idx, 0]));
    this.#values = own(this.#values, mx.sliceUpdate(v, values, [0, 0, this.idx, 0]));
    this.offset += s;
    this.idx += s;
    return this.keysAndValues();
  }

  /**
   * Appends and returns the keys and values to attend over. After a single-token step they are
   * in buffer (ring) order, which attention does not mind since positions are already encoded.
   */
  updateAndFetch(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array] {
    checkKV(keys, values, 'RotatingKVCache.updateAndFetch');
    checkAgainst(this.#keys, keys, 'RotatingKVCache.updateAndFetch');
    checkAgainst(this.#values, values, 'RotatingKVCache.updateAndFetch');
    return keys.shape[2] === 1 ? this.#updateInPlace(keys, values) : this.#updateConcat(keys, values);
  }

  keysAndValues(): [mx.Array, mx.Array] {
    if (this.#keys === null || this.#values === null) throw new Error('RotatingKVCache: the cache is empty');
    if (this.offset < this.#keys.shape[2]) return [seqSlice(this.#keys, 0, this.offset), seqSlice(this.#values, 0, this.offset)];
    return [share(this.#keys), share(this.#values)];
  }

  /** Tokens held (at most `maxSize`). */
  size(): number {
    return Math.min(this.offset, this.maxSize);
  }

  empty(): boolean {
    return this.#keys === null;
  }

  get nbytes(): number {
    return bufferBytes(this.#keys, this.#values);
  }

  /** `[keys, values, offset, keep, maxSize, idx]` (the ring buffer as stored). */
  get state(): StateEntry[] {
    return [
      this.#keys === null ? null : share(this.#keys),
      this.#values === null ? null : share(this.#values),
      this.offset,
      this.keep,
      this.maxSize,
      this.idx,
    ];
  }

  set state(v: StateEntry[]) {
    const [keys, values] = kvStateEntries(v, 6, 'RotatingKVCache');
    const offset = intEntry(v[2], 'RotatingKVCache.state offset');
    const keep = intEntry(v[3], 'RotatingKVCache.state keep');
    const maxSize = intEntry(v[4], 'RotatingKVCache.state maxSize');
    const idx = intEntry(v[5], 'RotatingKVCache.state idx');
    if (maxSize < 1 || keep < 0 || keep >= maxSize || offset < 0 || idx < 0) {
      throw new Error(`RotatingKVCache.state: inconsistent counters (offset ${offset}, keep ${keep}, maxSize ${maxSize}, idx ${idx})`);
    }
    if (keys !== null && values !== null) {
      if (keys.ndim !== 4 || values.ndim !== 4 || idx > keys.shape[2]) {
        throw new Error(`RotatingKVCache.state: idx ${idx} does not fit keys [${keys.shape}]`);
      }
    }
    this.#keys = ownShared(this.#keys, keys);
    this.#values = ownShared(this.#values, values);
    Object.assign(this, { offset, keep, maxSize, idx });
  }

  /** Trimmable until the window has rotated (then the evicted tokens are gone). */
  isTrimmable(): boolean {
    return this.offset < this.maxSize;
  }

  trim(n: number): number {
    const t = trimCount(this.offset, n, 'RotatingKVCache.trim');
    this.offset -= t;
    this.idx -= t;
    return t;
  }

  /** mlx-lm's mask for `n` new queries over this window. */
  makeMask(n: number, options: { windowSize?: number; returnArray?: boolean } = {}): AttentionMask {
    if (n > 1) {
      const windowSize = options.windowSize ?? this.maxSize;
      const offset = Math.min(this.maxSize - 1, this.offset);
      if (offset + n > windowSize || options.returnArray) return createCausalMask(n, offset, { windowSize });
      return 'causal';
    }
    const windowSize = options.windowSize;
    if (windowSize === undefined) return null;
    if (this.offset >= windowSize && this.maxSize > windowSize) {
      const idx = this.idx >= this.maxSize ? 0 : this.idx;
      const maskSize = this.offset < this.maxSize ? this.offset + 1 : this.maxSize;
      const mask = mx.greaterEqual(mx.arange(maskSize), maskSize - windowSize);
      return mx.roll(mask, idx + 1);
    }
    return null;
  }

  dispose(): void {
    this.#keys = own(this.#keys, null);
    this.#values = own(this.#values, null);
  }

  static fromState(state: StateEntry[]): RotatingKVCache {
    const c = new RotatingKVCache({ maxSize: 1 });
    c.state = state;
    return c;
  }
}
