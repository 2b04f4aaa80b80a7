// Top-p then top-k from the k largest entries and bounds on the total (top-p-top-k.ts) against
// the two filters of the full-sort reference applied one after the other: whenever the bounds
// decide, the kept entries are the same; rows they cannot decide are handed back (undefined).
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/js/index.js';
import { topPTopKKept } from '../src/js/top-p-top-k.js';
import { makeRow, QWEN3_VOCAB } from './js-draw-cases.js';
import * as sorting from './reference/sorting-filters.js';

/** Indices the reference keeps (ascending). */
function referenceKept(row: Float32Array, topP: number, k: number): number[] {
  const dense = sorting.topK(sorting.topP(row, topP), k);
  const out: number[] = [];
  dense.forEach((v, i) => {
    if (v !== Number.NEGATIVE_INFINITY) out.push(i);
  });
  return out;
}

function ours(row: Float32Array, topP: number, k: number): number[] | undefined {
  const r = topPTopKKept(row, topP, k, 'test');
  return r === undefined ? undefined : Array.from(r.kept.indices!.subarray(0, r.kept.count));
}

const logSoftmax = (x: number[]) => {
  const m = Math.max(...x);
  const lse = m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
  return Float32Array.from(x, (v) => v - lse);
};

describe('top-p then top-k from the k largest entries', () => {
  it('a flat Qwen3-sized row: top-p keeps more than k, so top-k decides', () => {
    const row = makeRow({ vocab: QWEN3_VOCAB, sd: 2, spike: 14 }, 1);
    const kept = ours(row, 0.9, 40);
    expect(kept).toHaveLength(40);
    expect(kept).toEqual(referenceKept(row, 0.9, 40));
  });

  it('a peaked row: the cut falls inside the k largest', () => {
    const row = logSoftmax([10, ...Array.from({ length: 5000 }, (_, i) => -(i % 97) / 10)]);
    expect(ours(row, 0.9, 40)).toEqual([0]);
    expect(referenceKept(row, 0.9, 40)).toEqual([0]);
    // Two tokens before the cut.
    const two = logSoftmax([8, 7.5, ...Array.from({ length: 3000 }, () => -3)]);
    expect(ours(two, 0.9, 40)).toEqual(referenceKept(two, 0.9, 40));
    expect(ours(two, 0.9, 40)).toHaveLength(2);
  });

  it('ties at the threshold keep every tied entry of the k largest; ties at k go to the lower index', () => {
    // Four equal tokens hold most of the mass: the threshold is their value, all four stay.
    const tiedAtThreshold = logSoftmax([...Array.from({ length: 600 }, () => -2), 6, 6, 6, 6]);
    expect(ours(tiedAtThreshold, 0.5, 40)).toEqual([600, 601, 602, 603]);
    expect(referenceKept(tiedAtThreshold, 0.5, 40)).toEqual([600, 601, 602, 603]);
    // Only 3 of the 4 fit in k = 3: the lower indices.
    expect(ours(tiedAtThreshold, 0.5, 3)).toEqual([600, 601, 602]);
    expect(referenceKept(tiedAtThreshold, 0.5, 3)).toEqual([600, 601, 602]);
    // A flat row of coarse steps: many ties straddle position k.
    const steps = makeRow({ vocab: 20000, sd: 1, step: 1 }, 3);
    expect(ours(steps, 0.9, 40)).toEqual(referenceKept(steps, 0.9, 40));
  });

  it('hands back rows the bounds cannot decide', () => {
    // Fewer than k entries above -inf.
    const masked = Float32Array.from({ length: 100 }, (_, i) => (i < 10 ? -i : Number.NEGATIVE_INFINITY));
    expect(ours(masked, 0.9, 40)).toBeUndefined();
    // Probabilities that underflow float32, and one that overflows it.
    expect(ours(new Float32Array(1000).fill(-120), 0.9, 40)).toBeUndefined();
    const overflow = makeRow({ vocab: 1000, sd: 1 }, 4);
    overflow[7] = 95;
    expect(ours(overflow, 0.9, 40)).toBeUndefined();
    // The cut lands on the first token's mass (0.9 of the total): too close to call.
    const close = logSoftmax([Math.log(0.9), ...Array.from({ length: 1000 }, () => Math.log(0.1 / 1000))]);
    expect(ours(close, 0.9, 40)).toBeUndefined();
  });

  it('NaN and +Infinity are errors naming the index', () => {
    const row = Float32Array.of(-1, -2, -3, Number.NaN);
    expect(() => topPTopKKept(row, 0.9, 2, 'sampler')).toThrow('sampler: log-probabilities must not be NaN (index 3)');
  });

  it('random rows: same kept entries as the reference whenever decided', () => {
    const random = seededRandom(14);
    let decided = 0;
    for (let c = 0; c < 300; c++) {
      const vocab = 50 + Math.floor(random() * 5000);
      const sd = [0.3, 1, 2, 4, 8][c % 5];
      const row = makeRow({ vocab, sd, step: c % 7 === 0 ? 0.5 : undefined, masked: c % 11 === 0 ? 0.5 : undefined, raw: c % 3 === 0 }, c);
      const topP = [0.05, 0.5, 0.9, 0.95, 0.999][Math.floor(random() * 5)];
      const k = 1 + Math.floor(random() * Math.min(vocab - 1, 200));
      const kept = ours(row, topP, k);
      if (kept === undefined) continue;
      decided++;
      expect({ c, topP, k, kept }).toEqual({ c, topP, k, kept: referenceKept(row, topP, k) });
    }
    expect(decided).toBeGreaterThan(200);
  });
});
