/** `Dropout`, following mlx.nn.Dropout. */
import * as mx from '@mlxn/core';
import { Module } from '../module.js';

/** In training mode zeroes each element with probability `p` and scales the rest by `1/(1−p)`. */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
    this.p = p;
  }

  forward(x: mx.Array): mx.Array {
    if (!this.training || this.p === 0) return x;
    const keep = 1 - this.p;
    const mask = mx.random.bernoulli(keep, x.shape);
    return mx.multiply(mx.multiply(mask, x), 1 / keep);
  }
}
