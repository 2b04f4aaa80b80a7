// What generation refuses instead of failing later or silently: a custom sampler or logits
// processor returning something it cannot use (an error naming it, not an out-of-bounds gather
// or a wrong shape), and two generations writing one prompt cache at once.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { batchGenerate, generate } from '../src/index.js';
import { tinyQwen3 } from './generate-helpers.js';

describe('custom samplers and logits processors are checked', () => {
  const model = tinyQwen3(1);
  const vocab = model.config.vocabSize;

  it('rejects a sampled id outside the vocabulary (generate and batchGenerate)', async () => {
    const outside = () => mx.array([vocab + 5], 'int32');
    await expect(model.generate([1, 2, 3], { maxTokens: 3, sampler: outside })).rejects.toThrow(
      /sampler returned token id \d+, outside the vocabulary \[0, 151936\)/,
    );
    const rows = (lp: mx.Array) => mx.full([lp.shape[0]], -1, 'int32');
    await expect(
      model.batchGenerate(
        [
          [1, 2],
          [3, 4],
        ],
        { maxTokens: 3, sampler: rows },
      ),
    ).rejects.toThrow(/sampler returned token id -1/);
  });

  it('names the caller: the Qwen3 method, the free function, or what the caller passes', async () => {
    const outside = () => mx.array([vocab + 5], 'int32');
    await expect(model.generate([1, 2, 3], { maxTokens: 2, sampler: outside })).rejects.toThrow(/^Qwen3\.generate: sampler returned/);
    await expect(generate(model, [1, 2, 3], { maxTokens: 2, sampler: outside })).rejects.toThrow(/^generate: sampler returned/);
    await expect(generate(model, [1, 2, 3], { maxTokens: 2, sampler: outside }, 'my-app')).rejects.toThrow(/^my-app: sampler returned/);
    const rows = (lp: mx.Array) => mx.full([lp.shape[0]], -1, 'int32');
    await expect(model.batchGenerate([[1, 2]], { maxTokens: 2, sampler: rows })).rejects.toThrow(/^Qwen3\.batchGenerate: sampler returned/);
    await expect(batchGenerate(model, [[1, 2]], { maxTokens: 2, sampler: rows })).rejects.toThrow(/^batchGenerate: sampler returned/);
  });

  it('rejects token ids of the wrong shape or dtype', async () => {
    await expect(model.generate([1, 2, 3], { maxTokens: 2, sampler: () => mx.array([[1, 2]], 'int32') })).rejects.toThrow(
      /sampler returned token ids of shape \[1, 2\]/,
    );
    await expect(model.generate([1, 2, 3], { maxTokens: 2, sampler: () => mx.array([1.5]) })).rejects.toThrow(/not an integer type/);
  });

  it('rejects a logits processor that changes the shape', async () => {
    const truncate = (_t: unknown, logits: mx.Array) => logits.index(mx.sl(), mx.sl(0, 10));
    await expect(model.generate([1, 2, 3], { maxTokens: 2, logitsProcessors: [truncate] })).rejects.toThrow(
      /logits processor returned logits of shape \[1, 10\]/,
    );
  });

  it('leaves valid custom samplers alone', async () => {
    const r = await model.generate([1, 2, 3], { maxTokens: 4, sampler: (lp) => mx.argmax(lp, -1) });
    const greedy = await model.generate([1, 2, 3], { maxTokens: 4 });
    expect(r.tokens).toEqual(greedy.tokens);
  });
});

describe('a prompt cache shared by two generations at once', () => {
  const model = tinyQwen3(2);

  it('is an error for the second, and free again once the first ends', async () => {
    const cache = model.makeCache();
    const first = model.stream([1, 2, 3], { maxTokens: 8, promptCache: cache });
    const it1 = first[Symbol.asyncIterator]();
    await it1.next(); // the first generation is writing the cache now
    expect(() => model.stream([1, 2, 3, 4], { maxTokens: 4, promptCache: cache })).toThrow(/promptCache is in use by another generation/);
    await expect(model.generate([5, 6], { maxTokens: 2, promptCache: cache })).rejects.toThrow(/in use/);
    await it1.return?.(undefined);
    const again = await model.generate([1, 2, 3, 4], { maxTokens: 2, promptCache: cache });
    expect(again.usage.cachedPromptTokens).toBeGreaterThan(0);
    for (const c of cache) c.dispose();
  });
});

describe('a seed makes its request reproducible whatever else runs', () => {
  const model = tinyQwen3(3);
  const options = { maxTokens: 12, temperature: 1.5 };

  it('gives the same tokens alone and interleaved with another seeded stream and global draws', async () => {
    const alone = (await model.generate([1, 2, 3], { ...options, seed: 11 })).tokens;
    const other = (await model.generate([4, 5], { ...options, seed: 12 })).tokens;
    expect(alone).not.toEqual(other);
    const a = model.stream([1, 2, 3], { ...options, seed: 11 })[Symbol.asyncIterator]();
    const b = model.stream([4, 5], { ...options, seed: 12 })[Symbol.asyncIterator]();
    const ta: number[] = [];
    const tb: number[] = [];
    for (let i = 0; i < 12; i++) {
      const [ra, rb] = [await a.next(), await b.next()];
      mx.random.uniform(0, 1, [3]).dispose(); // someone else drawing from the global sequence
      if (!ra.done && ra.value.token !== null) ta.push(ra.value.token);
      if (!rb.done && rb.value.token !== null) tb.push(rb.value.token);
    }
    expect(ta).toEqual(alone);
    expect(tb).toEqual(other);
  });

  it('leaves the global sequence alone and batches are reproducible too', async () => {
    mx.random.seed(5);
    const expected = mx.random.uniform(0, 1, [4]).tolist();
    mx.random.seed(5);
    const first = await model.batchGenerate(
      [
        [1, 2],
        [3, 4],
      ],
      { ...options, seed: 9 },
    );
    expect(mx.random.uniform(0, 1, [4]).tolist()).toEqual(expected);
    const second = await model.batchGenerate(
      [
        [1, 2],
        [3, 4],
      ],
      { ...options, seed: 9 },
    );
    expect(second.map((r) => r.tokens)).toEqual(first.map((r) => r.tokens));
  });
});
