// The top-p kernel of `@mlxn/sampling/js` against the definition computed with a full sort:
// the float32 sum of every probability, largest first, must come out bit for bit, through the
// fast path (including ties on a half ulp, which it resolves) and through the exact fallback.
import { describe, expect, it } from 'vitest';
import { topPSelect } from '../src/js/top-p.js';
import { makeRow, QWEN3_VOCAB } from './js-draw-cases.js';

const f = Math.fround;

function sortedTotal(row: Float32Array): number {
  const sorted = Float32Array.from(row).sort();
  let total = 0;
  for (let i = sorted.length - 1; i >= 0; i--) total = f(total + f(Math.exp(sorted[i])));
  return total;
}

describe('top-p total', () => {
  it('matches a full sort on Qwen3-sized rows, on both paths, ties included', () => {
    let fast = 0;
    let fallback = 0;
    let withTies = 0;
    for (const spec of [{ sd: 1 }, { sd: 2 }, { sd: 3 }, { sd: 4 }, { sd: 2, spike: 14 }, { sd: 3, spike: 6 }]) {
      for (let seed = 0; seed < 6; seed++) {
        const row = makeRow({ vocab: QWEN3_VOCAB, ...spec }, 300 + seed);
        const r = topPSelect(row, 0.9, 'test');
        expect({ spec, seed, total: r.total }).toEqual({ spec, seed, total: sortedTotal(row) });
        if (r.resolvedTies < 0) fallback++;
        else fast++;
        if (r.resolvedTies > 0) withTies++;
      }
    }
    expect(fast).toBeGreaterThan(20);
    expect(fallback).toBeGreaterThan(0);
    expect(withTies).toBeGreaterThan(2);
  });
});
