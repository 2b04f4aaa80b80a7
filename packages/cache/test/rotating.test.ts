import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { createCausalMask, RotatingKVCache } from '../src/index.js';
import { type Enc, expectEnc, golden, inputs, maxAbsDiff } from './helpers.js';

const seq = (a: mx.Array, s: number, e?: number) => a.index(mx.sl(), mx.sl(), mx.sl(s, e));

/** Keys whose single feature is the token position, so the fetched order can be read back. */
const pos = (s: number, e: number) => mx.reshape(mx.arange(s, e, 1, 'float32'), [1, 1, e - s, 1]);
const positions = (k: mx.Array) => Array.from(k.dataSync() as Float32Array);

describe('RotatingKVCache', () => {
  it('matches mlx-lm step by step (golden): single steps, prefills, trim, masks', () => {
    const scs = golden().scenarios.filter((s) => s.cache === 'RotatingKVCache');
    expect(scs.length).toBe(4);
    for (const sc of scs) {
      const cache = new RotatingKVCache(sc.options as { maxSize: number; keep: number });
      for (const [i, step] of (sc.steps as Record<string, unknown>[]).entries()) {
        mx.tidy(() => {
          const what = `${sc.name} step ${i}`;
          if (step.op === 'update') {
            const L = step.L as number;
            const seed = step.seed as number;
            const [k, v] = cache.updateAndFetch(inputs([1, 2, L, 4], seed), inputs([1, 2, L, 4], seed + 500));
            expectEnc(k, step.keys as Enc, `${what} keys`);
            expectEnc(v, step.values as Enc, `${what} values`);
          } else {
            expect(cache.trim(step.n as number), what).toBe(step.trimmed);
          }
          expect([cache.offset, cache.idx, cache.isTrimmable()], what).toEqual([step.offset, step.idx, step.trimmable]);
          const m = cache.makeMask(2);
          if (typeof step.mask2 === 'string' || step.mask2 === null) expect(m, what).toBe(step.mask2);
          else expectEnc(m as mx.Array, step.mask2 as Enc, `${what} mask`);
        });
      }
      cache.dispose();
    }
  });

  it('keeps the first `keep` tokens and the most recent ones, single-token steps', () => {
    mx.tidy(() => {
      const cache = new RotatingKVCache({ maxSize: 5, keep: 2 });
      let k: mx.Array = mx.zeros([1]);
      for (let t = 0; t < 12; t++) [k] = cache.updateAndFetch(pos(t, t + 1), pos(t, t + 1));
      // Ring order: keep slots [0, 1], then the three most recent tokens rotating in slots 2..4.
      const got = positions(k);
      expect(got.slice(0, 2)).toEqual([0, 1]);
      expect([...got.slice(2)].sort((a, b) => a - b)).toEqual([9, 10, 11]);
      expect(cache.size()).toBe(5);
      // A prefill afterwards puts them back in temporal order and appends.
      [k] = cache.updateAndFetch(pos(12, 14), pos(12, 14));
      expect(positions(k)).toEqual([0, 1, 10, 11, 12, 13]);
    });
  });

  it('multi-token prefills keep maxSize - 1 old tokens in order', () => {
    mx.tidy(() => {
      const cache = new RotatingKVCache({ maxSize: 4, keep: 1 });
      let [k] = cache.updateAndFetch(pos(0, 6), pos(0, 6));
      expect(positions(k)).toEqual([0, 1, 2, 3, 4, 5]); // a first prefill is kept whole
      [k] = cache.updateAndFetch(pos(6, 8), pos(6, 8));
      expect(positions(k)).toEqual([0, 4, 5, 6, 7]);
      [k] = cache.updateAndFetch(pos(8, 9), pos(8, 9));
      expect(positions(k)).toEqual([0, 8, 6, 7]);
      expect(cache.offset).toBe(9);
    });
  });

  it('attention over the cache equals windowed attention over the full sequence', () => {
    mx.tidy(() => {
      const maxSize = 6;
      const T = 14;
      const q = inputs([1, 2, T, 8], 1);
      const k = inputs([1, 2, T, 8], 2);
      const v = inputs([1, 2, T, 8], 3);
      // With keep = 0 each query sees the last maxSize tokens (itself included).
      const full = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.3, mask: createCausalMask(T, 0, { windowSize: maxSize }) });
      const cache = new RotatingKVCache({ maxSize, keep: 0 });
      const outs: mx.Array[] = [];
      // Masks are made before the update, as a model does.
      const mask0 = cache.makeMask(4);
      expect(mask0).toBe('causal');
      const [k0, v0] = cache.updateAndFetch(seq(k, 0, 4), seq(v, 0, 4));
      outs.push(mx.fast.scaledDotProductAttention(seq(q, 0, 4), k0, v0, { scale: 0.3, mask: mask0 }));
      for (let t = 4; t < 9; t++) {
        const [kc, vc] = cache.updateAndFetch(seq(k, t, t + 1), seq(v, t, t + 1));
        outs.push(mx.fast.scaledDotProductAttention(seq(q, t, t + 1), kc, vc, { scale: 0.3 }));
      }
      // A prefill after rotation: the window mask over maxSize - 1 old tokens plus the new ones.
      const mask = cache.makeMask(3) as mx.Array;
      expect(mask.shape).toEqual([3, 8]);
      const [k1, v1] = cache.updateAndFetch(seq(k, 9, 12), seq(v, 9, 12));
      outs.push(mx.fast.scaledDotProductAttention(seq(q, 9, 12), k1, v1, { scale: 0.3, mask }));
      for (let t = 12; t < T; t++) {
        const [kc, vc] = cache.updateAndFetch(seq(k, t, t + 1), seq(v, t, t + 1));
        outs.push(mx.fast.scaledDotProductAttention(seq(q, t, t + 1), kc, vc, { scale: 0.3 }));
      }
      expect(maxAbsDiff(mx.concatenate(outs, 2), full)).toBeLessThan(1e-6);
    });
  });

  it('is trimmable only until the window rotates; state round-trips', () => {
    mx.tidy(() => {
      const cache = new RotatingKVCache({ maxSize: 4, keep: 0 });
      cache.updateAndFetch(pos(0, 3), pos(0, 3));
      expect(cache.isTrimmable()).toBe(true);
      expect(cache.trim(1)).toBe(1);
      expect([cache.offset, cache.idx]).toEqual([2, 2]);
      cache.updateAndFetch(pos(2, 6), pos(2, 6));
      expect(cache.isTrimmable()).toBe(false);
      const copy = RotatingKVCache.fromState(cache.state);
      expect([copy.offset, copy.idx, copy.keep, copy.maxSize]).toEqual([cache.offset, cache.idx, 0, 4]);
      const [a] = copy.updateAndFetch(pos(6, 7), pos(6, 7));
      const [b] = cache.updateAndFetch(pos(6, 7), pos(6, 7));
      expect(positions(a)).toEqual(positions(b));
      const bad = copy.state;
      bad[1] = null;
      expect(() => (copy.state = bad)).toThrow('RotatingKVCache.state: keys and values must both be arrays or both null');
      expect(copy.nbytes).toBe(cache.nbytes); // a rejected state leaves the cache as it was
    });
  });

  it('rejects invalid options', () => {
    expect(() => new RotatingKVCache({ maxSize: 0 })).toThrow(/maxSize must be a positive integer/);
    expect(() => new RotatingKVCache({ maxSize: 4, keep: 4 })).toThrow(/keep must be an integer in \[0, maxSize\)/);
    expect(() => new RotatingKVCache(undefined as never)).toThrow(/expected \{ maxSize/);
  });
});
