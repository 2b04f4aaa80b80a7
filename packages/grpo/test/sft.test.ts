// SFTTrainer: TRL's tokenization and loss masks, packing that leaves the loss unchanged,
// learning, and exact resumption.
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { afterAll, describe, expect, it } from 'vitest';
import { onCpuDevice } from '../../../tooling/test-support/devices.mjs';
import { type LogRecord, packExamples, parseSFTConfig, SFTTrainer, sftBatch, tokenizeSFTRecord } from '../src/index.js';
import { cleanup, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

// The fixture's vocabulary is 512 tokens: digits, '+', '=' and ' ' are inside it, and '#' (id 2)
// is its end-of-sequence token.
const EOS = '#';
const records = Array.from({ length: 24 }, (_, i) => {
  const a = i % 10;
  const b = (i * 7 + 3) % 10;
  return { prompt: `${a}+${b}=`, completion: ` ${a + b}` };
});

async function makeSft(config: Record<string, unknown> = {}, logs: LogRecord[] = []) {
  const model = await tinyModel();
  const trainer = new SFTTrainer({
    model,
    trainDataset: records,
    config: {
      perDeviceTrainBatchSize: 8,
      learningRate: 1e-2,
      lrSchedulerType: 'cosine',
      warmupRatio: 0.1,
      maxSteps: 6,
      loggingSteps: 1,
      saveSteps: 1000,
      outputDir: tempDir(),
      eosToken: EOS,
      bf16: false,
      seed: 5,
      ...config,
    },
    onLog: (r) => logs.push(r),
  });
  return { model, trainer };
}

describe('SFT data', () => {
  it('counts only completion tokens and appends the end-of-sequence token', async () => {
    const model = await tinyModel();
    const tok = model.tokenizer!;
    const ex = tokenizeSFTRecord(
      tok,
      { prompt: '3+4=', completion: ' 7' },
      { eosTokenId: 2, completionOnlyLoss: true, assistantOnlyLoss: false, maxLength: null },
    );
    const promptIds = tok.encode('3+4=', { addSpecialTokens: false });
    const completionIds = tok.encode(' 7', { addSpecialTokens: false });
    expect(ex.ids).toEqual([...promptIds, ...completionIds, 2]);
    expect(ex.lossMask).toEqual([...promptIds.map(() => 0), ...completionIds.map(() => 1), 1]);
    const all = tokenizeSFTRecord(
      tok,
      { prompt: '3+4=', completion: ' 7' },
      { eosTokenId: 2, completionOnlyLoss: false, assistantOnlyLoss: false, maxLength: 3 },
    );
    expect(all.ids).toEqual(ex.ids.slice(0, 3));
    expect(all.lossMask).toEqual([1, 1, 1]);
    expect(() =>
      tokenizeSFTRecord(tok, { nope: 1 } as never, { eosTokenId: 2, completionOnlyLoss: true, assistantOnlyLoss: false, maxLength: null }),
    ).toThrow(/prompt, completion/);
  });

  it('masks everything but the assistant turns with assistantOnlyLoss', async () => {
    const model = await tinyModel();
    const tok = model.tokenizer!;
    const messages = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ];
    const ex = tokenizeSFTRecord(
      tok,
      { messages },
      { eosTokenId: 151645, completionOnlyLoss: false, assistantOnlyLoss: true, maxLength: null },
    );
    const counted = ex.ids.filter((_, i) => ex.lossMask[i] === 1);
    expect(tok.decode(counted)).toContain('Hello');
    expect(tok.decode(counted)).not.toContain('Hi');
  });

  it('packs best-fit decreasing within maxLength, every example once', () => {
    const ex = (n: number) => ({ ids: Array.from({ length: n }, (_, i) => i + 1), lossMask: Array(n).fill(1) });
    const examples = [ex(5), ex(3), ex(7), ex(2), ex(4), ex(1)];
    const rows = packExamples(examples, 8);
    for (const r of rows) expect(r.reduce((n, e) => n + e.ids.length, 0)).toBeLessThanOrEqual(8);
    expect(rows.flat().length).toBe(examples.length);
    expect(rows.length).toBe(3); // 7+1, 5+3, 4+2
  });

  it('gives the same loss and gradients packed as unpacked', async () => {
    const { model, trainer } = await makeSft({ maxLength: 32 });
    const examples = trainer.examples.slice(0, 6);
    const numItems = examples.reduce((n, e) => n + e.lossMask.slice(1).filter((m) => m === 1).length, 0);
    const plain = trainer.lossAndGrad(
      sftBatch(
        examples.map((e) => [e]),
        0,
      ),
      numItems,
    );
    const packedRows = packExamples(examples, 32);
    expect(packedRows.length).toBeLessThan(examples.length);
    const packed = trainer.lossAndGrad(sftBatch(packedRows, 0), numItems);
    expect(packed.loss).toBeCloseTo(plain.loss, 5);
    const a = mx.treeFlattenWithPaths(plain.grads);
    const b = new Map(mx.treeFlattenWithPaths(packed.grads));
    for (const [k, g] of a) expect(mx.allclose(g, b.get(k)!, { atol: 1e-5, rtol: 1e-4 }).item(), k).toBe(true);
    void model;
  });
});

describe('SFTTrainer', () => {
  it('lowers the loss and logs TRL’s metrics', async () => {
    const logs: LogRecord[] = [];
    const { trainer } = await makeSft({ maxSteps: 8 }, logs);
    await trainer.train();
    expect(logs).toHaveLength(8);
    expect(logs[7].loss as number).toBeLessThan((logs[0].loss as number) * 0.7);
    for (const key of [
      'loss',
      'grad_norm',
      'learning_rate',
      'mean_token_accuracy',
      'entropy',
      'num_tokens',
      'step_time',
      'tokens_per_sec',
    ]) {
      expect(logs[0], key).toHaveProperty(key);
    }
    // Warmup: the first update uses learning rate 0 (HF's schedule).
    expect(logs[0].learning_rate).toBe(0);
  });

  it('packs when asked and trains on the packed rows', async () => {
    const { trainer } = await makeSft({ packing: true, maxLength: 24, maxSteps: 2, perDeviceTrainBatchSize: 2 });
    expect(trainer.rows.length).toBeLessThan(records.length);
    const r = await trainer.train();
    expect(r.globalStep).toBe(2);
  });

  it(
    'resumes exactly from a checkpoint',
    onCpuDevice(mx, async () => {
      const full: LogRecord[] = [];
      const out = tempDir();
      const a = await makeSft(
        { maxSteps: 5, saveSteps: 2, outputDir: out, gradientAccumulationSteps: 2, perDeviceTrainBatchSize: 4 },
        full,
      );
      await a.trainer.train();
      const resumed: LogRecord[] = [];
      const b = await makeSft(
        {
          maxSteps: 5,
          outputDir: tempDir(),
          gradientAccumulationSteps: 2,
          perDeviceTrainBatchSize: 4,
          resumeFromCheckpoint: join(out, 'checkpoint-2'),
        },
        resumed,
      );
      await b.trainer.train();
      expect(resumed.map((r) => r.step)).toEqual([3, 4, 5]);
      resumed.forEach((r, i) => {
        for (const key of ['loss', 'grad_norm', 'learning_rate', 'mean_token_accuracy'])
          expect(r[key], `${key} at ${r.step}`).toBe(full[2 + i][key]);
      });
    }),
    90_000,
  );

  it('rejects invalid options with a message naming them', () => {
    expect(() => parseSFTConfig({ maxLength: -1 })).toThrow(/maxLength/);
    expect(() => parseSFTConfig({ notAnOption: 1 } as never)).toThrow(/notAnOption|Unrecognized/);
  });
});
