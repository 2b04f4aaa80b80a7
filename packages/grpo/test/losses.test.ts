import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { type GRPOLossInputs, grpoLoss, highEntropyMask, type LossConfig, lossMetricsToNumbers } from '../src/index.js';
import { expectClose, golden } from './golden.js';

// Float32 MLX against float64 numpy: 2e-5 relative on values; the golden gradients are central
// finite differences (h = 1e-6), good to ~1e-7, so gradients get 1e-4 relative + 1e-5 absolute.
const RTOL = 2e-5;
const ATOL = 1e-6;
const GRAD_RTOL = 1e-4;
const GRAD_ATOL = 1e-5;

const g = golden.inputs;
const arr = (m: number[][] | number[]) => mx.array(m as number[][], { dtype: 'float32' });
const flat = (a: mx.Array) => (a.tolist() as number[][]).flat();

function inputsFor(c: (typeof golden.losses)[number], logprobs: mx.Array): GRPOLossInputs {
  return {
    logprobs,
    oldLogprobs: c.useOld ? arr(g.oldLogprobs) : null,
    refLogprobs: arr(g.refLogprobs),
    advantages: arr(g.advantages),
    completionMask: arr(c.mask),
    entropy: arr(g.entropy),
    config: c.config as Partial<LossConfig>,
    gradientAccumulationSteps: c.ga,
    numItemsInBatch: c.numItemsInBatch ?? undefined,
    stepsPerGeneration: c.spg ?? undefined,
  };
}

describe('grpoLoss against TRL 1.16 golden values', () => {
  it('covers every loss type × importance level × clipping × beta', () => {
    const names = new Set(golden.losses.map((c) => c.name));
    for (const lt of ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo']) {
      for (const level of ['token', 'sequence']) {
        for (const beta of ['0.0', '0.04']) expect(names.has(`${lt}/${level}/eps/beta=${beta}`)).toBe(true);
      }
    }
    expect(golden.losses.length).toBeGreaterThan(90);
  });

  for (const c of golden.losses) {
    it(c.name, () => {
      const lp = arr(g.logprobs);
      const r = grpoLoss(inputsFor(c, lp));
      expectClose(Number(r.loss.item()), c.loss, RTOL, ATOL, `${c.name} loss`);
      expectClose(Number(r.policyLoss.item()), c.policyLoss, RTOL, ATOL, `${c.name} policyLoss`);
      const m = lossMetricsToNumbers(r.metrics);
      expect(Object.keys(m).sort()).toEqual(Object.keys(c.metrics).sort());
      for (const [k, v] of Object.entries(c.metrics)) expectClose(m[k], v ?? NaN, RTOL, ATOL, `${c.name} ${k}`);
      if (c.grad) {
        const grad = mx.grad((x: mx.Array) => grpoLoss(inputsFor(c, x)).loss)(lp);
        expectClose(flat(grad), c.grad.flat(), GRAD_RTOL, GRAD_ATOL, `${c.name} d loss / d logprobs`);
      }
    });
  }
});

describe('entropy mask', () => {
  for (const [q, expected] of Object.entries(golden.entropyMasks)) {
    it(`topEntropyQuantile ${q}`, () => {
      const m = highEntropyMask(arr(g.entropy), arr(g.completionMask), Number(q));
      expect((m.tolist() as boolean[][]).map((row) => row.map(Number))).toEqual(expected);
    });
  }
  it('is all false when no token counts', () => {
    const m = highEntropyMask(arr(g.entropy), mx.zeros([4, 6]), 0.5);
    expect(mx.any(m).item()).toBe(false);
  });
});

describe('gradient accumulation over two half batches', () => {
  for (const a of golden.accumulation) {
    it(`${a.lossType}: the sum of the micro-batch losses is TRL's accumulated loss`, () => {
      const lp = arr(g.logprobs);
      const half = (x: mx.Array, rows: [number, number]) => {
        const sl = <T>(m: T[]) => m.slice(rows[0], rows[1]);
        return grpoLoss({
          logprobs: x,
          oldLogprobs: arr(sl(g.oldLogprobs)),
          refLogprobs: arr(sl(g.refLogprobs)),
          advantages: arr(sl(g.advantages)),
          completionMask: arr(sl(g.completionMask)),
          entropy: arr(sl(g.entropy)),
          config: a.config as Partial<LossConfig>,
          gradientAccumulationSteps: 2,
          stepsPerGeneration: 2,
          numItemsInBatch: a.numItemsInBatch,
        }).loss;
      };
      const halves = [
        [0, 2],
        [2, 4],
      ] as [number, number][];
      const losses = halves.map((rows) => Number(half(lp.index(mx.sl(rows[0], rows[1])), rows).item()));
      expectClose(losses, a.halves, RTOL, ATOL, `${a.lossType} halves`);
      const grads = halves.map((rows) => mx.grad((x: mx.Array) => half(x, rows))(lp.index(mx.sl(rows[0], rows[1]))));
      expectClose(grads.flatMap(flat), a.accumulatedGrad.flat(), GRAD_RTOL, GRAD_ATOL, `${a.lossType} accumulated grad`);
      const full = grpoLoss({
        logprobs: lp,
        oldLogprobs: arr(g.oldLogprobs),
        refLogprobs: arr(g.refLogprobs),
        advantages: arr(g.advantages),
        completionMask: arr(g.completionMask),
        entropy: arr(g.entropy),
        config: a.config as Partial<LossConfig>,
      });
      expectClose(Number(full.loss.item()), a.full, RTOL, ATOL, `${a.lossType} full batch`);
      const sum = losses[0] + losses[1];
      // Globally normalised types match one full batch; bnpo normalises per micro-batch and does not.
      if (a.equalsFullBatch) expectClose(sum, Number(full.loss.item()), 1e-5, 1e-6, `${a.lossType} accumulated = full`);
      else expect(Math.abs(sum - Number(full.loss.item()))).toBeGreaterThan(1e-3);
      expect(a.equalsFullBatch).toBe(a.lossType !== 'bnpo');
    });
  }
});

describe('grpoLoss input checks', () => {
  const base = { logprobs: arr(g.logprobs), advantages: arr(g.advantages), completionMask: arr(g.completionMask) };
  it('needs refLogprobs when beta ≠ 0', () => {
    expect(() => grpoLoss({ ...base, config: { beta: 0.1 } })).toThrow(/refLogprobs/);
  });
  it('needs entropy when topEntropyQuantile < 1', () => {
    expect(() => grpoLoss({ ...base, config: { topEntropyQuantile: 0.5 } })).toThrow(/entropy/);
  });
  it('rejects mismatched shapes', () => {
    expect(() => grpoLoss({ ...base, completionMask: mx.ones([4, 5]) })).toThrow(/completionMask must have shape \[4, 6\]/);
    expect(() => grpoLoss({ ...base, advantages: mx.ones([3]) })).toThrow(/advantages/);
  });
  it('rejects an unknown loss type', () => {
    expect(() => grpoLoss({ ...base, config: { lossType: 'ppo' as never } })).toThrow(/unknown lossType/);
  });
  it('on-policy ratios are exactly 1, so nothing is clipped and dapo loss is −mean advantage over tokens', () => {
    const r = grpoLoss({ ...base, config: { lossType: 'dapo' } });
    const m = lossMetricsToNumbers(r.metrics);
    expect(m['clip_ratio/region_mean']).toBe(0);
    const mask = g.completionMask;
    let num = 0;
    let den = 0;
    for (const [b, row] of mask.entries()) {
      for (const v of row) {
        num += v * g.advantages[b];
        den += v;
      }
    }
    expectClose(Number(r.loss.item()), -num / den, RTOL, ATOL, 'dapo on-policy');
  });
});
