// Global-norm gradient clipping; semantics follow mlx.optimizers.clip_grad_norm.
import * as mx from '@mlxn/core';

/**
 * Scales a gradient tree so that its global L2 norm is at most `maxNorm`. Returns the (possibly)
 * scaled tree and the norm before scaling.
 *
 * @example
 * const [clipped, norm] = clipGradNorm(grads, 1.0);
 */
export function clipGradNorm<T>(grads: T, maxNorm: number): [T, mx.Array] {
  if (!(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  // The tidy frees the intermediates (squares, partial sums) as it returns, not at the next GC.
  return mx.tidy(() => {
    const leaves = mx.treeFlatten(grads);
    // Sum float16 squares in float32 so they do not overflow.
    let normSquared: mx.Array | number = 0.0;
    for (const g of leaves) {
      const x = g.dtype === 'float16' ? mx.astype(g, 'float32') : g;
      normSquared = mx.add(normSquared, mx.sum(mx.square(x)));
    }
    const total = mx.sqrt(normSquared);
    const normalizer = mx.minimum(mx.divide(maxNorm, mx.add(total, 1e-6)), 1.0);
    const clipped = mx.treeMap(grads, (g) =>
      mx.isFloating(g.dtype) ? mx.astype(mx.multiply(g, normalizer), g.dtype) : mx.multiply(g, normalizer),
    );
    return [clipped, total];
  });
}
