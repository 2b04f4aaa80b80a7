// Layers, activations and initialisers against Python mlx.nn / mlx-lm (tooling/reference/nn_golden.py).
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';
import { close, g } from './helpers.js';

describe('activations', () => {
  const x = g('act.x');
  const cases: [string, (v: mx.Array) => mx.Array][] = [
    ['relu', nn.relu],
    ['relu6', nn.relu6],
    ['leaky_relu', (v) => nn.leakyRelu(v)],
    ['elu', (v) => nn.elu(v)],
    ['celu', (v) => nn.celu(v)],
    ['selu', nn.selu],
    ['softplus', nn.softplus],
    ['softsign', nn.softsign],
    ['softshrink', (v) => nn.softshrink(v)],
    ['hard_tanh', (v) => nn.hardTanh(v)],
    ['hard_swish', nn.hardSwish],
    ['log_sigmoid', nn.logSigmoid],
    ['silu', nn.silu],
    ['mish', nn.mish],
    ['gelu', nn.gelu],
    ['gelu_approx', nn.geluApprox],
    ['gelu_fast_approx', nn.geluFastApprox],
    ['sigmoid', nn.sigmoid],
    ['tanh', nn.tanh],
    ['relu_squared', nn.reluSquared],
    ['step', (v) => nn.step(v)],
  ];
  it.each(cases)('%s', (name, f) => close(f(x), g(`act.${name}`), 1e-6, 1e-5));
  it('glu', () => close(nn.glu(g('act.glu_in')), g('act.glu')));
  it('module forms match the functions', () => {
    close(new nn.GELU('tanh').forward(x), g('act.gelu_approx'), 1e-6);
    close(new nn.GELU('fast').forward(x), g('act.gelu_fast_approx'), 1e-6);
    close(new nn.Sequential(new nn.ReLU(), nn.tanh).forward(x), nn.tanh(nn.relu(x)));
    expect(() => new nn.GELU('bad' as 'none')).toThrow(/approx must be/);
  });
  it('swiglu is silu(gate) · x', () => {
    const a = mx.array([1, -2, 3]);
    const b = mx.array([0.5, 2, -1]);
    close(nn.swiglu(a, b), mx.multiply(nn.silu(a), b));
  });
  it('swiglu fused into one kernel (a prefill-sized input) gives the same bits as the plain ops', () => {
    mx.random.seed(3);
    const gate = mx.random.normal([4, 128, 256]);
    const x = mx.random.normal([4, 128, 256]);
    expect(mx.arrayEqual(nn.swiglu(gate, x), mx.multiply(nn.silu(gate), x)).item()).toBe(true);
  });
});

describe('seeded initialisation matches MLX exactly', () => {
  it('Linear', () => {
    mx.random.seed(42);
    const lin = new nn.Linear(6, 5);
    close(lin.weight, g('linear.weight'), 0, 0);
    close(lin.bias!, g('linear.bias'), 0, 0);
    close(lin.forward(g('linear.x')), g('linear.y'));
  });
  it('Embedding (+ asLinear)', () => {
    mx.random.seed(43);
    // Drawn on the CPU: the golden is the CPU's normal draw bit for bit, and MLX's CUDA normal
    // differs from it in the last bit (docs/gpu.md).
    const emb = mx.withStream('cpu', () => new nn.Embedding(11, 4));
    close(emb.weight, g('embedding.weight'), 0, 0);
    close(emb.forward(g('embedding.ids')), g('embedding.y'), 0, 0);
    close(emb.asLinear(g('linear.x').index('...', mx.sl(0, 4))), g('embedding.as_linear'));
  });
  it('initialisers', () => {
    const w = mx.zeros([4, 6]);
    mx.random.seed(5);
    close(nn.init.glorotUniform()(w), g('init.glorot_uniform'), 0, 0);
    mx.random.seed(6);
    close(nn.init.heNormal()(w), g('init.he_normal'), 1e-7, 1e-6);
    mx.random.seed(7);
    close(nn.init.heUniform()(w, 'fan_out', 2), g('init.he_uniform_fan_out'), 1e-7, 1e-6);
    expect(nn.init.constant(3)(w).tolist()).toEqual(Array.from({ length: 4 }, () => Array(6).fill(3)));
    expect(() => nn.init.glorotNormal()(mx.zeros([3]))).toThrow(/at least 2 dimensions/);
  });
  it('Dropout in training mode; identity in eval mode', () => {
    mx.random.seed(9);
    const d = new nn.Dropout(0.25);
    close(d.forward(g('dropout.x')), g('dropout.y'), 0, 0);
    d.eval();
    close(d.forward(g('dropout.x')), g('dropout.x'), 0, 0);
    expect(() => new nn.Dropout(1)).toThrow(/p must be in \[0, 1\)/);
  });
});

describe('normalisation', () => {
  const x = g('norm.x');
  it('RMSNorm', () => {
    const n = new nn.RMSNorm(8);
    n.weight = g('rms.weight');
    close(n.forward(x), g('rms.y'));
  });
  it('LayerNorm (affine and plain)', () => {
    const n = new nn.LayerNorm(8);
    n.update({ weight: g('ln.weight'), bias: g('ln.bias') });
    close(n.forward(x), g('ln.y'), 1e-5);
    const plain = new nn.LayerNorm(8, { affine: false });
    expect(plain.namedParameters()).toEqual([]);
    close(plain.forward(x), g('ln_plain.y'), 1e-5);
  });
});

describe('RoPE', () => {
  const x = g('rope.x');
  it('default, traditional with base, partial with scale', () => {
    close(new nn.RoPE(16).forward(x, 3), g('rope.default'));
    close(new nn.RoPE(16, { traditional: true, base: 500 }).forward(x, 2), g('rope.traditional'));
    close(new nn.RoPE(8, { scale: 0.5 }).forward(x), g('rope.partial_scaled'));
  });
  it('linear scaling as mlx-lm builds it', () => {
    const rope = nn.initializeRope(16, { scalingConfig: { rope_type: 'linear', factor: 4 } });
    close(rope.forward(x, 1), g('rope.linear'));
  });
  it('YaRN as Qwen3 checkpoints configure it', () => {
    const rope = nn.initializeRope(16, {
      base: 1e6,
      scalingConfig: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 },
      maxPositionEmbeddings: 131072,
    });
    expect(rope).toBeInstanceOf(nn.YarnRoPE);
    close(rope.forward(x, 7), g('rope.yarn'), 1e-5, 1e-4);
  });
  it('YaRN with mscale on part of the features', () => {
    const rope = nn.initializeRope(8, {
      scalingConfig: {
        type: 'yarn',
        factor: 8,
        original_max_position_embeddings: 64,
        // biome-ignore lint/suspicious/noApproximativeNumericConstant: the value tooling/reference/nn_golden.py made the golden with, not 1/√2
        mscale: 0.707,
        mscale_all_dim: 0.3,
        beta_fast: 16,
        beta_slow: 2,
      },
    });
    close(rope.forward(x), g('rope.yarn_mscale'), 1e-5, 1e-4);
  });
  it('rejects unknown scaling types and bad factors', () => {
    expect(() => nn.initializeRope(8, { scalingConfig: { rope_type: 'weird' } })).toThrow(/unsupported rope_scaling type 'weird'/);
    expect(() => nn.initializeRope(8, { scalingConfig: { rope_type: 'linear' } })).toThrow(/needs a positive 'factor'/);
  });
});

describe('MultiHeadAttention', () => {
  it('matches mlx.nn with an additive causal mask', () => {
    const mha = new nn.MultiHeadAttention(8, 2, { bias: true });
    mha.loadWeights(
      ['query_proj', 'key_proj', 'value_proj', 'out_proj'].flatMap((p) => [
        [`${p}.weight`, g(`mha.${p}.weight`)] as [string, mx.Array],
        [`${p}.bias`, g(`mha.${p}.bias`)] as [string, mx.Array],
      ]),
    );
    const kv = g('mha.kv');
    close(mha.forward(g('mha.q'), kv, kv, nn.MultiHeadAttention.createAdditiveCausalMask(4)), g('mha.y'), 1e-5, 1e-4);
  });
  it('grouped-query heads on the fused kernel equal repeated key/value heads', () => {
    const y = mx.fast.scaledDotProductAttention(g('gqa.q'), g('gqa.k'), g('gqa.v'), { scale: 0.5, mask: 'causal' });
    close(y, g('gqa.y'), 1e-5, 1e-4);
  });
  it('GQA module: shapes, projections and validation', () => {
    const mha = new nn.MultiHeadAttention(16, 4, { numKvHeads: 2 });
    expect(mha.keyProj.weight.shape).toEqual([8, 16]);
    expect(mha.forward(mx.ones([2, 3, 16]), mx.ones([2, 5, 16]), mx.ones([2, 5, 16])).shape).toEqual([2, 3, 16]);
    expect(() => new nn.MultiHeadAttention(16, 4, { numKvHeads: 3 })).toThrow(/multiple of numKvHeads/);
    expect(() => new nn.MultiHeadAttention(10, 4)).toThrow(/divisible by numHeads/);
  });
});
