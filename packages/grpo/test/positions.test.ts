// Positions of left-padded prompts. TRL 1.16 is inconsistent here: generation (transformers'
// generate) gives each row mask-based positions (its first real token at 0), while
// `_get_per_token_logps_and_entropies` passes no position ids, so the scoring forward puts a row
// with p padding tokens at positions p, p+1, ... . @mlxn generates with per-row cache offsets
// (mask-based, as generate) and scores the padded batch with positions 0..T−1 and the padding keys
// masked; Qwen3's rotary embedding depends only on the distance between query and key, so both
// give the log-probabilities of the unpadded row, up to rounding. These tests hold the trainer's
// scoring path to the generation's own log-probabilities and to per-row unpadded scoring.
import * as mx from '@mlxn/core';
import { tokenLogprobs } from '@mlxn/models-qwen3';
import { afterAll, describe, expect, it } from 'vitest';
import { cutAtEos, rolloutTensors, trainBatchLogprobs } from '../src/index.js';
import { cleanup, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

describe('left-padded prompts: generation and scoring agree', () => {
  it('scores each completion as the generation produced it, however much its prompt was padded', async () => {
    const model = await tinyModel();
    const tok = model.tokenizer!;
    // Prompt lengths 2 … 13 tokens: the shortest row gets 11 padding tokens.
    const promptIds = ['7=', '3+4=', '12+34+56=', '1+2+3+4+5+6+7='].map((p) => tok.encode(p, { addSpecialTokens: false }));
    const lengths = promptIds.map((p) => p.length);
    expect(Math.max(...lengths) - Math.min(...lengths)).toBeGreaterThanOrEqual(8);
    const temperature = 0.8;
    const rows = await model.batchGenerate(promptIds, {
      maxTokens: 6,
      temperature,
      seed: 5,
      logprobs: true,
      includeStopToken: true,
      maxBatchSize: 4,
      prefillBatchSize: 4,
    });
    const eos = new Set(model.eosTokenIds);
    const completionIds = rows.map((r) => cutAtEos(r.tokens, eos).ids);
    const truncated = rows.map((r) => !cutAtEos(r.tokens, eos).ended);
    const t = rolloutTensors(promptIds, completionIds, truncated, { padTokenId: 0 });

    // The trainer's scoring path (one padded forward, positions 0..T−1).
    const scored = trainBatchLogprobs(model, t, { temperature }).logprobs.tolist() as number[][];
    completionIds.forEach((ids, i) => {
      const generated = rows[i].logprobs!.slice(0, ids.length);
      expect(generated.length).toBe(ids.length);
      for (let j = 0; j < ids.length; j++) expect(Math.abs(scored[i][j] - generated[j]), `row ${i} token ${j}`).toBeLessThan(2e-5);
      // The same row scored alone, without any padding.
      const alone = mx.array([[...promptIds[i], ...ids]], 'int32');
      const unpadded = tokenLogprobs(model, alone, { start: promptIds[i].length, temperature }).logprobs.tolist() as number[][];
      for (let j = 0; j < ids.length; j++)
        expect(Math.abs(scored[i][j] - unpadded[0][j]), `row ${i} token ${j} unpadded`).toBeLessThan(2e-5);
    });
  });
});
