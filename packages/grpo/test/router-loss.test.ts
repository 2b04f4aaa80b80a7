// The MoE router load-balancing loss in the trainers (TRL 1.16's rule): the coefficient from the
// config or the model config (transformers' Qwen3-MoE default 0.001), an error for a model
// without a router, and in SFT the gradient of the NLL plus coef / GA times the aux loss's own
// gradient over the real tokens. (GRPO's is checked against TRL itself in trl-grads.test.ts.)
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { loadBalancingLoss, Qwen3, withRouterLogits } from '@mlxn/models-qwen3';
import { valueAndGrad } from '@mlxn/nn';
import { qwen3TokenizerDir, tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { afterAll, describe, expect, it } from 'vitest';
import { GRPOConfigError, GRPOTrainer, SFTTrainer, sftBatch } from '../src/index.js';
import { cleanup, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

let moeDir: string | null = null;
async function tinyMoe(): Promise<Qwen3> {
  if (moeDir === null) {
    moeDir = tempDir('mlxn-grpo-moe-');
    cpSync(tinyQwen3Path('moe'), moeDir, { recursive: true });
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(qwen3TokenizerDir(), f), join(moeDir, f));
  }
  return Qwen3.load(moeDir, { truncatedVocab: true });
}

const prompts = ['1+2=', '3+4=', '5+6=', '7+8='].map((prompt) => ({ prompt }));
const grpo = (model: Qwen3, config: Record<string, unknown>) =>
  new GRPOTrainer({
    model,
    rewardFuncs: () => [0, 0, 0, 0],
    trainDataset: prompts,
    config: { numGenerations: 2, perDeviceTrainBatchSize: 4, outputDir: tempDir(), ...config },
  });

describe('router loss settings', () => {
  it("takes the model config's coefficient by default, the config's when given, and 0 turns it off", async () => {
    const moe = await tinyMoe();
    expect(grpo(moe, {}).routerLoss).toEqual({ numExperts: 4, topK: 2, routerAuxLossCoef: 0.001, coef: 0.001 });
    expect(grpo(moe, { routerAuxLossCoef: 0.3 }).routerLoss?.coef).toBe(0.3);
    expect(grpo(moe, { routerAuxLossCoef: 0 }).routerLoss).toBeNull();
    const dense = await tinyModel();
    expect(grpo(dense, {}).routerLoss).toBeNull();
    expect(grpo(dense, { routerAuxLossCoef: 0 }).routerLoss).toBeNull();
    expect(() => grpo(dense, { routerAuxLossCoef: 0.01 })).toThrow(GRPOConfigError);
    expect(() => grpo(dense, { routerAuxLossCoef: 0.01 })).toThrow(/not a Mixture-of-Experts model/);
    expect(
      () => new SFTTrainer({ model: dense, trainDataset: [{ prompt: '1+1=', completion: ' 2' }], config: { routerAuxLossCoef: 0.01 } }),
    ).toThrow(/not a Mixture-of-Experts/);
  });
});

describe('SFT with the router loss', () => {
  const records = [
    { prompt: '1+2=', completion: ' 3' },
    { prompt: '12+30=', completion: ' 42' },
    { prompt: '5+5=', completion: ' 10' },
  ];
  it('adds coef / GA · the aux loss over the real tokens, value and gradients', async () => {
    // '#' (id 2) is the fixture's end-of-sequence token (its vocabulary is 512 tokens).
    const config = { perDeviceTrainBatchSize: 3, gradientAccumulationSteps: 2, bf16: false, eosToken: '#', outputDir: tempDir() };
    const withRouter = new SFTTrainer({ model: await tinyMoe(), trainDataset: records, config: { ...config, routerAuxLossCoef: 0.5 } });
    const plain = new SFTTrainer({ model: await tinyMoe(), trainDataset: records, config: { ...config, routerAuxLossCoef: 0 } });
    const batch = sftBatch(
      withRouter.examples.map((e) => [e]),
      0,
    );
    expect(batch.tokenMask).not.toBeNull(); // rows of different lengths: padding is left out
    const a = withRouter.lossAndGrad(batch);
    const b = plain.lossAndGrad(batch);
    const model = plain.model as Qwen3;
    const [aux, auxGrads] = valueAndGrad(model, () => {
      const { routerLogits } = withRouterLogits(model, () => model.hidden(batch.inputIds, { mask: batch.attention ?? 'causal' }));
      return loadBalancingLoss(routerLogits, { numExperts: 4, topK: 2, attentionMask: batch.tokenMask });
    })();
    expect(a.metrics.aux_loss).toBeCloseTo(Number(aux.item()), 6);
    expect(b.metrics.aux_loss).toBeUndefined();
    expect(a.loss).toBeCloseTo(b.loss + (0.5 / 2) * Number(aux.item()), 6);
    const ga = new Map(mx.treeFlattenWithPaths(a.grads));
    const gaux = new Map(mx.treeFlattenWithPaths(auxGrads));
    let checked = 0;
    for (const [k, g] of mx.treeFlattenWithPaths(b.grads)) {
      const expected = mx.add(g, mx.multiply(gaux.get(k)!, 0.25));
      expect(mx.allclose(ga.get(k)!, expected, { atol: 1e-6, rtol: 1e-5 }).item(), k).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    // The router's own weights get a gradient from the aux loss.
    expect(Number(mx.max(mx.abs(gaux.get('model.layers.0.mlp.gate.weight')!)).item())).toBeGreaterThan(0);
  });
});

describe('GRPO training step on Qwen3-MoE with the router loss', () => {
  it('logs aux_loss and trains LoRA adapters with gradient checkpointing', async () => {
    const logs: Record<string, unknown>[] = [];
    const model = await tinyMoe();
    const trainer = new GRPOTrainer({
      model,
      rewardFuncs: ({ completions }) => completions.map((c) => (/\d/.test(c) ? 1 : 0)),
      trainDataset: prompts,
      config: {
        numGenerations: 2,
        perDeviceTrainBatchSize: 4,
        maxCompletionLength: 4,
        maxSteps: 1,
        loggingSteps: 1,
        bf16: false,
        learningRate: 1e-2,
        outputDir: tempDir(),
        lora: { rank: 2, alpha: 4, targetModules: ['self_attn.q_proj', 'mlp.gate'] },
      },
      onLog: (r) => logs.push(r as Record<string, unknown>),
    });
    // LoRA is attached by the constructor: the router gate is an adapter around the frozen base now.
    const gate = (model.model.layers[0].mlp as unknown as { gate: unknown }).gate as { linear: { weight: mx.Array }; loraB: mx.Array };
    // Copies: the trainer frees the adapter arrays it replaces.
    const baseBefore = mx.add(gate.linear.weight, 0);
    const loraBBefore = mx.add(gate.loraB, 0);
    mx.eval(baseBefore, loraBBefore);
    await trainer.train();
    expect(typeof logs[0].aux_loss).toBe('number');
    expect(logs[0].aux_loss as number).toBeGreaterThan(0);
    expect(Number.isFinite(logs[0].loss as number)).toBe(true);
    // The frozen base router weight is unchanged; its adapter trained.
    expect(mx.arrayEqual(baseBefore, gate.linear.weight).item()).toBe(true);
    expect(mx.arrayEqual(loraBBefore, gate.loraB).item()).toBe(false);
  });
});
