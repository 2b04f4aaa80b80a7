// mx.linear: x · Wᵀ + b, with large CPU products split by output columns over CPU streams
// (crates/mlxn-sys/src/shim/linear.cc). The split must be invisible in the forward result
// (bit-identical to one matmul), close in the input's gradient, and must really happen for
// large products (else the threads setting would be a no-op nobody notices). Quantized products
// split on every platform. Dense ones split only where @mlxn does not compute them itself: on
// Linux float32/float64 products run in cpu_gemm.rs (cpu-gemm.test.ts) and half-precision ones in
// our own primitive (cpu-half-matmul.test.ts), both threaded inside, so the dense split is tested
// on other platforms.
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { defaultCpuMatmulThreads } from '../src/runtime/cpu-matmul-threads.js';

const initial = mx.cpuMatmulThreads();
afterEach(() => mx.setCpuMatmulThreads(initial));

const ops = (a: mx.Array): Record<string, number> => graphOpCounts(internal, a);

const onCpu = <T>(fn: () => T): T => mx.withStream('cpu', fn);

/** A dtype whose CPU products linear.cc splits where @mlxn does not compute them itself. */
const SPLIT: mx.Dtype = 'bfloat16';
const denseSplits = !internal.native.cpuGemmStatus().replacesBlas;

function operands(rows: number[], inputs: number, outputs: number, dtype: mx.Dtype = SPLIT) {
  return onCpu(() => {
    mx.random.seed(7);
    const x = mx.astype(mx.random.normal([...rows, inputs]), dtype);
    const w = mx.astype(mx.random.normal([outputs, inputs]), dtype);
    const b = mx.astype(mx.random.normal([outputs]), dtype);
    mx.eval(x, w, b);
    return { x, w, b };
  });
}

function equalBits(a: mx.Array, b: mx.Array): boolean {
  return onCpu(() => mx.arrayEqual(a, b).item() as boolean);
}

describe.skipIf(!denseSplits)('mx.linear: the split of dense products (platforms whose BLAS is kept)', () => {
  it.each([
    ['2-D input', [8], 512, 3000],
    ['3-D input', [2, 5], 256, 1000],
    ['1-D input', [], 1024, 4096],
    ['odd widths', [3], 777, 1111],
  ] as const)('splits a large CPU product bit-identically to one matmul (%s)', (_name, rows, inputs, outputs) => {
    const { x, w, b } = operands([...rows], inputs, outputs);
    for (const threads of [2, 3, 4]) {
      mx.setCpuMatmulThreads(threads);
      onCpu(() => {
        const split = mx.linear(x, w, b);
        const counts = ops(split);
        expect(counts.Concatenate).toBe(1);
        expect((counts.AddMM ?? 0) + (counts.Matmul ?? 0)).toBeGreaterThanOrEqual(2);
        expect(split.shape).toEqual([...rows, outputs]);
        expect(equalBits(split, mx.addmm(b, x, w.T))).toBe(true);
        expect(equalBits(mx.linear(x, w), mx.matmul(x, w.T))).toBe(true);
      });
    }
  });

  it('keeps one matmul with one thread, for small products, and for integer-free but tiny shapes', () => {
    const big = operands([8], 512, 3000);
    mx.setCpuMatmulThreads(1);
    onCpu(() => {
      const counts = ops(mx.linear(big.x, big.w));
      expect(counts.Matmul).toBe(1);
      expect(counts.Concatenate).toBeUndefined();
    });
    mx.setCpuMatmulThreads(4);
    const small = operands([1], 64, 96);
    onCpu(() => {
      const counts = ops(mx.linear(small.x, small.w, small.b));
      expect(counts.AddMM).toBe(1);
      expect(counts.Concatenate).toBeUndefined();
      expect(equalBits(mx.linear(small.x, small.w, small.b), mx.addmm(small.b, small.x, small.w.T))).toBe(true);
    });
  });

  it('splits float16 and float32 products too', () => {
    for (const dtype of ['float16', 'float32'] as const) {
      const { x, w } = operands([4], 512, 2048, dtype);
      mx.setCpuMatmulThreads(2);
      onCpu(() => {
        const y = mx.linear(x, w);
        expect(ops(y).Concatenate).toBe(1);
        expect(y.dtype).toBe(dtype);
        expect(equalBits(y, mx.matmul(x, w.T))).toBe(true);
      });
    }
  });

  it('gives the same gradients as the single matmul: the weight bit for bit, the input within rounding', () => {
    const { x, w, b } = operands([16], 384, 2048);
    const loss = (f: (x: mx.Array, w: mx.Array, b: mx.Array) => mx.Array) => (x: mx.Array, w: mx.Array, b: mx.Array) =>
      mx.sum(mx.tanh(f(x, w, b)));
    mx.setCpuMatmulThreads(3);
    onCpu(() => {
      const split = mx.grad(
        loss((x, w, b) => mx.linear(x, w, b)),
        [0, 1, 2],
      )(x, w, b) as mx.Array[];
      const whole = mx.grad(
        loss((x, w, b) => mx.addmm(b, x, w.T)),
        [0, 1, 2],
      )(x, w, b) as mx.Array[];
      mx.eval(...split, ...whole);
      expect(equalBits(split[1], whole[1])).toBe(true);
      expect(equalBits(split[2], whole[2])).toBe(true);
      const diff = mx.max(mx.abs(mx.subtract(split[0], whole[0]))).item() as number;
      const scale = mx.max(mx.abs(whole[0])).item() as number;
      // The blocks' partial products are rounded to bfloat16 (8 bits) before they are summed.
      expect(diff / scale).toBeLessThan(2e-2);
    });
  });
});

describe('mx.linear', () => {
  it('splits quantized linear products (transpose) bit-identically', () => {
    const { x, w } = operands([8], 512, 3072, 'float32');
    // Widths and modes our own quantized primitive does not take on Linux
    // (cpu-quantized-matmul.test.ts), so they are split everywhere.
    for (const [mode, bits] of [
      ['affine', 3],
      ['affine', 6],
      ['mxfp4', 4],
    ] as const) {
      const options: mx.QuantizeOptions = mode === 'affine' ? { groupSize: 64, bits, mode } : { mode };
      const [qw, scales, biases] = onCpu(() => mx.quantize(w, options));
      mx.setCpuMatmulThreads(1);
      const whole = onCpu(() => mx.quantizedMatmul(x, qw, scales, biases ?? null, { ...options, transpose: true }));
      expect(ops(whole).Concatenate).toBeUndefined();
      mx.eval(whole);
      mx.setCpuMatmulThreads(3);
      onCpu(() => {
        const split = mx.quantizedMatmul(x, qw, scales, biases ?? null, { ...options, transpose: true });
        expect(ops(split).Concatenate).toBe(1);
        expect(equalBits(split, whole)).toBe(true);
      });
    }
  });

  it('compiles: a compiled function with a large product matches the eager one', () => {
    const { x, w, b } = operands([8], 512, 3000);
    mx.setCpuMatmulThreads(2);
    onCpu(() => {
      const f = (x: mx.Array, w: mx.Array, b: mx.Array) => mx.multiply(mx.linear(x, w, b), 2);
      const compiled = mx.compile(f);
      expect(equalBits(compiled(x, w, b) as mx.Array, f(x, w, b))).toBe(true);
    });
  });

  it('keeps active memory flat over a plain synchronous loop of large products', () => {
    const { x, w, b } = operands([8], 512, 3000);
    mx.setCpuMatmulThreads(2);
    onCpu(() => {
      const step = () => {
        const y = mx.linear(x, w, b);
        mx.eval(y);
        y.dispose();
      };
      for (let i = 0; i < 10; i++) step();
      const before = mx.memory().active;
      for (let i = 0; i < 200; i++) step();
      // One leaked output per step would be 200 × 96 kB.
      expect(mx.memory().active - before).toBeLessThanOrEqual(8 * 3000 * 4);
    });
  });

  it('reports shape errors as errors', () => {
    const { x, w } = operands([2], 512, 3000);
    mx.setCpuMatmulThreads(2);
    onCpu(() => {
      expect(() => mx.eval(mx.linear(x, mx.transpose(w)))).toThrow();
      expect(() => mx.linear(x, mx.zeros([3, 3, 3]))).toThrow(/2-D/);
      expect(() => mx.eval(mx.linear(x, w, mx.zeros([7])))).toThrow();
    });
  });
});

describe('CPU matmul threads', () => {
  it('takes integers from 1 to 64 and refuses anything else', () => {
    mx.setCpuMatmulThreads(3);
    expect(mx.cpuMatmulThreads()).toBe(3);
    for (const bad of [0, 65, 1.5, Number.NaN, '2']) {
      expect(() => mx.setCpuMatmulThreads(bad as number)).toThrow(RangeError);
    }
    expect(mx.cpuMatmulThreads()).toBe(3);
  });

  it('defaults to MLXN_CPU_MATMUL_THREADS, else the usable cores (at most 8) on Linux and 1 elsewhere', () => {
    expect(defaultCpuMatmulThreads({ MLXN_CPU_MATMUL_THREADS: '5' }, 'linux')).toBe(5);
    expect(defaultCpuMatmulThreads({ MLXN_CPU_MATMUL_THREADS: ' 1 ' }, 'linux')).toBe(1);
    expect(defaultCpuMatmulThreads({}, 'darwin')).toBe(1);
    const linux = defaultCpuMatmulThreads({}, 'linux');
    expect(linux).toBeGreaterThanOrEqual(1);
    expect(linux).toBeLessThanOrEqual(8);
    for (const bad of ['0', 'many', '2.5', '100']) {
      expect(() => defaultCpuMatmulThreads({ MLXN_CPU_MATMUL_THREADS: bad }, 'linux')).toThrow(/MLXN_CPU_MATMUL_THREADS/);
    }
  });
});
