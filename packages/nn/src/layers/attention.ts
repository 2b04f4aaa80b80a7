/**
 * Multi-head attention with grouped-query heads on MLX's fused scaled-dot-product attention;
 * projections and defaults follow mlx.nn.MultiHeadAttention (`numKvHeads` adds GQA).
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { Module } from '../module.js';
import { checkDims, Linear } from './linear.js';

export interface MultiHeadAttentionOptions {
  /** Key/value heads (default `numHeads`); must divide `numHeads`. */
  numKvHeads?: number;
  queryInputDims?: number;
  keyInputDims?: number;
  valueInputDims?: number;
  /** Total query/key width across heads (default `dims`). */
  valueDims?: number;
  valueOutputDims?: number;
  /** Biases on the projections (default false). */
  bias?: boolean;
}

export class MultiHeadAttention extends Module {
  queryProj: Linear;
  keyProj: Linear;
  valueProj: Linear;
  outProj: Linear;
  readonly numHeads: number;
  readonly numKvHeads: number;

  constructor(dims: number, numHeads: number, options: MultiHeadAttentionOptions = {}) {
    super();
    checkOptionKeys(
      options,
      ['numKvHeads', 'queryInputDims', 'keyInputDims', 'valueInputDims', 'valueDims', 'valueOutputDims', 'bias'],
      'MultiHeadAttention',
    );
    const numKvHeads = options.numKvHeads ?? numHeads;
    checkDims({ dims, numHeads, numKvHeads }, 'MultiHeadAttention');
    if (dims % numHeads !== 0) throw new RangeError(`MultiHeadAttention: dims (${dims}) must be divisible by numHeads (${numHeads})`);
    if (numHeads % numKvHeads !== 0)
      throw new RangeError(`MultiHeadAttention: numHeads (${numHeads}) must be a multiple of numKvHeads (${numKvHeads})`);
    const valueDims = options.valueDims ?? dims;
    if (valueDims % numHeads !== 0)
      throw new RangeError(`MultiHeadAttention: valueDims (${valueDims}) must be divisible by numHeads (${numHeads})`);
    const bias = { bias: options.bias ?? false };
    const headDim = dims / numHeads;
    this.numHeads = numHeads;
    this.numKvHeads = numKvHeads;
    this.queryProj = new Linear(options.queryInputDims ?? dims, dims, bias);
    this.keyProj = new Linear(options.keyInputDims ?? dims, numKvHeads * headDim, bias);
    this.valueProj = new Linear(options.valueInputDims ?? options.keyInputDims ?? dims, numKvHeads * (valueDims / numHeads), bias);
    this.outProj = new Linear(valueDims, options.valueOutputDims ?? dims, bias);
  }

  /**
   * `queries` `[B, L, D]`, `keys`/`values` `[B, S, D]`; `mask`: `'causal'`, a boolean or
   * additive array broadcastable to `[B, H, L, S]`, or none.
   */
  forward(queries: mx.Array, keys: mx.Array, values: mx.Array, mask: 'causal' | mx.Array | null = null): mx.Array {
    const split = (x: mx.Array, heads: number) => {
      const [b, l, d] = x.shape;
      return mx.transpose(mx.reshape(x, [b, l, heads, d / heads]), [0, 2, 1, 3]);
    };
    const q = split(this.queryProj.forward(queries), this.numHeads);
    const k = split(this.keyProj.forward(keys), this.numKvHeads);
    const v = split(this.valueProj.forward(values), this.numKvHeads);
    const scale = 1 / Math.sqrt(q.shape[3]);
    const o = mx.fast.scaledDotProductAttention(q, k, v, { scale, mask });
    const [b, , l, dv] = o.shape;
    return this.outProj.forward(mx.reshape(mx.transpose(o, [0, 2, 1, 3]), [b, l, this.numHeads * dv]));
  }

  /** An additive `[N, N]` mask: 0 on and below the diagonal, a large negative value above. */
  static createAdditiveCausalMask(n: number, dtype: mx.Dtype = 'float32'): mx.Array {
    const idx = mx.arange(n);
    const mask = mx.less(mx.expandDims(idx, 1), mx.expandDims(idx, 0));
    return mx.multiply(mx.astype(mask, dtype), -1e9);
  }
}
