// bfloat16 and float16 attention on the CPU (Linux) over 16 or more queries (a prompt) is computed
// in float32 (crates/mlxn-sys/src/shim/extra.cc, fast_sdpa): MLX's CPU fallback would run its two
// batched products in its single-threaded half-precision loop and round the scores before the
// softmax. These tests pin what the result is (float32 attention of the same inputs, rounded once),
// that short queries keep MLX's own path, and that masks, sinks and errors behave as MLX's do.
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { describe, expect, it } from 'vitest';

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

describe.skipIf(!replaces)('half-precision attention on the CPU (Linux)', () => {
  it.each(['bfloat16', 'float16'] as const)('is float32 attention rounded once for a prompt (%s)', (dtype) => {
    const { q, k, v } = inputs(32, 48, dtype);
    const scale = 1 / 8;
    onCpu(() => {
      for (const mask of ['causal', null] as const) {
        const got = mx.fast.scaledDotProductAttention(q, k, v, { scale, mask });
        expect(got.dtype).toBe(dtype);
        expect(got.shape).toEqual([1, 8, 32, 64]);
        const want = mx.astype(mx.fast.scaledDotProductAttention(wide(q), wide(k), wide(v), { scale, mask }), dtype);
        expect(equalBits(got, want)).toBe(true);
      }
    });
  });

  it('keeps MLX’s own half-precision path for a few queries (a decoding step)', () => {
    const { q, k, v } = inputs(1, 48, 'bfloat16');
    onCpu(() => {
      const got = mx.fast.scaledDotProductAttention(q, k, v, { scale: 1 / 8, mask: null });
      const float32 = mx.astype(mx.fast.scaledDotProductAttention(wide(q), wide(k), wide(v), { scale: 1 / 8, mask: null }), 'bfloat16');
      // Scores rounded to bfloat16 before the softmax: close to the float32 result, not equal.
      expect(equalBits(got, float32)).toBe(false);
      expect(relative(got, float32)).toBeLessThan(5e-2);
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
});
