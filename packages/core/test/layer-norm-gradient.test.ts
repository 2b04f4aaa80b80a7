// fast.layerNorm's gradients on the default device against the CPU's, at axis sizes on both sides
// of a multiple of 4: MLX 0.32.4's CUDA kernel gave wrong gradients with respect to the input at
// 5, 6, 7, 31 and 33 (tooling/gpu-suite/mlx-gpu-probes.py), so on a GPU those sizes run as
// separate ops. On the CPU both sides are MLX's kernel.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';

describe('fast.layerNorm gradients match the CPU', () => {
  mx.random.seed(5);
  for (const d of [3, 5, 6, 7, 8, 31, 33, 64]) {
    it(`axis size ${d}`, () => {
      const x = mx.random.normal([5, d]);
      const w = mx.random.normal([d]);
      const b = mx.random.normal([d]);
      const ct = mx.random.normal([5, d]);
      const run = () => {
        const [[y], grads] = mx.vjp((xs: mx.Array, ws: mx.Array, bs: mx.Array) => [mx.fast.layerNorm(xs, ws, bs, 1e-5)], [x, w, b], [ct]);
        return [y, ...grads].map((a) => Array.from(a.dataSync() as Float32Array));
      };
      const here = run();
      const cpu = mx.withStream('cpu', run);
      for (const [i, vals] of here.entries()) {
        for (const [j, v] of vals.entries()) expect(Math.abs(v - cpu[i][j]), `output ${i} element ${j}`).toBeLessThan(1e-4);
      }
    });
  }
});
