import * as mx from '@mlxn/core';

/** How a loss combines its elementwise values: as mlx.nn.losses. */
export type Reduction = 'none' | 'mean' | 'sum';

export function reduce(loss: mx.Array, reduction: Reduction, what: string): mx.Array {
  if (reduction === 'mean') return mx.mean(loss);
  if (reduction === 'sum') return mx.sum(loss);
  if (reduction === 'none') return loss;
  throw new RangeError(`${what}: reduction must be 'none', 'mean' or 'sum', got ${JSON.stringify(reduction)}`);
}

export const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

export function checkSameShape(a: mx.Array, b: mx.Array, what: string, names = ['predictions', 'targets']): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new RangeError(`${what}: ${names[0]} shape [${a.shape}] does not match ${names[1]} shape [${b.shape}]`);
  }
}

export function applyWeights(loss: mx.Array, weights: mx.Array | undefined, what: string): mx.Array {
  if (weights === undefined) return loss;
  if (!sameShape(weights.shape, loss.shape)) {
    throw new RangeError(`${what}: weights shape [${weights.shape}] is not the loss shape [${loss.shape}]`);
  }
  return mx.multiply(loss, weights);
}
