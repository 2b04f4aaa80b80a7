// The partial-selection sampler of `@mlxn/sampling/js` draws exactly the tokens the sampler that
// sorted the whole vocabulary drew: against golden draws written by that implementation
// (fixtures/make-js-draws.ts), and against a plain full-sort reference (reference/) on many more
// random rows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyMinP, applyTopK, applyTopP, applyXtc, categoricalSampling, makeSampler, seededRandom } from '../src/js/index.js';
import { batchCases, DRAWS, makeRow, rowSpecs, rowsFor, SEEDS, samplerOptions } from './js-draw-cases.js';
import * as sorting from './reference/sorting-filters.js';
import { makeSortingSampler } from './reference/sorting-sampler.js';

const golden: { single: Record<string, number[][]>; batch: Record<string, number[][]> } = JSON.parse(
  readFileSync(join(import.meta.dirname, 'fixtures/js_draws_golden.json'), 'utf8'),
);

/** Rows are built once per (spec, seed): Qwen3-sized ones take a while to generate. */
const rowCache = new Map<string, Float32Array>();
const cachedRow = (name: string, seed: number): Float32Array => {
  const key = `${name}/${seed}`;
  if (!rowCache.has(key)) rowCache.set(key, makeRow(rowSpecs[name], seed));
  return rowCache.get(key)!;
};

describe('same draws as the full-sort sampler (golden)', () => {
  for (const [optName, opts] of Object.entries(samplerOptions)) {
    it(optName, () => {
      for (const rowName of rowsFor(opts)) {
        const key = `${optName}/${rowName}`;
        const drawn = SEEDS.map((seed) => {
          const row = cachedRow(rowName, 1000 + seed);
          const sample = makeSampler({ ...opts, seed });
          return Array.from({ length: DRAWS }, () => sample(row));
        });
        expect({ key, drawn }).toEqual({ key, drawn: golden.single[key] });
      }
    });
  }

  it('batches (one XTC coin per call, rows drawn in order)', () => {
    let cases = 0;
    for (const [caseName, { rows }] of Object.entries(batchCases)) {
      const input = rows.map(([spec, seed]) => cachedRow(spec, seed));
      for (const [optName, opts] of Object.entries(samplerOptions)) {
        const key = `${optName}/${caseName}`;
        if (golden.batch[key] === undefined) continue;
        const sample = makeSampler({ ...opts, seed: 5 });
        expect({ key, drawn: Array.from({ length: DRAWS }, () => sample(input)) }).toEqual({ key, drawn: golden.batch[key] });
        cases++;
      }
    }
    expect(cases).toBeGreaterThan(15);
  });
});

/** Small rows of many shapes: ties, -inf, huge and tiny values, unnormalised logits. */
function randomRow(random: () => number): Float32Array {
  const vocab = 2 + Math.floor(random() * 400);
  const kind = Math.floor(random() * 6);
  const sd = [0.1, 1, 3, 8, 30, 2][kind];
  const row = makeRow(
    { vocab, sd, step: kind === 5 ? 0.25 : undefined, masked: random() < 0.3 ? random() * 0.8 : undefined, raw: random() < 0.3 },
    Math.floor(random() * 2 ** 31),
  );
  if (random() < 0.1) row.fill(-120); // probabilities that underflow float32
  if (random() < 0.1) row[0] = 95; // exp overflows float32
  return row;
}

function randomOptions(random: () => number, vocab: number) {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const o: Record<string, unknown> = { temperature: pick([0.1, 0.7, 1, 2.5]) };
  if (random() < 0.6) o.topP = pick([0.05, 0.5, 0.9, 0.95, 0.999]);
  if (random() < 0.5 && vocab > 1) o.topK = 1 + Math.floor(random() * (vocab - 1));
  if (random() < 0.3) {
    o.minP = pick([0.01, 0.1, 0.5, 1]);
    o.minTokensToKeep = pick([1, 2, 5]);
  }
  if (random() < 0.3) {
    o.xtcProbability = pick([0.3, 1]);
    o.xtcThreshold = pick([0, 0.05, 0.2, 0.5]);
    o.xtcSpecialTokens = [0, vocab - 1];
  }
  return o;
}

describe('same draws as the full-sort sampler (random rows)', () => {
  it('2,000 random rows and option sets, 3 draws each', () => {
    const random = seededRandom(2024);
    let nonTrivial = 0;
    for (let c = 0; c < 2000; c++) {
      const rows = Array.from({ length: random() < 0.2 ? 3 : 1 }, () => randomRow(random));
      const vocab = rows[0].length;
      const batch = rows.map((r) => (r.length === vocab ? r : makeRow({ vocab, sd: 2 }, c)));
      const opts = randomOptions(random, vocab);
      const seed = Math.floor(random() * 1000);
      const ours = makeSampler({ ...opts, seed });
      const theirs = makeSortingSampler(opts, seededRandom(seed));
      const a: unknown[] = [];
      const b: unknown[] = [];
      for (let d = 0; d < 3; d++) {
        a.push(catching(() => ours(batch)));
        b.push(catching(() => theirs(batch)));
      }
      expect({ c, opts, draws: a }).toEqual({ c, opts, draws: b });
      if (new Set(a.flat().map(String)).size > 1) nonTrivial++;
    }
    expect(nonTrivial).toBeGreaterThan(500);
  });

  it('dense filters keep the same entries', () => {
    const random = seededRandom(77);
    for (let c = 0; c < 300; c++) {
      const row = randomRow(random);
      const k = 1 + Math.floor(random() * (row.length - 1));
      const p = [0.05, 0.5, 0.9, 1][c % 4];
      expect(applyTopP(row, p)).toEqual(sorting.topP(row, p));
      if (row.length > 1) expect(applyTopK(row, k)).toEqual(sorting.topK(row, k));
      expect(applyMinP(row, 0.2, 1 + (c % 4))).toEqual(sorting.minP(row, 0.2, 1 + (c % 4)));
      expect(applyXtc(row, 1, 0.05, [0], { random: () => 0 })).toEqual(sorting.xtc(row, 0.05, [0]));
      const u = seededRandom(c);
      const v = seededRandom(c);
      expect(catching(() => categoricalSampling(row, 0.8, { random: u }))).toEqual(catching(() => sorting.categorical(row, 0.8, v)));
    }
  });

  it("Qwen3-sized rows: the issue's filters on many seeds", () => {
    const random = seededRandom(99);
    for (let c = 0; c < 6; c++) {
      const row = makeRow({ vocab: 151936, sd: [1, 2, 3, 4, 6, 3][c], spike: c === 5 ? 10 : undefined }, 500 + c);
      for (const opts of [
        { temperature: 0.7, topP: 0.9, topK: 40 },
        { temperature: 1, topP: 0.95 },
        { temperature: 0.8, minP: 0.05, topK: 100 },
      ]) {
        const seed = Math.floor(random() * 1e6);
        const ours = makeSampler({ ...opts, seed });
        const theirs = makeSortingSampler(opts, seededRandom(seed));
        expect({ c, opts, draws: [ours(row), ours(row)] }).toEqual({ c, opts, draws: [...theirs([row]), ...theirs([row])] });
      }
    }
  });
});

describe('rows without a distribution', () => {
  it('NaN and +Infinity are errors naming the index', () => {
    const row = Float32Array.of(-1, -2, Number.NaN, -3);
    expect(() => makeSampler({ temperature: 1, topP: 0.9 })(row)).toThrow(/sampler: log-probabilities must not be NaN \(index 2\)/);
    expect(() => makeSampler({ temperature: 1 })(Float32Array.of(-1, Number.POSITIVE_INFINITY))).toThrow(
      /must not be \+Infinity \(index 1\)/,
    );
    expect(() => applyTopP(row, 0.5)).toThrow(/applyTopP: log-probabilities must not be NaN/);
  });

  it('every entry -inf: nothing to draw', () => {
    const row = new Float32Array(8).fill(Number.NEGATIVE_INFINITY);
    expect(() => makeSampler({ temperature: 1, topP: 0.9, topK: 3 })(row)).toThrow(/every token has been filtered out/);
  });
});

function catching(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}
