/** A cache for a batch of left-padded prompts. Follows mlx-lm's `BatchKVCache` (models/cache.py). */
import * as mx from '@mlxn/core';
import { own, seqSlice, share } from './arrays.js';
import type { Cache, StateEntry } from './base.js';
import { checkKV, describeWithShape, trimCount } from './checks.js';
import { STEP } from './growth.js';
import { KVBuffers } from './kv-buffers.js';
import { KVCache } from './kv-cache.js';
import { type AttentionMask, createCausalMask } from './mask.js';
import { arrayEntry, intEntry, kvStateEntries } from './state-entries.js';

/** The last per-row offsets made, shared by every layer's cache at one step (see `rowOffsets`). */
let lastOffsets: { key: string; array: mx.Array } | null = null;

/**
 * `idx - padding` as an int32 array. The layers of a model's batch stand at the same position,
 * so one array serves all of them at a step: a leaf made from host numbers, which costs the
 * device nothing to evaluate (the offsets used to be one add per layer and step).
 */
function rowOffsets(idx: number, padding: readonly number[]): mx.Array {
  const key = `${idx}:${padding.join(',')}`;
  if (lastOffsets === null || lastOffsets.key !== key || lastOffsets.array.disposed) {
    // Graphs built on the previous array hold it themselves; this handle alone is released.
    const array = mx.keep(
      mx.array(
        padding.map((p) => idx - p),
        'int32',
      ),
    );
    if (lastOffsets !== null && !lastOffsets.array.disposed) lastOffsets.array.dispose();
    lastOffsets = { key, array };
  }
  return lastOffsets.array;
}

export interface BatchKVCacheOptions {
  /** Padding tokens at the start of each row (prompts are left-padded to one length). */
  leftPadding: readonly number[];
}

/**
 * Keys and values of `B` sequences of different lengths, left-padded so they end together.
 * `offset` is per row (`[B]`, the row's true length, negative until its padding is passed),
 * `makeMask` hides the padding, `filter` drops finished rows and `extend` adds new ones
 * (continuous batching).
 *
 * @example
 * // Prompts [1, 3, 5], [7] and [2, 6, 8, 9] padded to length 4:
 * const cache = new BatchKVCache({ leftPadding: [1, 3, 0] });
 */
export class BatchKVCache implements Cache {
  readonly className = 'BatchKVCache' as const;
  static readonly step = STEP;
  #buffers = new KVBuffers('BatchKVCache');
  /**
   * Each row's left padding, kept on the host: dropping, adding and copying out rows needs the
   * numbers, and reading them back from the device would wait for every queued step. Each row's
   * offset (its true length) is `idx - padding`, as in mlx-lm, so it needs no array of its own
   * between steps either (`rowOffsets`).
   */
  #padding: number[];
  /** `#padding` as an int32 array, made when first asked for after a change. */
  #paddingArray: mx.Array | null = null;
  /** Right padding declared by `prepare`, as an array (for `finalize`'s roll) and on the host. */
  #rightPadding: mx.Array | null = null;
  #rightPaddingList: number[] | null = null;
  /** Positions written (the shared sequence length, padding included). */
  idx = 0;

  constructor(options: BatchKVCacheOptions) {
    const lp = options?.leftPadding;
    if (!globalThis.Array.isArray(lp) || lp.length === 0 || !lp.every((p) => Number.isInteger(p) && p >= 0)) {
      throw new TypeError(`BatchKVCache: leftPadding must be a non-empty list of non-negative integers, got ${describeWithShape(lp)}`);
    }
    this.#padding = [...lp];
  }

  get #leftPadding(): mx.Array {
    this.#paddingArray ??= own(null, mx.array(this.#padding, 'int32'));
    return this.#paddingArray;
  }

  #setPadding(padding: number[]): void {
    this.#padding = padding;
    this.#paddingArray = own(this.#paddingArray, null);
  }

  /**
   * Says how many positions this cache is expected to hold in the end (the padded prompt width
   * plus the most tokens a generation may add; 0: unknown, the default). When growth comes within
   * one step (256 tokens) of that end, the buffers grow to exactly it. A hint only: storing more
   * still works, growing in steps again.
   */
  reserve(positions: number): void {
    this.#buffers.reserve(positions);
  }

  /** Per-row token counts `[B]` (int32). */
  get offset(): mx.Array {
    return share(rowOffsets(this.idx, this.#padding));
  }

  /** Per-row padding `[B]` (int32). */
  get leftPadding(): mx.Array {
    return share(this.#leftPadding);
  }

  /** Rows in the batch. */
  get batchSize(): number {
    return this.#padding.length;
  }

  updateAndFetch(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array] {
    checkKV(keys, values, 'BatchKVCache.updateAndFetch');
    if (keys.shape[0] !== this.batchSize)
      throw new Error(`BatchKVCache.updateAndFetch: the batch has ${this.batchSize} rows, got keys [${keys.shape}]`);
    this.#buffers.write(keys, values, this.idx);
    this.idx += keys.shape[2];
    return this.keysAndValues();
  }

  /**
   * @internal For a model that builds its forward natively: the buffers (owned by the cache; do
   * not dispose), the position the next keys are written at and the per-row offsets (shared by
   * the layers of one step; do not dispose).
   */
  nativeState(): [mx.Array | null, mx.Array | null, number, mx.Array, number] {
    return [this.#buffers.keys, this.#buffers.values, this.idx, rowOffsets(this.idx, this.#padding), this.#buffers.reserved];
  }

  /** @internal Takes over what a native forward wrote for `n` new tokens (see `updateAndFetch`). */
  adoptNative(keys: mx.Array, values: mx.Array, n: number): void {
    this.#buffers.replace(keys, values);
    this.idx += n;
  }

  keysAndValues(): [mx.Array, mx.Array] {
    return this.#buffers.fetch(this.idx);
  }

  size(): number {
    return this.idx;
  }

  empty(): boolean {
    return this.#buffers.empty();
  }

  get nbytes(): number {
    return this.#buffers.nbytes;
  }

  /** `[keys, values, offset, leftPadding, idx]`, keys and values cut to `idx`. */
  get state(): StateEntry[] {
    return [...this.#buffers.stateEntries(this.idx), this.offset, share(this.#leftPadding), this.idx];
  }

  set state(s: StateEntry[]) {
    const [keys, values] = kvStateEntries(s, 5, 'BatchKVCache');
    const offset = arrayEntry(s[2], 'BatchKVCache.state offset');
    const leftPadding = arrayEntry(s[3], 'BatchKVCache.state leftPadding');
    const idx = intEntry(s[4], 'BatchKVCache.state idx');
    if (
      offset === null ||
      leftPadding === null ||
      offset.ndim !== 1 ||
      leftPadding.ndim !== 1 ||
      offset.shape[0] !== leftPadding.shape[0]
    ) {
      throw new Error('BatchKVCache.state: offset and leftPadding must be [B] arrays of the same length');
    }
    if (keys !== null && (keys.ndim !== 4 || keys.shape[0] !== offset.shape[0] || idx > keys.shape[2] || idx < 0)) {
      throw new Error(`BatchKVCache.state: keys [${keys?.shape}] do not fit ${offset.shape[0]} rows and idx ${idx}`);
    }
    // One read of the device (a state is set when a cache is loaded or copied, not per step),
    // checked before anything is replaced.
    const padding = (leftPadding.tolist() as number[]).map(Number);
    if (!padding.every((p) => Number.isInteger(p) && p >= 0))
      throw new Error('BatchKVCache.state: leftPadding must hold non-negative integers');
    const offsets = (offset.tolist() as number[]).map(Number);
    if (!offsets.every((o, i) => o === idx - padding[i])) {
      throw new Error(`BatchKVCache.state: each row's offset must be idx - leftPadding (${idx} - [${padding}]), got [${offsets}]`);
    }
    this.#buffers.replaceShared(keys, values);
    this.#setPadding(padding);
    this.idx = idx;
  }

  isTrimmable(): boolean {
    return true;
  }

  trim(n: number): number {
    const t = trimCount(this.idx, n, 'BatchKVCache.trim');
    this.idx -= t;
    return t;
  }

  /**
   * The `[B, 1, n, idx + n]` boolean mask for `n` new queries: causal, padding hidden. When no
   * row is padded the same attention needs no array: `null` for one query, `'causal'` for more
   * (so the fused attention kernels, which take no array mask on some GPUs, can run);
   * `returnArray` always gives the array.
   */
  makeMask(n: number, options: { windowSize?: number; returnArray?: boolean } = {}): AttentionMask {
    if (!options.returnArray && options.windowSize === undefined && this.#rightPadding === null && this.#padding.every((p) => p === 0))
      return n === 1 ? null : 'causal';
    return createCausalMask(n, this.idx, { leftPadding: this.#leftPadding, windowSize: options.windowSize });
  }

  /** Keeps only the given rows (in that order), then drops padding columns no row needs. */
  filter(rows: readonly number[] | mx.Array): void {
    const list = rows instanceof mx.Array ? (rows.tolist() as number[]) : [...rows];
    const b = this.batchSize;
    if (list.length === 0 || !list.every((r) => Number.isInteger(r) && r >= 0 && r < b)) {
      throw new RangeError(`BatchKVCache.filter: rows must be a non-empty list of indices in [0, ${b}), got [${list}]`);
    }
    const ix = mx.array(list, 'int32');
    this.#buffers.map((a) => mx.take(a, ix, 0));
    ix.dispose();
    const padding = list.map((r) => this.#padding[r]);
    const minPad = Math.min(...padding);
    if (minPad > 0) {
      this.#buffers.map((a) => seqSlice(a, minPad));
      this.idx -= minPad;
    }
    this.#setPadding(padding.map((p) => p - minPad));
  }

  /** Appends the rows of `other`, right-aligning both caches so they share one sequence axis. */
  extend(other: BatchKVCache): void {
    if (!(other instanceof BatchKVCache)) throw new TypeError('BatchKVCache.extend: expected a BatchKVCache');
    if (other === this) throw new Error('BatchKVCache.extend: cannot extend a cache with itself');
    const mine = this.#buffers;
    const theirs = other.#buffers;
    if (mine.empty() && theirs.empty()) {
      // Empty caches: rows keep their offsets (idx - padding) at the larger idx.
      const at = Math.max(this.idx, other.idx);
      const shifted = (c: BatchKVCache) => c.#padding.map((p) => p + at - c.idx);
      this.#setPadding([...shifted(this), ...shifted(other)]);
      this.idx = at;
      return;
    }
    const ref = mine.keys ?? theirs.keys;
    const refV = mine.values ?? theirs.values;
    if (ref === null || refV === null) throw new Error('BatchKVCache.extend: a cache holds keys without values');
    const [, h, , d] = ref.shape;
    const m = refV.shape[3];
    if (mine.keys !== null && theirs.keys !== null) {
      const [, h2, , d2] = theirs.keys.shape;
      if (h2 !== h || d2 !== d || theirs.keys.dtype !== mine.keys.dtype || theirs.values?.shape[3] !== m) {
        throw new Error(
          `BatchKVCache.extend: caches disagree (keys [${mine.keys.shape}] ${mine.keys.dtype} vs [${theirs.keys.shape}] ${theirs.keys.dtype})`,
        );
      }
    }
    const maxIdx = Math.max(this.idx, other.idx);
    const maxSize = Math.max(mine.capacity, theirs.capacity);
    const pad = (c: BatchKVCache): [mx.Array, mx.Array, number[]] => {
      let k = c.#buffers.keys;
      let v = c.#buffers.values;
      if (k === null || v === null) {
        const bc = c.batchSize;
        k = mx.zeros([bc, h, 0, d], ref.dtype);
        v = mx.zeros([bc, h, 0, m], ref.dtype);
      }
      const left = maxIdx - c.idx;
      let right = maxSize - k.shape[2] - left;
      if (right < 0) {
        k = seqSlice(k, 0, k.shape[2] + right);
        v = seqSlice(v, 0, v.shape[2] + right);
        right = 0;
      }
      if (left !== 0 || right !== 0) {
        const w: [number, number][] = [
          [0, 0],
          [0, 0],
          [left, right],
          [0, 0],
        ];
        k = mx.pad(k, w);
        v = mx.pad(v, w);
      }
      return [k, v, c.#padding.map((p) => p + left)];
    };
    const a = pad(this);
    const b = pad(other);
    mine.replace(mx.concatenate([a[0], b[0]]), mx.concatenate([a[1], b[1]]));
    this.#setPadding([...a[2], ...b[2]]);
    this.idx = maxIdx;
  }

  /**
   * Before a prefill: add left padding (only while empty) and/or declare right padding (prompts
   * padded at the end for the prefill). `finalize()` after the prefill moves right padding to
   * the left, so decoding continues with left-padded rows.
   */
  prepare(options: { leftPadding?: readonly number[]; rightPadding?: readonly number[] } = {}): void {
    const b = this.batchSize;
    const check = (p: readonly number[] | undefined, what: string) => {
      if (p !== undefined && (!globalThis.Array.isArray(p) || p.length !== b || !p.every((x) => Number.isInteger(x) && x >= 0))) {
        throw new TypeError(`BatchKVCache.prepare: ${what} must be ${b} non-negative integers, got ${describeWithShape(p)}`);
      }
    };
    check(options.leftPadding, 'leftPadding');
    check(options.rightPadding, 'rightPadding');
    if (options.leftPadding !== undefined) {
      if (!this.#buffers.empty()) throw new Error('BatchKVCache.prepare: left padding can only be added to an empty cache');
      const added = options.leftPadding;
      this.#setPadding(this.#padding.map((p, i) => p + added[i]));
    }
    if (options.rightPadding !== undefined && Math.max(...options.rightPadding) > 0) {
      this.#rightPadding = own(this.#rightPadding, mx.array([...options.rightPadding], 'int32'));
      this.#rightPaddingList = [...options.rightPadding];
    }
  }

  /** After a right-padded prefill: rolls each row right by its padding (mlx-lm's `finalize`). */
  finalize(): void {
    const p = this.#rightPadding;
    const right = this.#rightPaddingList;
    if (p === null || right === null) return;
    if (!this.#buffers.empty()) {
      const n = this.#buffers.capacity;
      // Row r, position i reads position (i - p[r]) mod n.
      const idx = mx.remainder(
        mx.add(mx.subtract(mx.arange(n, undefined, undefined, 'int32').index(mx.sl(), null), mx.expandDims(p, [1, 2, 3])), n),
        n,
      );
      this.#buffers.map((a) => mx.takeAlongAxis(a, idx, 2));
    }
    this.#setPadding(this.#padding.map((l, i) => l + right[i]));
    this.#rightPadding = own(this.#rightPadding, null);
    this.#rightPaddingList = null;
  }

  /**
   * Batches single-sequence caches (`B = 1` each, empty ones allowed): each row is
   * left-padded to the longest, as mlx-lm's `BatchKVCache.merge` does.
   */
  static merge(caches: readonly KVCache[]): BatchKVCache {
    if (!globalThis.Array.isArray(caches) || caches.length === 0 || !caches.every((c) => c instanceof KVCache)) {
      throw new TypeError('BatchKVCache.merge: expected a non-empty list of KVCache');
    }
    const lengths = caches.map((c) => c.size());
    const longest = Math.max(...lengths);
    const padding = lengths.map((l) => longest - l);
    const out = new BatchKVCache({ leftPadding: padding });
    if (longest === 0) return out;
    const full = caches.filter((c) => !c.empty() && c.size() > 0).map((c) => c.keysAndValues());
    const [, h, , dk] = full[0][0].shape;
    const dv = full[0][1].shape[3];
    const dtype = full[0][0].dtype;
    for (const [k, v] of full) {
      if (k.shape[0] !== 1 || k.shape[1] !== h || k.shape[3] !== dk || v.shape[3] !== dv || k.dtype !== dtype) {
        throw new Error(`BatchKVCache.merge: caches must hold [1, ${h}, L, ${dk}] ${dtype}, got [${k.shape}] ${k.dtype}`);
      }
    }
    const rows = caches.map((c, i) => {
      if (lengths[i] === 0) return [mx.zeros([1, h, longest, dk], dtype), mx.zeros([1, h, longest, dv], dtype)];
      const [k, v] = c.keysAndValues();
      const w: [number, number][] = [
        [0, 0],
        [0, 0],
        [padding[i], 0],
        [0, 0],
      ];
      return padding[i] === 0 ? [k, v] : [mx.pad(k, w), mx.pad(v, w)];
    });
    out.#buffers.replace(mx.concatenate(rows.map((r) => r[0])), mx.concatenate(rows.map((r) => r[1])));
    out.idx = longest;
    return out;
  }

  /** Row `row` as a single-sequence `KVCache` (its padding removed). */
  extract(row: number): KVCache {
    if (!Number.isInteger(row) || row < 0 || row >= this.batchSize)
      throw new RangeError(`BatchKVCache.extract: row must be in [0, ${this.batchSize}), got ${row}`);
    const cache = new KVCache();
    const { keys, values } = this.#buffers;
    if (keys === null || values === null) return cache;
    const pad = this.#padding[row];
    const cut = (a: mx.Array) => a.index(mx.sl(row, row + 1), mx.sl(), mx.sl(pad, this.idx));
    cache.state = [cut(keys), cut(values), Math.max(0, this.idx - pad)];
    return cache;
  }

  /** Releases the stored arrays and the per-row offsets and padding now; the cache is unusable afterwards. */
  dispose(): void {
    this.#buffers.dispose();
    this.#rightPadding = own(this.#rightPadding, null);
    this.#paddingArray = own(this.#paddingArray, null);
  }

  static fromState(state: StateEntry[]): BatchKVCache {
    const c = new BatchKVCache({ leftPadding: [0] });
    c.state = state;
    return c;
  }
}
