// The fixture written by tooling/reference/grpo_golden.py (TRL 1.16's definitions in numpy float64).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Matrix = number[][];
interface LossCase {
  name: string;
  config: Record<string, unknown>;
  useOld: boolean;
  mask: Matrix;
  loss: number;
  policyLoss: number;
  metrics: Record<string, number | null>;
  ga: number;
  numItemsInBatch: number | null;
  spg: number | null;
  grad?: Matrix;
}
export interface Golden {
  inputs: {
    logprobs: Matrix;
    oldLogprobs: Matrix;
    refLogprobs: Matrix;
    advantages: number[];
    completionMask: Matrix;
    entropy: Matrix;
    truncated: boolean[];
    maxCompletionLength: number;
  };
  losses: LossCase[];
  entropyMasks: Record<string, number[][]>;
  accumulation: {
    lossType: string;
    config: Record<string, unknown>;
    numItemsInBatch: number;
    halves: number[];
    accumulated: number;
    accumulatedGrad: Matrix;
    full: number;
    fullGrad: Matrix;
    equalsFullBatch: boolean;
  }[];
  advantages: {
    rewardsPerFunc: (number | null)[][];
    rewardWeights: number[];
    numGenerations: number;
    cases: {
      aggregation: 'sum_then_normalize' | 'normalize_then_sum';
      scaleRewards: 'group' | 'batch' | 'none';
      advantages: number[];
      metrics: {
        perFunction: { mean: number | null; std: number | null }[];
        reward: number;
        rewardStd: number;
        fracRewardZeroStd: number;
      };
    }[];
  };
  schedules: {
    lrSchedulerType: 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';
    warmupSteps: number;
    warmupRatio: number;
    learningRate: number;
    totalSteps: number;
    values: number[];
  }[];
}

export const golden: Golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/grpo_golden.json'), 'utf8'));

/** |a − b| ≤ atol + rtol·|b| elementwise, with a message naming the first mismatch. */
export function expectClose(actual: number[] | number, expected: number[] | number, rtol: number, atol: number, what: string): void {
  const a = typeof actual === 'number' ? [actual] : actual;
  const e = typeof expected === 'number' ? [expected] : expected;
  if (a.length !== e.length) throw new Error(`${what}: length ${a.length} ≠ ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = Number.isNaN(e[i]) ? Number.isNaN(a[i]) : Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]);
    if (!ok) throw new Error(`${what}[${i}]: got ${a[i]}, expected ${e[i]} (rtol ${rtol}, atol ${atol})`);
  }
}
