// Batched generation with continuous batching: greedy results equal generating each prompt
// alone (a token may differ only where the single-prompt top-two logit margin is <= 1e-3, and
// such near-ties are reported), rows finish at different steps, waiting prompts join mid-run.
import * as mx from '@mlxn/core';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BatchResult } from '../src/lm/batch.js';
import { Qwen3 } from '../src/model.js';
import { greedyMargins, scripted, tinyQwen3 } from './generate-helpers.js';

let model: Qwen3;
const TEXTS = [
  'The quick brown fox jumps over the lazy dog',
  'Hi',
  'Once upon a time, in a land far away, there lived a',
  'def fibonacci(n):',
  'One two three',
  '日本語のテキストも',
  'A',
];

beforeAll(() => {
  model = tinyQwen3();
});

/**
 * Asserts batch tokens equal single-prompt tokens up to a near-tie: at the first difference the
 * single run's top-two margin must be <= 1e-3 (after it the continuations may diverge).
 * Returns the near-ties found.
 */
function expectSameUpToNearTies(prompt: number[], single: number[], batch: number[], label: string, on: Qwen3 = model): string[] {
  const n = Math.min(single.length, batch.length);
  const first = Array.from({ length: n }, (_, i) => i).find((i) => single[i] !== batch[i]);
  if (first === undefined) {
    expect(batch.length, label).toBe(single.length);
    return [];
  }
  const margin = greedyMargins(on, prompt, single.slice(0, first + 1))[first];
  expect(margin, `${label}: token ${first} differs (${single[first]} vs ${batch[first]}) with margin ${margin}`).toBeLessThanOrEqual(1e-3);
  return [`${label}: near-tie at token ${first} (margin ${margin})`];
}

describe('batchGenerate', () => {
  it('greedy batch results equal single-prompt runs, with rows joining and leaving mid-run', async () => {
    const maxTokens = [12, 3, 20, 7, 1, 15, 9];
    const prompts = TEXTS.map((p, i) => ({ prompt: p, maxTokens: maxTokens[i] }));
    const joined: number[] = [];
    const results = await model.batchGenerate(prompts, {
      maxBatchSize: 3,
      prefillBatchSize: 2,
      logprobs: true,
      onResult: (i) => joined.push(i),
    });
    expect(results).toHaveLength(TEXTS.length);
    // Rows finished at different steps and in a different order than they were given.
    expect(joined).not.toEqual([...joined].sort((a, b) => a - b));
    // More steps than the longest row alone: the later prompts joined a running batch.
    expect(results.stats.steps).toBeGreaterThan(20);
    expect(results.stats.generationTokens).toBe(maxTokens.reduce((a, b) => a + b, 0));
    const nearTies: string[] = [];
    for (let i = 0; i < TEXTS.length; i++) {
      const single = await model.generate(TEXTS[i], { maxTokens: maxTokens[i], logprobs: true });
      const r = results[i];
      expect(r.finishReason).toBe('length');
      expect(r.tokens).toHaveLength(maxTokens[i]);
      expect(r.text).toBe(model.tokenizer!.decode(r.tokens));
      expect(r.usage).toEqual({ promptTokens: single.usage.promptTokens, completionTokens: maxTokens[i] });
      nearTies.push(...expectSameUpToNearTies(model.tokenizer!.encode(TEXTS[i]), single.tokens, r.tokens, `prompt ${i}`));
      if (nearTies.length === 0) for (const [k, lp] of r.logprobs!.entries()) expect(Math.abs(lp - single.logprobs![k])).toBeLessThan(1e-3);
    }
    if (nearTies.length > 0) console.warn(`near-ties (reported, not failed):\n${nearTies.join('\n')}`);
  });

  for (const kind of ['dense', 'moe', 'dense-4bit'] as const) {
    it(`the ${kind} fixture checkpoint: batched greedy decoding equals single-prompt decoding`, async () => {
      const fixture = await Qwen3.load(tinyQwen3Path(kind));
      const vocab = fixture.config.vocabSize;
      const prompts = [[1, 2, 3, 4, 5, 6, 7, 8, 9], [11], [300, 17, 5], [42, 43, 44, 45, 46, 47], [7, 7, 7, 7]].map((p) =>
        p.map((t) => t % vocab),
      );
      const maxTokens = [16, 5, 24, 9, 12];
      const results = await fixture.batchGenerate(
        prompts.map((prompt, i) => ({ prompt, maxTokens: maxTokens[i] })),
        { maxBatchSize: 3 },
      );
      expect(results.reduce((n, r) => n + r.tokens.length, 0)).toBeGreaterThan(20);
      const nearTies: string[] = [];
      for (let i = 0; i < prompts.length; i++) {
        const single = await fixture.generate(prompts[i], { maxTokens: maxTokens[i] });
        nearTies.push(...expectSameUpToNearTies(prompts[i], single.tokens, results[i].tokens, `${kind} prompt ${i}`, fixture));
      }
      if (nearTies.length > 0) console.warn(`near-ties (reported, not failed):\n${nearTies.join('\n')}`);
    });
  }

  it('token-id prompts, one batch, and a batch size of one give the same tokens', async () => {
    const ids = TEXTS.slice(0, 4).map((t) => model.tokenizer!.encode(t));
    const all = await model.batchGenerate(ids, { maxTokens: 6 });
    const one = await model.batchGenerate(ids, { maxTokens: 6, maxBatchSize: 1 });
    for (let i = 0; i < ids.length; i++) {
      expectSameUpToNearTies(ids[i], one[i].tokens, all[i].tokens, `prompt ${i}`);
      expect(one[i].tokens).toEqual((await model.generate(ids[i], { maxTokens: 6 })).tokens);
    }
  });

  it('stops each row on its own: stop tokens, stop strings and maxTokens', async () => {
    const tok = model.tokenizer!;
    const script = tok.encode(' alpha beta gamma delta epsilon zeta');
    const prompts = [tok.encode('first prompt here'), tok.encode('second'), tok.encode('the third one is longer than the others')];
    // Every row says the script; the processor counts from each row's own prompt length.
    const perRow = prompts.map((p) => scripted(script, p.length));
    const results: BatchResult[] = [];
    for (let i = 0; i < prompts.length; i++) {
      const res = await model.batchGenerate(
        [{ prompt: prompts[i], maxTokens: 10, stop: i === 1 ? ' gam' : undefined }, prompts[(i + 1) % 3]],
        {
          logitsProcessors: [(t, l) => perRow[i](t, l)],
          stopTokenIds: i === 2 ? [script[2]] : [],
          maxTokens: 4,
        },
      );
      results.push(res[0]);
    }
    // The script repeats its last token once it is said.
    const said = Array.from({ length: 10 }, (_, k) => script[Math.min(k, script.length - 1)]);
    expect(results[0]).toMatchObject({ tokens: said, text: tok.decode(said), finishReason: 'length' });
    expect(results[1]).toMatchObject({ text: ' alpha beta', finishReason: 'stop' });
    expect(results[2]).toMatchObject({ text: ' alpha beta', finishReason: 'stop', tokens: script.slice(0, 2) });
  });

  it("per-row logits processors see each row's own history (repetition penalty equals single runs)", async () => {
    const prompts = TEXTS.slice(0, 4);
    const opts = { maxTokens: 10, repetitionPenalty: 1.5, repetitionContextSize: 8 };
    const batch = await model.batchGenerate(prompts, { ...opts, maxBatchSize: 2 });
    for (let i = 0; i < prompts.length; i++) {
      const single = await model.generate(prompts[i], opts);
      expect(batch[i].tokens, `prompt ${i}`).toEqual(single.tokens);
    }
  });

  it('includes the stop token and its logprob on request, and aborts', async () => {
    const tok = model.tokenizer!;
    const p = tok.encode('stop here');
    const script = tok.encode(' x y z');
    const r = await model.batchGenerate([p], {
      logitsProcessors: [scripted(script, p.length)],
      stopTokenIds: [script[1]],
      includeStopToken: true,
      logprobs: true,
    });
    expect(r[0].tokens).toEqual(script.slice(0, 2));
    expect(r[0].logprobs).toHaveLength(2);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    const aborted = await model.batchGenerate(TEXTS, { maxTokens: 100_000, maxBatchSize: 2, signal: ac.signal });
    expect(aborted.every((x) => x.finishReason === 'abort')).toBe(true);
    expect(aborted[6].tokens).toEqual([]);
  });

  it('frees the batch caches when done', async () => {
    await model.batchGenerate(TEXTS.slice(0, 2), { maxTokens: 2 });
    mx.clearCache();
    const before = mx.memory().active;
    await model.batchGenerate(TEXTS, { maxTokens: 5, maxBatchSize: 3, logprobs: true });
    mx.clearCache();
    expect(mx.memory().active - before).toBeLessThan(16_384);
  });

  it('rejects bad input before any work', async () => {
    await expect(model.batchGenerate([])).rejects.toThrow(/non-empty list of prompts/);
    await expect(model.batchGenerate(['a'], { maxBatchSize: 0 })).rejects.toThrow(/maxBatchSize must be an integer >= 1/);
    await expect(model.batchGenerate(['a'], { promptCache: [] } as never)).rejects.toThrow(/"promptCache" is not supported for batches/);
    await expect(model.batchGenerate(['a', [1, 1e9]])).rejects.toThrow(/prompt 1: prompt token 1 is 1000000000/);
    await expect(model.batchGenerate([{ prompt: 'a', maxTokens: -1 }])).rejects.toThrow(/prompt 0 maxTokens must be an integer >= 1/);
    await expect(model.batchGenerate(['a'], { bogus: 1 } as never)).rejects.toThrow(/unknown option "bogus"/);
  });
});
