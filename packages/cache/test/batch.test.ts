import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { describe, expect, it, vi } from 'vitest';
import { BatchKVCache, KVCache } from '../src/index.js';
import { type Enc, expectEnc, golden, inputs, maxAbsDiff } from './helpers.js';

const seq = (a: mx.Array, s: number, e?: number) => a.index(mx.sl(), mx.sl(), mx.sl(s, e));
const row = (a: mx.Array, r: number) => a.index(mx.sl(r, r + 1));

/** The cache's keys, values, offset, left padding and idx are a golden scenario's. */
function expectBatchState(c: BatchKVCache, sc: Record<string, unknown>, what = ''): void {
  const [k, v] = c.keysAndValues();
  expectEnc(k, sc.keys as Enc, `${what}keys`);
  expectEnc(v, sc.values as Enc, `${what}values`);
  expectEnc(c.offset, sc.offset as Enc, `${what}offset`);
  expectEnc(c.leftPadding, sc.leftPadding as Enc, `${what}leftPadding`);
  expect(c.idx).toBe(sc.idx);
}

describe('BatchKVCache', () => {
  it('matches mlx-lm (golden): updates, masks, filter, extend, trim', () => {
    const sc = golden().scenarios.find((s) => s.cache === 'BatchKVCache')!;
    const cache = new BatchKVCache(sc.options as { leftPadding: number[] });
    let other: BatchKVCache | null = null;
    for (const [i, step] of (sc.steps as Record<string, unknown>[]).entries()) {
      mx.tidy(() => {
        const what = `step ${i} (${step.op})`;
        const update = (c: BatchKVCache) => {
          const [L, seed, B] = [step.L, step.seed, step.B] as number[];
          const [k, v] = c.updateAndFetch(inputs([B, 2, L, 4], seed), inputs([B, 2, L, 4], seed + 500));
          expectEnc(k, step.keys as Enc, `${what} keys`);
          expectEnc(v, step.values as Enc, `${what} values`);
        };
        if (step.op === 'update') update(cache);
        else if (step.op === 'other-update') {
          other = new BatchKVCache({ leftPadding: [2, 0] });
          update(other);
          return;
        } else if (step.op === 'filter') cache.filter(step.rows as number[]);
        else if (step.op === 'extend') cache.extend(other!);
        else if (step.op === 'trim') expect(cache.trim(step.n as number)).toBe(step.trimmed);
        expectEnc(cache.offset, step.offset as Enc, `${what} offset`);
        expectEnc(cache.leftPadding, step.leftPadding as Enc, `${what} leftPadding`);
        expect(cache.idx, what).toBe(step.idx);
        const n = (step.mask as Enc).shape[2];
        expectEnc(cache.makeMask(n) as mx.Array, step.mask as Enc, `${what} mask`);
      });
    }
  });

  it('batched attention with the padding mask equals per-row attention over each unpadded sequence', () => {
    mx.tidy(() => {
      const lengths = [3, 1, 4];
      const T = 4;
      const steps = 3;
      const leftPadding = lengths.map((l) => T - l);
      const q = inputs([3, 2, T + steps, 8], 1);
      const k = inputs([3, 2, T + steps, 8], 2);
      const v = inputs([3, 2, T + steps, 8], 3);
      const cache = new BatchKVCache({ leftPadding });
      const outs: mx.Array[] = [];
      let mask = cache.makeMask(T);
      let [kc, vc] = cache.updateAndFetch(seq(k, 0, T), seq(v, 0, T));
      outs.push(mx.fast.scaledDotProductAttention(seq(q, 0, T), kc, vc, { scale: 0.4, mask }));
      for (let t = T; t < T + steps; t++) {
        mask = cache.makeMask(1);
        [kc, vc] = cache.updateAndFetch(seq(k, t, t + 1), seq(v, t, t + 1));
        outs.push(mx.fast.scaledDotProductAttention(seq(q, t, t + 1), kc, vc, { scale: 0.4, mask }));
      }
      const batched = mx.concatenate(outs, 2);
      expect(cache.offset.tolist()).toEqual(lengths.map((l) => l + steps));
      lengths.forEach((l, r) => {
        // Row r alone: its real tokens only, no padding, ordinary causal attention.
        const p = T - l;
        const ref = mx.fast.scaledDotProductAttention(seq(row(q, r), p), seq(row(k, r), p), seq(row(v, r), p), {
          scale: 0.4,
          mask: 'causal',
        });
        expect(maxAbsDiff(seq(row(batched, r), p), ref)).toBeLessThan(1e-6);
      });
    });
  });

  it('continuous batching: filter a finished row, extend with a new prompt, attention stays per-row exact', () => {
    mx.tidy(() => {
      const kA = inputs([2, 1, 6, 4], 1);
      const kB = inputs([1, 1, 5, 4], 2);
      const cache = new BatchKVCache({ leftPadding: [0, 2] });
      cache.updateAndFetch(seq(kA, 0, 4), seq(kA, 0, 4));
      cache.filter([1]); // row 0 finished
      expect([cache.batchSize, cache.idx, cache.leftPadding.tolist()]).toEqual([1, 2, [0]]);
      const fresh = new BatchKVCache({ leftPadding: [0] });
      fresh.updateAndFetch(seq(kB, 0, 5), seq(kB, 0, 5));
      cache.extend(fresh);
      expect([cache.batchSize, cache.idx, cache.leftPadding.tolist(), cache.offset.tolist()]).toEqual([2, 5, [3, 0], [2, 5]]);
      const [k] = cache.updateAndFetch(mx.ones([2, 1, 1, 4]), mx.ones([2, 1, 1, 4]));
      // Row 0 is the old row 1: its two real tokens then the new one, right-aligned.
      const want0 = mx.concatenate([seq(row(kA, 1), 2, 4), mx.ones([1, 1, 1, 4])], 2);
      expect(mx.arrayEqual(seq(row(k, 0), 3), want0).item()).toBe(true);
      // The next query (position 6) sees 7 keys; row 0's three padding columns stay hidden.
      expect((cache.makeMask(1) as mx.Array).tolist()).toEqual([
        [[[false, false, false, true, true, true, true]]],
        [[[true, true, true, true, true, true, true]]],
      ]);
    });
  });

  it('right-padded prefills: prepare + finalize match mlx-lm (golden)', () => {
    const sc = golden().scenarios.find((s) => s.cache === 'BatchKVCache.finalize')!;
    mx.tidy(() => {
      const c = new BatchKVCache({ leftPadding: sc.leftPadding as number[] });
      c.prepare({ rightPadding: sc.rightPadding as number[] });
      c.updateAndFetch(inputs([3, 2, 4, 4], 70), inputs([3, 2, 4, 4], 570));
      c.finalize();
      expectBatchState(c, { ...sc, leftPadding: sc.leftPaddingAfter });
      expectEnc(c.makeMask(1) as mx.Array, sc.mask as Enc, 'mask');
      c.finalize(); // a second finalize is a no-op
      expect(c.offset.tolist()).toEqual((sc.offset as Enc).data);
      expect(() => c.prepare({ leftPadding: [1, 1, 1] })).toThrow(/only be added to an empty cache/);
      expect(() => c.prepare({ rightPadding: [1] })).toThrow(/must be 3 non-negative integers/);
      const fresh = new BatchKVCache({ leftPadding: [0, 1] });
      fresh.prepare({ leftPadding: [2, 0] });
      expect([fresh.leftPadding.tolist(), fresh.offset.tolist()]).toEqual([
        [2, 1],
        [-2, -1],
      ]);
    });
  });

  it('merges single-sequence caches and extracts rows like mlx-lm (golden)', () => {
    const sc = golden().scenarios.find((s) => s.cache === 'BatchKVCache.merge')!;
    mx.tidy(() => {
      const singles = (sc.singles as [number, number][]).map(([seed, L]) => {
        const c = new KVCache();
        if (L > 0) c.updateAndFetch(inputs([1, 2, L, 4], seed), inputs([1, 2, L, 4], seed + 500));
        return c;
      });
      const merged = BatchKVCache.merge(singles);
      expectBatchState(merged, sc, 'merged ');
      const ex = merged.extract(3);
      const e = sc.extract3 as { keys: Enc; offset: number };
      expectEnc(ex.keysAndValues()[0], e.keys, 'extracted keys');
      expect(ex.offset).toBe(e.offset);
      expect(BatchKVCache.merge([new KVCache(), new KVCache()]).leftPadding.tolist()).toEqual([0, 0]);
      expect(() => BatchKVCache.merge([])).toThrow(/non-empty list of KVCache/);
      expect(() => merged.extract(4)).toThrow(/row must be in \[0, 4\)/);
    });
  });

  it('dispose releases everything it holds, the per-row offsets and padding included', () => {
    const before = mx.memory().active;
    const cache = new BatchKVCache({ leftPadding: [2, 0, 1] });
    const kv = () => mx.ones([3, 2, 4, 8]);
    mx.tidy(() => mx.eval(cache.updateAndFetch(kv(), kv())));
    expect(mx.memory().active).toBeGreaterThan(before);
    cache.dispose();
    expect(mx.memory().active).toBe(before);
  });

  it('extends empty caches and rejects bad rows', () => {
    mx.tidy(() => {
      const a = new BatchKVCache({ leftPadding: [1] });
      a.extend(new BatchKVCache({ leftPadding: [2, 0] }));
      expect([a.batchSize, a.leftPadding.tolist(), a.offset.tolist()]).toEqual([3, [1, 2, 0], [-1, -2, 0]]);
      expect(() => a.filter([3])).toThrow(/indices in \[0, 3\)/);
      expect(() => a.filter([])).toThrow(/non-empty/);
      expect(() => new BatchKVCache({ leftPadding: [-1] })).toThrow(/non-negative integers/);
      expect(() => a.updateAndFetch(mx.zeros([2, 1, 1, 4]), mx.zeros([2, 1, 1, 4]))).toThrow(/3 rows/);
      expect(() => a.extend(a)).toThrow(/itself/);
      const c = BatchKVCache.fromState(a.state);
      expect(c.leftPadding.tolist()).toEqual([1, 2, 0]);
      // A row's offset is idx - its padding; a state saying otherwise is refused.
      expect(() => BatchKVCache.fromState([null, null, mx.array([5], 'int32'), mx.array([0], 'int32'), 0])).toThrow(/idx - leftPadding/);
      expect(() => (c.state = [null, mx.zeros([3, 1, c.idx, 4]), c.offset, c.leftPadding, c.idx])).toThrow(
        'BatchKVCache.state: keys and values must both be arrays or both null',
      );
      expect(() => (c.state = [null, null, c.offset])).toThrow('BatchKVCache.state: expected 5 entries, got 3');
    });
  });

  it('needs no mask array while no row is padded, and the same attention follows', () => {
    mx.tidy(() => {
      const unpadded = new BatchKVCache({ leftPadding: [0, 0] });
      expect(unpadded.makeMask(3)).toBe('causal');
      unpadded.updateAndFetch(inputs([2, 2, 3, 4], 1), inputs([2, 2, 3, 4], 2));
      expect(unpadded.makeMask(1)).toBeNull();
      expect(unpadded.makeMask(1, { returnArray: true })!).toBeInstanceOf(mx.Array);
      // A padded row needs the array; once it leaves (filter) the rest need none again.
      const padded = new BatchKVCache({ leftPadding: [2, 0] });
      padded.updateAndFetch(inputs([2, 2, 3, 4], 1), inputs([2, 2, 3, 4], 2));
      expect(padded.makeMask(1)).toBeInstanceOf(mx.Array);
      padded.filter([1]);
      expect(padded.makeMask(1)).toBeNull();
      // The attention is the same with the array mask and without one.
      const [array, none] = [unpadded.makeMask(1, { returnArray: true }), unpadded.makeMask(1)];
      const [k, v] = unpadded.updateAndFetch(inputs([2, 2, 1, 4], 3), inputs([2, 2, 1, 4], 4));
      const q = inputs([2, 2, 1, 4], 5);
      const withArray = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.5, mask: array });
      const without = mx.fast.scaledDotProductAttention(q, k, v, { scale: 0.5, mask: none });
      expect(maxAbsDiff(withArray, without)).toBeLessThan(1e-6);
    });
  });

  it('manages rows without reading the device: filter, extend, extract, prepare, finalize and masks', () => {
    // A read waits for every step queued before it, so a server dropping or copying out a row
    // between queued decoding steps would stall; the padding is kept on the host instead.
    mx.tidy(() => {
      const a = new BatchKVCache({ leftPadding: [2, 0, 1] });
      a.updateAndFetch(inputs([3, 2, 4, 4], 1), inputs([3, 2, 4, 4], 2));
      const b = new BatchKVCache({ leftPadding: [0] });
      b.prepare({ rightPadding: [1] });
      b.updateAndFetch(inputs([1, 2, 2, 4], 3), inputs([1, 2, 2, 4], 4));
      // Reads of arrays already computed (such as index checks of JS-made indices) wait for nothing.
      const read = mx.Array.prototype.dataSync;
      let waits = 0;
      const reads = vi.spyOn(mx.Array.prototype, 'dataSync').mockImplementation(function (this: mx.Array, ...args) {
        if (!native.isAvailable(this.handle)) waits++;
        return read.apply(this, args);
      });
      try {
        b.finalize();
        a.filter([2, 0]);
        a.extend(b);
        a.makeMask(1);
        a.extract(1).dispose();
        expect(waits).toBe(0);
      } finally {
        reads.mockRestore();
      }
      // The same padding as the device-side arithmetic it replaces: rows [1, 2] left after one
      // column no row needs is dropped (idx 4 → 3), then b right-aligned (+1) with its right
      // padding moved to the left.
      expect([a.leftPadding.tolist(), a.offset.tolist(), a.idx]).toEqual([[0, 1, 2], [3, 2, 1], 3]);
    });
  });
});
