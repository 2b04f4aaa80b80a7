import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { KVCache } from '../src/index.js';
import { type Enc, expectEnc, golden, inputs, maxAbsDiff } from './helpers.js';

const sdpa = (q: mx.Array, k: mx.Array, v: mx.Array, mask?: 'causal' | mx.Array | null) =>
  mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.5, mask: mask ?? null });

describe('KVCache', () => {
  it('attention over cached keys/values equals attention over the full sequence', () => {
    mx.tidy(() => {
      const T = 9;
      const q = inputs([1, 4, T, 8], 7);
      const k = inputs([1, 2, T, 8], 8);
      const v = inputs([1, 2, T, 8], 9);
      const full = sdpa(q, k, v, 'causal');
      const cache = new KVCache();
      const seq = (a: mx.Array, s: number, e: number) => a.index(mx.sl(), mx.sl(), mx.sl(s, e));
      // A 5-token prefill, then single-token steps.
      const [k0, v0] = cache.updateAndFetch(seq(k, 0, 5), seq(v, 0, 5));
      const outs = [sdpa(seq(q, 0, 5), k0, v0, cache.makeMask(5) ?? null)];
      for (let t = 5; t < T; t++) {
        const [kc, vc] = cache.updateAndFetch(seq(k, t, t + 1), seq(v, t, t + 1));
        expect(cache.makeMask(1)).toBeNull();
        outs.push(sdpa(seq(q, t, t + 1), kc, vc));
      }
      const got = mx.concatenate(outs, 2);
      expect(got.shape).toEqual(full.shape);
      expect(maxAbsDiff(got, full)).toBeLessThan(1e-6);
      cache.dispose();
    });
  });

  it('grows in steps of 256 tokens, not per token', () => {
    mx.tidy(() => {
      const cache = new KVCache();
      const one = mx.zeros([1, 1, 1, 4]);
      const seen = new Set<number>();
      for (let t = 0; t < 300; t++) {
        mx.tidy(() => {
          cache.updateAndFetch(one, one);
        });
        seen.add(cache.capacity);
      }
      expect([...seen]).toEqual([256, 512]);
      expect(cache.offset).toBe(300);
      // A prefill longer than a step grows by whole steps past the used part.
      const big = new KVCache();
      big.updateAndFetch(mx.zeros([1, 1, 300, 4]), mx.zeros([1, 1, 300, 4]));
      expect(big.capacity).toBe(512);
      big.trim(100);
      big.updateAndFetch(mx.zeros([1, 1, 5, 4]), mx.zeros([1, 1, 5, 4]));
      expect([big.offset, big.capacity]).toEqual([205, 512]);
      cache.dispose();
      big.dispose();
    });
  });

  it('grows to exactly a reserved end that is near, and in steps again past it', () => {
    mx.tidy(() => {
      const k = inputs([1, 2, 32, 4], 3);
      const cache = new KVCache();
      cache.reserve(40);
      cache.updateAndFetch(k, k);
      expect(cache.capacity).toBe(40);
      const one = mx.full([1, 2, 1, 4], 7, 'float32');
      const seen = new Set<number>();
      for (let t = 32; t < 41; t++) {
        cache.updateAndFetch(one, one);
        seen.add(cache.capacity);
      }
      // 40 reached with no growth; the 41st token (past the hint) grows by a step.
      expect([...seen]).toEqual([40, 296]);
      const [keys] = cache.keysAndValues();
      expect(maxAbsDiff(keys.index(mx.sl(), mx.sl(), mx.sl(0, 32)), k)).toBe(0);
      expect(maxAbsDiff(keys.index(mx.sl(), mx.sl(), mx.sl(32, 41)), mx.full([1, 2, 9, 4], 7, 'float32'))).toBe(0);
      // An end more than a step away allocates as plain growth does.
      const far = new KVCache();
      far.reserve(10_000);
      far.updateAndFetch(k, k);
      expect(far.capacity).toBe(256);
      expect(() => far.reserve(-1)).toThrow(/reserve: tokens must be an integer/);
      expect(() => far.reserve(1.5)).toThrow(RangeError);
      cache.dispose();
      far.dispose();
    });
  });

  it('owns its buffers: a decode loop with one tidy per step holds only the cache', () => {
    const cache = new KVCache();
    const base = mx.memory().active;
    for (let t = 0; t < 600; t++) {
      mx.tidy(() => {
        const x = mx.full([1, 4, 1, 64], t, 'float32');
        const [k, v] = cache.updateAndFetch(x, x);
        mx.eval(k, v);
        k.dispose(); // what the caller gets back is its own handle
      });
    }
    const [k] = cache.keysAndValues();
    expect(k.shape).toEqual([1, 4, 600, 64]);
    expect(k.index(0, 0, mx.sl(597, 600), 0).tolist()).toEqual([597, 598, 599]);
    expect(cache.nbytes).toBe(2 * 4 * 768 * 64 * 4);
    // Only the live buffers remain (slack for MLX's allocator rounding), nothing per step.
    expect(mx.memory().active - base).toBeLessThan(cache.nbytes * 1.5);
    cache.dispose();
    expect(cache.empty()).toBe(true);
  });

  it('matches mlx-lm step by step (golden), trim included', () => {
    const sc = golden().scenarios.find((s) => s.cache === 'KVCache')!;
    const cache = new KVCache();
    for (const step of sc.steps as Record<string, unknown>[]) {
      mx.tidy(() => {
        if (step.op === 'update') {
          const L = step.L as number;
          const seed = step.seed as number;
          const [k, v] = cache.updateAndFetch(inputs([1, 2, L, 4], seed), inputs([1, 2, L, 4], seed + 500));
          expectEnc(k, step.keys as Enc, `keys after seed ${seed}`);
          expectEnc(v, step.values as Enc, `values after seed ${seed}`);
        } else {
          expect(cache.trim(step.n as number)).toBe(step.trimmed);
        }
        expect(cache.offset).toBe(step.offset);
        expect(cache.isTrimmable()).toBe(step.trimmable);
      });
    }
  });

  it('trims from the end and overwrites on the next update', () => {
    mx.tidy(() => {
      const cache = new KVCache();
      cache.updateAndFetch(inputs([1, 1, 4, 2], 1), inputs([1, 1, 4, 2], 2));
      expect(cache.trim(10)).toBe(4);
      expect(cache.offset).toBe(0);
      cache.updateAndFetch(inputs([1, 1, 4, 2], 1), inputs([1, 1, 4, 2], 2));
      expect(cache.trim(1)).toBe(1);
      const [k] = cache.updateAndFetch(inputs([1, 1, 1, 2], 3), inputs([1, 1, 1, 2], 4));
      const want = mx.concatenate([inputs([1, 1, 4, 2], 1).index(mx.sl(), mx.sl(), mx.sl(0, 3)), inputs([1, 1, 1, 2], 3)], 2);
      expect(mx.arrayEqual(k, want).item()).toBe(true);
    });
  });

  it('state round-trips and is validated', () => {
    mx.tidy(() => {
      const a = new KVCache();
      a.updateAndFetch(inputs([1, 2, 3, 4], 1), inputs([1, 2, 3, 4], 2));
      const b = KVCache.fromState(a.state);
      expect(b.offset).toBe(3);
      const [ka] = a.keysAndValues();
      const [kb] = b.keysAndValues();
      expect(mx.arrayEqual(ka, kb).item()).toBe(true);
      expect(new KVCache().state).toEqual([null, null, 0]);
      expect(() => (b.state = [ka, ka])).toThrow(/expected 3 entries/);
      expect(() => (b.state = [ka, ka, 9])).toThrow(/offset 9 is outside/);
      expect(() => (b.state = [null, null, 2])).toThrow(/with no keys/);
      expect(() => (b.state = [ka, null, 3])).toThrow('KVCache.state: keys and values must both be arrays or both null');
      expect(() => (b.state = [ka, 'x' as never, 3])).toThrow('KVCache.state values: expected an array or null, got "x"');
      expect(b.offset).toBe(3); // a rejected state leaves the cache as it was
    });
  });

  it('rejects bad inputs with clear errors', () => {
    mx.tidy(() => {
      const c = new KVCache();
      expect(() => c.updateAndFetch(mx.zeros([1, 2, 3]), mx.zeros([1, 2, 3]))).toThrow(/\[B, heads, L, headDim\]/);
      expect(() => c.updateAndFetch(mx.zeros([1, 2, 3, 4]), mx.zeros([1, 2, 2, 4]))).toThrow(/disagree/);
      expect(() => c.updateAndFetch(mx.zeros([1, 2, 3, 4]), mx.zeros([1, 2, 3, 4], 'float16'))).toThrow(/float32 but values are float16/);
      c.updateAndFetch(mx.zeros([1, 2, 3, 4]), mx.zeros([1, 2, 3, 4]));
      expect(() => c.updateAndFetch(mx.zeros([1, 3, 1, 4]), mx.zeros([1, 3, 1, 4]))).toThrow(/holds \[1, 2, L, 4\]/);
      expect(() => c.trim(-1)).toThrow(/non-negative integer/);
      expect(() => new KVCache().keysAndValues()).toThrow(/empty/);
      expect(c.offset).toBe(3);
    });
  });
});
