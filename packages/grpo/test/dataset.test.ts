import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  GenerationBatchSampler,
  isConversational,
  PromptDataset,
  parseGRPOConfig,
  seededPermutation,
  trainingPlan,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-dataset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PromptDataset', () => {
  it('keeps records and detects conversational prompts as TRL does', () => {
    const text = PromptDataset.fromRecords([
      { prompt: '2+2?', answer: '4' },
      { prompt: '3+3?', answer: '6' },
    ]);
    expect(text.conversational).toBe(false);
    expect(text.length).toBe(2);
    expect(text.get(1)).toEqual({ prompt: '3+3?', answer: '6' });
    expect(text.columns).toEqual(['prompt', 'answer']);
    const chat = PromptDataset.fromRecords([{ prompt: [{ role: 'user', content: 'hi' }] }]);
    expect(chat.conversational).toBe(true);
    expect(isConversational({ messages: [{ role: 'user', content: 'x' }] })).toBe(true);
    expect(isConversational({ prompt: 'x' })).toBe(false);
    expect(isConversational({ text: [{ role: 'user', content: 'x' }] })).toBe(false);
  });

  it('renames a custom prompt column to prompt', () => {
    const ds = PromptDataset.fromRecords([{ question: 'q', a: 1 }], { promptColumn: 'question' });
    expect(ds.get(0)).toEqual({ prompt: 'q', a: 1 });
  });

  it('rejects bad records with the record number', () => {
    expect(() => PromptDataset.fromRecords([])).toThrow(/empty/);
    expect(() => PromptDataset.fromRecords([{ prompt: 'a' }, { text: 'b' }])).toThrow('records: record 1: no "prompt" column');
    expect(() => PromptDataset.fromRecords([{ prompt: 'a' }, { prompt: [{ role: 'user', content: 'b' }] }])).toThrow(
      /record 1: mixes chat-message and plain-text prompts/,
    );
    expect(() => PromptDataset.fromRecords([{ prompt: [{ content: 'b' }] }])).toThrow(/message 0 needs a string "role"/);
    expect(() => PromptDataset.fromRecords([{ prompt: 5 }])).toThrow(DatasetError);
    expect(() => PromptDataset.fromRecords([{ prompt: 'a' }]).get(1)).toThrow(/out of range/);
  });

  it('reads JSONL with line-numbered errors', () => {
    const good = join(dir, 'good.jsonl');
    writeFileSync(good, '{"prompt": "a", "answer": 1}\n\n{"prompt": "b", "answer": 2}\n');
    const ds = PromptDataset.fromJsonl(good);
    expect(ds.length).toBe(2);
    expect(ds.get(1)).toEqual({ prompt: 'b', answer: 2 });
    expect(ds.source).toBe(good);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"prompt": "a"}\n{"prompt": "b"\n');
    expect(() => PromptDataset.fromJsonl(bad)).toThrow(new RegExp(`^${bad}:2: invalid JSON`));
    const arr = join(dir, 'arr.jsonl');
    writeFileSync(arr, '{"prompt": "a"}\n\n[1]\n');
    expect(() => PromptDataset.fromJsonl(arr)).toThrow(`${arr}:3: expected a JSON object (one record per line), got an array`);
    const noPrompt = join(dir, 'noprompt.jsonl');
    writeFileSync(noPrompt, '{"q": "a"}\n');
    expect(() => PromptDataset.fromJsonl(noPrompt)).toThrow(`${noPrompt}: record 0: no "prompt" column`);
    expect(() => PromptDataset.fromJsonl(join(dir, 'missing.jsonl'))).toThrow(/missing\.jsonl/);
  });
});

describe('seeded order and the generation-batch sampler', () => {
  it('permutations are seeded, pinned and differ per epoch', () => {
    const p = seededPermutation(10, 42, 0);
    expect(p).toEqual([9, 1, 4, 2, 8, 7, 6, 5, 3, 0]); // pinned in the Rust tests too: part of the resume contract
    expect([...p].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seededPermutation(10, 42, 1)).not.toEqual(p);
    expect(seededPermutation(10, 42, 0, false)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => seededPermutation(3, -1, 0)).toThrow(/seed/);
  });

  it("lays batches out like TRL's RepeatSampler: distinct prompts, each repeated numGenerations times, tail dropped", () => {
    const s = new GenerationBatchSampler(7, { numGenerations: 2, generationBatchSize: 6, seed: 1 });
    expect([s.promptsPerBatch, s.batchesPerEpoch]).toEqual([3, 2]);
    const order0 = seededPermutation(7, 1, 0);
    const b0 = s.next();
    expect(b0).toEqual({ epoch: 0, batch: 0, promptIndices: order0.slice(0, 3), indices: order0.slice(0, 3).flatMap((i) => [i, i]) });
    expect(s.next().promptIndices).toEqual(order0.slice(3, 6));
    // order0[6] is dropped (incomplete batch); the next epoch reshuffles.
    const b2 = s.next();
    expect([b2.epoch, b2.batch]).toEqual([1, 0]);
    expect(b2.promptIndices).toEqual(seededPermutation(7, 1, 1).slice(0, 3));
  });

  it('resumes from a saved position exactly where it stopped', () => {
    const opts = { numGenerations: 4, generationBatchSize: 8, seed: 7 };
    const full = new GenerationBatchSampler(10, opts);
    const reference = Array.from({ length: 9 }, () => full.next());
    const first = new GenerationBatchSampler(10, opts);
    for (let i = 0; i < 5; i++) first.next();
    const saved = JSON.parse(JSON.stringify(first.position()));
    const resumed = new GenerationBatchSampler(10, { ...opts, position: saved });
    expect(Array.from({ length: 4 }, () => resumed.next())).toEqual(reference.slice(5));
    expect(() => new GenerationBatchSampler(11, { ...opts, position: saved })).toThrow(/dataset size is 10 but now it is 11/);
    expect(() => new GenerationBatchSampler(10, { ...opts, seed: 8, position: saved })).toThrow(/seed/);
  });

  it('a position taken at the end of an epoch points at the next epoch', () => {
    const s = new GenerationBatchSampler(4, { numGenerations: 2, generationBatchSize: 4, seed: 0 });
    s.next();
    s.next();
    expect(s.position()).toMatchObject({ epoch: 1, batch: 0 });
  });

  it('checks its options', () => {
    expect(() => new GenerationBatchSampler(2, { numGenerations: 2, generationBatchSize: 6, seed: 0 })).toThrow(
      /fewer than one generation batch/,
    );
    expect(() => new GenerationBatchSampler(8, { numGenerations: 4, generationBatchSize: 6, seed: 0 })).toThrow(
      /multiple of numGenerations/,
    );
  });

  it("counts steps as HF's Trainer does over TRL's dataloader", () => {
    const config = parseGRPOConfig({
      numGenerations: 4,
      perDeviceTrainBatchSize: 4,
      gradientAccumulationSteps: 2,
      numIterations: 2,
      numTrainEpochs: 1.5,
    });
    // 2 prompts per generation batch of 8; 21 records → 10 batches; 10 × 2 iterations × 2 steps = 40 micro-steps.
    expect(trainingPlan(config, 21)).toEqual({
      promptsPerGenerationBatch: 2,
      generationBatchesPerEpoch: 10,
      microStepsPerEpoch: 40,
      optimizerStepsPerEpoch: 20,
      totalSteps: 30,
    });
    expect(trainingPlan({ ...config, maxSteps: 7 }, 21).totalSteps).toBe(7);
  });
});
