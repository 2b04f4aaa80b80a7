// MLX's float32/float64 CPU products on Linux run in @mlxn's own GEMM (crates/mlxn-sys/src/cpu_gemm.rs,
// the `gemm` crate on several threads) instead of the bundled reference BLAS. These tests prove
// that MLX really reaches it (the override is a link-time mechanism that nothing else would
// notice failing) and that every operand layout MLX hands it gives the textbook product.
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { native } from '@mlxn/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';

const initial = mx.cpuMatmulThreads();
afterEach(() => mx.setCpuMatmulThreads(initial));

const onCpu = <T>(fn: () => T): T => mx.withStream('cpu', fn);
const linux = process.platform === 'linux';

/** Deterministic values in [-1, 1) as a float64 row-major matrix. */
function values(shape: number[], seed: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (((i + 1) * 2654435761 + seed * 97) % 1000) / 500 - 1;
  return out;
}

/** A `[rows, cols]` float64 matrix of `dtype`. */
function matrix(data: Float64Array, rows: number, cols: number, dtype: mx.Dtype): mx.Array {
  return mx.reshape(mx.array(data, dtype), [rows, cols]);
}

/** The same `[rows, cols]` matrix stored column-major: the transpose of its transpose's storage. */
function columnMajor(data: Float64Array, rows: number, cols: number, dtype: mx.Dtype): mx.Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = data[i * cols + j];
  return mx.transpose(matrix(t, cols, rows, dtype));
}

/** `a [m, k] · b [k, n]` in float64 on the JS side. */
function reference(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      out[i * n + j] = s;
    }
  }
  return out;
}

function maxRelativeError(got: ArrayLike<number | bigint>, want: Float64Array): number {
  let scale = 1;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(Number(got[i]) - want[i]) / scale);
  return worst;
}

describe.skipIf(!linux)('the CPU GEMM that replaces the reference BLAS (Linux)', () => {
  it('is what MLX calls for float32 and float64 products, not for bfloat16', () => {
    expect(native.cpuGemmStatus().replacesBlas).toBe(true);
    onCpu(() => {
      const count = () => native.cpuGemmStatus().calls;
      const a = mx.ones([4, 8]);
      const b = mx.ones([8, 3]);
      let before = count();
      mx.eval(mx.matmul(a, b));
      expect(count()).toBe(before + 1);
      before = count();
      mx.eval(mx.matmul(mx.astype(a, 'float64'), mx.astype(b, 'float64')));
      expect(count()).toBe(before + 1);
      before = count();
      mx.eval(mx.matmul(mx.astype(a, 'bfloat16'), mx.astype(b, 'bfloat16')));
      expect(count()).toBe(before);
    });
  });

  it.each([
    ['x · Wᵀ as a linear layer reads it', 5, 300, 7, 'wt'],
    ['a plain product', 33, 129, 65, 'plain'],
    ['a transposed left operand', 17, 64, 40, 'at'],
    ['both transposed', 9, 200, 31, 'both'],
    ['one row (a vector times a matrix)', 1, 512, 2000, 'wt'],
    ['one column', 300, 128, 1, 'plain'],
  ] as const)('computes %s like the textbook product (float32 and float64)', (_name, m, k, n, layout) => {
    const aValues = values([m, k], 1);
    const bValues = values([k, n], 2);
    const want = reference(aValues, bValues, m, k, n);
    for (const dtype of ['float32', 'float64'] as const) {
      for (const threads of [1, 2, 4]) {
        mx.setCpuMatmulThreads(threads);
        onCpu(() => {
          // The same mathematical operands stored in other layouts: MLX passes them as transposes.
          const a = (layout === 'at' || layout === 'both' ? columnMajor : matrix)(aValues, m, k, dtype);
          const b = (layout === 'wt' || layout === 'both' ? columnMajor : matrix)(bValues, k, n, dtype);
          const got = mx.matmul(a, b);
          const tolerance = dtype === 'float32' ? 2e-6 * Math.sqrt(k) : 1e-13 * k;
          expect(maxRelativeError(got.dataSync(), want)).toBeLessThan(tolerance);
        });
      }
    }
  });

  it('adds a scaled C for addmm, batches with broadcasting, and reads strided views', () => {
    onCpu(() => {
      const [m, k, n] = [6, 50, 9];
      const aValues = values([m, k], 3);
      const bValues = values([k, n], 4);
      const cValues = values([m, n], 5);
      const product = reference(aValues, bValues, m, k, n);
      const a = matrix(aValues, m, k, 'float64');
      const b = matrix(bValues, k, n, 'float64');
      const c = matrix(cValues, m, n, 'float64');
      const addmm = mx.addmm(c, a, b, { alpha: 0.5, beta: 2 });
      const wantAddmm = product.map((p, i) => 0.5 * p + 2 * cValues[i]);
      expect(maxRelativeError(addmm.dataSync(), wantAddmm)).toBeLessThan(1e-12);

      // A batch of 3 left operands against one right operand, and column slices MLX must copy.
      const batch = mx.stack([a, mx.multiply(a, 2), mx.negative(a)]);
      const batched = mx.matmul(batch, b).dataSync();
      for (const [i, factor] of [1, 2, -1].entries()) {
        const slice = batched.subarray(i * m * n, (i + 1) * m * n);
        expect(
          maxRelativeError(
            slice,
            product.map((p) => factor * p),
          ),
        ).toBeLessThan(1e-12);
      }
      const wide = mx.concatenate([b, b], 1);
      const sliced = mx.matmul(a, wide.index(mx.sl(), mx.sl(3, 3 + n)));
      const rotated = reference(
        aValues,
        Float64Array.from({ length: k * n }, (_, i) => {
          const [row, col] = [Math.floor(i / n), i % n];
          return bValues[row * n + ((col + 3) % n)];
        }),
        m,
        k,
        n,
      );
      expect(maxRelativeError(sliced.dataSync(), rotated)).toBeLessThan(1e-12);
    });
  });

  it('handles empty dimensions', () => {
    onCpu(() => {
      expect(mx.matmul(mx.ones([0, 5]), mx.ones([5, 3])).shape).toEqual([0, 3]);
      expect(mx.matmul(mx.ones([2, 0]), mx.ones([0, 3])).tolist()).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
    });
  });

  it('keeps float32 linear products whole: the threads are inside the GEMM, not in stream blocks', () => {
    mx.setCpuMatmulThreads(4);
    onCpu(() => {
      const x = mx.ones([8, 512]);
      const w = mx.ones([3000, 512]);
      const counts = graphOpCounts(internal, mx.linear(x, w));
      expect(counts.Matmul).toBe(1);
      expect(counts.Concatenate).toBeUndefined();
    });
  });
});
