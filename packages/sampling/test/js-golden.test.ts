// The plain-JS path against the same mlx-lm golden vectors as the MLX path.
import { describe, expect, it } from 'vitest';
import { applyMinP, applyTopK, applyTopP, applyXtc, greedySampling, makeLogitsProcessors, makeSampler } from '../src/js/index.js';
import { applyFilterCase, expectRowsClose, golden } from './golden.js';

const logprobs = () => golden.logprobs.map((r) => Float32Array.from(r));
const logits = () => golden.logits.map((r) => Float32Array.from(r));

describe('js filters match mlx-lm', () => {
  for (const c of golden.filters) {
    it(`${c.filter} ${JSON.stringify(c.params)}`, () => {
      const out = applyFilterCase(c, logprobs(), { topK: applyTopK, topP: applyTopP, minP: applyMinP, xtc: applyXtc });
      expectRowsClose(out, c.output, expect);
    });
  }

  it('one Float32Array row in, one row out', () => {
    const out = applyTopK(Float32Array.from(golden.logprobs[0]), 3);
    expect(out).toBeInstanceOf(Float32Array);
    expectRowsClose([out], [golden.filters.find((f) => f.filter === 'topK' && f.params.topK === 3)!.output[0]], expect);
  });

  it('xtc with probability 0 changes nothing', () => {
    expect(applyXtc(logprobs(), 0, 0.1, [], { random: () => 0.3 })).toEqual(logprobs());
  });
});

describe('js processors match mlx-lm', () => {
  for (const c of golden.processors) {
    it(`${JSON.stringify(c.params)}`, () => {
      const procs = makeLogitsProcessors(c.params);
      const input = logits();
      let shared: Float32Array[] = input;
      for (const p of procs) shared = p(golden.histories[0], shared);
      expectRowsClose(shared, c.sharedHistory, expect);
      let perRow: Float32Array[] = input;
      for (const p of procs) perRow = p(golden.histories, perRow);
      expectRowsClose(perRow, c.perRow, expect);
      expect(input).toEqual(logits()); // inputs are not modified
    });
  }
});

describe('js samplers', () => {
  it('temperature 0 is argmax', () => {
    const expected = golden.logprobs.map((r) => r.indexOf(Math.max(...r)));
    expect(makeSampler()(logprobs())).toEqual(expected);
    expect(greedySampling(logprobs())).toEqual(expected);
  });

  it('a seed makes draws reproducible', () => {
    const opts = { temperature: 1.1, topP: 0.95, minP: 0.01, topK: 8, xtcProbability: 0.5, xtcThreshold: 0.1 };
    const a = makeSampler({ ...opts, seed: 9 });
    const b = makeSampler({ ...opts, seed: 9 });
    const da = Array.from({ length: 20 }, () => a(logprobs()));
    expect(Array.from({ length: 20 }, () => b(logprobs()))).toEqual(da);
    expect(typeof a(logprobs()[0])).toBe('number');
  });
});
