// The Qwen3 module: tree and keys, forward options and errors, caches, masks, gradients.

import { KVCache, QuantizedKVCache, RotatingKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { QuantizedLinear, quantize, valueAndGrad } from '@mlxn/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseQwen3Config, Qwen3, type Qwen3MLP } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Path } from './helpers.js';

const PROMPT = [5, 17, 301, 44, 9, 250, 128, 77, 3, 410];

let dense: Qwen3;
beforeAll(async () => {
  dense = await Qwen3.load(tinyQwen3Path('dense'));
});

function randomModel(extra: Record<string, unknown> = {}): Qwen3 {
  mx.random.seed(3);
  const m = new Qwen3(
    parseQwen3Config({
      model_type: 'qwen3',
      vocab_size: 256,
      hidden_size: 64,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 32,
      rope_theta: 10000,
      tie_word_embeddings: false,
      ...extra,
    }),
  );
  mx.eval(m.parameters());
  return m;
}

describe('Qwen3 module', () => {
  it('parameter names mirror checkpoint keys; tied models have no lm_head', () => {
    const keys = dense.namedParameters().map(([k]) => k);
    expect(keys).toContain('model.embed_tokens.weight');
    expect(keys).toContain('model.layers.1.self_attn.k_norm.weight');
    expect(keys).toContain('model.layers.0.post_attention_layernorm.weight');
    expect(keys.filter((k) => k.startsWith('lm_head'))).toEqual([]);
    expect(keys).toHaveLength(2 * 11 + 2);
    const untied = randomModel();
    expect(untied.namedParameters().map(([k]) => k)).toContain('lm_head.weight');
    // The rotary embedding has no parameters; config and extras are not part of the tree.
    expect(Object.keys(untied.parameters())).toEqual(['model', 'lmHead']);
  });

  it('forward = logitsFromHidden(hidden)', () => {
    const ids = mx.array([PROMPT], 'int32');
    const h = dense.hidden(ids);
    expect(h.shape).toEqual([1, PROMPT.length, 64]);
    expect(maxAbsDiff(dense.logitsFromHidden(h), dense.forward(ids))).toBe(0);
  });

  it('explicit masks: causal equals the default; no mask lets early tokens see later ones', () => {
    const ids = mx.array([PROMPT], 'int32');
    const base = dense.forward(ids);
    expect(maxAbsDiff(dense.forward(ids, { mask: 'causal' }), base)).toBe(0);
    const t = PROMPT.length;
    const boolMask = mx.greaterEqual(mx.arange(t).index(mx.sl(), null), mx.arange(t).index(null));
    expect(maxAbsDiff(dense.forward(ids, { mask: boolMask }), base)).toBeLessThanOrEqual(1e-5);
    const open = dense.forward(ids, { mask: null });
    expect(maxAbsDiff(open.index(0, 0), base.index(0, 0))).toBeGreaterThan(1e-3);
  });

  it('makeCache: KVCache by default, RotatingKVCache with maxKvSize, QuantizedKVCache with kvBits', () => {
    expect(dense.makeCache()[0]).toBeInstanceOf(KVCache);
    expect(dense.makeCache()).toHaveLength(2);
    const rot = dense.makeCache({ maxKvSize: 64 });
    expect(rot[0]).toBeInstanceOf(RotatingKVCache);
    const ids = mx.array([PROMPT], 'int32');
    const a = dense.forward(ids, { cache: rot });
    const b = dense.forward(mx.array([[7]], 'int32'), { cache: rot });
    const ref = dense.forward(mx.array([[...PROMPT, 7]], 'int32'));
    expect(maxAbsDiff(mx.concatenate([a, b], 1), ref)).toBeLessThanOrEqual(1e-4);
    // Quantized keys/values need a head size that divides into groups (here 32).
    const m = randomModel();
    const q = m.makeCache({ kvBits: 8, kvGroupSize: 32 });
    expect(q[0]).toBeInstanceOf(QuantizedKVCache);
    const small = PROMPT.map((x) => x % 256);
    const qa = m.forward(mx.array([small], 'int32'), { cache: q });
    const qb = m.forward(mx.array([[7]], 'int32'), { cache: q });
    const full = m.forward(mx.array([[...small, 7]], 'int32'));
    // 8-bit keys and values: close, not equal.
    const diff = maxAbsDiff(mx.concatenate([qa, qb], 1), full);
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.05);
  });

  it('bad inputs give clear errors', () => {
    expect(() => dense.forward(mx.array([1, 2, 3], 'int32'))).toThrow(/shape \[B, L\], got \[3\]/);
    expect(() => dense.forward(mx.array([[1.5, 2]], 'float32'))).toThrow(/integer dtype, got float32/);
    expect(() => dense.forward(mx.zeros([1, 0], 'int32'))).toThrow(/at least one token/);
    expect(() => dense.forward(mx.array([[1]], 'int32'), { cache: [new KVCache()] })).toThrow(/one cache per layer \(2\), got 1/);
    expect(() => dense.forward([[1, 2]] as never)).toThrow(/must be an mx.Array/);
  });

  it('gradients agree with finite differences', () => {
    const m = randomModel();
    const ids = mx.array([PROMPT.map((x) => x % 256)], 'int32');
    // A centred weighting keeps the loss small, so float32 finite differences stay accurate.
    const weights = mx.divide(mx.subtract(mx.arange(0, 256, 1, 'float32'), 127.5), 128);
    const f = () => mx.sum(mx.multiply(mx.logSoftmax(m.forward(ids), -1).index(0, -1), weights));
    const [, grads] = valueAndGrad(m, f)();
    const g = new Map(mx.treeFlattenWithPaths(grads)).get('model.layers.1.mlp.upProj.weight')!;
    const mlp = m.model.layers[1].mlp as Qwen3MLP;
    const w = mlp.upProj.weight as mx.Array;
    const eps = 3e-2;
    for (const [i, j] of [
      [0, 0],
      [5, 17],
      [40, 63],
    ]) {
      const bump = (delta: number) => {
        const onehot = mx.multiply(mx.equal(mx.reshape(mx.arange(96 * 64), [96, 64]), i * 64 + j), delta);
        mlp.upProj.weight = mx.add(w, onehot);
        const v = f().item() as number;
        mlp.upProj.weight = w;
        return v;
      };
      const numeric = (bump(eps) - bump(-eps)) / (2 * eps);
      const analytic = g.index(i, j).item() as number;
      expect(Math.abs(numeric - analytic), `[${i}, ${j}]`).toBeLessThan(1e-2 * Math.max(1, Math.abs(analytic)));
    }
  });

  it('nn quantize applies to the model, and freeze leaves nothing trainable', () => {
    const m = randomModel();
    const ids = mx.array([PROMPT.map((x) => x % 256)], 'int32');
    const before = m.forward(ids);
    quantize(m, { bits: 8, groupSize: 32 });
    expect(m.model.layers[0].selfAttn.qProj).toBeInstanceOf(QuantizedLinear);
    expect(maxAbsDiff(m.forward(ids), before)).toBeLessThan(0.1);
    m.freeze();
    expect(m.namedTrainableParameters()).toEqual([]);
  });

  it('rope scaling from the config: linear and yarn', () => {
    const ids = mx.array([PROMPT.map((x) => x % 256)], 'int32');
    const plain = randomModel().forward(ids);
    const linear = randomModel({ rope_scaling: { type: 'linear', factor: 4 } });
    expect(linear.model.layers[0].selfAttn.rope.constructor.name).toBe('RoPE');
    expect(maxAbsDiff(linear.forward(ids), plain)).toBeGreaterThan(1e-4);
    const yarn = randomModel({ rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } });
    expect(yarn.model.layers[0].selfAttn.rope.constructor.name).toBe('YarnRoPE');
    expect(() => randomModel({ rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(/rope_scaling type 'dynamic' is not supported/);
  });
});
