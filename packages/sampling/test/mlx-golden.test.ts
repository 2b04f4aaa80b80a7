// The MLX path against mlx-lm's sample_utils on the same logits.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { applyMinP, applyTopK, applyTopP, applyXtc, makeLogitsProcessors, makeSampler } from '../src/index.js';
import { applyFilterCase, expectRowsClose, golden } from './golden.js';

const logprobs = () => mx.array(golden.logprobs, { dtype: 'float32' });
const rows = (a: mx.Array) => a.tolist() as number[][];

describe('filters match mlx-lm', () => {
  for (const c of golden.filters) {
    it(`${c.filter} ${JSON.stringify(c.params)}`, () => {
      const out = applyFilterCase(c, logprobs(), { topK: applyTopK, topP: applyTopP, minP: applyMinP, xtc: applyXtc });
      expect(out.shape).toEqual([3, 16]);
      expectRowsClose(rows(out), c.output, expect);
    });
  }

  it('filters one row ([V]) like a batch of one', () => {
    const row = mx.array(golden.logprobs[1], { dtype: 'float32' });
    expectRowsClose(
      [applyTopP(row, 0.7).tolist() as number[]],
      [golden.filters.find((f) => f.filter === 'topP' && f.params.topP === 0.7)!.output[1]],
      expect,
    );
  });
});

describe('logits processors match mlx-lm', () => {
  for (const c of golden.processors) {
    it(`${JSON.stringify(c.params)}`, () => {
      const procs = makeLogitsProcessors(c.params);
      const run = (tokens: Parameters<(typeof procs)[number]>[0]) => {
        let x = mx.array(golden.logits, { dtype: 'float32' });
        for (const p of procs) x = p(tokens, x);
        return rows(x);
      };
      // One history for every row, as mlx-lm's generate passes it (mx.Array and number[]).
      expectRowsClose(run(mx.array(golden.histories[0], { dtype: 'int32' })), c.sharedHistory, expect);
      expectRowsClose(run(golden.histories[0]), c.sharedHistory, expect);
      // One history per row: ragged lists (packed by the Rust crate) and a rectangular [B, T].
      expectRowsClose(run(golden.histories), c.perRow, expect);
    });
  }

  it("a [B, T] token array uses each row's own last tokens", () => {
    const hist = [
      [1, 5, 5, 2],
      [0, 0, 15, 7],
      [3, 3, 3, 3],
    ];
    const [rep] = makeLogitsProcessors({ repetitionPenalty: 1.3, repetitionContextSize: 2 });
    const out = rows(rep(mx.array(hist, { dtype: 'int32' }), mx.array(golden.logits, { dtype: 'float32' })));
    const ragged = rows(
      rep(
        hist.map((h) => h.slice(-2)),
        mx.array(golden.logits, { dtype: 'float32' }),
      ),
    );
    expect(out).toEqual(ragged);
    const changed = out.map((r, i) => r.flatMap((v, j) => (v !== golden.logits[i][j] ? [j] : [])));
    expect(changed).toEqual([[2, 5], [7, 15], [3]]);
  });

  it('empty histories leave logits unchanged', () => {
    const procs = makeLogitsProcessors({ repetitionPenalty: 1.5, presencePenalty: 1, frequencyPenalty: 1 });
    const x = mx.array(golden.logits, { dtype: 'float32' });
    for (const tokens of [[], [[], [], []], mx.zeros([0], { dtype: 'int32' })] as const) {
      let y = x;
      for (const p of procs) y = p(tokens as unknown as number[], y);
      expect(rows(y)).toEqual(rows(x));
    }
    let y = x;
    for (const p of procs) y = p([[1], [], [2]], y);
    expect(rows(y)[1]).toEqual(rows(x)[1]);
  });
});

describe("sampling with the global seed draws mlx-lm's tokens", () => {
  for (const c of golden.samples) {
    it(JSON.stringify(c.params), () => {
      const sample = makeSampler(c.params);
      mx.random.seed(c.seed);
      const draws: number[][] = [];
      for (let i = 0; i < c.tokens.length; i++) draws.push(sample(logprobs()).tolist() as number[]);
      expect(draws).toEqual(c.tokens);
    });
  }

  it('an explicit key is reproducible and leaves the global sequence alone', () => {
    const sample = makeSampler({ temperature: 1, topK: 8, xtcProbability: 0.5, xtcThreshold: 0.1 });
    const key = mx.random.key(3);
    const big = mx.broadcastTo(mx.index(logprobs(), mx.sl(0, 1)), [64, 16]);
    const a = sample(big, { key }).tolist();
    mx.random.seed(1);
    const g1 = mx.random.uniform(0, 1, [4]).tolist();
    mx.random.seed(1);
    const b = sample(big, { key }).tolist();
    expect(b).toEqual(a);
    expect(mx.random.uniform(0, 1, [4]).tolist()).toEqual(g1);
    expect(sample(big, { key: mx.random.key(4) }).tolist()).not.toEqual(a);
  });

  it('returns [B] tokens for [B, V] and a scalar for [V]; temperature 0 is argmax', () => {
    const sample = makeSampler({ temperature: 0.5, topP: 0.9 });
    expect(sample(logprobs()).shape).toEqual([3]);
    expect(sample(mx.index(logprobs(), 0)).shape).toEqual([]);
    expect(makeSampler().call(null, logprobs()).tolist()).toEqual(golden.logprobs.map((r) => r.indexOf(Math.max(...r))));
  });
});
