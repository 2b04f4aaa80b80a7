import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { KVCache, QuantizedKVCache, quantizedScaledDotProductAttention } from '../src/index.js';
import { type Enc, golden, inputs, maxAbsDiff } from './helpers.js';

const seq = (a: mx.Array, s: number, e?: number) => a.index(mx.sl(), mx.sl(), mx.sl(s, e));

describe('QuantizedKVCache', () => {
  it('matches mlx-lm step by step (golden)', () => {
    const sc = golden().scenarios.find((s) => s.cache === 'QuantizedKVCache')!;
    const cache = new QuantizedKVCache(sc.options as { groupSize: number; bits: number });
    for (const step of sc.steps as Record<string, unknown>[]) {
      mx.tidy(() => {
        if (step.op === 'update') {
          const L = step.L as number;
          const seed = step.seed as number;
          const [k, v] = cache.updateAndFetch(inputs([1, 2, L, 64], seed), inputs([1, 2, L, 64], seed + 500));
          for (const [got, want] of [
            [k, step.keys],
            [v, step.values],
          ] as [mx.Array[], Enc[]][]) {
            expect(got.map((x) => x.shape)).toEqual(want.map((x) => x.shape));
            expect(Array.from(got[0].dataSync(), Number)).toEqual(want[0].data); // packed codes: exact
            for (const i of [1, 2]) {
              const diff = Math.max(...Array.from(got[i].dataSync() as Float32Array, (x, j) => Math.abs(x - (want[i].data[j] as number))));
              expect(diff).toBeLessThan(1e-6);
            }
          }
        } else {
          expect(cache.trim(step.n as number)).toBe(step.trimmed);
        }
        expect(cache.offset).toBe(step.offset);
      });
    }
  });

  it('attention over the cache equals quantized attention over the full sequence, and approximates float attention', () => {
    mx.tidy(() => {
      const T = 7;
      const [gs, bits] = [32, 8];
      const q = inputs([1, 4, T, 64], 1);
      const k = inputs([1, 2, T, 64], 2);
      const v = inputs([1, 2, T, 64], 3);
      const qk = mx.quantize(k, { groupSize: gs, bits }) as [mx.Array, mx.Array, mx.Array];
      const qv = mx.quantize(v, { groupSize: gs, bits }) as [mx.Array, mx.Array, mx.Array];
      const full = quantizedScaledDotProductAttention(q, qk, qv, { scale: 0.125, mask: 'causal', groupSize: gs, bits });
      const cache = new QuantizedKVCache({ groupSize: gs, bits });
      const outs: mx.Array[] = [];
      const [k0, v0] = cache.updateAndFetch(seq(k, 0, 3), seq(v, 0, 3));
      outs.push(quantizedScaledDotProductAttention(seq(q, 0, 3), k0, v0, { scale: 0.125, mask: cache.makeMask(3), groupSize: gs, bits }));
      for (let t = 3; t < T; t++) {
        const [kc, vc] = cache.updateAndFetch(seq(k, t, t + 1), seq(v, t, t + 1));
        outs.push(quantizedScaledDotProductAttention(seq(q, t, t + 1), kc, vc, { scale: 0.125, groupSize: gs, bits }));
      }
      const got = mx.concatenate(outs, 2);
      expect(maxAbsDiff(got, full)).toBeLessThan(1e-5);
      // ...and 8-bit quantized attention is close to attention over the float keys and values.
      const ref = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.125, mask: 'causal' });
      expect(maxAbsDiff(got, ref)).toBeLessThan(1e-2);
    });
  });

  it('at 4 bits takes at most a third of the float16 cache memory', () => {
    mx.tidy(() => {
      const kv = new KVCache();
      const q4 = new QuantizedKVCache({ groupSize: 64, bits: 4 });
      const k = inputs([1, 8, 300, 128], 1).astype('float16');
      const v = inputs([1, 8, 300, 128], 2).astype('float16');
      kv.updateAndFetch(k, v);
      q4.updateAndFetch(k, v);
      mx.eval(kv.state.filter((x) => x instanceof mx.Array) as mx.Array[]);
      expect(kv.nbytes).toBe(2 * 8 * 512 * 128 * 2);
      expect(q4.nbytes / kv.nbytes).toBeLessThanOrEqual(1 / 3);
      // Measured as MLX's active memory too.
      const before = mx.memory().active;
      const c = new QuantizedKVCache({ groupSize: 64, bits: 4 });
      c.updateAndFetch(k, v);
      mx.eval((c.state[0] as mx.Array[]).concat(c.state[1] as mx.Array[]));
      const grew = mx.memory().active - before;
      expect(grew).toBeLessThanOrEqual(kv.nbytes / 3 + (1 << 20));
      c.dispose();
    });
  });

  it('KVCache.toQuantized holds the quantized keys and values and continues', () => {
    mx.tidy(() => {
      const kv = new KVCache();
      kv.updateAndFetch(inputs([1, 2, 5, 64], 1), inputs([1, 2, 5, 64], 2));
      const q = kv.toQuantized({ groupSize: 32, bits: 4 });
      expect([q.offset, q.groupSize, q.bits]).toEqual([5, 32, 4]);
      const want = mx.quantize(inputs([1, 2, 5, 64], 1), { groupSize: 32, bits: 4 });
      const [qk] = q.keysAndValues();
      for (const [i, a] of qk.entries()) expect(mx.arrayEqual(a, want[i]).item()).toBe(true);
      const [k2] = q.updateAndFetch(inputs([1, 2, 1, 64], 3), inputs([1, 2, 1, 64], 4));
      expect(k2[0].shape).toEqual([1, 2, 6, 8]);
      expect(new KVCache().toQuantized().empty()).toBe(true);
    });
  });

  it('validates options and inputs', () => {
    expect(() => new QuantizedKVCache({ groupSize: 48 })).toThrow(/groupSize must be one of 32, 64, 128/);
    expect(() => new QuantizedKVCache({ bits: 7 })).toThrow(/bits must be one of/);
    mx.tidy(() => {
      const c = new QuantizedKVCache({ groupSize: 64 });
      expect(() => c.updateAndFetch(mx.zeros([1, 1, 1, 48]), mx.zeros([1, 1, 1, 48]))).toThrow(/not a multiple of groupSize 64/);
      expect(() => c.updateAndFetch(mx.zeros([1, 1, 1, 64], 'int32'), mx.zeros([1, 1, 1, 64], 'int32'))).toThrow(/floating point/);
      c.updateAndFetch(mx.zeros([1, 1, 2, 64]), mx.zeros([1, 1, 2, 64]));
      expect(() => c.updateAndFetch(mx.zeros([2, 1, 1, 64]), mx.zeros([2, 1, 1, 64]))).toThrow(
        /do not match the cache \(B 1, heads 1, float32\)/,
      );
      expect(() => c.updateAndFetch(mx.zeros([1, 1, 1, 64], 'float16'), mx.zeros([1, 1, 1, 64], 'float16'))).toThrow(
        /do not match the cache/,
      );
      // Every supported bit width, including the ones that do not divide 32.
      for (const bits of [2, 3, 4, 5, 6, 8]) {
        const qc = new QuantizedKVCache({ groupSize: 32, bits });
        qc.updateAndFetch(inputs([1, 1, 2, 64], 1), inputs([1, 1, 2, 64], 2));
        const [[wq]] = qc.updateAndFetch(inputs([1, 1, 1, 64], 3), inputs([1, 1, 1, 64], 4));
        expect(wq.shape).toEqual([1, 1, 3, mx.quantize(inputs([1, 1, 1, 64], 3), { groupSize: 32, bits })[0].shape[3]]);
      }
      expect(c.offset).toBe(2);
      expect(c.trim(5)).toBe(2);
      const copy = QuantizedKVCache.fromState(new QuantizedKVCache({ bits: 4, groupSize: 32 }).state);
      expect([copy.empty(), copy.bits, copy.groupSize]).toEqual([true, 4, 32]);
    });
  });
});
