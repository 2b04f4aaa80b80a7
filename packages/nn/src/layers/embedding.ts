/** `Embedding`, following mlx.nn.Embedding. */
import * as mx from '@mlxn/core';
import { Module } from '../module.js';
import { checkDims } from './linear.js';

/** A lookup table `[numEmbeddings, dims]` (normal init scaled by `1/√dims`). */
export class Embedding extends Module {
  weight: mx.Array;

  constructor(numEmbeddings: number, dims: number) {
    super();
    checkDims({ numEmbeddings, dims }, 'Embedding');
    this.weight = mx.random.normal([numEmbeddings, dims], { scale: Math.sqrt(1 / dims) });
  }

  /** Rows of the table for integer ids `x` (any shape): `[...x.shape, dims]`. */
  forward(x: mx.Array): mx.Array {
    return mx.take(this.weight, x, 0);
  }

  /** The table as an output head: `x · weightᵀ` (tied embeddings). */
  asLinear(x: mx.Array): mx.Array {
    return mx.linear(x, this.weight);
  }
}
