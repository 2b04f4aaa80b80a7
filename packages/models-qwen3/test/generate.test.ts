// Generation semantics (mlx-lm's generate_step / stream_generate): stopping, limits, abort,
// prompt-cache reuse, cache options, seeded sampling, memory release. On a tiny random Qwen3
// with the real tokenizer; replies are scripted with a logits processor where the text matters.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KVCache, loadPromptCache, QuantizedKVCache, RotatingKVCache, savePromptCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { GenerationChunk } from '../src/lm/generate.js';
import { promptCacheTokens } from '../src/lm/prompt-cache.js';
import type { Qwen3 } from '../src/model.js';
import { scripted, tinyQwen3 } from './generate-helpers.js';

let model: Qwen3;
const PROMPT = 'The quick brown fox jumps over the lazy dog';
let promptIds: number[];

beforeAll(() => {
  model = tinyQwen3();
  promptIds = model.tokenizer!.encode(PROMPT);
});

async function collect(it: AsyncIterable<GenerationChunk>): Promise<GenerationChunk[]> {
  const out: GenerationChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('stream and generate', () => {
  it('streams chunks whose text and tokens add up to generate, with maxTokens and finish reasons', async () => {
    const chunks = await collect(model.stream(PROMPT, { maxTokens: 7 }));
    expect(chunks).toHaveLength(7);
    expect(chunks.slice(0, -1).every((c) => c.finishReason === null)).toBe(true);
    expect(chunks[6].finishReason).toBe('length');
    expect(chunks.map((c) => c.completionTokens)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(chunks[0].promptTokens).toBe(promptIds.length);
    expect(chunks[6].peakMemory).toBeGreaterThan(0);
    const r = await model.generate(PROMPT, { maxTokens: 7 });
    expect(r.tokens).toEqual(chunks.map((c) => c.token));
    expect(r.text).toBe(chunks.map((c) => c.text).join(''));
    expect(r.text).toBe(model.tokenizer!.decode(r.tokens));
    expect(r.finishReason).toBe('length');
    expect(r.usage).toEqual({ promptTokens: promptIds.length, completionTokens: 7, cachedPromptTokens: 0 });
  });

  it('accepts token ids and chat messages as prompts', async () => {
    const a = await model.generate(PROMPT, { maxTokens: 4 });
    const b = await model.generate(promptIds, { maxTokens: 4 });
    expect(b.tokens).toEqual(a.tokens);
    const messages = [{ role: 'user', content: 'Hi there' }];
    const rendered = model.tokenizer!.applyChatTemplate(messages, { addGenerationPrompt: true, tokenize: true });
    const c = await model.generate(messages, { maxTokens: 4 });
    const d = await model.generate(rendered, { maxTokens: 4 });
    expect(c.tokens).toEqual(d.tokens);
    expect(c.usage.promptTokens).toBe(rendered.length);
  });

  it('stops at a stop token id (model eos or given), leaving it out of text and tokens unless asked', async () => {
    const script = model.tokenizer!.encode(' one two three four five six');
    const logitsProcessors = [scripted(script, promptIds.length)];
    const r = await model.generate(promptIds, { maxTokens: 20, logitsProcessors, stopTokenIds: [script[3]] });
    expect(r.finishReason).toBe('stop');
    expect(r.tokens).toEqual(script.slice(0, 3));
    expect(r.text).toBe(' one two three');
    expect(r.usage.completionTokens).toBe(4);
    const withStop = await model.generate(promptIds, {
      maxTokens: 20,
      logitsProcessors,
      stopTokenIds: [script[3]],
      includeStopToken: true,
      logprobs: true,
    });
    expect(withStop.tokens).toEqual(script.slice(0, 4));
    expect(withStop.logprobs).toHaveLength(4);
    // The model's own eos (<|im_end|>) stops too.
    const eos = model.eosTokenIds[0];
    const e = await model.generate(promptIds, {
      maxTokens: 20,
      logitsProcessors: [scripted([...script.slice(0, 2), eos], promptIds.length)],
    });
    expect(e.finishReason).toBe('stop');
    expect(e.text).toBe(' one two');
  });

  it('stops at a stop string split across tokens and never returns part of it', async () => {
    const script = model.tokenizer!.encode(' Hello world, the end of it');
    const pieces = script.map((t) => model.tokenizer!.decode([t]));
    // A stop string that starts inside one token and ends inside the next.
    const stop = pieces[1].slice(-3) + pieces[2].slice(0, 2);
    expect(pieces[1].length).toBeGreaterThan(3);
    const chunks = await collect(model.stream(promptIds, { maxTokens: 20, logitsProcessors: [scripted(script, promptIds.length)], stop }));
    const text = chunks.map((c) => c.text).join('');
    expect(text).toBe(pieces[0] + pieces[1].slice(0, -3));
    expect(chunks.at(-1)!.finishReason).toBe('stop');
    expect(chunks.at(-1)!.token).toBe(script[2]);
    // No chunk ever carried the held-back start of the stop string.
    expect(chunks.some((c) => c.text.includes(pieces[1].slice(-3)))).toBe(false);
    // A stop string that never completes is returned in full at the end.
    const r = await model.generate(promptIds, {
      maxTokens: 3,
      logitsProcessors: [scripted(script, promptIds.length)],
      stop: [`${pieces[2]}zzz`],
    });
    expect(r.text).toBe(pieces.slice(0, 3).join(''));
    expect(r.finishReason).toBe('length');
  });

  it('aborts through the signal, also from a timer while generating', async () => {
    const ac = new AbortController();
    const chunks: GenerationChunk[] = [];
    for await (const c of model.stream(PROMPT, { maxTokens: 50, signal: ac.signal })) {
      chunks.push(c);
      if (chunks.length === 3) ac.abort();
    }
    expect(chunks).toHaveLength(4);
    expect(chunks[3]).toMatchObject({ finishReason: 'abort', token: null, completionTokens: 3 });
    const timer = new AbortController();
    setTimeout(() => timer.abort(), 30);
    const r = await model.generate(PROMPT, { maxTokens: 100_000, signal: timer.signal });
    expect(r.finishReason).toBe('abort');
    expect(r.tokens.length).toBeLessThan(100_000);
    const pre = new AbortController();
    pre.abort();
    const none = await model.generate(PROMPT, { signal: pre.signal });
    expect(none).toMatchObject({ finishReason: 'abort', tokens: [], text: '' });
  });

  it('breaking out of the loop stops generation and frees its memory', async () => {
    await model.generate(PROMPT, { maxTokens: 4 }); // warm-up: compiled sampler, buffers
    mx.clearCache();
    const before = mx.memory().active;
    let grown = 0;
    let n = 0;
    for await (const c of model.stream(PROMPT.repeat(20), { maxTokens: 1000, logprobs: true, repetitionPenalty: 1.2 })) {
      grown = Math.max(grown, mx.memory().active - before);
      if (++n === 5) break;
      expect(c.finishReason).toBeNull();
    }
    expect(grown).toBeGreaterThan(100_000); // the cache and the step graph were alive
    mx.clearCache();
    expect(mx.memory().active - before).toBeLessThan(16_384);
  });

  it('prefills in steps of prefillStepSize with progress, with the same result', async () => {
    const seen: [number, number][] = [];
    const r = await model.generate(promptIds, {
      maxTokens: 5,
      prefillStepSize: 3,
      onPromptProgress: (p) => seen.push([p.processed, p.total]),
    });
    const n = promptIds.length;
    const expected: [number, number][] = [[0, n]];
    for (let done = 0; n - done > 1; ) {
      done += Math.min(3, n - done - 1);
      expected.push([done, n]);
    }
    expected.push([n, n]);
    expect(seen).toEqual(expected);
    expect(r.tokens).toEqual((await model.generate(promptIds, { maxTokens: 5 })).tokens);
  });

  it('reuses a prompt cache: only the new suffix is processed and the result equals a fresh run', async () => {
    const cache = model.makeCache();
    const first = await model.generate(promptIds, { maxTokens: 6, promptCache: cache, logprobs: true });
    // The cache holds the prompt and the generated tokens that were fed back (all but the last).
    expect(promptCacheTokens(cache)).toEqual([...promptIds, ...first.tokens.slice(0, 5)]);
    // The buffers end where this generation could have ended, not at a whole step of 256.
    expect((cache[0] as KVCache).capacity).toBe(promptIds.length + 6);
    const followUp = [...promptIds, ...first.tokens, ...model.tokenizer!.encode(' and then')];
    const reused = await model.generate(followUp, { maxTokens: 6, promptCache: cache, logprobs: true });
    expect(reused.usage.cachedPromptTokens).toBe(promptIds.length + 5);
    const fresh = await model.generate(followUp, { maxTokens: 6, logprobs: true });
    expect(reused.tokens).toEqual(fresh.tokens);
    for (const [i, lp] of reused.logprobs!.entries()) expect(Math.abs(lp - fresh.logprobs![i])).toBeLessThan(1e-4);
    // A prompt that leaves the cached path: the cache is trimmed to the common prefix.
    const branch = [...promptIds.slice(0, 4), ...model.tokenizer!.encode(' cat sat')];
    const trimmed = await model.generate(branch, { maxTokens: 6, promptCache: cache });
    expect(trimmed.usage.cachedPromptTokens).toBe(4);
    expect(trimmed.tokens).toEqual((await model.generate(branch, { maxTokens: 6 })).tokens);
    // The same prompt again: everything but the last token comes from the cache.
    const again = await model.generate(branch, { maxTokens: 6, promptCache: cache });
    expect(again.usage.cachedPromptTokens).toBe(branch.length - 1);
    expect(again.tokens).toEqual(trimmed.tokens);
    for (const c of cache) c.dispose();
  });

  it('a prompt cache saved to a file and loaded again reuses its prefix (the whole conversation is given again)', async () => {
    const cache = model.makeCache();
    const first = await model.generate(promptIds, { maxTokens: 6, promptCache: cache });
    const file = join(mkdtempSync(join(tmpdir(), 'mlxn-prompt-cache-')), 'chat.safetensors');
    await savePromptCache(file, cache, { model: 'tiny' });
    for (const c of cache) c.dispose();
    const loaded = await loadPromptCache(file);
    expect(loaded.metadata).toEqual({ model: 'tiny' });
    expect(promptCacheTokens(loaded.cache)).toEqual([...promptIds, ...first.tokens.slice(0, 5)]);
    const followUp = [...promptIds, ...first.tokens, ...model.tokenizer!.encode(' and then')];
    const reused = await model.generate(followUp, { maxTokens: 6, promptCache: loaded.cache });
    expect(reused.usage.cachedPromptTokens).toBe(promptIds.length + 5);
    // The cache grew by the new suffix only, not by the whole conversation again.
    expect((loaded.cache[0] as unknown as { offset: number }).offset).toBe(followUp.length + 5);
    expect(reused.tokens).toEqual((await model.generate(followUp, { maxTokens: 6 })).tokens);
    for (const c of loaded.cache) c.dispose();
  });

  it('a rotating cache (maxKvSize) bounds attention; large enough, it changes nothing', async () => {
    const long = Array.from({ length: 40 }, (_, i) => promptIds[i % promptIds.length]);
    const plain = await model.generate(long, { maxTokens: 8 });
    expect((await model.generate(long, { maxTokens: 8, maxKvSize: 64 })).tokens).toEqual(plain.tokens);
    const bounded = await model.generate(long, { maxTokens: 8, maxKvSize: 8, prefillStepSize: 4 });
    expect(bounded.tokens).toHaveLength(8);
    expect(bounded.tokens).not.toEqual(plain.tokens);
    const cache = model.makeCache({ maxKvSize: 8 });
    await model.generate(long, { maxTokens: 3, promptCache: cache });
    expect(cache[0]).toBeInstanceOf(RotatingKVCache);
    for (const c of cache) c.dispose();
  });

  it('kvBits quantizes the cache from quantizedKvStart on', async () => {
    const plain = await model.generate(promptIds, { maxTokens: 6, logprobs: true });
    const cache = model.makeCache();
    const q = await model.generate(promptIds, {
      maxTokens: 6,
      kvBits: 8,
      kvGroupSize: 32,
      quantizedKvStart: 0,
      promptCache: cache,
      logprobs: true,
    });
    expect(cache.every((c) => c instanceof QuantizedKVCache)).toBe(true);
    // 8-bit keys and values stay close to the float cache.
    expect(Math.abs(q.logprobs![0] - plain.logprobs![0])).toBeLessThan(0.05);
    expect(q.tokens[0]).toBe(plain.tokens[0]);
    const late = model.makeCache();
    await model.generate(promptIds, { maxTokens: 3, kvBits: 4, kvGroupSize: 32, quantizedKvStart: 1000, promptCache: late });
    expect(late[0].className).toBe('KVCache');
    for (const c of [...cache, ...late]) c.dispose();
  });

  it('seeded sampling is reproducible', async () => {
    const opts = { maxTokens: 10, temperature: 1, topP: 0.95, seed: 7 };
    const a = await model.generate(PROMPT, opts);
    const b = await model.generate(PROMPT, opts);
    const c = await model.generate(PROMPT, { ...opts, seed: 8 });
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('reports log-probabilities at the sampling temperature', async () => {
    const greedy = await model.generate(promptIds, { maxTokens: 3, logprobs: true });
    const logits = model.forward(mx.array([promptIds], 'int32'));
    const last = mx.index(logits, 0, -1);
    const expected = mx.index(mx.logSoftmax(last), greedy.tokens[0]).item() as number;
    expect(Math.abs(greedy.logprobs![0] - expected)).toBeLessThan(1e-4);
    const warm = await model.generate(promptIds, { maxTokens: 1, logprobs: true, temperature: 0.5, seed: 1 });
    const expectedWarm = mx.index(mx.logSoftmax(mx.divide(last, 0.5)), warm.tokens[0]).item() as number;
    expect(Math.abs(warm.logprobs![0] - expectedWarm)).toBeLessThan(1e-4);
  });

  it('a custom sampler and custom logits processors are used', async () => {
    const target = promptIds[2];
    const r = await model.generate(PROMPT, { maxTokens: 3, sampler: (lp) => mx.full([lp.shape[0]], target, 'uint32') });
    expect(r.tokens).toEqual([target, target, target]);
  });
});

describe('bad input fails before any work, naming the problem', () => {
  it('invalid options', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxTokens: 0 }, /maxTokens: must be an integer >= 1, got 0/],
      [{ maxtokens: 5 }, /unknown option "maxtokens" \(did you mean "maxTokens"\?\)/],
      [{ temperature: -1 }, /temperature/],
      [{ topK: 200000 }, /topK/],
      [{ stop: [''] }, /stop must be a non-empty string/],
      [{ stopTokenIds: [1e9] }, /stopTokenIds: token id 1000000000 is not an integer in \[0, 151936\)/],
      [{ sampler: 3 }, /sampler must be a function/],
      [{ sampler: () => mx.array([0]), temperature: 1 }, /either a custom sampler or sampler options/],
      [{ kvBits: 7 }, /kvBits must be one of/],
      [{ kvBits: 4, maxKvSize: 64 }, /cannot be combined/],
      [{ maxKvSize: 64, promptCache: [] }, /promptCache must be/],
      [{ signal: 'stop' }, /signal must be an AbortSignal/],
      [{ repetitionPenalty: -1 }, /repetitionPenalty/],
      [{ prefillStepSize: 0 }, /prefillStepSize/],
    ];
    for (const [opts, msg] of cases) expect(() => model.stream(PROMPT, opts as never), JSON.stringify(opts)).toThrow(msg);
  });

  it('bad prompts and a prompt longer than the context', async () => {
    expect(() => model.stream('')).toThrow(/the prompt is empty/);
    expect(() => model.stream([1, -2])).toThrow(/prompt token 1 is -2/);
    expect(() => model.stream(42 as never)).toThrow(/must be a string, token ids or chat messages/);
    const small = tinyQwen3(0, { max_position_embeddings: 16 });
    expect(() => small.stream(Array.from({ length: 17 }, () => 5))).toThrow(/17 tokens, more than the model's context of 16/);
    await expect(small.generate(Array.from({ length: 17 }, () => 5))).rejects.toThrow(/context of 16/);
  });
});
