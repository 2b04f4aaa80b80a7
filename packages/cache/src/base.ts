/** What every cache shares: the `Cache` interface and the entries of mlx-lm's `_BaseCache` state. */
import type * as mx from '@mlxn/core';

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
