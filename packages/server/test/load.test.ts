// Load: 32 concurrent streaming clients (the official openai client) with mixed prompt lengths
// and max_tokens, some disconnecting mid-stream. Every completed request equals a solo greedy
// run of the same prompt (up to the first position where the solo run's top-two logit gap is
// below 1e-4, where batched arithmetic may legitimately pick the other token), none is lost,
// the requests really shared batches, and MLX's active memory returns to its baseline plus at
// most the prompt-prefix cache's byte cap (the prompts share prefixes, so the cache is used).

import * as mx from '@mlxn/core';
import type { Qwen3 } from '@mlxn/models-qwen3';
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MlxnServer } from '../src/index.js';
import { TokenTexts } from '../src/token-text.js';
import { settledActiveMemory, startServer, tinyModel } from './helpers.js';

const CLIENTS = 32;
const PREFIX_CACHE_BYTES = 8 << 20;
const WORDS = 'the sea is wide and deep and the ships sail over it in the morning light while gulls cry'.split(' ');

let model: Qwen3;
let server: MlxnServer & { url: string };

beforeAll(async () => {
  model = tinyModel(3);
  server = await startServer({
    model,
    maxBatchSize: 32,
    prefillBatchSize: 8,
    prefixCache: { maxEntries: 16, maxBytes: PREFIX_CACHE_BYTES },
  });
});

afterAll(async () => {
  await server?.close();
});

/** Top-1 minus top-2 logit of the solo greedy run at each generated position (teacher-forced). */
function margins(prompt: readonly number[], generated: readonly number[]): number[] {
  if (generated.length === 0) return [];
  const cache = model.makeCache();
  try {
    return mx.tidy(() => {
      if (prompt.length > 1) model.forward(mx.array([prompt.slice(0, -1)], 'int32'), { cache }).dispose();
      // The logits of the last prompt token and of each generated token but the last.
      const logits = model.forward(mx.array([[prompt[prompt.length - 1], ...generated.slice(0, -1)]], 'int32'), { cache });
      const top2 = mx.topk(mx.index(logits, 0), 2, -1).tolist() as number[][];
      return top2.map(([a, b]) => Math.abs(a - b));
    });
  } finally {
    for (const c of cache) c.dispose();
  }
}

it('serves 32 concurrent streams correctly, drops the disconnected ones and returns its memory', async () => {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
  const texts = new TokenTexts(model.tokenizer);
  const jobs = Array.from({ length: CLIENTS }, (_, i) => {
    const words = 1 + ((i * 37) % 150); // 1 to 150 words: prompts of about 10 to 170 tokens
    const content = Array.from({ length: words }, (_, w) => WORDS[(w * 7 + i) % WORDS.length]).join(' ');
    return {
      messages: [{ role: 'user' as const, content }],
      maxTokens: 1 + ((i * 13) % 40),
      // Every fifth client leaves after three chunks.
      disconnectAfter: i % 5 === 2 ? 3 : null,
    };
  });

  // The solo greedy runs and their margins, before the server's memory baseline is taken.
  const expected: Array<{ solo: Awaited<ReturnType<Qwen3['generate']>>; gaps: number[] } | null> = [];
  for (const job of jobs) {
    if (job.disconnectAfter !== null) {
      expected.push(null);
      continue;
    }
    const solo = await model.generate(job.messages, { maxTokens: job.maxTokens });
    const prompt = model.tokenizer!.encode(model.tokenizer!.applyChatTemplate(job.messages, { addGenerationPrompt: true }), {
      addSpecialTokens: false,
    });
    expected.push({ solo, gaps: margins(prompt, solo.tokens) });
  }
  // Warm-up, so one-time allocations are not counted against the baseline.
  await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'warm up' }], max_tokens: 2 });
  await server.idle();
  const baseline = await settledActiveMemory();

  const results = await Promise.all(
    jobs.map(async (job) => {
      const stream = await client.chat.completions.create({
        model: 'tiny',
        messages: job.messages,
        max_tokens: job.maxTokens,
        temperature: 0,
        logprobs: true,
        stream: true,
        stream_options: { include_usage: true },
      });
      const tokens: number[][] = [];
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
          for (const e of c.logprobs?.content ?? []) tokens.push(e.bytes!);
          finish = c.finish_reason ?? finish;
        }
        if (job.disconnectAfter !== null && chunks >= job.disconnectAfter) break; // closes the connection
      }
      return { tokens, finish, usage };
    }),
  );

  let compared = 0;
  let reused = 0;
  let completionTokens = 0;
  const nearTies: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const job = jobs[i];
    const r = results[i];
    if (job.disconnectAfter !== null) continue;
    // None lost: a finish reason and the usage arrived.
    expect(r.finish, `client ${i}`).not.toBeNull();
    expect(r.usage, `client ${i}`).toBeDefined();
    completionTokens += r.usage!.completion_tokens;
    reused += r.usage!.prompt_tokens_details?.cached_tokens ?? 0;
    const { solo, gaps } = expected[i]!;
    expect(r.usage!.prompt_tokens).toBe(solo.usage.promptTokens);
    const soloBytes = solo.tokens.map((t) => texts.get(t).bytes);
    const tie = gaps.findIndex((g) => g < 1e-4);
    const upTo = tie === -1 ? soloBytes.length : tie;
    if (tie !== -1) nearTies.push(`client ${i}: near-tie at ${tie}`);
    expect(r.tokens.slice(0, upTo), `client ${i}`).toEqual(soloBytes.slice(0, upTo));
    if (tie === -1) {
      expect(r.tokens.length, `client ${i}`).toBe(soloBytes.length);
      expect(r.finish, `client ${i}`).toBe(solo.finishReason);
    }
    compared++;
  }
  expect(compared).toBe(CLIENTS - jobs.filter((j) => j.disconnectAfter !== null).length);
  if (nearTies.length > 0) console.log(nearTies.join('\n'));
  // They shared batches: far fewer forward passes than tokens generated.
  expect(server.stats.steps).toBeLessThan(completionTokens / 4);

  await server.idle();
  expect(server.stats).toMatchObject({ running: 0, waiting: 0 });
  expect(reused).toBeGreaterThan(0);
  expect(server.stats.prefixCache.bytes).toBeLessThanOrEqual(PREFIX_CACHE_BYTES);
  // The native forward's compile cache keeps a few constant scalars per batch size it has seen
  // (28 bytes each, measured; none with MLXN_NATIVE_FORWARD=0): bounded by 32 sizes here.
  expect(await settledActiveMemory()).toBeLessThanOrEqual(baseline + PREFIX_CACHE_BYTES + 32 * 64);
});
