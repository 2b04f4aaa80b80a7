// Attention on the CPU (Linux) leaves MLX's composed fallback (crates/mlxn-sys/src/shim/
// cpu_attention.cc): without sinks it runs in a primitive of our own (CpuAttention, computed in
// cpu_attention_blocks.rs: blocks of queries and keys with a running softmax), float32 scores, on
// several threads. bfloat16 and float16 attention with sinks over a prompt is computed in float32:
// MLX's fallback would multiply in its single-threaded half-precision loop and round the scores
// before the softmax. These tests pin the results against attention composed of plain ops in
// float32 (rounded once), and that masks, sinks, errors and transforms behave as MLX's do.
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { growthOverLoop } from './memory-loop.js';

const onCpu = <T>(fn: () => T): T => mx.withStream('cpu', fn);
const replaces = internal.native.cpuGemmStatus().replacesBlas;

/** q `[1, 8, queries, 64]`, k and v `[1, 4, keys, 64]` (grouped-query heads), in `dtype`. */
function inputs(queries: number, keys: number, dtype: mx.Dtype) {
  return onCpu(() => {
    mx.random.seed(5);
    const q = mx.astype(mx.random.normal([1, 8, queries, 64]), dtype);
    const k = mx.astype(mx.random.normal([1, 4, keys, 64]), dtype);
    const v = mx.astype(mx.random.normal([1, 4, keys, 64]), dtype);
    mx.eval(q, k, v);
    return { q, k, v };
  });
}

const wide = (a: mx.Array) => mx.astype(a, 'float32');

/** Attention composed of plain float32 ops (grouped heads repeated, scores, mask, softmax, values). */
function composed(q: mx.Array, k: mx.Array, v: mx.Array, scale: number, mask: 'causal' | mx.Array | null): mx.Array {
  return onCpu(() => {
    const rep = q.shape[1] / k.shape[1];
    const [queries, keys] = [q.shape[2], k.shape[2]];
    let scores = mx.multiply(mx.matmul(wide(q), mx.swapaxes(mx.repeat(wide(k), rep, 1), -1, -2)), scale);
    if (mask === 'causal') {
      // Query t (of the last `queries` positions) sees keys up to keys - queries + t.
      const seen = mx.lessEqual(
        mx.reshape(mx.arange(keys), [1, keys]),
        mx.add(mx.reshape(mx.arange(queries), [queries, 1]), keys - queries),
      );
      scores = mx.where(seen, scores, -Infinity);
    } else if (mask instanceof mx.Array) {
      scores = mask.dtype === 'bool' ? mx.where(mask, scores, -Infinity) : mx.add(scores, wide(mask));
    }
    return mx.matmul(mx.softmax(scores, -1, { precise: true }), mx.repeat(wide(v), rep, 1));
  });
}

function equalBits(a: mx.Array, b: mx.Array): boolean {
  return onCpu(() => mx.arrayEqual(a, b).item() as boolean);
}

/** The largest |a - b| over the largest |b|. */
function relative(a: mx.Array, b: mx.Array): number {
  return onCpu(() => {
    const d = mx.max(mx.abs(mx.subtract(wide(a), wide(b)))).item() as number;
    return d / (mx.max(mx.abs(wide(b))).item() as number);
  });
}

describe.skipIf(!replaces)('attention on the CPU (Linux)', () => {
  it.each([
    ['float32', 40, 300],
    ['bfloat16', 32, 48],
    ['float16', 200, 200],
    ['float32', 300, 300],
  ] as const)(
    'computes %s attention for a prompt of %i queries over %i keys in blocks: float32 attention, rounded once',
    (dtype, queries, keys) => {
      const { q, k, v } = inputs(queries, keys, dtype);
      const scale = 1 / 8;
      onCpu(() => {
        const hide = mx.greater(mx.random.uniform(0, 1, [1, 1, queries, keys]), 0.3);
        const additive = mx.astype(mx.where(hide, 0, -2), dtype);
        const masks: ('causal' | mx.Array | null)[] = ['causal', null, hide, additive];
        for (const mask of masks) {
          const got = mx.fast.scaledDotProductAttention(q, k, v, { scale, mask });
          expect(got.dtype).toBe(dtype);
          expect(got.shape).toEqual([1, 8, queries, 64]);
          expect(graphOpCounts(internal, got).CpuAttention).toBe(1);
          // One rounding of the same float32 result (the sums' order differs): a unit in the last place.
          const ulp = dtype === 'float32' ? 1e-5 : dtype === 'float16' ? 2 ** -10 : 2 ** -7;
          expect(relative(got, mx.astype(composed(q, k, v, scale, mask), dtype))).toBeLessThanOrEqual(ulp);
        }
      });
    },
  );

  it.each([
    ['float32', 1],
    ['bfloat16', 1],
    ['float16', 4],
    ['bfloat16', 15],
  ] as const)('computes %s attention for %i queries in one pass: float32 attention, rounded once', (dtype, queries) => {
    const { q, k, v } = inputs(queries, 300, dtype);
    onCpu(() => {
      const hide = mx.greater(mx.random.uniform(0, 1, [1, 1, queries, 300]), 0.3);
      const additive = mx.astype(mx.where(hide, 0, -2), dtype);
      const masks: ('causal' | mx.Array | null)[] = ['causal', null, hide, additive];
      for (const mask of masks) {
        const got = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask });
        expect(graphOpCounts(internal, got).CpuAttention).toBe(1);
        // One rounding of the same float32 result (the sums' order differs): a unit in the last place.
        const ulp = dtype === 'float32' ? 1e-5 : dtype === 'float16' ? 2 ** -10 : 2 ** -7;
        expect(relative(got, mx.astype(composed(q, k, v, 0.125, mask), dtype))).toBeLessThanOrEqual(ulp);
      }
    });
  });

  it('reads a cache through a view, and a query that sees nothing averages the values as MLX does', () => {
    const { q, k, v } = inputs(1, 64, 'float32');
    onCpu(() => {
      const kv = mx.concatenate([k, k], 2); // a preallocated cache of 128 rows, 64 used
      const view = mx.index(kv, mx.sl(), mx.sl(), mx.sl(0, 64));
      mx.eval(view);
      const got = mx.fast.scaledDotProductAttention(q, view, v, { scale: 0.125, mask: null });
      expect(relative(got, mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: null }))).toBeLessThan(1e-6);
      const nothing = mx.zeros([1, 1, 1, 64], 'bool');
      const averaged = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: nothing });
      const mean = mx.broadcastTo(mx.mean(mx.repeat(v, 2, 1), 2, true), [1, 8, 1, 64]);
      expect(relative(averaged, mean)).toBeLessThan(1e-6);
    });
  });

  it('leaves attention with sinks, and masks MLX converts, to MLX', () => {
    const { q, k, v } = inputs(1, 40, 'bfloat16');
    onCpu(() => {
      const sinks = mx.astype(mx.linspace(-1, 1, 8), 'bfloat16');
      expect(
        graphOpCounts(internal, mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: null, sinks })).CpuAttention,
      ).toBeUndefined();
      const f16mask = mx.zeros([1, 1, 1, 40], 'float16');
      expect(() => mx.eval(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: f16mask }))).toThrow();
    });
  });

  it('has MLX’s gradients, forward-mode derivatives and vmap', () => {
    const { q, k, v } = inputs(2, 24, 'float32');
    onCpu(() => {
      const ours = (q: mx.Array, k: mx.Array, v: mx.Array) =>
        mx.sum(mx.tanh(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: 'causal' })));
      // MLX's own attention of the same inputs: 16 queries take the other path, so compare on a
      // composition of ops instead.
      const composed = (q: mx.Array, k: mx.Array, v: mx.Array) => {
        const kk = mx.repeat(k, 2, 1);
        const vv = mx.repeat(v, 2, 1);
        const scores = mx.multiply(mx.matmul(q, mx.swapaxes(kk, -1, -2)), 0.125);
        const seen = mx.lessEqual(mx.reshape(mx.arange(24), [1, 24]), mx.add(mx.reshape(mx.arange(2), [2, 1]), 22));
        const p = mx.softmax(mx.where(seen, scores, -1e30), -1);
        return mx.sum(mx.tanh(mx.matmul(p, vv)));
      };
      const g1 = mx.grad(ours, [0, 1, 2])(q, k, v) as mx.Array[];
      const g2 = mx.grad(composed, [0, 1, 2])(q, k, v) as mx.Array[];
      for (let i = 0; i < 3; i++) expect(relative(g1[i], g2[i])).toBeLessThan(1e-5);
      const [, [t1]] = mx.jvp((q) => mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: null }), [q], [mx.onesLike(q)]);
      const [, [t2]] = mx.jvp(
        (q) => mx.fast.scaledDotProductAttention(wide(mx.concatenate([q, q], 2)), k, v, { scale: 0.125, mask: null }),
        [q],
        [mx.onesLike(q)],
      );
      expect(relative(t1, mx.index(t2, mx.sl(), mx.sl(), mx.sl(0, 2)))).toBeLessThan(1e-5);
      // With an array mask among the inputs, only the requested arguments are differentiated.
      const open = mx.ones([1, 1, 2, 24], 'bool');
      const withMask = mx.grad((q: mx.Array) => mx.sum(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: open })))(
        q,
      ) as mx.Array;
      const without = mx.grad((q: mx.Array) => mx.sum(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: null })))(
        q,
      ) as mx.Array;
      expect(relative(withMask, without)).toBeLessThan(1e-6);
      const qs = mx.stack([q, mx.negative(q)]);
      const mapped = mx.vmap((q: mx.Array) => mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: null }))(qs) as mx.Array;
      for (let i = 0; i < 2; i++) {
        const one = mx.fast.scaledDotProductAttention(mx.take(qs, i, 0), k, v, { scale: 0.125, mask: null });
        expect(relative(mx.take(mapped, i, 0), one)).toBeLessThan(1e-6);
      }
    });
  });

  it('takes boolean and additive half-precision masks and sinks, and refuses float32 masks as MLX does', () => {
    const { q, k, v } = inputs(20, 20, 'bfloat16');
    onCpu(() => {
      const causal = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: 'causal' });
      const rows = mx.reshape(mx.arange(20), [20, 1]);
      const cols = mx.reshape(mx.arange(20), [1, 20]);
      const bool = mx.greaterEqual(rows, cols);
      expect(equalBits(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: bool }), causal)).toBe(true);
      const additive = mx.astype(mx.where(bool, 0, -1e9), 'bfloat16');
      expect(relative(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: additive }), causal)).toBeLessThan(1e-2);

      const sinks = mx.astype(mx.linspace(-1, 1, 8), 'bfloat16');
      const got = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: 'causal', sinks });
      const want = mx.fast.scaledDotProductAttention(wide(q), wide(k), wide(v), { scale: 0.125, mask: 'causal', sinks: wide(sinks) });
      expect(equalBits(got, mx.astype(want, 'bfloat16'))).toBe(true);

      expect(() => mx.eval(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: wide(additive) }))).toThrow(/Mask type/);
    });
  });

  it('differentiates through the float32 path', () => {
    const { q, k, v } = inputs(16, 16, 'bfloat16');
    onCpu(() => {
      const loss = (q: mx.Array, k: mx.Array, v: mx.Array) =>
        mx.sum(mx.astype(mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: 'causal' }), 'float32'));
      const grads = mx.grad(loss, [0, 1, 2])(q, k, v) as mx.Array[];
      const wideGrads = mx.grad(loss, [0, 1, 2])(wide(q), wide(k), wide(v)) as mx.Array[];
      for (const [i, g] of grads.entries()) {
        expect(g.dtype).toBe('bfloat16');
        expect(relative(g, wideGrads[i])).toBeLessThan(2e-2);
      }
    });
  });

  it('keeps active memory flat over a plain synchronous loop', () => {
    const { q, k, v } = inputs(1, 256, 'bfloat16');
    const growth = onCpu(() => growthOverLoop(() => mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: null })));
    // One leaked output per step would be 200 × 1 kB.
    expect(growth).toBeLessThanOrEqual(8 * 64 * 2);
  });

  it('keeps active memory flat over a plain synchronous loop of prompt attention (the blocked path)', () => {
    const { q, k, v } = inputs(64, 256, 'float32');
    const growth = onCpu(() => growthOverLoop(() => mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: 'causal' })));
    // One leaked output per step would be 200 × 128 kB.
    expect(growth).toBeLessThanOrEqual(8 * 64 * 64 * 4);
  });
});
