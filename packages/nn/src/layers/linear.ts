/** `Linear`, `Identity` and `Bilinear`-free basics, following mlx.nn.Linear. */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { Module } from '../module.js';

export interface LinearOptions {
  /** Learn an additive bias (default true). */
  bias?: boolean;
}

/**
 * `y = x · Wᵀ + b` with `weight` `[outputDims, inputDims]`, initialised uniformly in
 * `±1/√inputDims` (as MLX does).
 */
export class Linear extends Module {
  weight: mx.Array;
  bias?: mx.Array;

  constructor(inputDims: number, outputDims: number, options: LinearOptions = {}) {
    super();
    checkOptionKeys(options, ['bias'], 'Linear');
    checkDims({ inputDims, outputDims }, 'Linear');
    const scale = Math.sqrt(1 / inputDims);
    this.weight = mx.random.uniform(-scale, scale, [outputDims, inputDims]);
    if (options.bias ?? true) this.bias = mx.random.uniform(-scale, scale, [outputDims]);
  }

  get inputDims(): number {
    return this.weight.shape[1];
  }
  get outputDims(): number {
    return this.weight.shape[0];
  }

  forward(x: mx.Array): mx.Array {
    // mx.linear: one native call, and large CPU products spread over threads.
    return mx.linear(x, this.weight, this.bias);
  }
}

/** Passes its input through. */
export class Identity extends Module {
  forward(x: mx.Array): mx.Array {
    return x;
  }
}

export function checkDims(dims: Record<string, number>, what: string): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${what}: ${k} must be a positive integer, got ${v}`);
  }
}
