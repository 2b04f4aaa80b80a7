// A custom sampler or logits processor that returns something generation cannot use is an
// error naming it, instead of an out-of-bounds gather later or a silently wrong shape.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import '../src/methods.js';
import { tinyQwen3 } from './generate-helpers.js';

describe('custom samplers and logits processors are checked', () => {
  const model = tinyQwen3(1);
  const vocab = model.config.vocabSize;

  it('rejects a sampled id outside the vocabulary (generate and batchGenerate)', async () => {
    const outside = () => mx.array([vocab + 5], 'int32');
    await expect(model.generate([1, 2, 3], { maxTokens: 3, sampler: outside })).rejects.toThrow(/sampler returned token id \d+, outside the vocabulary \[0, 151936\)/);
    const rows = (lp: mx.Array) => mx.full([lp.shape[0]], -1, 'int32');
    await expect(model.batchGenerate([[1, 2], [3, 4]], { maxTokens: 3, sampler: rows })).rejects.toThrow(/sampler returned token id -1/);
  });

  it('rejects token ids of the wrong shape or dtype', async () => {
    await expect(model.generate([1, 2, 3], { maxTokens: 2, sampler: () => mx.array([[1, 2]], 'int32') })).rejects.toThrow(/sampler returned token ids of shape \[1, 2\]/);
    await expect(model.generate([1, 2, 3], { maxTokens: 2, sampler: () => mx.array([1.5]) })).rejects.toThrow(/not an integer type/);
  });

  it('rejects a logits processor that changes the shape', async () => {
    const truncate = (_t: unknown, logits: mx.Array) => logits.index(mx.sl(), mx.sl(0, 10));
    await expect(model.generate([1, 2, 3], { maxTokens: 2, logitsProcessors: [truncate] })).rejects.toThrow(/logits processor returned logits of shape \[1, 10\]/);
  });

  it('leaves valid custom samplers alone', async () => {
    const r = await model.generate([1, 2, 3], { maxTokens: 4, sampler: (lp) => mx.argmax(lp, -1) });
    const greedy = await model.generate([1, 2, 3], { maxTokens: 4 });
    expect(r.tokens).toEqual(greedy.tokens);
  });
});
