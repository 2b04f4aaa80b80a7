/**
 * Model shapes shared by the generation benchmarks (`MLXN_BENCH_PRESET`): the default small
 * float32 Qwen3 that a 2-core CPU runs in minutes, `tiny` (8 layers, hidden 128: per-step costs
 * dominate) and `qwen3-0.6b` (Qwen3-0.6B's shapes in bfloat16, for a GPU). Weights are random.
 */
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';

export interface Qwen3Preset {
  name: string;
  config: Record<string, unknown>;
  dtype: mx.Dtype;
}

const base = { model_type: 'qwen3', max_position_embeddings: 40960, rms_norm_eps: 1e-6, rope_theta: 1000000, eos_token_id: 151645 };

const presets: Record<string, Qwen3Preset> = {
  'small-float32': {
    name: 'small-float32',
    config: {
      ...base,
      vocab_size: 32000,
      hidden_size: 512,
      intermediate_size: 1408,
      num_hidden_layers: 4,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      head_dim: 64,
      max_position_embeddings: 4096,
      tie_word_embeddings: false,
      torch_dtype: 'float32',
    },
    dtype: 'float32',
  },
  tiny: {
    name: 'tiny',
    config: {
      ...base,
      vocab_size: 32000,
      hidden_size: 128,
      intermediate_size: 384,
      num_hidden_layers: 8,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 32,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
    },
    dtype: 'float32',
  },
  'qwen3-0.6b': {
    name: 'qwen3-0.6b',
    config: {
      ...base,
      vocab_size: 151936,
      hidden_size: 1024,
      intermediate_size: 3072,
      num_hidden_layers: 28,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      head_dim: 128,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
    },
    dtype: 'bfloat16',
  },
};

/** The preset `MLXN_BENCH_PRESET` names (default `small-float32`). */
export function benchPreset(name = process.env.MLXN_BENCH_PRESET ?? 'small-float32'): Qwen3Preset {
  const p = presets[name];
  if (!p) throw new Error(`unknown MLXN_BENCH_PRESET ${name} (${Object.keys(presets).join(', ')})`);
  return p;
}

/** Deterministic prompt ids below the vocabulary (a small LCG: the same on both sides). */
export function promptIds(seed: number, n: number, vocab: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

/**
 * Writes random weights of `preset` (seed 0) with the Qwen3 tokenizer into `folder`, so both
 * sides of a benchmark load the same checkpoint. `MLXN_TOKENIZER_DIR` says where
 * tokenizer.json lives on a machine without the repository's node_modules.
 */
export async function writeBenchModel(preset: Qwen3Preset, folder: string, tokenizerDir: string): Promise<void> {
  const mxm = await import('@mlxn/core');
  const { Qwen3, parseQwen3Config } = await import('@mlxn/models-qwen3');
  const { copyFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  mxm.random.seed(0);
  const random = new Qwen3(parseQwen3Config(preset.config));
  random.setDtype(preset.dtype);
  mxm.eval(random.parameters());
  await random.save(folder);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizerDir, f), join(folder, f));
  mxm.dispose(random.parameters());
}

/**
 * The model in `folder` quantized as mlx-lm's `convert -q` does (affine, `bits`, group size 64),
 * saved with its tokenizer into a new folder beside it, whose path is returned: both sides of a
 * benchmark then load the same quantized checkpoint.
 */
export async function quantizeBenchModel(folder: string, bits: number): Promise<string> {
  const { Qwen3 } = await import('@mlxn/models-qwen3');
  const { copyFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const mxm = await import('@mlxn/core');
  const model = await Qwen3.load(folder, { truncatedVocab: true, quantize: { bits, groupSize: 64 } });
  const out = `${folder}-q${bits}`;
  await model.save(out);
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(folder, f), join(out, f));
  mxm.dispose(model.parameters());
  return out;
}

/** The switches of the decode path that a generation benchmark ran under. */
const DECODE_SWITCHES = ['MLX_CUDA_USE_CUDNN_SDPA', 'MLXN_NATIVE_FORWARD', 'MLXN_EVAL_THREAD', 'MLXN_FUSED_PROJECTIONS'];

/** The head of a generation benchmark's JSON report: what ran, on which build, device and switches. */
export function benchReportHead(benchmark: string) {
  return {
    benchmark,
    build: native.bindingProfile(),
    mlx: mx.mlxVersion,
    device: mx.defaultDevice().type,
    env: Object.fromEntries(DECODE_SWITCHES.map((k) => [k, process.env[k] ?? null])),
  };
}
