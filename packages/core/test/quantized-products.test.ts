// Quantized products against dequantize-then-multiply on the CPU, for the shapes where MLX
// 0.32.4's CUDA kernels were wrong (tooling/gpu-suite/mlx-gpu-probes.py): weights with batch
// dimensions (a quantized KV cache's attention), rows that hold a single group, and gathered
// (mixture-of-experts) products of such rows. On the CPU this checks MLX's kernels against the
// formula the GPU path falls back to (values and result dtype); on a GPU it checks the fallback.
import * as mx from '@mlxn/core';
import { quantizedProductNeedsDequantize } from '@mlxn/core/internal';
import { describe, expect, it } from 'vitest';
import { onGpu } from '../../../tooling/test-support/devices.mjs';

function reference(x: mx.Array, q: mx.Array[], transpose: boolean, options: mx.QuantizeOptions): mx.Array {
  return mx.withStream('cpu', () => {
    const dense = mx.dequantize(q[0], q[1], q[2], options);
    const out = mx.matmul(x, transpose ? mx.swapaxes(dense, -1, -2) : dense);
    mx.eval(out);
    return out;
  });
}

function expectClose(got: mx.Array, want: mx.Array): void {
  expect(got.dtype).toBe(want.dtype);
  expect(got.shape).toEqual(want.shape);
  const g = mx.astype(got, 'float32').dataSync() as Float32Array;
  const w = mx.astype(want, 'float32').dataSync() as Float32Array;
  let scale = 0;
  for (const v of w) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < w.length; i++) err = Math.max(err, Math.abs(g[i] - w[i]));
  // bfloat16 keeps 8 bits: the two ways round differently by a few units in the last place.
  expect(err / scale).toBeLessThan(want.dtype === 'float32' ? 1e-5 : 4e-2);
}

describe('quantized products where MLX CUDA kernels were wrong', () => {
  mx.random.seed(11);
  const cases: { name: string; x: number[]; w: number[]; transpose: boolean; options: mx.QuantizeOptions }[] = [
    {
      name: 'grouped-query attention scores (batched weights, 8 bits, group 32)',
      x: [1, 2, 2, 3, 32],
      w: [1, 2, 9, 32],
      transpose: true,
      options: { groupSize: 32, bits: 8 },
    },
    {
      name: 'grouped-query attention values (batched weights, not transposed)',
      x: [1, 2, 2, 3, 9],
      w: [1, 2, 9, 64],
      transpose: false,
      options: { groupSize: 64, bits: 8 },
    },
    {
      name: 'a linear layer whose rows hold one group (4 bits, 64 inputs)',
      x: [9, 64],
      w: [40, 64],
      transpose: true,
      options: { groupSize: 64, bits: 4 },
    },
    {
      name: 'a linear layer of 128 inputs (MLX kernels on every device)',
      x: [5, 128],
      w: [24, 128],
      transpose: true,
      options: { groupSize: 64, bits: 4 },
    },
  ];
  for (const c of cases) {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      it(`${c.name}, ${dtype} activations`, () => {
        const x = mx.astype(mx.random.normal(c.x), dtype);
        const q = mx.quantize(mx.astype(mx.random.normal(c.w), dtype), c.options);
        const want = reference(x, q, c.transpose, c.options);
        expectClose(mx.quantizedMatmul(x, q[0], q[1], q[2], { ...c.options, transpose: c.transpose }), want);
        // Only the measured broken cases leave MLX's kernels, and only on a GPU.
        const dequantizes = quantizedProductNeedsDequantize(q[0], c.options);
        expect(dequantizes).toBe(onGpu(mx) && !c.name.includes('128 inputs'));
      });
    }
  }

  it('gatherQmm over experts whose rows hold one group equals gatherMm over the dequantized experts', () => {
    const x = mx.random.normal([6, 1, 64]);
    const q = mx.quantize(mx.random.normal([4, 16, 64]), { groupSize: 64, bits: 4 });
    const idx = mx.array([3, 0, 2, 2, 1, 0], { dtype: 'uint32' });
    const want = mx.withStream('cpu', () => {
      const out = mx.gatherMm(x, mx.swapaxes(mx.dequantize(q[0], q[1], q[2], { groupSize: 64, bits: 4 }), -1, -2), { rhsIndices: idx });
      mx.eval(out);
      return out;
    });
    expectClose(mx.gatherQmm(x, q[0], q[1], q[2], { rhsIndices: idx, groupSize: 64, bits: 4 }), want);
  });
});
