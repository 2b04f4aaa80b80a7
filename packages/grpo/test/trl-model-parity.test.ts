// GRPOTrainer.lossAndGrad through the tiny dense Qwen3 against TRL 1.16's own _compute_loss
// through the same weights in transformers (float64; tooling/reference/grpo_trl_golden.py):
// left-padded prompts, right-padded completions, sampling temperature 0.9. Compared: the
// per-token log-probabilities and entropies, the loss, the metrics, and per weight tensor three
// statistics of the gradient (Σg, Σ±g with a fixed sign pattern, Σg²). Our side runs twice: in
// float64 on the CPU (as TRL's reference did): 1e-5 relative; and in float32, the trainer's dtype,
// through two decoder layers: 3e-5 relative.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { GRPOTrainer, type TrainBatch, trainBatchLogprobs } from '../src/index.js';
import { arithmeticRecords, cleanup, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

type Matrix = number[][];
interface Stats {
  n: number;
  sum: number;
  dot: number;
  sq: number;
}
interface ModelCase {
  name: string;
  trl: Record<string, unknown>;
  useOld: boolean;
  loss: number;
  metrics: Record<string, number | null>;
  grads: Record<string, Stats>;
}
const fx: {
  versions: Record<string, string>;
  temperature: number;
  promptIds: Matrix;
  promptMask: Matrix;
  completionIds: Matrix;
  completionMask: Matrix;
  advantages: number[];
  oldLogprobs: Matrix;
  refLogprobs: Matrix;
  logprobs: Matrix;
  entropy: Matrix;
  cases: ModelCase[];
} = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/grpo_trl_model_golden.json'), 'utf8'));

// The float32 pass runs a few cases only (CI time): the code path is the same.
const FLOAT32_CASES = new Set(['dapo', 'vespo/offPolicyMask', 'grpo/ga=2/entropyCoef/gradientCheckpointing']);
const PASSES = [
  { dtype: 'float64', rtol: 1e-5, cases: fx.cases },
  { dtype: 'float32', rtol: 3e-5, cases: fx.cases.filter((c) => FLOAT32_CASES.has(c.name)) },
] as const;
let RTOL = 1e-5;
mx.setDefaultDevice('cpu'); // MLX has float64 on the CPU only

/** The tiny Qwen3 with its weights in `dtype`. */
async function modelIn(dtype: 'float32' | 'float64') {
  const model = await tinyModel();
  if (dtype === 'float64') model.update(mapArrays(model.parameters(), (a) => mx.astype(a, 'float64')) as never);
  return model;
}

function mapArrays(t: unknown, fn: (a: mx.Array) => mx.Array): unknown {
  if (t instanceof mx.Array) return fn(t);
  if (Array.isArray(t)) return t.map((v) => mapArrays(v, fn));
  if (t !== null && typeof t === 'object') return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, mapArrays(v, fn)]));
  return t;
}
const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const f32 = (m: Matrix | number[]) => mx.array(m as Matrix, { dtype: 'float32' });

function closeTo(actual: number, expected: number | null, scale: number, what: string): void {
  if (expected === null) {
    expect(Number.isNaN(actual), `${what}: got ${actual}, TRL's is NaN`).toBe(true);
    return;
  }
  const tol = RTOL * Math.max(scale, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol)) throw new Error(`${what}: got ${actual}, TRL 1.16 gives ${expected} (tolerance ${tol})`);
}

/** Σg, Σ sign(i)·g and Σg² of a gradient; sign(i) is the top bit of i · 2654435761 mod 2^32, as the script's. */
function stats(g: mx.Array): Stats {
  const v = Array.from(mx.astype(g, 'float32').dataSync() as Float32Array);
  let sum = 0;
  let dot = 0;
  let sq = 0;
  v.forEach((x, i) => {
    sum += x;
    dot += (Math.imul(i, 2654435761) >>> 31 ? -1 : 1) * x;
    sq += x * x;
  });
  return { n: v.length, sum, dot, sq };
}

function namedLeaves(tree: unknown, prefix = '', out: [string, mx.Array][] = []): [string, mx.Array][] {
  if (tree instanceof mx.Array) out.push([prefix, tree]);
  else if (Array.isArray(tree)) for (const [i, v] of tree.entries()) namedLeaves(v, prefix ? `${prefix}.${i}` : `${i}`, out);
  else if (tree !== null && typeof tree === 'object')
    for (const [k, v] of Object.entries(tree)) namedLeaves(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

const promptLength = fx.promptIds[0].length;
function batchFor(c: ModelCase, beta: number): TrainBatch {
  const ids = fx.promptIds.map((p, i) => [...p, ...fx.completionIds[i]]);
  const attention = fx.promptMask.map((p, i) => [...p, ...fx.completionMask[i]]);
  return {
    inputIds: mx.array(ids, { dtype: 'int32' }),
    attentionMask: f32(attention),
    completionMask: f32(fx.completionMask),
    promptLength,
    advantages: f32(fx.advantages),
    oldLogprobs: c.useOld ? f32(fx.oldLogprobs) : null,
    refLogprobs: beta !== 0 ? f32(fx.refLogprobs) : null,
    numItemsInBatch: fx.completionMask.flat().reduce((a, b) => a + b, 0),
    tokens: 0,
  };
}

describe.each(PASSES)('GRPOTrainer through the tiny Qwen3 against TRL 1.16 through transformers ($dtype)', ({ dtype, rtol, cases }) => {
  beforeEach(() => {
    RTOL = rtol;
  });

  it('scores the completions as TRL does (log-probabilities and entropies at the temperature)', async () => {
    const model = await modelIn(dtype);
    const ids = mx.array(
      fx.promptIds.map((p, i) => [...p, ...fx.completionIds[i]]),
      { dtype: 'int32' },
    );
    const attentionMask = f32(fx.promptMask.map((p, i) => [...p, ...fx.completionMask[i]]));
    const r = trainBatchLogprobs(model, { inputIds: ids, attentionMask, promptLength }, { temperature: fx.temperature, withEntropy: true });
    const mask = fx.completionMask.flat();
    const lp = (r.logprobs.tolist() as Matrix).flat().map((v, i) => v * mask[i]);
    const ent = (r.entropy!.tolist() as Matrix).flat().map((v, i) => v * mask[i]);
    for (const [i, v] of fx.logprobs.flat().entries()) closeTo(lp[i], v, 1, `logprob ${i}`);
    for (const [i, v] of fx.entropy.flat().entries()) closeTo(ent[i], v, 1, `entropy ${i}`);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const options = Object.fromEntries(Object.entries(c.trl).map(([k, v]) => [camel(k), v]));
      const model = await modelIn(dtype);
      const trainer = new GRPOTrainer({
        model,
        rewardFuncs: [() => [0, 0, 0, 0]],
        trainDataset: arithmeticRecords(4),
        config: {
          ...options,
          temperature: fx.temperature,
          numGenerations: 2,
          perDeviceTrainBatchSize: 4,
          maxCompletionLength: fx.completionIds[0].length,
          bf16: false,
          gradientCheckpointing: c.name.includes('gradientCheckpointing'),
          outputDir: tempDir(),
        },
      });
      const { loss, grads, metrics } = trainer.lossAndGrad(batchFor(c, trainer.config.beta));
      closeTo(loss, c.loss, 0, 'loss');
      const { entropy_coef: coef, ...trlMetrics } = c.metrics;
      expect(Object.keys(metrics).sort()).toEqual(Object.keys(trlMetrics).sort());
      for (const [k, v] of Object.entries(trlMetrics)) closeTo(metrics[k], v, 1e-3, k);
      if (coef !== undefined) expect(trainer.entropyControl.coef).toBe(coef);

      // Our parameter paths are camelCase (model.layers.0.selfAttn.qProj.weight); transformers' snake_case.
      const ours = new Map(namedLeaves(grads).map(([k, g]) => [k.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`), stats(g)]));
      expect([...ours.keys()].sort()).toEqual(Object.keys(c.grads).sort());
      for (const [name, e] of Object.entries(c.grads)) {
        const a = ours.get(name)!;
        expect(a.n).toBe(e.n);
        // Σg and Σ±g are compared relative to ‖g‖₂·√n, the size such sums have.
        const scale = Math.sqrt(e.sq * e.n);
        closeTo(a.sum, e.sum, scale, `${name} Σg`);
        closeTo(a.dot, e.dot, scale, `${name} Σ±g`);
        closeTo(a.sq, e.sq, 0, `${name} Σg²`);
      }
    });
  }
});
