// Affine 2-, 4- and 8-bit quantized linear products on the CPU (Linux) run in a primitive of our
// own (crates/mlxn-sys/src/shim/cpu_quantized_matmul.cc, computed by cpu_quantized_gemm.rs)
// instead of MLX's one-thread scalar loop, which accumulates in the input's format. These tests
// pin the result (float32 sums of the dequantized weights, rounded once), which products take the
// primitive, and that derivatives and vmap are MLX's.
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { growthOverLoop } from './memory-loop.js';

const initial = mx.cpuMatmulThreads();
afterEach(() => mx.setCpuMatmulThreads(initial));

const onCpu = <T>(fn: () => T): T => mx.withStream('cpu', fn);
const replaces = internal.native.cpuGemmStatus().replacesBlas;
const ops = (a: mx.Array): Record<string, number> => graphOpCounts(internal, a);

function quantized(rows: number[], inputs: number, outputs: number, dtype: mx.Dtype, options: mx.QuantizeOptions) {
  return onCpu(() => {
    mx.random.seed(3);
    const x = mx.astype(mx.random.normal([...rows, inputs]), dtype);
    const w = mx.astype(mx.random.normal([outputs, inputs]), dtype);
    const [qw, scales, biases] = mx.quantize(w, options);
    mx.eval(x, qw, scales, biases);
    return { x, qw, scales, biases };
  });
}

/** The largest |a - b| over the largest |b|, in float32. */
function relative(a: mx.Array, b: mx.Array): number {
  return onCpu(() => {
    const f = (t: mx.Array) => mx.astype(t, 'float32');
    return (mx.max(mx.abs(mx.subtract(f(a), f(b)))).item() as number) / (mx.max(mx.abs(f(b))).item() as number);
  });
}

describe.skipIf(!replaces)('affine quantized linear products on the CPU (Linux)', () => {
  it.each([
    ['float32', 4, 64, [3]],
    ['bfloat16', 4, 64, [1]],
    ['bfloat16', 2, 32, [2, 9]],
    ['float16', 8, 128, [20]],
    ['float32', 8, 32, []],
  ] as const)('computes %s x · dequantize(w)ᵀ at %i bits, group %i, in float32 sums (rows %j)', (dtype, bits, groupSize, rows) => {
    const options = { bits, groupSize, mode: 'affine' } as const;
    const { x, qw, scales, biases } = quantized([...rows], 256, 700, dtype, options);
    for (const threads of [1, 2]) {
      mx.setCpuMatmulThreads(threads);
      onCpu(() => {
        const y = mx.quantizedMatmul(x, qw, scales, biases, { ...options, transpose: true });
        expect(ops(y).CpuQuantizedMatmul).toBe(1);
        expect(y.dtype).toBe(dtype);
        expect(y.shape).toEqual([...rows, 700]);
        // The same product in float32 from the same stored values, rounded once.
        const f = (t: mx.Array) => mx.astype(t, 'float32');
        const dense = mx.dequantize(qw, f(scales), f(biases), options);
        const want = mx.astype(mx.matmul(f(x), mx.transpose(dense)), dtype);
        const ulp = dtype === 'float32' ? 1e-5 : dtype === 'float16' ? 2 ** -10 : 2 ** -7;
        expect(relative(y, want)).toBeLessThanOrEqual(ulp);
      });
    }
  });

  it('gives the same bits on any number of threads, and is what QuantizedLinear-style callers get', () => {
    const options = { bits: 4, groupSize: 64 } as const;
    const { x, qw, scales, biases } = quantized([5], 512, 3000, 'bfloat16', options);
    const run = (threads: number) => {
      mx.setCpuMatmulThreads(threads);
      return onCpu(() => mx.quantizedMatmul(x, qw, scales, biases, options));
    };
    const one = run(1);
    mx.eval(one);
    for (const threads of [2, 4]) expect(onCpu(() => mx.arrayEqual(run(threads), one).item())).toBe(true);
  });

  it('leaves other modes, widths and the untransposed product to MLX', () => {
    onCpu(() => {
      const a = quantized([2], 256, 96, 'float32', { bits: 3, groupSize: 64 });
      expect(ops(mx.quantizedMatmul(a.x, a.qw, a.scales, a.biases, { bits: 3, groupSize: 64 })).CpuQuantizedMatmul).toBeUndefined();
      const b = quantized([2], 256, 96, 'float32', { mode: 'mxfp4' });
      expect(ops(mx.quantizedMatmul(b.x, b.qw, b.scales, null, { mode: 'mxfp4' })).CpuQuantizedMatmul).toBeUndefined();
      const c = quantized([2], 256, 256, 'float32', { bits: 4, groupSize: 64 });
      expect(ops(mx.quantizedMatmul(c.x, c.qw, c.scales, c.biases, { transpose: false })).CpuQuantizedMatmul).toBeUndefined();
    });
  });

  it('has MLX’s gradients and vmap', () => {
    const options = { bits: 4, groupSize: 64 } as const;
    const { x, qw, scales, biases } = quantized([3], 128, 200, 'float32', options);
    onCpu(() => {
      const f = (x: mx.Array, s: mx.Array, b: mx.Array) => mx.sum(mx.tanh(mx.quantizedMatmul(x, qw, s, b, options)));
      const dense = (x: mx.Array, s: mx.Array, b: mx.Array) =>
        mx.sum(mx.tanh(mx.matmul(x, mx.transpose(mx.dequantize(qw, s, b, options)))));
      const ours = mx.grad(f, [0, 1, 2])(x, scales, biases) as mx.Array[];
      const want = mx.grad(dense, [0, 1, 2])(x, scales, biases) as mx.Array[];
      for (let i = 0; i < 3; i++) expect(relative(ours[i], want[i])).toBeLessThan(1e-4);
      const xs = mx.stack([x, mx.negative(x)]);
      const mapped = mx.vmap((x: mx.Array) => mx.quantizedMatmul(x, qw, scales, biases, options))(xs) as mx.Array;
      for (let i = 0; i < 2; i++) {
        const one = mx.quantizedMatmul(mx.take(xs, i, 0), qw, scales, biases, options);
        expect(relative(mx.take(mapped, i, 0), one)).toBeLessThan(1e-5);
      }
    });
  });

  it('keeps active memory flat over a plain synchronous loop', () => {
    const options = { bits: 4, groupSize: 64 } as const;
    const { x, qw, scales, biases } = quantized([8], 512, 3000, 'bfloat16', options);
    const growth = onCpu(() => growthOverLoop(() => mx.quantizedMatmul(x, qw, scales, biases, options)));
    // One leaked output per step would be 200 × 48 kB.
    expect(growth).toBeLessThanOrEqual(8 * 3000 * 2);
  });
});
