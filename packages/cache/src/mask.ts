/** Attention masks, as mlx-lm's `create_causal_mask` builds them. */
import * as mx from '@mlxn/core';

export interface CausalMaskOptions {
  /** Each query sees at most this many keys (itself included). */
  windowSize?: number;
  /** Per row `[B]`: key positions before this are padding. */
  leftPadding?: mx.Array;
  /** Per row `[B]`: the last this many key positions are padding. */
  rightPadding?: mx.Array;
}

/**
 * A boolean mask `[N, offset + N]` (or `[B, 1, N, offset + N]` with padding) for `N` queries
 * at positions `offset ... offset + N - 1`: `true` where a query may attend.
 *
 * @example
 * const mask = createCausalMask(2, 3); // [2, 5]
 */
export function createCausalMask(n: number, offset = 0, options: CausalMaskOptions = {}): mx.Array {
  const rinds = mx.arange(offset + n).index(null);
  const linds = mx.arange(offset, offset + n).index(mx.sl(), null);
  let mask = mx.greaterEqual(linds, rinds);
  if (options.windowSize !== undefined) mask = mx.logicalAnd(mask, mx.less(linds, mx.add(rinds, options.windowSize)));
  if (options.rightPadding !== undefined) {
    const limit = mx.subtract(offset + n, mx.expandDims(options.rightPadding, [1, 2, 3]));
    mask = mx.logicalAnd(mask, mx.less(rinds, limit));
  }
  if (options.leftPadding !== undefined) {
    mask = mx.logicalAnd(mask, mx.lessEqual(mx.expandDims(options.leftPadding, [1, 2, 3]), rinds));
  }
  return mask;
}

/** What a cache's `makeMask` returns: `null` (no mask), `'causal'`, or an explicit mask. */
export type AttentionMask = 'causal' | mx.Array | null;

/** mlx-lm's `create_attention_mask` for caches without their own masking rules. */
export function attentionMask(n: number, offset: number, options: { returnArray?: boolean; windowSize?: number } = {}): AttentionMask {
  if (options.windowSize !== undefined) return createCausalMask(n, offset, { windowSize: options.windowSize });
  if (n === 1) return null;
  if (options.returnArray) return createCausalMask(n, offset);
  return 'causal';
}
