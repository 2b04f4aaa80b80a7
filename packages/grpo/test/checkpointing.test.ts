// gradientCheckpointing gives the gradients of the plain backward pass (GRPO and SFT losses, with
// and without LoRA, on the tied-embedding fixture); an AbortSignal stops between two steps and a
// checkpoint saved then resumes exactly; trainingLoss after a resume averages the whole run.
import * as mx from '@mlxn/core';
import { parseQwen3Config, Qwen3 } from '@mlxn/models-qwen3';
import { LoRALinear, type ParamDict } from '@mlxn/nn';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { onCpuDevice } from '../../../tooling/test-support/devices.mjs';
import { GRPOTrainer, type LogRecord, rolloutTensors, SFTTrainer, sftBatch, type TrainBatch } from '../src/index.js';
import { arithmeticRecords, cleanup, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

const LORA = { rank: 4, alpha: 8, targetModules: ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'] };

/** Gives LoRA's zero-initialised `loraB` values, so the adapters' `loraA` gets gradient too. */
function wakeAdapters(model: { modules(): unknown[] }): void {
  mx.random.seed(11);
  for (const m of model.modules()) if (m instanceof LoRALinear) m.loraB = mx.multiply(mx.random.normal(m.loraB.shape), 0.1);
}

function maxGradDiff(a: ParamDict, b: ParamDict): number {
  const fa = mx.treeFlattenWithPaths(a);
  const fb = new Map(mx.treeFlattenWithPaths(b));
  expect(fa.map(([p]) => p).sort()).toEqual([...fb.keys()].sort());
  let worst = 0;
  for (const [p, g] of fa)
    worst = Math.max(
      worst,
      mx.tidy(() => mx.max(mx.abs(mx.subtract(g, fb.get(p)!))).item() as number),
    );
  return worst;
}

/**
 * Runs `lossAndGrad` with checkpointing off and on (the same trainer, the same batch), checking
 * which path ran: the plain one calls `model.hidden`, the checkpointed one walks the layers itself.
 */
function bothWays<T extends { loss: number; grads: ParamDict }>(
  model: { hidden: unknown },
  config: { gradientCheckpointing: boolean },
  run: () => T,
): [T, T] {
  const hidden = vi.spyOn(model as { hidden: () => mx.Array }, 'hidden');
  config.gradientCheckpointing = false;
  const plain = run();
  expect(hidden).toHaveBeenCalledTimes(1);
  config.gradientCheckpointing = true;
  const ckpt = run();
  expect(hidden).toHaveBeenCalledTimes(1);
  hidden.mockRestore();
  return [plain, ckpt];
}

describe('gradientCheckpointing', () => {
  for (const lora of [null, LORA]) {
    for (const lossType of ['dapo', 'grpo'] as const) {
      it(`GRPO loss (${lossType}, beta 0.04${lora ? ', LoRA' : ''}): the same loss and gradients`, async () => {
        const model = await tinyModel();
        expect(model.lmHead).toBeUndefined(); // tied: the table gets gradient from the lookup and the head
        const trainer = new GRPOTrainer({
          model,
          rewardFuncs: [() => [0]],
          trainDataset: arithmeticRecords(4),
          config: { numGenerations: 2, perDeviceTrainBatchSize: 4, bf16: false, beta: 0.04, lossType, lora, outputDir: tempDir() },
        });
        if (lora) wakeAdapters(model);
        const t = rolloutTensors(
          [
            [10, 11, 12, 13],
            [14, 15],
          ],
          [
            [20, 21, 22, 2],
            [23, 24],
          ],
          [false, true],
          { padTokenId: 0 },
        );
        mx.random.seed(3);
        const batch: TrainBatch = {
          inputIds: t.inputIds,
          attentionMask: t.attentionMask,
          completionMask: t.completionMask,
          promptLength: t.promptLength,
          advantages: mx.array([0.7, -1.2], 'float32'),
          oldLogprobs: mx.subtract(mx.multiply(mx.random.uniform(0, 1, t.completionMask.shape), 0.2), 3),
          refLogprobs: mx.subtract(mx.multiply(mx.random.uniform(0, 1, t.completionMask.shape), 0.2), 3.1),
          numItemsInBatch: 6,
          tokens: 12,
        };
        const [plain, ckpt] = bothWays(model, trainer.config, () => trainer.lossAndGrad(batch));
        expect(Math.abs(plain.loss - ckpt.loss)).toBeLessThanOrEqual(1e-6);
        for (const [k, v] of Object.entries(plain.metrics)) expect(ckpt.metrics[k], k).toBeCloseTo(v, 6);
        expect(maxGradDiff(plain.grads, ckpt.grads)).toBeLessThanOrEqual(1e-5);
        const paths = mx.treeFlattenWithPaths(ckpt.grads).map(([p]) => p);
        if (lora) expect(paths.every((p) => /lora[AB]$/.test(p))).toBe(true);
        else expect(paths).toContain('model.embedTokens.weight');
      });
    }
  }

  for (const lora of [null, LORA]) {
    it(`SFT loss${lora ? ' with LoRA' : ''} (padded rows): the same loss and gradients`, async () => {
      const model = await tinyModel();
      const trainer = new SFTTrainer({
        model,
        trainDataset: arithmeticRecords(6).map((r) => ({ prompt: r.prompt, completion: ` ${r.answer}` })),
        config: { bf16: false, eosToken: '#', lora, outputDir: tempDir() },
      });
      if (lora) wakeAdapters(model);
      const batch = sftBatch(
        trainer.examples.slice(0, 4).map((e, i) => [i === 1 ? { ids: e.ids.slice(0, 4), lossMask: e.lossMask.slice(0, 4) } : e]),
        0,
      );
      expect(batch.attention).not.toBeNull();
      const [plain, ckpt] = bothWays(model, trainer.config, () => trainer.lossAndGrad(batch));
      expect(Math.abs(plain.loss - ckpt.loss)).toBeLessThanOrEqual(1e-6);
      expect(maxGradDiff(plain.grads, ckpt.grads)).toBeLessThanOrEqual(1e-5);
    });
  }
});

describe('gradientCheckpointing with bf16', () => {
  it('differentiates the bfloat16 copies as the plain path does', async () => {
    const model = await tinyModel();
    const trainer = new SFTTrainer({
      model,
      trainDataset: arithmeticRecords(4).map((r) => ({ prompt: r.prompt, completion: ` ${r.answer}` })),
      config: { bf16: true, eosToken: '#', outputDir: tempDir() },
    });
    const batch = sftBatch(
      trainer.examples.map((e) => [e]),
      0,
    );
    const [plain, ckpt] = bothWays(model, trainer.config, () => trainer.lossAndGrad(batch));
    expect(Math.abs(plain.loss - ckpt.loss)).toBeLessThanOrEqual(1e-6);
    for (const [, g] of mx.treeFlattenWithPaths(ckpt.grads)) expect(g.dtype).toBe('bfloat16');
    expect(maxGradDiff(plain.grads, ckpt.grads)).toBeLessThanOrEqual(1e-2);
    expect(mx.treeFlatten(model.parameters()).every((p) => p.dtype === 'float32')).toBe(true);
  });
});

describe('gradientCheckpointing memory', () => {
  it('lowers the memory peak of an SFT step on a deeper model with long rows', async () => {
    const tokenizer = (await tinyModel()).tokenizer;
    mx.random.seed(5);
    const model = new Qwen3(
      parseQwen3Config({
        model_type: 'qwen3',
        vocab_size: 512,
        hidden_size: 64,
        intermediate_size: 512,
        num_hidden_layers: 6,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 16,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        eos_token_id: 2,
      }),
      { tokenizer },
    );
    mx.eval(model.parameters());
    const trainer = new SFTTrainer({ model, trainDataset: [{ text: '1+1=2' }], config: { bf16: false, outputDir: tempDir() } });
    const row = (seed: number) => Array.from({ length: 256 }, (_, i) => 3 + ((i * 131 + seed * 17) % 500));
    const batch = sftBatch([[{ ids: row(1), lossMask: row(1).map(() => 1) }], [{ ids: row(2), lossMask: row(2).map(() => 1) }]], 0);
    const peakOf = (): [number, ParamDict] => {
      mx.clearCache();
      const base = mx.memory().active;
      mx.resetPeakMemory();
      const { grads } = trainer.lossAndGrad(batch);
      return [mx.memory().peak - base, grads];
    };
    trainer.config.gradientCheckpointing = false;
    const [full, g1] = peakOf();
    trainer.config.gradientCheckpointing = true;
    const [ckpt, g2] = peakOf();
    expect(maxGradDiff(g1, g2)).toBeLessThanOrEqual(1e-5);
    expect(ckpt).toBeLessThan(full * 0.5);
    console.log(
      `SFT step peak above baseline: without checkpointing ${(full / 2 ** 20).toFixed(1)} MiB, with ${(ckpt / 2 ** 20).toFixed(1)} MiB`,
    );
  });
});

const sftRecords = Array.from({ length: 24 }, (_, i) => ({
  prompt: `${i % 10}+${(i * 7 + 3) % 10}=`,
  completion: ` ${(i % 10) + ((i * 7 + 3) % 10)}`,
}));

async function makeSft(config: Record<string, unknown>, logs: LogRecord[], onLog: (r: LogRecord) => void = () => {}) {
  const model = await tinyModel();
  return new SFTTrainer({
    model,
    trainDataset: sftRecords,
    config: {
      perDeviceTrainBatchSize: 4,
      learningRate: 1e-2,
      lrSchedulerType: 'linear',
      maxSteps: 6,
      loggingSteps: 1,
      saveSteps: 1000,
      eosToken: '#',
      bf16: false,
      seed: 5,
      ...config,
    },
    onLog: (r) => {
      logs.push(r);
      onLog(r);
    },
  });
}

describe('stopping and resuming', () => {
  it(
    'an abort from a timer stops after the current step; a checkpoint saved then resumes exactly, trainingLoss over the whole run',
    onCpuDevice(mx, async () => {
      const fullLogs: LogRecord[] = [];
      const full = await (await makeSft({ outputDir: tempDir() }, fullLogs)).train();

      // A timer armed during step 2 fires at the next event-loop turn the loop gives, between steps.
      const out = tempDir();
      const ac = new AbortController();
      let stepAtAbort = -1;
      const logs: LogRecord[] = [];
      const first = await makeSft({ outputDir: out }, logs, (r) => {
        if (r.step !== 2) return;
        setTimeout(() => {
          stepAtAbort = first.state.globalStep;
          ac.abort(new Error('stop requested'));
        }, 0);
      });
      await expect(first.train({ signal: ac.signal })).rejects.toThrow('stop requested');
      expect(stepAtAbort).toBeGreaterThanOrEqual(2);
      expect(first.state.globalStep).toBe(stepAtAbort); // the step in progress finished, no further one began
      expect(first.state.globalStep).toBeLessThan(6);
      const saved = await first.saveCheckpoint();

      const resumedLogs: LogRecord[] = [];
      const second = await makeSft({ outputDir: tempDir(), resumeFromCheckpoint: saved }, resumedLogs);
      const resumed = await second.train();
      expect(resumed.globalStep).toBe(6);
      expect(resumedLogs.map((r) => r.step)).toEqual(fullLogs.slice(stepAtAbort).map((r) => r.step));
      for (const [i, r] of resumedLogs.entries()) expect(r.loss, `loss at ${r.step}`).toBe(fullLogs[stepAtAbort + i].loss);
      // The mean over all six steps, not the resumed part's sum over the whole run.
      expect(resumed.trainingLoss).toBeCloseTo(full.trainingLoss, 6);
      const mean = fullLogs.reduce((s, r) => s + (r.loss as number), 0) / fullLogs.length;
      expect(full.trainingLoss).toBeCloseTo(mean, 6);
    }),
    90_000,
  );
});
