// Checkpoints: atomic folders, rotation, finding them again, and exact resumption (the steps
// after a resume are the uninterrupted run's, number for number, on the CPU).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { Qwen3 } from '@mlxn/models-qwen3';
import { afterAll, describe, expect, it } from 'vitest';
import { onCpuDevice } from '../../../tooling/test-support/devices.mjs';
import {
  GRPOTrainer,
  type LogRecord,
  latestCheckpoint,
  listCheckpoints,
  readMetrics,
  readTrainerState,
  resolveCheckpoint,
  TRAINER_STATE_FILE,
  writeCheckpoint,
} from '../src/index.js';
import { arithmeticRecords, cleanup, lowTokenShare, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

const state = (globalStep: number) => ({
  globalStep,
  epoch: 0,
  numInputTokensSeen: 0,
  dataset: null,
  rng: { seed: 1, counter: globalStep },
  microStep: globalStep,
  trainer: 'test',
});

describe('checkpoint folders', () => {
  it('writes checkpoint-N atomically and keeps the newest saveTotalLimit', async () => {
    const out = tempDir();
    for (const step of [1, 2, 3, 4]) {
      await writeCheckpoint(out, state(step), (tmp) => writeFileSync(join(tmp, 'weights.bin'), String(step)), { saveTotalLimit: 2 });
    }
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([3, 4]);
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(latestCheckpoint(out)).toBe(join(out, 'checkpoint-4'));
    expect(readTrainerState(join(out, 'checkpoint-4')).globalStep).toBe(4);
  });

  it('leaves nothing behind when the writer fails, and keeps the previous checkpoint', async () => {
    const out = tempDir();
    await writeCheckpoint(out, state(5), () => {});
    await expect(
      writeCheckpoint(out, state(6), () => {
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(readdirSync(out)).toEqual(['checkpoint-5']);
  });

  it('orders by step number, ignores unfinished folders, and resolves resumeFromCheckpoint', async () => {
    const out = tempDir();
    for (const step of [9, 10]) await writeCheckpoint(out, state(step), () => {});
    mkdirSync(join(out, 'checkpoint-11')); // no trainer state: unfinished
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([9, 10]);
    expect(resolveCheckpoint(true, out)).toBe(join(out, 'checkpoint-10'));
    expect(resolveCheckpoint(join(out, 'checkpoint-9'), out)).toBe(join(out, 'checkpoint-9'));
    expect(resolveCheckpoint(null, out)).toBeNull();
    expect(() => resolveCheckpoint(true, tempDir())).toThrow(/no valid checkpoint/);
    expect(() => resolveCheckpoint(join(out, 'checkpoint-11'), out)).toThrow(/not a finished checkpoint/);
    expect(() => resolveCheckpoint(join(out, 'nope'), out)).toThrow(/not a folder/);
    writeFileSync(join(out, 'checkpoint-10', TRAINER_STATE_FILE), '{"globalStep": -1}');
    expect(() => readTrainerState(join(out, 'checkpoint-10'))).toThrow(/invalid trainer state/);
  });
});

async function run(config: Record<string, unknown>, logs: LogRecord[]) {
  const model = await tinyModel();
  const trainer = new GRPOTrainer({
    model,
    rewardFuncs: [lowTokenShare],
    trainDataset: arithmeticRecords(12),
    config: {
      numGenerations: 4,
      perDeviceTrainBatchSize: 4,
      maxCompletionLength: 5,
      learningRate: 5e-3,
      lrSchedulerType: 'linear',
      warmupSteps: 1,
      weightDecay: 0.01,
      lossType: 'grpo',
      loggingSteps: 1,
      bf16: false,
      gradientCheckpointing: false,
      seed: 7,
      ...config,
    },
    onLog: (r) => logs.push(r),
  });
  await trainer.train();
  return { model, trainer };
}

const weightsOf = (m: Qwen3) => m.namedParameters().map(([k, a]) => [k, Array.from(a.dataSync() as Float32Array)] as const);

describe('resuming', () => {
  for (const [name, extra, saveAt] of [
    ['at a generation boundary, with numIterations 2', { numIterations: 2, stepsPerGeneration: 1 }, 2],
    ['in the middle of a buffered generation (stepsPerGeneration 2)', { stepsPerGeneration: 2 }, 1],
    ['with LoRA adapters and a KL term', { lora: { rank: 4, alpha: 8 }, beta: 0.05, stepsPerGeneration: 2 }, 1],
  ] as const) {
    it(
      `continues exactly ${name}`,
      onCpuDevice(mx, async () => {
        const total = 4;
        const full: LogRecord[] = [];
        const a = await run({ ...extra, maxSteps: total, saveSteps: saveAt, outputDir: tempDir() }, full);
        const aDir = (a.trainer.config as { outputDir: string }).outputDir;
        const ckpt = join(aDir, `checkpoint-${saveAt}`);
        expect(existsSync(ckpt)).toBe(true);

        const resumed: LogRecord[] = [];
        const bDir = tempDir();
        const b = await run({ ...extra, maxSteps: total, saveSteps: 100, outputDir: bDir, resumeFromCheckpoint: ckpt }, resumed);
        expect(resumed.map((r) => r.step)).toEqual(full.slice(saveAt).map((r) => r.step));
        resumed.forEach((r, i) => {
          const f = full[saveAt + i];
          for (const key of ['loss', 'reward', 'grad_norm', 'learning_rate', 'entropy', 'completions/mean_length'])
            expect(r[key], `${key} at step ${r.step}`).toBe(f[key]);
        });
        expect(weightsOf(b.model)).toEqual(weightsOf(a.model));
        expect(readMetrics(join(bDir, 'metrics.jsonl')).map((r) => r.step)).toEqual(resumed.map((r) => r.step));
      }),
      120_000,
    );
  }

  it('resumes from the newest checkpoint with resumeFromCheckpoint: true, dropping log lines past it', async () => {
    const out = tempDir();
    const first: LogRecord[] = [];
    await run({ maxSteps: 3, saveSteps: 2, saveTotalLimit: 1, outputDir: out }, first);
    // The run's end saved checkpoint-3 and rotation kept only it.
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([3]);
    const again: LogRecord[] = [];
    await run({ maxSteps: 4, saveSteps: 100, outputDir: out, resumeFromCheckpoint: true }, again);
    expect(again.map((r) => r.step)).toEqual([4]);
    expect(readMetrics(join(out, 'metrics.jsonl')).map((r) => r.step)).toEqual([1, 2, 3, 4]);
  }, 120_000);

  it('writes checkpoints that Qwen3.load reads back (weights identical)', async () => {
    const out = tempDir();
    const { model } = await run({ maxSteps: 1, saveSteps: 1, outputDir: out }, []);
    const loaded = await Qwen3.load(join(out, 'checkpoint-1'), { truncatedVocab: true });
    expect(weightsOf(loaded)).toEqual(weightsOf(model));
    expect(loaded.tokenizer).toBeDefined();
    expect(existsSync(join(out, 'checkpoint-1', 'trainer', 'optimizer.safetensors'))).toBe(true);
  }, 60_000);
});
