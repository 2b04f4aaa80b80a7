// parseQwen3Config: Hugging Face keys and defaults in, camelCase out; clear errors.
import { describe, expect, it } from 'vitest';
import { parseQwen3Config } from '../src/index.js';

// The shape of Qwen/Qwen3-0.6B's config.json (as transformers writes it).
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.51.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

describe('parseQwen3Config', () => {
  it('maps a Hugging Face Qwen3 config to camelCase', () => {
    const c = parseQwen3Config(QWEN3_06B);
    expect(c).toMatchObject({
      modelType: 'qwen3',
      vocabSize: 151936,
      hiddenSize: 1024,
      intermediateSize: 3072,
      numHiddenLayers: 28,
      numAttentionHeads: 16,
      numKeyValueHeads: 8,
      headDim: 128,
      maxPositionEmbeddings: 40960,
      rmsNormEps: 1e-6,
      ropeTheta: 1000000,
      ropeScaling: null,
      tieWordEmbeddings: true,
      bosTokenId: 151643,
      eosTokenIds: [151645],
      numExperts: 0,
      quantization: null,
    });
    expect(c.raw.transformers_version).toBe('4.51.0');
  });

  it('fills defaults as transformers does (head_dim, kv heads, eps, tie)', () => {
    const c = parseQwen3Config({
      model_type: 'qwen3',
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
    });
    expect(c).toMatchObject({
      headDim: 16,
      numKeyValueHeads: 4,
      rmsNormEps: 1e-6,
      tieWordEmbeddings: false,
      vocabSize: 151936,
      eosTokenIds: [],
    });
  });

  it('Qwen3-MoE keys', () => {
    const c = parseQwen3Config({
      ...QWEN3_06B,
      model_type: 'qwen3_moe',
      num_experts: 128,
      num_experts_per_tok: 8,
      moe_intermediate_size: 768,
      decoder_sparse_step: 1,
      mlp_only_layers: [0],
      norm_topk_prob: true,
      eos_token_id: [151645, 151643],
    });
    expect(c).toMatchObject({
      modelType: 'qwen3_moe',
      numExperts: 128,
      numExpertsPerTok: 8,
      moeIntermediateSize: 768,
      mlpOnlyLayers: [0],
      normTopkProb: true,
      eosTokenIds: [151645, 151643],
    });
    expect(() =>
      parseQwen3Config({ ...QWEN3_06B, model_type: 'qwen3_moe', num_experts: 4, num_experts_per_tok: 5, moe_intermediate_size: 8 }),
    ).toThrow(/num_experts_per_tok must be between 1 and num_experts \(4\)/);
  });

  it('rope settings nested under rope_parameters (transformers ≥ 5)', () => {
    const { rope_theta: _t, rope_scaling: _s, ...rest } = QWEN3_06B;
    const c = parseQwen3Config({
      ...rest,
      rope_parameters: { rope_type: 'yarn', rope_theta: 5e5, factor: 4, original_max_position_embeddings: 32768 },
    });
    expect(c.ropeTheta).toBe(5e5);
    expect(c.ropeScaling).toMatchObject({ rope_type: 'yarn', factor: 4 });
    expect(parseQwen3Config({ ...rest, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } }).ropeScaling).toBeNull();
  });

  it('quantization as mlx-community writes it (per-model and per-layer), or under quantization_config', () => {
    const q = { group_size: 64, bits: 4, 'model.layers.0.mlp.gate': { group_size: 64, bits: 8 }, lm_head: false };
    const c = parseQwen3Config({ ...QWEN3_06B, quantization: q });
    expect(c.quantization).toEqual({
      groupSize: 64,
      bits: 4,
      mode: 'affine',
      layers: { 'model.layers.0.mlp.gate': { groupSize: 64, bits: 8, mode: 'affine' }, lm_head: false },
    });
    expect(
      parseQwen3Config({ ...QWEN3_06B, quantization_config: { group_size: 32, bits: 8, quant_method: 'mlx' } }).quantization,
    ).toMatchObject({ groupSize: 32, bits: 8, layers: {} });
  });

  it('another architecture, or bad values, are named in the error', () => {
    expect(() => parseQwen3Config({ ...QWEN3_06B, model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'] })).toThrow(
      /model_type is "qwen2" \(architectures: Qwen2ForCausalLM\); this package loads 'qwen3' and 'qwen3_moe' models only/,
    );
    expect(() => parseQwen3Config([])).toThrow(/expected a JSON object/);
    expect(() => parseQwen3Config({ ...QWEN3_06B, hidden_size: '1024' })).toThrow(
      /hidden_size: Invalid input: expected number, received string/,
    );
    expect(() => parseQwen3Config({ ...QWEN3_06B, num_key_value_heads: 3 })).toThrow(/multiple of num_key_value_heads/);
    expect(() => parseQwen3Config({ ...QWEN3_06B, attention_bias: true })).toThrow(/attention_bias/);
    const { intermediate_size: _i, ...noInter } = QWEN3_06B;
    expect(() => parseQwen3Config(noInter)).toThrow(/intermediate_size is required/);
    expect(() => parseQwen3Config({ ...QWEN3_06B, quantization: { bits: -4 } })).toThrow(/quantization.bits/);
    expect(() => parseQwen3Config({ ...QWEN3_06B, quantization_config: { quant_method: 'fp8', weight_block_size: [128, 128] } })).toThrow(
      /quantization method "fp8" is not supported/,
    );
  });
});
