// The prompt-prefix cache: longest-prefix lookup, LRU eviction by count and bytes, and across
// requests of a server: the next turn of a conversation prefills only what is new and answers
// as a server without the cache does.

import * as mx from '@mlxn/core';
import type { Qwen3 } from '@mlxn/models-qwen3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MlxnServer, PrefixCache } from '../src/index.js';
import { startServer, tinyModel } from './helpers.js';

/** Per layer [1, 2, n, 4] keys and values whose entries are their position (n tokens). */
const layersOf = (n: number, layers = 2): Array<[mx.Array, mx.Array]> =>
  Array.from({ length: layers }, () => {
    const pos = mx.broadcastTo(mx.reshape(mx.arange(0, n, 1, 'float32'), [1, 1, n, 1]), [1, 2, n, 4]);
    return [mx.multiply(pos, 1), mx.multiply(pos, 2)];
  });

describe('PrefixCache', () => {
  it('finds the longest cached prefix, leaving the prompt’s last token to compute', () => {
    const cache = new PrefixCache({ maxEntries: 4 });
    cache.store([1, 2, 3, 4, 5], layersOf(5));
    cache.store([1, 2, 9], layersOf(3));
    expect(cache.lookup([7, 8])).toBeNull();
    const hit = cache.lookup([1, 2, 3, 4, 6, 6])!;
    expect(hit.length).toBe(4);
    expect(hit.caches).toHaveLength(2);
    expect(hit.caches[0].size()).toBe(4);
    expect(mx.index(hit.caches[0].keysAndValues()[0], 0, 0, mx.sl(), 0).tolist()).toEqual([0, 1, 2, 3]);
    // The whole prompt is cached: all but its last token are used.
    expect(cache.lookup([1, 2, 3, 4, 5])!.length).toBe(4);
    for (const c of hit.caches) c.dispose();
    cache.clear();
  });

  it('keeps the entry unchanged when a hit is continued', () => {
    const cache = new PrefixCache();
    cache.store([1, 2, 3, 4], layersOf(4, 1));
    const hit = cache.lookup([1, 2, 3, 9])!;
    hit.caches[0].updateAndFetch(mx.multiply(mx.ones([1, 2, 1, 4]), 100), mx.multiply(mx.ones([1, 2, 1, 4]), 100));
    hit.caches[0].dispose();
    const again = cache.lookup([1, 2, 3, 4, 5])!;
    expect(mx.index(again.caches[0].keysAndValues()[0], 0, 0, mx.sl(), 0).tolist()).toEqual([0, 1, 2, 3]);
    again.caches[0].dispose();
    cache.clear();
  });

  it('evicts the least recently used entries beyond its count and byte bounds', () => {
    const bytesOf4 = 2 * 2 * (2 * 4 * 4 * 4); // layers × (keys, values) × [1, 2, 4, 4] float32
    const cache = new PrefixCache({ maxEntries: 2, maxBytes: 2 * bytesOf4 });
    cache.store([1, 1, 1, 1], layersOf(4));
    cache.store([2, 2, 2, 2], layersOf(4));
    for (const c of cache.lookup([1, 1, 1, 1, 1])!.caches) c.dispose(); // 1 is now the most recent
    cache.store([3, 3, 3, 3], layersOf(4));
    expect(cache.size).toBe(2);
    expect(cache.lookup([2, 2, 2, 2, 2])).toBeNull();
    expect(cache.bytes).toBe(2 * bytesOf4);
    // A longer sequence replaces the entries it extends; one larger than the budget is not kept.
    cache.store(
      [3, 3, 3, 3, 3, 3],
      layersOf(6).map(
        ([k, v]) => [mx.index(k, mx.sl(), mx.sl(), mx.sl(0, 4)), mx.index(v, mx.sl(), mx.sl(), mx.sl(0, 4))] as [mx.Array, mx.Array],
      ),
    );
    expect(cache.size).toBe(2);
    cache.store([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], layersOf(12));
    expect(cache.size).toBe(2);
    expect(cache.lookup([5, 5, 5])).toBeNull();
    cache.clear();
    expect([cache.size, cache.bytes]).toEqual([0, 0]);
  });
});

describe('across requests', () => {
  let model: Qwen3;
  let cached: MlxnServer & { url: string };
  let plain: MlxnServer & { url: string };

  beforeAll(async () => {
    model = tinyModel(5);
    cached = await startServer({ model, prefixCache: { maxEntries: 4, maxBytes: 64 << 20 } });
    plain = await startServer({ model, prefixCache: false });
  });
  afterAll(async () => {
    await cached?.close();
    await plain?.close();
  });

  it('reuses the previous turn of a conversation and answers as without the cache', async () => {
    const ask = (server: MlxnServer & { url: string }, messages: OpenAI.ChatCompletionMessageParam[]) =>
      new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 }).chat.completions.create({
        model: 'tiny',
        messages,
        max_tokens: 10,
        temperature: 0,
      });
    const system = { role: 'system' as const, content: 'You are a careful assistant who answers in one short sentence. '.repeat(6) };
    const first = [system, { role: 'user' as const, content: 'What is the sea?' }];
    const a = await ask(cached, first);
    expect(a.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    const second = [
      ...first,
      { role: 'assistant' as const, content: a.choices[0].message.content },
      { role: 'user' as const, content: 'And the sky?' },
    ];
    const b = await ask(cached, second);
    const reused = b.usage!.prompt_tokens_details!.cached_tokens!;
    // The system prompt and the first question at least (the reply renders differently once it
    // is history, so the cache serves up to where the two token sequences part).
    expect(reused).toBeGreaterThan(60);
    expect(reused).toBeLessThan(b.usage!.prompt_tokens);
    const bPlain = await ask(plain, second);
    expect(b.choices[0].message.content).toBe(bPlain.choices[0].message.content);
    expect(bPlain.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    // The same request again: everything but the last prompt token comes from the cache.
    const c = await ask(cached, second);
    expect(c.usage!.prompt_tokens_details!.cached_tokens).toBe(b.usage!.prompt_tokens - 1);
    expect(c.choices[0].message.content).toBe(bPlain.choices[0].message.content);
    expect(cached.stats.prefixCache.entries).toBeLessThanOrEqual(4);
    expect(plain.stats.prefixCache).toEqual({ entries: 0, bytes: 0 });
  });
});

describe('prefill groups', () => {
  it('prefills prompts of similar lengths together and keeps long ones from padding short ones', async () => {
    const { similarLengths } = await import('../src/prefill.js');
    const rows = [5, 2048, 40, 2000, 38, 36].map((n) => ({ prompt: new Array<number>(n).fill(1) }));
    const groups = similarLengths(rows).map((g) => g.map((r) => r.prompt.length));
    expect(groups).toEqual([[2048, 2000], [40, 38, 36], [5]]);
    expect(similarLengths([])).toEqual([]);
  });
});
