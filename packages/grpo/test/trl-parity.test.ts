// Parity with TRL 1.16's OWN code: the fixture holds what GRPOTrainer._compute_loss returned (loss,
// d loss / d log-probs, d loss / d entropies, logged metrics) micro-batch by micro-batch over
// accumulation windows, and what its advantage block computed, on fixed inputs
// (tooling/reference/grpo_trl_golden.py, which documents the grid). Every value is compared 1e-5
// relative; an element of a gradient relative to the largest element of its gradient. Losses that
// are small sums of cancelling terms also get an absolute floor: the loss runs once in float64 (on
// the CPU, where MLX has float64; its exp is float32-accurate, ~1e-7 relative, which leaves ~1e-8
// absolute in such a loss: floor 3e-8) and once in float32, the trainer's dtype (floor 5e-7).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { computeAdvantages, EntropyController, type GRPOConfig, grpoLoss, lossMetricsToNumbers, parseGRPOConfig } from '../src/index.js';

type Matrix = number[][];
interface Step {
  pool: number;
  numItemsInBatch: number;
  sync: boolean;
  loss: number;
  grad: Matrix;
  entropyGrad: Matrix | null;
  metrics: Record<string, number | null>;
}
interface LossCase {
  name: string;
  axes: Record<string, unknown> & { old: boolean };
  trl: Record<string, unknown>;
  steps: Step[];
  final: { entropyCoef: number; lastWorldEntropy: number | 'inf' };
}
interface AdvantageCase {
  name: string;
  rewards: (number | null)[][];
  names: string[];
  weights: number[] | null;
  numGenerations: number;
  scaleRewards: 'group' | 'batch' | 'none';
  multiObjectiveAggregation: 'sum_then_normalize' | 'normalize_then_sum';
  advantages: number[];
  metrics: Record<string, number | null>;
}
interface Fixture {
  versions: Record<string, string>;
  design: { axes: Record<string, unknown[]>; pairwiseCases: number; productCases: number };
  shape: [number, number];
  pool: { logprobs: Matrix; oldLogprobs: Matrix; refLogprobs: Matrix; entropy: Matrix; mask: Matrix; advantages: number[] }[];
  cases: LossCase[];
  advantages: AdvantageCase[];
}

const fx: Fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/grpo_trl_golden.json'), 'utf8'));
const RTOL = 1e-5;
const PASSES = [
  { dtype: 'float64', atol: 3e-8 },
  { dtype: 'float32', atol: 5e-7 },
] as const;
let DTYPE: 'float32' | 'float64' = 'float32';
let ATOL = 0;
mx.setDefaultDevice('cpu');

const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const arr = (m: Matrix | number[]) => mx.array(m as Matrix, { dtype: DTYPE });
const flat = (a: mx.Array) => (a.tolist() as Matrix).flat();

function close(actual: number, expected: number | null, what: string, scale = Math.abs(expected ?? 0)): void {
  if (expected === null) {
    expect(Number.isNaN(actual), `${what}: got ${actual}, TRL's is NaN`).toBe(true);
    return;
  }
  const tol = RTOL * Math.max(scale, Math.abs(expected)) + ATOL;
  if (!(Math.abs(actual - expected) <= tol)) throw new Error(`${what}: got ${actual}, TRL 1.16 gives ${expected} (tolerance ${tol})`);
}

function closeMatrix(actual: number[], expected: Matrix, what: string): void {
  const e = expected.flat();
  expect(actual.length).toBe(e.length);
  const scale = Math.max(...e.map(Math.abs));
  for (const [i, v] of e.entries()) close(actual[i], v, `${what}[${Math.floor(i / fx.shape[1])}][${i % fx.shape[1]}]`, scale);
}

/** The case's TRL options as our config (TRL's names in camelCase: unknown names would throw). */
function configFor(c: LossCase): GRPOConfig {
  const options = Object.fromEntries(Object.entries(c.trl).map(([k, v]) => [camel(k), v]));
  return parseGRPOConfig({ ...options, numGenerations: 2, perDeviceTrainBatchSize: fx.shape[0], maxCompletionLength: fx.shape[1] });
}

describe.each(PASSES)('grpoLoss against TRL 1.16 GRPOTrainer._compute_loss ($dtype)', ({ dtype, atol }) => {
  beforeEach(() => {
    DTYPE = dtype;
    ATOL = atol;
  });

  it('the fixture covers every value of every axis, pairwise, and was written by the pinned versions', () => {
    expect(fx.versions.trl).toBe('1.16.0');
    expect(fx.versions.transformers).toBe('5.17.0');
    expect(fx.versions.torch.startsWith('2.11.0')).toBe(true);
    for (const [axis, values] of Object.entries(fx.design.axes)) {
      for (const v of values) {
        expect(
          fx.cases.some((c) => JSON.stringify(c.axes[axis]) === JSON.stringify(v)),
          `${axis}=${JSON.stringify(v)}`,
        ).toBe(true);
      }
    }
    const axes = Object.keys(fx.design.axes);
    for (let i = 0; i < axes.length; i++) {
      for (let j = i + 1; j < axes.length; j++) {
        for (const a of fx.design.axes[axes[i]]) {
          for (const b of fx.design.axes[axes[j]]) {
            const hit = fx.cases.some(
              (c) => JSON.stringify(c.axes[axes[i]]) === JSON.stringify(a) && JSON.stringify(c.axes[axes[j]]) === JSON.stringify(b),
            );
            expect(hit, `${axes[i]}=${JSON.stringify(a)} with ${axes[j]}=${JSON.stringify(b)}`).toBe(true);
          }
        }
      }
    }
  });

  for (const c of fx.cases) {
    it(c.name, () => {
      const config = configFor(c);
      const ctl = new EntropyController(config);
      for (const [n, step] of c.steps.entries()) {
        const p = fx.pool[step.pool];
        const coef = ctl.applyCoef();
        const run = (logprobs: mx.Array, entropy: mx.Array) =>
          grpoLoss({
            logprobs,
            entropy,
            oldLogprobs: c.axes.old ? arr(p.oldLogprobs) : null,
            refLogprobs: config.beta !== 0 ? arr(p.refLogprobs) : null,
            advantages: arr(p.advantages),
            completionMask: arr(p.mask),
            config,
            entropyBonusCoef: coef,
            gradientAccumulationSteps: config.gradientAccumulationSteps,
            stepsPerGeneration: config.stepsPerGeneration,
            numItemsInBatch: step.numItemsInBatch,
          });
        const lp = arr(p.logprobs);
        const ent = arr(p.entropy);
        const [loss, [gLogprobs, gEntropy]] = mx.valueAndGrad((a: mx.Array, b: mx.Array) => run(a, b).loss, [0, 1])(lp, ent) as [
          mx.Array,
          mx.Array[],
        ];
        const what = `micro-batch ${n}`;
        close(Number(loss.item()), step.loss, `${what} loss`);
        closeMatrix(flat(gLogprobs), step.grad, `${what} d loss / d logprobs`);
        if (step.entropyGrad) closeMatrix(flat(gEntropy), step.entropyGrad, `${what} d loss / d entropy`);
        else
          expect(
            flat(gEntropy).every((v) => v === 0),
            `${what}: TRL's loss does not depend on the entropies`,
          ).toBe(true);

        const r = run(lp, ent);
        const metrics = lossMetricsToNumbers(r.metrics);
        if (r.entropyStats) ctl.addMicroBatch(Number(r.entropyStats.sum.item()), Number(r.entropyStats.count.item()));
        if (step.sync) {
          const logged = ctl.endWindow();
          if (logged !== null) metrics.entropy_coef = logged;
        }
        expect(Object.keys(metrics).sort(), `${what} metric names`).toEqual(Object.keys(step.metrics).sort());
        for (const [k, v] of Object.entries(step.metrics)) close(metrics[k], v, `${what} ${k}`);
      }
      close(ctl.coef, c.final.entropyCoef, 'final entropy_coef');
      if (c.final.lastWorldEntropy === 'inf') expect(ctl.lastWorldEntropy).toBe(Number.POSITIVE_INFINITY);
      else close(ctl.lastWorldEntropy, c.final.lastWorldEntropy, 'final last_world_entropy');
    });
  }
});

describe('computeAdvantages against TRL 1.16 _generate_and_score_completions', () => {
  beforeEach(() => {
    ATOL = 0;
  });
  for (const c of fx.advantages) {
    it(c.name, () => {
      const r = computeAdvantages({
        rewardsPerFunc: c.rewards,
        rewardFuncNames: c.names,
        rewardWeights: c.weights,
        numGenerations: c.numGenerations,
        scaleRewards: c.scaleRewards,
        multiObjectiveAggregation: c.multiObjectiveAggregation,
      });
      // TRL computes rewards in float32; 1e-5 relative to the largest advantage.
      const scale = Math.max(...c.advantages.map((v) => Math.abs(v ?? 0)));
      for (const [i, v] of c.advantages.entries()) close(r.advantages[i], v, `advantage ${i}`, scale);
      expect(Object.keys(r.metrics).sort()).toEqual(Object.keys(c.metrics).sort());
      for (const [k, v] of Object.entries(c.metrics)) close(r.metrics[k], v, k);
    });
  }
});
