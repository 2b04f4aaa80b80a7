/** `RMSNorm` and `LayerNorm` on MLX's fused kernels, following mlx.nn. */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { Module } from '../module.js';
import { checkDims } from './linear.js';

/** `x / √(mean(x²) + eps) · weight` over the last axis; `weight` starts at ones. */
export class RMSNorm extends Module {
  weight: mx.Array;
  readonly eps: number;

  constructor(dims: number, options: { eps?: number } = {}) {
    super();
    checkOptionKeys(options, ['eps'], 'RMSNorm');
    checkDims({ dims }, 'RMSNorm');
    this.weight = mx.ones([dims]);
    this.eps = options.eps ?? 1e-5;
  }

  forward(x: mx.Array): mx.Array {
    return mx.fast.rmsNorm(x, this.weight, this.eps);
  }
}

export interface LayerNormOptions {
  eps?: number;
  /** Learn `weight` (and `bias`) (default true). */
  affine?: boolean;
  /** With `affine`, learn `bias` too (default true). */
  bias?: boolean;
}

/** `(x − mean) / √(var + eps) · weight + bias` over the last axis. */
export class LayerNorm extends Module {
  weight?: mx.Array;
  bias?: mx.Array;
  readonly eps: number;

  constructor(dims: number, options: LayerNormOptions = {}) {
    super();
    checkOptionKeys(options, ['eps', 'affine', 'bias'], 'LayerNorm');
    checkDims({ dims }, 'LayerNorm');
    this.eps = options.eps ?? 1e-5;
    if (options.affine ?? true) {
      this.weight = mx.ones([dims]);
      if (options.bias ?? true) this.bias = mx.zeros([dims]);
    }
  }

  forward(x: mx.Array): mx.Array {
    return mx.fast.layerNorm(x, this.weight ?? null, this.bias ?? null, this.eps);
  }
}
