// The single-process side of data-parallel training: the `distributed` option, the generation
// batch TRL derives for N processes, and the number of processes a checkpoint records.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { afterAll, describe, expect, it } from 'vitest';
import { GRPOTrainer, parseGRPOConfig, SFTTrainer } from '../src/index.js';
import { arithmeticRecords, cleanup, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

const reward = ({ completions }: { completions: string[] }) => completions.map((c) => c.length / 10);

describe('data-parallel options, alone', () => {
  it('derives the generation batch for N processes as TRL does, with its divisibility errors', () => {
    const c = parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 2, gradientAccumulationSteps: 3 }, { numProcesses: 2 });
    expect([c.generationBatchSize, c.stepsPerGeneration]).toEqual([12, 3]);
    expect(
      parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 2, generationBatchSize: 8 }, { numProcesses: 2 }).stepsPerGeneration,
    ).toBe(2);
    expect(() => parseGRPOConfig({ numGenerations: 2, perDeviceTrainBatchSize: 2, generationBatchSize: 6 }, { numProcesses: 2 })).toThrow(
      /generationBatchSize \(6\) must be divisible by the global batch size perDeviceTrainBatchSize × processes \(2 × 2 = 4\)/,
    );
    expect(() => parseGRPOConfig({}, { numProcesses: 0 })).toThrow(/numProcesses must be a positive integer, got 0/);
    // One process: what it always was.
    expect(parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 2, gradientAccumulationSteps: 2 }).generationBatchSize).toBe(4);
  });

  it('trains alone outside a job, with distributed: false, or with a group of one; rejects anything else', async () => {
    const model = await tinyModel();
    const make = (distributed: unknown) =>
      new GRPOTrainer({
        model,
        rewardFuncs: [reward as never],
        trainDataset: arithmeticRecords(2),
        config: { numGenerations: 2, perDeviceTrainBatchSize: 2 },
        distributed: distributed as never,
      });
    for (const d of [undefined, false, mx.distributed.init()]) expect(make(d).dataParallel).toBe(null);
    expect(() => make({ rank: 0, size: 2 })).toThrow(
      /GRPOTrainer: distributed must be an mx.distributed group \(mx.distributed.init\(\)\) or false/,
    );
    expect(() => new SFTTrainer({ model, trainDataset: [{ text: '1+1=2' }], distributed: 'ring' as never })).toThrow(
      /SFTTrainer: distributed must be/,
    );
  });

  it('a checkpoint records the number of processes that wrote it; resuming with another number is an error', async () => {
    const out = tempDir();
    const config = { numGenerations: 2, perDeviceTrainBatchSize: 2, maxSteps: 1, bf16: false, outputDir: out, maxCompletionLength: 4 };
    const first = new GRPOTrainer({ model: await tinyModel(), rewardFuncs: [reward as never], trainDataset: arithmeticRecords(2), config });
    await first.train();
    const statePath = join(out, 'checkpoint-1', 'trainer_state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(state.extra.numProcesses).toBeUndefined(); // alone: as before
    const resume = async () =>
      new GRPOTrainer({
        model: await tinyModel(),
        rewardFuncs: [reward as never],
        trainDataset: arithmeticRecords(2),
        config: { ...config, maxSteps: 2 },
      }).loadCheckpoint(join(out, 'checkpoint-1'));
    state.extra.numProcesses = 2;
    writeFileSync(statePath, JSON.stringify(state));
    await expect(resume()).rejects.toThrow(/written by a job of 2 process\(es\); resume it with the same number \(this run has 1\)/);
    state.extra.numProcesses = 0;
    writeFileSync(statePath, JSON.stringify(state));
    await expect(resume()).rejects.toThrow(/invalid trainer state.*extra\.numProcesses.*must be a positive integer, got 0/);
  });
});
