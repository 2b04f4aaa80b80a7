// bfloat16 and float16 linear products on the CPU (Linux) run in a primitive of our own
// (crates/mlxn-sys/src/shim/cpu_half_matmul.cc, computed by cpu_half_gemm.rs) instead of MLX's
// single-threaded loop. These tests prove that mx.linear reaches it, that it computes what MLX's
// own product computes (float32 sums rounded once, so within a unit in the last place) for every
// operand layout, and that autograd, forward mode, vmap and compile see an ordinary product.
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { growthOverLoop } from './memory-loop.js';

const initial = mx.cpuMatmulThreads();
afterEach(() => mx.setCpuMatmulThreads(initial));

const onCpu = <T>(fn: () => T): T => mx.withStream('cpu', fn);
const halfCalls = (): number => internal.native.cpuGemmStatus().halfCalls;
const ops = (a: mx.Array): Record<string, number> => graphOpCounts(internal, a);
const replaces = internal.native.cpuGemmStatus().replacesBlas;

function operands(rows: number[], inputs: number, outputs: number, dtype: mx.Dtype) {
  return onCpu(() => {
    mx.random.seed(11);
    const x = mx.astype(mx.random.normal([...rows, inputs]), dtype);
    const w = mx.astype(mx.random.normal([outputs, inputs]), dtype);
    const b = mx.astype(mx.random.normal([outputs]), dtype);
    mx.eval(x, w, b);
    return { x, w, b };
  });
}

/**
 * The largest difference between `got` and `want` in units of `want`'s own magnitude (one unit
 * in the last place of bfloat16 is 2⁻⁷ of it), ignoring differences below `floor` times the
 * largest |want| (where float32 sums in another order may round a near-zero result differently).
 */
function worstRelative(got: mx.Array, want: mx.Array, floor = 1e-4): number {
  return onCpu(() => {
    const g = mx.astype(got, 'float32');
    const w = mx.astype(want, 'float32');
    const scale = mx.max(mx.abs(w)).item() as number;
    const excess = mx.maximum(mx.subtract(mx.abs(mx.subtract(g, w)), floor * scale), 0);
    return mx.max(mx.divide(excess, mx.maximum(mx.abs(w), 1e-30))).item() as number;
  });
}

function equalBits(a: mx.Array, b: mx.Array): boolean {
  return onCpu(() => mx.arrayEqual(a, b).item() as boolean);
}

describe.skipIf(!replaces)('half-precision linear products on the CPU (Linux)', () => {
  it.each([
    ['bfloat16', '2-D input', [8], 512, 3000],
    ['bfloat16', '3-D input', [2, 5], 256, 1000],
    ['bfloat16', '1-D input', [], 1024, 700],
    ['bfloat16', 'many rows (a prompt)', [96], 320, 650],
    ['float16', '2-D input', [4], 512, 2048],
    ['float16', 'odd widths', [3], 777, 1111],
  ] as const)('computes %s x · Wᵀ (+ b) as MLX does (%s)', (dtype, _name, rows, inputs, outputs) => {
    const { x, w, b } = operands([...rows], inputs, outputs, dtype);
    for (const threads of [1, 2]) {
      mx.setCpuMatmulThreads(threads);
      onCpu(() => {
        const before = halfCalls();
        const y = mx.linear(x, w, b);
        const counts = ops(y);
        expect(counts.CpuHalfMatmul).toBe(1);
        expect((counts.Matmul ?? 0) + (counts.AddMM ?? 0) + (counts.Concatenate ?? 0)).toBe(0);
        expect(y.dtype).toBe(dtype);
        expect(y.shape).toEqual([...rows, outputs]);
        const plain = mx.linear(x, w);
        mx.eval(y, plain);
        expect(halfCalls()).toBe(before + 2);
        // MLX's own product (its Matmul and AddMM primitives) on the same operands.
        expect(worstRelative(y, mx.addmm(b, x, w.T))).toBeLessThanOrEqual(2 ** -7);
        expect(worstRelative(plain, mx.matmul(x, w.T))).toBeLessThanOrEqual(2 ** -7);
      });
    }
  });

  it('gives the same bits on any number of threads', () => {
    const { x, w, b } = operands([5], 640, 4100, 'bfloat16');
    const run = (threads: number) => {
      mx.setCpuMatmulThreads(threads);
      return onCpu(() => mx.linear(x, w, b));
    };
    const one = run(1);
    mx.eval(one);
    for (const threads of [2, 3, 8]) expect(equalBits(run(threads), one)).toBe(true);
  });

  it('reads transposed, sliced and broadcast operands', () => {
    const { x, w } = operands([6], 200, 300, 'bfloat16');
    // Stored transposed: `[200, 6]` and `[200, 300]` arrays read through a transpose.
    const stored = operands([200], 6, 300, 'bfloat16').x;
    const storedW = onCpu(() => mx.astype(mx.random.normal([200, 300]), 'bfloat16'));
    onCpu(() => {
      const xt = mx.transpose(stored); // rows one element apart
      const xs = mx.index(mx.concatenate([x, x], -1), mx.sl(), mx.sl(100, 300)); // rows 400 apart
      const xb = mx.broadcastTo(mx.index(x, mx.sl(0, 1)), [4, 200]); // rows 0 apart
      const wt = mx.transpose(storedW); // W stored column-major
      mx.eval(xs, xb);
      for (const [a, weight] of [
        [xt, w],
        [xs, w],
        [xb, w],
        [x, wt],
      ] as const) {
        const y = mx.linear(a, weight);
        expect(ops(y).CpuHalfMatmul).toBe(1);
        expect(worstRelative(y, mx.matmul(a, weight.T))).toBeLessThanOrEqual(2 ** -7);
      }
    });
  });

  it('returns the bias (or zeros) for an empty inner dimension, and empty outputs', () => {
    onCpu(() => {
      const b = mx.astype(mx.array([1, 2, 3]), 'bfloat16');
      const y = mx.linear(mx.zeros([2, 0], 'bfloat16'), mx.zeros([3, 0], 'bfloat16'), b);
      expect(y.tolist()).toEqual([
        [1, 2, 3],
        [1, 2, 3],
      ]);
      expect(mx.linear(mx.zeros([2, 0], 'float16'), mx.zeros([3, 0], 'float16')).tolist()).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      expect(mx.linear(mx.zeros([0, 4], 'bfloat16'), mx.zeros([3, 4], 'bfloat16')).shape).toEqual([0, 3]);
    });
  });

  it('has the gradients of the matmul, within rounding, through the same primitive', () => {
    const { x, w, b } = operands([2, 8], 384, 1000, 'bfloat16');
    const loss = (f: (x: mx.Array, w: mx.Array, b: mx.Array) => mx.Array) => (x: mx.Array, w: mx.Array, b: mx.Array) =>
      mx.sum(mx.tanh(mx.astype(f(x, w, b), 'float32')));
    onCpu(() => {
      const ours = mx.grad(
        loss((x, w, b) => mx.linear(x, w, b)),
        [0, 1, 2],
      )(x, w, b) as mx.Array[];
      const mlx = mx.grad(
        loss((x, w, b) => mx.addmm(b, x, w.T)),
        [0, 1, 2],
      )(x, w, b) as mx.Array[];
      mx.eval(...ours, ...mlx);
      for (const [i, g] of ours.entries()) {
        expect(g.dtype).toBe('bfloat16');
        expect(g.shape).toEqual(mlx[i].shape);
        // Sums of bfloat16 cotangents: the two sides' float32 orders round apart by a few units.
        expect(worstRelative(g, mlx[i], 1e-2)).toBeLessThanOrEqual(2 ** -5);
      }
      const before = halfCalls();
      mx.eval(
        ...(mx.grad(
          loss((x, w, b) => mx.linear(x, w, b)),
          [0, 1],
        )(x, w, b) as mx.Array[]),
      );
      // The forward product and the two gradient products.
      expect(halfCalls() - before).toBe(3);
    });
  });

  it('has the forward-mode derivative and the vmap of the matmul', () => {
    const { x, w, b } = operands([3], 64, 96, 'float16');
    onCpu(() => {
      const t = operands([3], 64, 96, 'float16');
      const [[y], [dy]] = mx.jvp((x, w, b) => mx.linear(x, w, b), [x, w, b], [t.x, t.w, t.b]);
      expect(worstRelative(y, mx.addmm(b, x, w.T))).toBeLessThanOrEqual(2 ** -10);
      const want = mx.add(mx.add(mx.matmul(t.x, w.T), mx.matmul(x, t.w.T)), t.b);
      expect(worstRelative(dy, want, 1e-3)).toBeLessThanOrEqual(2 ** -8);

      // Mapped over x only, over the weights too, and over the bias only.
      const ws = mx.stack([w, mx.negative(w)]);
      const xs = mx.stack([x, mx.multiply(x, 2)]);
      const bs = mx.stack([b, mx.negative(b)]);
      const byX = mx.vmap((x: mx.Array) => mx.linear(x, w, b))(xs) as mx.Array;
      const byW = mx.vmap((x: mx.Array, w: mx.Array) => mx.linear(x, w), [0, 0])(xs, ws) as mx.Array;
      const byB = mx.vmap((b: mx.Array) => mx.linear(x, w, b))(bs) as mx.Array;
      for (let i = 0; i < 2; i++) {
        const xi = mx.take(xs, i, 0);
        const wi = mx.take(ws, i, 0);
        expect(worstRelative(mx.take(byX, i, 0), mx.addmm(b, xi, w.T))).toBeLessThanOrEqual(2 ** -10);
        expect(worstRelative(mx.take(byW, i, 0), mx.matmul(xi, wi.T))).toBeLessThanOrEqual(2 ** -10);
        expect(worstRelative(mx.take(byB, i, 0), mx.addmm(mx.take(bs, i, 0), x, w.T))).toBeLessThanOrEqual(2 ** -10);
      }
    });
  });

  it('compiles to the same bits as the eager product', () => {
    const { x, w, b } = operands([8], 512, 1500, 'bfloat16');
    onCpu(() => {
      const f = (x: mx.Array, w: mx.Array, b: mx.Array) => mx.multiply(mx.linear(x, w, b), 2);
      expect(equalBits(mx.compile(f)(x, w, b) as mx.Array, f(x, w, b))).toBe(true);
    });
  });

  it('leaves float32 products, and mixed precisions, to MLX', () => {
    const { x, w } = operands([4], 128, 256, 'float32');
    onCpu(() => {
      expect(ops(mx.linear(x, w)).CpuHalfMatmul).toBeUndefined();
      const mixed = mx.linear(mx.astype(x, 'bfloat16'), mx.astype(w, 'float16'));
      expect(ops(mixed).CpuHalfMatmul).toBeUndefined();
      expect(mixed.dtype).toBe('float32');
    });
  });

  it('keeps active memory flat over a plain synchronous loop', () => {
    const { x, w, b } = operands([8], 512, 3000, 'bfloat16');
    const growth = onCpu(() => growthOverLoop(() => mx.linear(x, w, b)));
    // One leaked output per step would be 200 × 48 kB.
    expect(growth).toBeLessThanOrEqual(8 * 3000 * 2);
  });
});
