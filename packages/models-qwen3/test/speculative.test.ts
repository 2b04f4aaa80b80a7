// Speculative decoding (speculative.ts): the tokens follow the model alone whatever the draft
// proposes; the draft only changes how many of them one forward pass of the model yields.

import { type KVCache, promptCacheTokens } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateStep, resolveGenerateOptions, type StepOutput } from '../src/index.js';
import type { GenerationChunk } from '../src/lm/generate.js';
import type { Qwen3 } from '../src/model.js';
import { tinyQwen3 } from './generate-helpers.js';

let model: Qwen3;
let twin: Qwen3; // the same weights: it proposes what the model samples
let stranger: Qwen3; // other weights: most proposals are rejected
let promptIds: number[];

beforeAll(() => {
  model = tinyQwen3(0);
  twin = tinyQwen3(0);
  stranger = tinyQwen3(7);
  promptIds = model.tokenizer!.encode('The sea and the ship');
});

describe('speculative decoding', () => {
  it('greedy: the tokens and log-probabilities of a run without a draft, whichever draft proposes', async () => {
    const plain = await model.generate(promptIds, { maxTokens: 24, logprobs: true });
    for (const [draftModel, numDraftTokens] of [
      [twin, 3],
      [stranger, 2],
      [twin, 1],
      [stranger, 5],
    ] as const) {
      const r = await model.generate(promptIds, { maxTokens: 24, logprobs: true, draftModel, numDraftTokens });
      expect(r.tokens).toEqual(plain.tokens);
      expect(r.finishReason).toBe(plain.finishReason);
      expect(r.usage.completionTokens).toBe(24);
      for (const [i, lp] of r.logprobs!.entries()) expect(Math.abs(lp - plain.logprobs![i])).toBeLessThan(1e-4);
    }
  });

  it('says which tokens the draft proposed: a twin proposes nearly all, a stranger few', async () => {
    const chunks: GenerationChunk[] = [];
    for await (const c of model.stream(promptIds, { maxTokens: 16, draftModel: twin, numDraftTokens: 3 })) chunks.push(c);
    const flags = chunks.map((c) => c.fromDraft);
    // Rounds of three accepted proposals and the model's own token: 16 tokens in 4 passes.
    expect(flags).toEqual([true, true, true, false, true, true, true, false, true, true, true, false, true, true, true, false]);
    mx.clearCache();
    const before = mx.memory().active;
    const twinRun = await model.generate(promptIds, { maxTokens: 16, draftModel: twin });
    expect(twinRun.usage.draftTokens).toBe(12);
    // Both caches and every round's arrays are released when generation ends.
    expect(mx.memory().active).toBeLessThanOrEqual(before);
    const strangerRun = await model.generate(promptIds, { maxTokens: 16, draftModel: stranger });
    expect(strangerRun.usage.draftTokens).toBeLessThan(12);
    expect((await model.generate(promptIds, { maxTokens: 4 })).usage.draftTokens).toBeUndefined();
  });

  it('stops at a stop token inside a round, and leaves a prompt cache that a later call reuses', async () => {
    const plain = await model.generate(promptIds, { maxTokens: 12 });
    const stopAt = plain.tokens[5];
    const expected = plain.tokens.slice(0, plain.tokens.indexOf(stopAt) + 1);
    const cache = model.makeCache();
    const r = await model.generate(promptIds, {
      maxTokens: 12,
      draftModel: twin,
      stopTokenIds: [stopAt],
      includeStopToken: true,
      promptCache: cache,
    });
    expect(r.tokens).toEqual(expected);
    expect(r.finishReason).toBe('stop');
    // The cache holds the prompt and every token before the last one given out, as without a draft.
    const held = promptCacheTokens(cache)!;
    expect(held).toEqual([...promptIds, ...expected.slice(0, -1)]);
    expect((cache[0] as KVCache).size()).toBe(held.length);
    const followUp = [...promptIds, ...expected, ...model.tokenizer!.encode(' and then')];
    const reused = await model.generate(followUp, { maxTokens: 8, promptCache: cache, draftModel: stranger });
    expect(reused.usage.cachedPromptTokens).toBe(held.length);
    expect(reused.tokens).toEqual((await model.generate(followUp, { maxTokens: 8 })).tokens);
    for (const c of cache) c.dispose();
  });

  it("samples reproducibly with a seed, with logits processors seeing each position's history", async () => {
    const opts = { maxTokens: 20, temperature: 0.8, seed: 5, repetitionPenalty: 1.3, draftModel: twin } as const;
    const a = await model.generate(promptIds, opts);
    const b = await model.generate(promptIds, opts);
    expect(a.tokens).toEqual(b.tokens);
    // Greedy with a penalty: processors see the same history as without a draft.
    const plain = await model.generate(promptIds, { maxTokens: 20, repetitionPenalty: 1.5 });
    expect((await model.generate(promptIds, { maxTokens: 20, repetitionPenalty: 1.5, draftModel: stranger })).tokens).toEqual(plain.tokens);
  });

  it('stops on an abort between rounds and reports prompt progress as without a draft', async () => {
    const controller = new AbortController();
    const progress: number[] = [];
    const chunks: GenerationChunk[] = [];
    for await (const c of model.stream(promptIds, {
      maxTokens: 200,
      draftModel: stranger,
      signal: controller.signal,
      onPromptProgress: (p) => progress.push(p.processed),
    })) {
      chunks.push(c);
      if (chunks.length === 5) controller.abort();
    }
    expect(chunks.at(-1)!.finishReason).toBe('abort');
    expect(chunks.length).toBeLessThan(12);
    expect(progress).toEqual([0, promptIds.length - 1, promptIds.length]);
  });

  it('is what generateStep does with a draft model in the plan', async () => {
    const steps = async (run: (cache: ReturnType<Qwen3['makeCache']>) => AsyncGenerator<StepOutput>): Promise<StepOutput[]> => {
      const cache = model.makeCache();
      const out: StepOutput[] = [];
      try {
        for await (const s of run(cache)) out.push(s);
      } finally {
        for (const c of cache) c.dispose();
      }
      return out;
    };
    const vocab = model.config.vocabSize;
    const plain = resolveGenerateOptions({ maxTokens: 8 }, vocab, 'test');
    const drafted = resolveGenerateOptions({ maxTokens: 8, draftModel: twin, numDraftTokens: 3 }, vocab, 'test');
    const expected = (await steps((cache) => generateStep(model, promptIds, cache, plain))).map((s) => s.token);
    const speculative = await steps((cache) => generateStep(model, promptIds, cache, drafted));
    expect(speculative.map((s) => s.token)).toEqual(expected);
    expect(speculative.map((s) => s.fromDraft)).toEqual([true, true, true, false, true, true, true, false]);
  });

  it('rejects what it cannot do, before any work', async () => {
    const other = tinyQwen3(1, { vocab_size: 1000 });
    await expect(model.generate(promptIds, { draftModel: other })).rejects.toThrow(/vocabulary of 1000 tokens/);
    await expect(model.generate(promptIds, { draftModel: twin, maxKvSize: 64 })).rejects.toThrow(
      /cannot be combined with maxKvSize or kvBits/,
    );
    await expect(model.generate(promptIds, { draftModel: twin, kvBits: 4 })).rejects.toThrow(/cannot be combined with maxKvSize or kvBits/);
    await expect(model.generate(promptIds, { numDraftTokens: 2 })).rejects.toThrow(/numDraftTokens needs a draftModel/);
    await expect(model.generate(promptIds, { draftModel: twin, numDraftTokens: 0 })).rejects.toThrow(/numDraftTokens/);
    await expect(model.generate(promptIds, { draftModel: {} as never })).rejects.toThrow(/draftModel must be a loaded model/);
    const rotating = model.makeCache({ maxKvSize: 64 });
    await expect(model.generate(promptIds, { draftModel: twin, promptCache: rotating })).rejects.toThrow(/can be trimmed/);
    // A cache filled outside generation (its tokens unknown to the draft) is refused untouched.
    const elsewhere = model.makeCache();
    mx.tidy(() => mx.eval(model.forward(mx.array([promptIds], 'int32'), { cache: elsewhere })));
    await expect(model.generate(promptIds, { draftModel: twin, promptCache: elsewhere })).rejects.toThrow(/whose tokens are known/);
    expect((elsewhere[0] as KVCache).offset).toBe(promptIds.length);
    for (const c of [...rotating, ...elsewhere]) c.dispose();
    await expect(
      model.chat([{ role: 'user', content: 'hi' }], { draftModel: twin, responseFormat: { type: 'json_object' } }),
    ).rejects.toThrow(/draftModel cannot be combined with responseFormat/);
    await expect(model.batchGenerate([promptIds], { draftModel: twin } as never)).rejects.toThrow(
      /"draftModel" is not supported for batches/,
    );
    expect(mx.memory().active).toBeGreaterThan(0);
  });
});
