import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { GRPOConfigError, grpoConfigWarnings, learningRateAt, learningRateSchedule, parseGRPOConfig } from '../src/index.js';
import { expectClose, golden } from './golden.js';

describe('parseGRPOConfig', () => {
  it("fills TRL 1.16's defaults", () => {
    const c = parseGRPOConfig();
    expect(c).toMatchObject({
      numGenerations: 8,
      perDeviceTrainBatchSize: 8,
      gradientAccumulationSteps: 1,
      generationBatchSize: 8,
      stepsPerGeneration: 1,
      maxCompletionLength: 512,
      maxPromptLength: null,
      temperature: 1,
      topP: 1,
      topK: 0,
      minP: null,
      repetitionPenalty: 1,
      learningRate: 1e-6,
      lrSchedulerType: 'linear',
      warmupRatio: 0,
      warmupSteps: 0,
      adamBeta1: 0.9,
      adamBeta2: 0.999,
      adamEpsilon: 1e-8,
      weightDecay: 0,
      maxGradNorm: 1,
      numIterations: 1,
      epsilon: 0.2,
      epsilonHigh: 0.2,
      delta: null,
      beta: 0,
      useBiasCorrectionKl: true,
      lossType: 'dapo',
      importanceSamplingLevel: 'token',
      sapoTemperatureNeg: 1.05,
      sapoTemperaturePos: 1,
      scaleRewards: 'group',
      multiObjectiveAggregation: 'sum_then_normalize',
      maskTruncatedCompletions: false,
      topEntropyQuantile: 1,
      numTrainEpochs: 3,
      maxSteps: -1,
      seed: 42,
      loggingSteps: 10,
      saveSteps: 500,
      saveTotalLimit: null,
      shuffleDataset: true,
      lora: null,
      gradientCheckpointing: true,
      bf16: true,
    });
  });

  it('maps scaleRewards booleans as TRL does', () => {
    expect(parseGRPOConfig({ scaleRewards: true }).scaleRewards).toBe('group');
    expect(parseGRPOConfig({ scaleRewards: false }).scaleRewards).toBe('none');
    expect(parseGRPOConfig({ scaleRewards: 'batch' }).scaleRewards).toBe('batch');
  });

  it('derives the generation batch from gradientAccumulationSteps, or either of the two', () => {
    const byGa = parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 4, gradientAccumulationSteps: 3 });
    expect([byGa.generationBatchSize, byGa.stepsPerGeneration]).toEqual([12, 3]);
    const bySize = parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 4, generationBatchSize: 16 });
    expect([bySize.generationBatchSize, bySize.stepsPerGeneration]).toEqual([16, 4]);
    const bySteps = parseGRPOConfig({ numGenerations: 2, perDeviceTrainBatchSize: 4, stepsPerGeneration: 2 });
    expect([bySteps.generationBatchSize, bySteps.stepsPerGeneration]).toEqual([8, 2]);
  });

  it('applies TRL’s divisibility rules with clear messages', () => {
    expect(() => parseGRPOConfig({ perDeviceTrainBatchSize: 4, generationBatchSize: 10, numGenerations: 2 })).toThrow(
      'generationBatchSize (10) must be divisible by the global batch size perDeviceTrainBatchSize (4).',
    );
    expect(() => parseGRPOConfig({ perDeviceTrainBatchSize: 4, numGenerations: 3 })).toThrow(
      /generationBatchSize \(4\) must be divisible by numGenerations \(3\)/,
    );
    expect(() => parseGRPOConfig({ generationBatchSize: 8, stepsPerGeneration: 1 })).toThrow(/cannot both be set/);
    expect(() => parseGRPOConfig({ numGenerations: 1, perDeviceTrainBatchSize: 4 })).toThrow(/at least 2 generations/);
  });

  it('rejects unknown keys and bad values, naming them', () => {
    expect(() => parseGRPOConfig({ numGeneration: 4 } as never)).toThrow(GRPOConfigError);
    expect(() => parseGRPOConfig({ numGeneration: 4 } as never)).toThrow(/numGeneration/);
    expect(() => parseGRPOConfig({ lossType: 'ppo' as never })).toThrow(/lossType/);
    expect(() => parseGRPOConfig({ topEntropyQuantile: 1.5 })).toThrow(/topEntropyQuantile/);
    expect(() => parseGRPOConfig({ temperature: 0 })).toThrow(/temperature/);
    expect(() => parseGRPOConfig({ lora: { rank: 0 } })).toThrow(/lora\.rank/);
  });

  it('resolves epsilonHigh and the LoRA scale', () => {
    expect(parseGRPOConfig({ epsilon: 0.1 }).epsilonHigh).toBe(0.1);
    expect(parseGRPOConfig({ epsilon: 0.1, epsilonHigh: 0.28 }).epsilonHigh).toBe(0.28);
    const lora = parseGRPOConfig({ lora: { rank: 16, alpha: 32 } }).lora!;
    expect(lora).toEqual({ rank: 16, alpha: 32, scale: 2, dropout: 0, targetModules: ['self_attn.q_proj', 'self_attn.v_proj'] });
    expect(parseGRPOConfig({ lora: { scale: 20 } }).lora!.scale).toBe(20);
  });
});

describe('grpoConfigWarnings', () => {
  it("repeats TRL's advice for sequence-level sampling with token-summing losses", () => {
    expect(grpoConfigWarnings(parseGRPOConfig({ importanceSamplingLevel: 'sequence', lossType: 'dapo' }))[0]).toMatch(
      /weighted by its length/,
    );
    expect(grpoConfigWarnings(parseGRPOConfig({ importanceSamplingLevel: 'sequence', lossType: 'grpo' }))).toEqual([]);
    expect(grpoConfigWarnings(parseGRPOConfig({ delta: 1.1 }))[0]).toMatch(/delta \(1.1\)/);
    expect(grpoConfigWarnings(parseGRPOConfig())).toEqual([]);
  });
});

describe('learning-rate schedules (HF get_scheduler)', () => {
  for (const s of golden.schedules) {
    it(`${s.lrSchedulerType}, warmupSteps ${s.warmupSteps}, warmupRatio ${s.warmupRatio}`, () => {
      const config = {
        learningRate: s.learningRate,
        lrSchedulerType: s.lrSchedulerType,
        warmupSteps: s.warmupSteps,
        warmupRatio: s.warmupRatio,
      };
      const exact = s.values.map((_, step) => learningRateAt(step, config, s.totalSteps));
      expectClose(exact, s.values, 1e-12, 0, 'learningRateAt');
      const schedule = learningRateSchedule(config, s.totalSteps);
      const viaMlx = s.values.map((_, step) => Number(schedule(step).item()));
      expectClose(viaMlx, s.values, 1e-6, 1e-6 * s.learningRate, 'learningRateSchedule'); // float32
    });
  }

  it('holds the final value past the end and checks its arguments', () => {
    const config = { learningRate: 1, lrSchedulerType: 'cosine' as const, warmupSteps: 0, warmupRatio: 0 };
    expect(learningRateAt(30, config, 20)).toBe(0);
    expect(Number(learningRateSchedule(config, 20)(mx.array(30, { dtype: 'uint64' })).item())).toBe(0);
    expect(() => learningRateAt(-1, config, 20)).toThrow(/step/);
    expect(() => learningRateAt(0, config, 0)).toThrow(/totalSteps/);
  });
});
