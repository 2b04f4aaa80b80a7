// End to end on the tiny fixture: GRPO raises the mean reward of a task the model can learn
// (the share of completion tokens from the low quarter of the vocabulary, ids below 128).

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GRPOTrainer, readMetrics } from '../src/index.js';
import { arithmeticRecords, cleanup, lowTokenShare, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

describe('GRPO end to end', () => {
  it('raises the mean reward over a few steps', async () => {
    const model = await tinyModel();
    const out = tempDir();
    const rewards: number[] = [];
    const trainer = new GRPOTrainer({
      model,
      rewardFuncs: [lowTokenShare],
      trainDataset: arithmeticRecords(32),
      config: {
        numGenerations: 8,
        perDeviceTrainBatchSize: 32,
        maxCompletionLength: 8,
        learningRate: 1e-2,
        lrSchedulerType: 'constant',
        maxSteps: 8,
        loggingSteps: 1,
        saveSteps: 1000,
        outputDir: out,
        bf16: false,
        gradientCheckpointing: false,
        seed: 3,
      },
      onLog: (r) => rewards.push(r.reward as number),
    });
    const result = await trainer.train();
    expect(result.globalStep).toBe(8);
    expect(rewards).toHaveLength(8);
    const first = (rewards[0] + rewards[1]) / 2;
    const last = (rewards[6] + rewards[7]) / 2;
    expect(last).toBeGreaterThan(first + 0.1);
    // The metrics file has one record per step with TRL's names.
    const records = readMetrics(join(out, 'metrics.jsonl'));
    expect(records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const key of [
      'loss',
      'reward',
      'reward_std',
      'rewards/lowTokenShare/mean',
      'rewards/lowTokenShare/std',
      'entropy',
      'completions/mean_length',
      'completions/clipped_ratio',
      'learning_rate',
      'grad_norm',
      'step_time',
      'tokens_per_sec',
      'clip_ratio/region_mean',
    ]) {
      expect(records[0], key).toHaveProperty(key);
    }
  }, 120_000);
});
