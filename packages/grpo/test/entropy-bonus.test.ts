// The entropy bonus inside GRPOTrainer (TRL 1.16's entropy_coef / use_adaptive_entropy): the bonus
// is differentiated through the model's own entropy, the adaptive coefficient moves once per
// optimizer step from the window-global entropy, is logged as `entropy_coef`, and survives a
// checkpoint. (The loss formula itself is checked against TRL's code in trl-parity.test.ts.)
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { tokenLogprobs } from '@mlxn/models-qwen3';
import { valueAndGrad } from '@mlxn/nn';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { GRPOConfigError, grpoConfigWarnings, parseGRPOConfig, rolloutTensors, type TrainBatch } from '../src/index.js';
import { cleanup, tempDir, tinyModel, tinyTrainer } from './trainer-fixture.js';

afterAll(cleanup);

/** One optimizer step unless the test asks for more. */
const makeTrainer = (config: Record<string, unknown>) => tinyTrainer({ maxSteps: 1, ...config });

function leaves(tree: unknown, out: mx.Array[] = []): mx.Array[] {
  if (tree instanceof mx.Array) out.push(tree);
  else if (Array.isArray(tree)) for (const v of tree) leaves(v, out);
  else if (tree !== null && typeof tree === 'object') for (const v of Object.values(tree)) leaves(v, out);
  return out;
}
const values = (a: mx.Array) => Array.from(mx.astype(a, 'float32').dataSync() as Float32Array);

describe('entropy bonus in GRPOTrainer', () => {
  it('subtracts entropyCoef × the mean token entropy and differentiates it through the model', async () => {
    const { trainer: plain } = await makeTrainer({});
    const { trainer: bonus } = await makeTrainer({ entropyCoef: 0.5 });
    const records = [0, 0, 0, 0, 1, 1, 1, 1].map((i) => plain.dataset.get(i) as Record<string, unknown>);
    const rollouts = await plain.generateRollouts(records, { seed: 3 });
    const { advantages } = plain.computeAdvantages(await plain.scoreRollouts(rollouts, records));
    const t = rolloutTensors(rollouts.promptIds, rollouts.completionIds, rollouts.truncated, { padTokenId: 0 });
    const batch: TrainBatch = {
      ...t,
      advantages: mx.array(advantages),
      oldLogprobs: null,
      refLogprobs: null,
      numItemsInBatch: Number(mx.sum(t.completionMask).item()),
      tokens: 0,
    };
    const a = plain.lossAndGrad(batch);
    const b = bonus.lossAndGrad(batch);
    expect(a.metrics.policy_loss).toBeUndefined(); // TRL logs policy_loss only with a bonus
    expect(b.metrics.policy_loss).toBeCloseTo(a.loss, 6);
    expect(b.loss).toBeCloseTo(a.loss - 0.5 * a.metrics.entropy, 6);

    // d(mean entropy over completion tokens)/dθ, independently of the trainer.
    const model = await tinyModel();
    const [, entGrads] = valueAndGrad(model, () => {
      const { entropy } = tokenLogprobs(model, t.inputIds, {
        start: t.promptLength,
        temperature: 1,
        withEntropy: true,
        mask: t.attentionMask,
      });
      return mx.divide(mx.sum(mx.multiply(entropy!, t.completionMask)), mx.sum(t.completionMask));
    })();
    const ga = leaves(a.grads);
    const gb = leaves(b.grads);
    const ge = leaves(entGrads);
    expect(gb.length).toBe(ge.length);
    let moved = 0;
    ga.forEach((g, i) => {
      const [x, y, e] = [values(g), values(gb[i]), values(ge[i])];
      const scale = Math.max(1e-6, ...e.map(Math.abs));
      x.forEach((v, j) => {
        expect(Math.abs(y[j] - (v - 0.5 * e[j]))).toBeLessThan(1e-3 * scale + 1e-6);
        if (Math.abs(y[j] - v) > 1e-6) moved++;
      });
    });
    expect(moved).toBeGreaterThan(0);
  });

  it('adapts the coefficient once per step from the window-global entropy, logs it and checkpoints it', async () => {
    const outputDir = tempDir();
    const config = {
      useAdaptiveEntropy: true,
      entropyCoef: 0.01,
      entropyTarget: 100,
      entropyCoefDelta: 0.02,
      entropyCoefMax: 0.05,
      gradientAccumulationSteps: 2,
      perDeviceTrainBatchSize: 4,
      maxSteps: 3,
      saveSteps: 2,
      outputDir,
    };
    const { trainer } = await makeTrainer(config);
    const calls: { loss: number; policy: number; entropy: number; tokens: number }[] = [];
    const original = trainer.lossAndGrad.bind(trainer);
    vi.spyOn(trainer, 'lossAndGrad').mockImplementation((batch: TrainBatch) => {
      const r = original(batch);
      calls.push({
        loss: r.loss,
        policy: r.metrics.policy_loss,
        entropy: r.metrics.entropy,
        tokens: Number(mx.sum(batch.completionMask).item()),
      });
      return r;
    });
    await trainer.train();
    const logs = trainer.logHistory;

    // Entropy far below the target: +0.02 per step, clamped at entropyCoefMax.
    expect(logs.map((r) => r.entropy_coef)).toEqual([0.03, 0.05, 0.05].map((v) => expect.closeTo(v, 12)));
    expect(calls.length).toBe(6);
    // Window 1 applies nothing (no measurement yet); window 2 the coefficient after step 1, 0.03;
    // window 3 0.05; the bonus is divided by gradientAccumulationSteps (dapo's policy loss is not).
    const applied = [0, 0, 0.03, 0.03, 0.05, 0.05];
    for (const [i, c] of calls.entries()) expect(c.loss).toBeCloseTo(c.policy - (applied[i] * c.entropy) / 2, 6);
    // The controller's entropy is Σ entropy / Σ tokens over the last window, not a mean of means.
    const [x, y] = calls.slice(4);
    const windowMean = (x.entropy * x.tokens + y.entropy * y.tokens) / (x.tokens + y.tokens);
    expect(trainer.entropyControl.lastWorldEntropy).toBeCloseTo(windowMean, 5);

    // checkpoint-2 holds the state after step 2, and a resumed trainer continues from it.
    const statePath = join(outputDir, 'checkpoint-2', 'trainer_state.json');
    const saved = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(saved.extra.trainer.entropyControl.entropyCoef).toBeCloseTo(0.05, 12);
    const { trainer: resumed } = await makeTrainer({ ...config, resumeFromCheckpoint: join(outputDir, 'checkpoint-2') });
    resumed.loadCheckpoint(join(outputDir, 'checkpoint-2'));
    expect(resumed.entropyControl.coef).toBeCloseTo(0.05, 12);
    expect(resumed.entropyControl.lastWorldEntropy).toBeCloseTo(saved.extra.trainer.entropyControl.lastWorldEntropy, 12);
    // The resumed step 3 is the uninterrupted run's step 3.
    await resumed.train();
    const [again] = resumed.logHistory;
    expect(again.step).toBe(3);
    for (const k of ['loss', 'entropy', 'policy_loss', 'entropy_coef', 'grad_norm']) expect(again[k], k).toBe(logs[2][k]);

    saved.extra.trainer.entropyControl.entropyCoef = 'high';
    writeFileSync(statePath, JSON.stringify(saved));
    const { trainer: bad } = await makeTrainer(config);
    expect(() => bad.loadCheckpoint(join(outputDir, 'checkpoint-2'))).toThrow(/extra\.trainer: .*entropyCoef must be a finite number/);
    expect(bad.entropyControl.coef).toBe(0.01);
  }, 120_000);
});

describe('loss options of TRL 1.16', () => {
  it('takes TRL defaults', () => {
    const c = parseGRPOConfig({});
    expect([c.vespoKPos, c.vespoLambdaPos, c.vespoKNeg, c.vespoLambdaNeg]).toEqual([2, 3, 3, 2]);
    expect(c.offPolicyMaskThreshold).toBeNull();
    expect([c.entropyCoef, c.useAdaptiveEntropy, c.entropyCoefMin, c.entropyCoefMax, c.entropyCoefDelta, c.entropyTarget]).toEqual([
      0,
      false,
      0,
      1,
      0.005,
      0.2,
    ]);
  });

  it('rejects bad values with the option named', () => {
    expect(() => parseGRPOConfig({ lossType: 'vespo2' as never })).toThrow(/lossType/);
    expect(() => parseGRPOConfig({ offPolicyMaskThreshold: -1 })).toThrow(/offPolicyMaskThreshold/);
    expect(() => parseGRPOConfig({ entropyCoefDelta: -0.1 })).toThrow(/entropyCoefDelta/);
    expect(() => parseGRPOConfig({ vespoLambdaPos: Number.NaN })).toThrow(/vespoLambdaPos/);
    expect(() => parseGRPOConfig({ useAdaptiveEntropy: true, entropyCoefMin: 0.5, entropyCoefMax: 0.1 })).toThrow(GRPOConfigError);
    expect(() => parseGRPOConfig({ useAdaptiveEntropy: true, entropyCoefMin: 0.5, entropyCoefMax: 0.1 })).toThrow(
      /entropyCoefMin \(0.5\) must not exceed entropyCoefMax \(0.1\)/,
    );
  });

  it("gives TRL's advice for luspo and vespo", () => {
    expect(grpoConfigWarnings(parseGRPOConfig({ lossType: 'luspo' })).join('\n')).toMatch(/luspo.*'sequence'/);
    expect(grpoConfigWarnings(parseGRPOConfig({ lossType: 'luspo', importanceSamplingLevel: 'sequence' }))).toEqual([]);
    expect(grpoConfigWarnings(parseGRPOConfig({ lossType: 'vespo', importanceSamplingLevel: 'sequence' })).join('\n')).toMatch(
      /vespo.*'token'/,
    );
  });
});
