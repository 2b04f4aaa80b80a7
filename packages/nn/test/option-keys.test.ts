// Unknown option keys are errors naming the nearest option: a typo (`{ reduce: 'sum' }`,
// `{ learning_rate: 1e-3 }`) would otherwise be ignored and the defaults used.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

const T = { zzTypo: 1 } as object;
const a = () => mx.ones([2, 3]);
const t = () => mx.array([0, 1], 'int32');
const v = () => mx.ones([2]);
const dir = mkdtempSync(join(tmpdir(), 'mlxn-nn-keys-'));
const linear = () => new nn.Linear(8, 8);
const lr = { learningRate: 0.1 };

// Each call passes `T` (or a typo'd copy of valid options) where its options go.
const calls: Record<string, () => unknown> = {
  crossEntropy: () => nn.crossEntropy(a(), t(), T),
  binaryCrossEntropy: () => nn.binaryCrossEntropy(a(), a(), T),
  nllLoss: () => nn.nllLoss(a(), t(), T),
  klDivLoss: () => nn.klDivLoss(a(), a(), T),
  hingeLoss: () => nn.hingeLoss(a(), a(), T),
  mseLoss: () => nn.mseLoss(a(), a(), T),
  l1Loss: () => nn.l1Loss(a(), a(), T),
  smoothL1Loss: () => nn.smoothL1Loss(a(), a(), T),
  huberLoss: () => nn.huberLoss(a(), a(), T),
  logCoshLoss: () => nn.logCoshLoss(a(), a(), T),
  gaussianNllLoss: () => nn.gaussianNllLoss(a(), a(), a(), T),
  cosineSimilarityLoss: () => nn.cosineSimilarityLoss(a(), a(), T),
  marginRankingLoss: () => nn.marginRankingLoss(v(), v(), v(), T),
  tripletLoss: () => nn.tripletLoss(a(), a(), a(), T),
  Linear: () => new nn.Linear(2, 2, T),
  RMSNorm: () => new nn.RMSNorm(2, T),
  LayerNorm: () => new nn.LayerNorm(2, T),
  RoPE: () => new nn.RoPE(4, T),
  YarnRoPE: () => new nn.YarnRoPE(4, T),
  initializeRope: () => nn.initializeRope(4, T),
  MultiHeadAttention: () => new nn.MultiHeadAttention(4, 2, T),
  QuantizedLinear: () => new nn.QuantizedLinear(64, 64, T),
  QuantizedEmbedding: () => new nn.QuantizedEmbedding(8, 64, T),
  'QuantizedLinear.fromLinear': () => nn.QuantizedLinear.fromLinear(new nn.Linear(64, 64), T),
  'QuantizedEmbedding.fromEmbedding': () => nn.QuantizedEmbedding.fromEmbedding(new nn.Embedding(8, 64), T),
  quantize: () => nn.quantize(new nn.Sequential(new nn.Linear(64, 64)), T),
  LoRALinear: () => new nn.LoRALinear(8, 8, T),
  'LoRALinear.fromBase': () => nn.LoRALinear.fromBase(linear(), T),
  'LoRALinear.fuse': () => nn.LoRALinear.fromBase(linear()).fuse(T),
  linearToLoRALayers: () => nn.linearToLoRALayers(new nn.Sequential(linear()), T),
  fuseLoRA: () => nn.fuseLoRA(new nn.Sequential(linear()), T),
  saveAdapters: () => nn.saveAdapters(new nn.Sequential(linear()), join(dir, 'adapters.safetensors'), T),
  numParameters: () => linear().numParameters(T),
  freeze: () => linear().freeze(T),
  unfreeze: () => linear().unfreeze(T),
  loadWeights: () => linear().loadWeights([], T),
  saveWeights: () => linear().saveWeights(join(dir, 'w1.safetensors'), T),
  saveWeightsSync: () => linear().saveWeightsSync(join(dir, 'w2.safetensors'), T),
  SGD: () => new nn.SGD({ ...lr, ...T }),
  Adam: () => new nn.Adam({ ...lr, ...T }),
  AdamW: () => new nn.AdamW({ ...lr, ...T }),
  Adamax: () => new nn.Adamax({ ...lr, ...T }),
  Adafactor: () => new nn.Adafactor(T),
  RMSprop: () => new nn.RMSprop({ ...lr, ...T }),
  Adagrad: () => new nn.Adagrad({ ...lr, ...T }),
  AdaDelta: () => new nn.AdaDelta({ ...lr, ...T }),
  Lion: () => new nn.Lion({ ...lr, ...T }),
  saveState: () => new nn.Adam(lr).saveState(join(dir, 's1.safetensors'), T),
  saveStateSync: () => new nn.Adam(lr).saveStateSync(join(dir, 's2.safetensors'), T),
  loadState: () => new nn.Adam(lr).loadState(join(dir, 's3.safetensors'), T),
  loadStateSync: () => new nn.Adam(lr).loadStateSync(join(dir, 's3.safetensors'), T),
  prepareStateSync: () => new nn.Adam(lr).prepareStateSync(join(dir, 's3.safetensors'), T),
};

describe('unknown option keys', () => {
  for (const [name, call] of Object.entries(calls)) {
    it(name, async () => {
      await expect((async () => call())()).rejects.toThrow(new RegExp(`^${name.replace('.', '\\.')}: unknown option "zzTypo"$`));
    });
  }

  it('name the nearest option', () => {
    expect(() => nn.crossEntropy(a(), t(), { reductoin: 'mean' } as object)).toThrow(
      /crossEntropy: unknown option "reductoin" \(did you mean "reduction"\?\)/,
    );
    expect(() => nn.mseLoss(a(), a(), { Reduction: 'sum' } as object)).toThrow(
      /mseLoss: unknown option "Reduction" \(did you mean "reduction"\?\)/,
    );
    expect(() => new nn.AdamW({ learningRate: 0.1, weight_decay: 0.1 } as never)).toThrow(
      /AdamW: unknown option "weight_decay" \(did you mean "weightDecay"\?\)/,
    );
    expect(() => new nn.Adamax({ learningRate: 0.1, biasCorrection: true } as never)).toThrow(/Adamax: unknown option "biasCorrection"/);
    expect(() => new nn.Linear(2, 2, { Bias: false } as object)).toThrow(/Linear: unknown option "Bias" \(did you mean "bias"\?\)/);
    // Valid options still work, subclass options included.
    expect(new nn.AdamW({ learningRate: 0.1, weightDecay: 0.1, betas: [0.9, 0.99] }).weightDecay).toBe(0.1);
    expect(nn.mseLoss(a(), mx.zeros([2, 3]), { reduction: 'sum' }).item()).toBe(6);
    expect(nn.linearToLoRALayers(new nn.Sequential(linear()), { rank: 2, targets: ['layers.0'] })).toEqual(['layers.0']);
  });
});
