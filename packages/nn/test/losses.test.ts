import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';
import { decode, type Enc, expectClose, fixture } from './train-fixtures.js';

const golden = fixture<{ inputs: Record<string, Enc>; cases: Record<string, Enc> }>('train_losses.json');
const I = Object.fromEntries(Object.entries(golden.inputs).map(([k, v]) => [k, decode(v)])) as Record<string, mx.Array>;
const logSoftmax = (x: mx.Array, axis = -1) => mx.subtract(x, mx.logsumexp(x, axis, true));

type Case = (reduction: nn.Reduction) => mx.Array;
const perReduction: Record<string, Case> = {
  crossEntropy: (r) => nn.crossEntropy(I.logits, I.labels, { reduction: r }),
  crossEntropy_smooth: (r) => nn.crossEntropy(I.logits, I.labels, { labelSmoothing: 0.1, reduction: r }),
  crossEntropy_probs: (r) => nn.crossEntropy(I.logits, I.probs, { reduction: r }),
  crossEntropy_weights: (r) => nn.crossEntropy(I.logits, I.labels, { weights: I.weights4, reduction: r }),
  binaryCrossEntropy_logits: (r) => nn.binaryCrossEntropy(I.bin_logits, I.bin_targets, { reduction: r }),
  binaryCrossEntropy_probs: (r) => nn.binaryCrossEntropy(I.bin_probs, I.bin_targets, { withLogits: false, reduction: r }),
  nllLoss: (r) => nn.nllLoss(I.logp, I.labels, { reduction: r }),
  klDivLoss: (r) => nn.klDivLoss(I.logp, I.logq, { reduction: r }),
  mseLoss: (r) => nn.mseLoss(I.pred, I.target, { reduction: r }),
  l1Loss: (r) => nn.l1Loss(I.pred, I.target, { reduction: r }),
  smoothL1Loss: (r) => nn.smoothL1Loss(I.pred, I.target, { reduction: r }),
  cosineSimilarityLoss: (r) => nn.cosineSimilarityLoss(I.x1, I.x2, { reduction: r }),
  huberLoss: (r) => nn.huberLoss(I.pred, I.target, { delta: 0.7, reduction: r }),
  hingeLoss: (r) => nn.hingeLoss(I.pred, I.signs, { reduction: r }),
  crossEntropy_ignore_weights: (r) => nn.crossEntropy(I.logits, I.ignored, { ignoreIndex: -100, weights: I.weights4, reduction: r }),
};

const single: Record<string, () => mx.Array> = {
  crossEntropy_smooth_weights_probs_mean: () =>
    nn.crossEntropy(I.logits, I.probs, { weights: I.weights4, labelSmoothing: 0.2, reduction: 'mean' }),
  crossEntropy_3d_none: () => nn.crossEntropy(I.logits3, I.labels3),
  crossEntropy_axis0_none: () => nn.crossEntropy(I.logitsT, I.labels, { axis: 0 }),
  binaryCrossEntropy_logits_weights_mean: () => nn.binaryCrossEntropy(I.bin_logits, I.bin_targets, { weights: I.bin_weights }),
  nllLoss_3d_mean: () => nn.nllLoss(logSoftmax(I.logits3), I.labels3, { reduction: 'mean' }),
  klDivLoss_axis0_none: () => nn.klDivLoss(I.logp, I.logq, { axis: 0 }),
  smoothL1Loss_beta05_none: () => nn.smoothL1Loss(I.pred, I.target, { beta: 0.5, reduction: 'none' }),
  cosineSimilarityLoss_axis0_mean: () => nn.cosineSimilarityLoss(I.x1, I.neg, { axis: 0, reduction: 'mean' }),
  logCoshLoss_none: () => nn.logCoshLoss(I.pred, I.target),
  gaussianNllLoss_mean: () => nn.gaussianNllLoss(I.pred, I.target, I.vars),
  gaussianNllLoss_full_sum: () => nn.gaussianNllLoss(I.pred, I.target, I.vars, { full: true, reduction: 'sum' }),
  marginRankingLoss_none: () => nn.marginRankingLoss(I.pred, I.target, I.signs, { margin: 0.3 }),
  tripletLoss_none: () => nn.tripletLoss(I.x1, I.pred, I.neg),
  tripletLoss_p1_mean: () => nn.tripletLoss(I.x1, I.pred, I.neg, { p: 1, margin: 0.5, reduction: 'mean' }),
  grad_crossEntropy_smooth_mean: () =>
    mx.grad((z: mx.Array) => nn.crossEntropy(z, I.labels, { labelSmoothing: 0.1, reduction: 'mean' }))(I.logits),
  grad_binaryCrossEntropy_logits_mean: () => mx.grad((z: mx.Array) => nn.binaryCrossEntropy(z, I.bin_targets))(I.bin_logits),
  grad_cosineSimilarityLoss_mean: () => mx.grad((z: mx.Array) => nn.cosineSimilarityLoss(z, I.neg, { reduction: 'mean' }))(I.x1),
};

const table: Record<string, () => mx.Array> = { ...single };
for (const [name, f] of Object.entries(perReduction)) {
  for (const r of ['none', 'mean', 'sum'] as const) table[`${name}_${r}`] = () => f(r);
}

describe('losses match mlx.nn.losses (golden values from Python MLX)', () => {
  it('covers every fixture case', () => {
    expect(Object.keys(table).sort()).toEqual(Object.keys(golden.cases).sort());
  });
  for (const name of Object.keys(golden.cases)) {
    it(name, () => {
      expectClose(table[name](), golden.cases[name], name, 2e-6, 1e-6);
    });
  }
});

describe('loss argument errors', () => {
  it('rejects mismatched shapes, bad options and bad reductions', () => {
    expect(() => nn.crossEntropy(I.logits, mx.array([0, 1], { dtype: 'int32' }))).toThrow(
      /targets shape \[2\] does not match logits shape \[4,5\]/,
    );
    expect(() => nn.crossEntropy(I.logits, I.labels, { labelSmoothing: 1 })).toThrow(/labelSmoothing/);
    expect(() => nn.crossEntropy(I.logits, I.labels, { weights: mx.ones([3]) })).toThrow(/weights shape/);
    expect(() => nn.crossEntropy(I.logits, mx.zeros([4]))).toThrow(/integers/);
    expect(() => nn.crossEntropy(I.logits, I.labels, { axis: 2 })).toThrow(/axis/);
    expect(() => nn.crossEntropy(I.logits, I.probs, { ignoreIndex: -1 })).toThrow(/ignoreIndex/);
    expect(() => nn.mseLoss(I.pred, I.logits)).toThrow(/shape \[3,4\] does not match targets shape \[4,5\]/);
    expect(() => nn.binaryCrossEntropy(I.pred, I.logits)).toThrow(/inputs shape/);
    expect(() => nn.l1Loss(I.pred, I.target, { reduction: 'avg' as nn.Reduction })).toThrow(/reduction must be/);
  });

  it('ignoreIndex: ignored targets give zero loss and no gradient; all ignored gives 0', () => {
    const t = mx.array([-100, -100, -100, -100], { dtype: 'int32' });
    expect(nn.crossEntropy(I.logits, t, { ignoreIndex: -100, reduction: 'mean' }).item()).toBe(0);
    const g = mx.grad((z: mx.Array) => nn.crossEntropy(z, I.ignored, { ignoreIndex: -100, reduction: 'sum' }))(I.logits);
    const rows = g.tolist() as number[][];
    expect(rows[1].every((v) => v === 0)).toBe(true);
    expect(rows[0].some((v) => v !== 0)).toBe(true);
  });

  it('finite differences agree with the cross-entropy gradient', () => {
    const x = mx.array([
      [0.3, -1.2, 2.0],
      [1.1, 0.4, -0.7],
    ]);
    const y = mx.array([2, 0], { dtype: 'int32' });
    const f = (z: mx.Array) => nn.crossEntropy(z, y, { labelSmoothing: 0.2, reduction: 'sum' });
    const g = mx.withStream(mx.cpu, () => mx.grad(f)(x).tolist() as number[][]);
    const h = 1e-2;
    const base = x.tolist() as number[][];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const plus = base.map((r) => r.slice());
        const minus = base.map((r) => r.slice());
        plus[i][j] += h;
        minus[i][j] -= h;
        const fd = mx.withStream(mx.cpu, () => ((f(mx.array(plus)).item() as number) - (f(mx.array(minus)).item() as number)) / (2 * h));
        expect(Math.abs(fd - g[i][j])).toBeLessThan(1e-3);
      }
    }
  });
});
