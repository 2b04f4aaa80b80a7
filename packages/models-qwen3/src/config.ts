/**
 * Qwen3 / Qwen3-MoE `config.json`: validated with zod, Hugging Face keys and defaults in,
 * camelCase out. The raw object is kept so `save` writes back exactly what it read (plus what
 * loading changed, such as quantization).
 */
import type { QuantizationOptions, RopeScalingConfig } from '@mlxn/nn';
import { z } from 'zod';
import { type ReconciledKeys, reconcileGenerations } from './config-generations.js';

/** Quantization of a checkpoint, as mlx-community writes it under `quantization`. */
export interface Qwen3Quantization {
  groupSize: number;
  bits: number;
  mode: 'affine' | 'mxfp4' | 'mxfp8' | 'nvfp4';
  /** Per-layer settings by checkpoint path (`model.layers.0.mlp.gate`); `false` keeps a layer in floating point. */
  layers: Record<string, QuantizationOptions | false>;
}

export interface Qwen3Config {
  modelType: 'qwen3' | 'qwen3_moe';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScalingConfig | null;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  /** End-of-sequence ids from `eos_token_id` (a number or a list in config.json). */
  eosTokenIds: number[];
  /** MoE only (0 for dense Qwen3). */
  numExperts: number;
  numExpertsPerTok: number;
  decoderSparseStep: number;
  mlpOnlyLayers: number[];
  moeIntermediateSize: number;
  normTopkProb: boolean;
  quantization: Qwen3Quantization | null;
  /** The object as read (snake_case keys); `save` writes it back. */
  raw: Record<string, unknown>;
}

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const quantMode = z.enum(['affine', 'mxfp4', 'mxfp8', 'nvfp4']);
const layerQuant = z.union([
  z.literal(false),
  z.object({ group_size: posInt.optional(), bits: posInt.optional(), mode: quantMode.optional() }).passthrough(),
]);
// mlx-community writes `{ group_size, bits, mode?, "<path>": {group_size, bits} | false, ... }`.
const quantSchema = z.object({ group_size: posInt.optional(), bits: posInt.optional(), mode: quantMode.optional() }).catchall(z.unknown());

const ropeScalingSchema = z
  .object({ type: z.string().optional(), rope_type: z.string().optional(), factor: z.number().positive().optional() })
  .passthrough();

const schema = z
  .object({
    model_type: z.enum(['qwen3', 'qwen3_moe']),
    vocab_size: posInt.default(151936),
    hidden_size: posInt,
    intermediate_size: posInt.optional(),
    num_hidden_layers: posInt,
    num_attention_heads: posInt,
    num_key_value_heads: posInt.optional(),
    head_dim: posInt.nullish(),
    max_position_embeddings: posInt.default(32768),
    rms_norm_eps: z.number().positive().default(1e-6),
    rope_theta: z.number().positive().optional(),
    rope_scaling: ropeScalingSchema.nullish(),
    rope_parameters: ropeScalingSchema.extend({ rope_theta: z.number().positive().optional() }).nullish(),
    tie_word_embeddings: z.boolean().default(false),
    attention_bias: z.boolean().default(false),
    hidden_act: z.string().default('silu'),
    bos_token_id: nonNegInt.nullish(),
    eos_token_id: z.union([nonNegInt, z.array(nonNegInt)]).nullish(),
    num_experts: nonNegInt.optional(),
    num_local_experts: nonNegInt.optional(),
    dtype: z.string().nullish(),
    torch_dtype: z.string().nullish(),
    num_experts_per_tok: posInt.optional(),
    decoder_sparse_step: posInt.default(1),
    mlp_only_layers: z.array(nonNegInt).default([]),
    moe_intermediate_size: posInt.optional(),
    norm_topk_prob: z.boolean().default(false),
    quantization: quantSchema.nullish(),
    quantization_config: quantSchema.nullish(),
  })
  .passthrough();

/**
 * The largest sizes a config may ask for. A config is read from a file before any weight is
 * checked, and building a model allocates per layer and per size, so an absurd value
 * (`num_hidden_layers: 1e7`) would exhaust memory; each limit sits far above every published
 * Qwen3 model. Raise one with `Qwen3.load(folder, { configLimits: { numHiddenLayers: 4096 } })`
 * or `parseQwen3Config(raw, { limits })`.
 */
export interface Qwen3ConfigLimits {
  numHiddenLayers: number;
  hiddenSize: number;
  intermediateSize: number;
  moeIntermediateSize: number;
  vocabSize: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  numExperts: number;
}

/** The default `Qwen3ConfigLimits`. */
export const QWEN3_CONFIG_LIMITS: Readonly<Qwen3ConfigLimits> = Object.freeze({
  numHiddenLayers: 1024,
  hiddenSize: 65_536,
  intermediateSize: 1_048_576,
  moeIntermediateSize: 1_048_576,
  vocabSize: 4_194_304,
  numAttentionHeads: 1024,
  numKeyValueHeads: 1024,
  headDim: 4096,
  maxPositionEmbeddings: 16_777_216,
  numExperts: 4096,
});

const LIMIT_KEYS: Record<keyof Qwen3ConfigLimits, string> = {
  numHiddenLayers: 'num_hidden_layers',
  hiddenSize: 'hidden_size',
  intermediateSize: 'intermediate_size',
  moeIntermediateSize: 'moe_intermediate_size',
  vocabSize: 'vocab_size',
  numAttentionHeads: 'num_attention_heads',
  numKeyValueHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  maxPositionEmbeddings: 'max_position_embeddings',
  numExperts: 'num_experts',
};

/** transformers 5's names of limited keys (see config-generations.ts). */
const LIMIT_ALIASES: Record<string, keyof Qwen3ConfigLimits> = { num_local_experts: 'numExperts' };

/** Checks a `Partial<Qwen3ConfigLimits>` given by the caller and merges it over the defaults. */
export function resolveConfigLimits(limits: unknown, where: string): Qwen3ConfigLimits {
  if (limits === undefined) return { ...QWEN3_CONFIG_LIMITS };
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits))
    throw new TypeError(`${where}: configLimits must be an object`);
  const out: Qwen3ConfigLimits = { ...QWEN3_CONFIG_LIMITS };
  for (const [k, v] of Object.entries(limits)) {
    if (!Object.hasOwn(LIMIT_KEYS, k))
      throw new TypeError(`${where}: configLimits: unknown limit ${JSON.stringify(k)} (known: ${Object.keys(LIMIT_KEYS).join(', ')})`);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      throw new TypeError(`${where}: configLimits.${k} must be a positive integer, got ${String(v)}`);
    out[k as keyof Qwen3ConfigLimits] = v;
  }
  return out;
}

function checkLimits(c: Record<string, unknown>, limits: Qwen3ConfigLimits): void {
  for (const [name, key] of Object.entries(LIMIT_KEYS) as [keyof Qwen3ConfigLimits, string][]) {
    const v = c[key];
    if (typeof v === 'number' && v > limits[name]) {
      throw new RangeError(
        `Qwen3 config: ${key} = ${v} exceeds the limit of ${limits[name]} (raise it with the configLimits option: { ${name}: ${v} })`,
      );
    }
  }
  for (const [key, name] of Object.entries(LIMIT_ALIASES)) {
    const v = c[key];
    if (typeof v === 'number' && v > limits[name]) {
      throw new RangeError(
        `Qwen3 config: ${key} = ${v} exceeds the limit of ${limits[name]} (raise it with the configLimits option: { ${name}: ${v} })`,
      );
    }
  }
}

function issueText(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

function parseQuantization(q: z.infer<typeof quantSchema>): Qwen3Quantization {
  const mode = q.mode ?? 'affine';
  const defaults: Record<string, [number, number]> = { affine: [64, 4], mxfp4: [32, 4], mxfp8: [32, 8], nvfp4: [16, 4] };
  const [g, b] = defaults[mode];
  // Keys are module paths from config.json: no prototype, so `__proto__` stays an ordinary key.
  const layers = Object.create(null) as Record<string, QuantizationOptions | false>;
  for (const [k, v] of Object.entries(q)) {
    if (k === 'group_size' || k === 'bits' || k === 'mode' || k === 'quant_method') continue;
    const r = layerQuant.safeParse(v);
    // Non-layer entries (strings and numbers such as transformers' quant_method) are skipped.
    if (!r.success || v === true) continue;
    layers[k] =
      r.data === false
        ? false
        : { groupSize: r.data.group_size ?? q.group_size ?? g, bits: r.data.bits ?? q.bits ?? b, mode: r.data.mode ?? mode };
  }
  return { groupSize: q.group_size ?? g, bits: q.bits ?? b, mode, layers };
}

/**
 * Parses a Qwen3 or Qwen3-MoE `config.json` object. Unknown keys are kept in `raw`; a config of
 * another architecture, or one missing required sizes, throws an error naming the problem.
 *
 * @example
 * const config = parseQwen3Config(JSON.parse(readFileSync('config.json', 'utf8')));
 * config.numHiddenLayers; // 28
 */
export function parseQwen3Config(raw: unknown, options: { limits?: Partial<Qwen3ConfigLimits> } = {}): Qwen3Config {
  const limits = resolveConfigLimits(options.limits, 'parseQwen3Config');
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TypeError('Qwen3 config: expected a JSON object');
  const rec = raw as Record<string, unknown>;
  if (rec.model_type !== 'qwen3' && rec.model_type !== 'qwen3_moe') {
    const arch = Array.isArray(rec.architectures) ? ` (architectures: ${rec.architectures.join(', ')})` : '';
    throw new Error(
      `Qwen3 config: model_type is ${JSON.stringify(rec.model_type)}${arch}; this package loads 'qwen3' and 'qwen3_moe' models only`,
    );
  }
  const reserved = reservedKeyPath(rec);
  if (reserved !== undefined) throw new Error(`Qwen3 config: key '__proto__' is not allowed (at ${reserved})`);
  const r = schema.safeParse(rec);
  if (!r.success) throw new Error(`Qwen3 config (${rec.model_type}): ${issueText(r.error)}`);
  const c = r.data;
  checkLimits(c, limits);
  const moe = c.model_type === 'qwen3_moe';
  if (c.attention_bias) throw new Error('Qwen3 config: attention_bias = true is not supported (Qwen3 projections have no bias)');
  if (c.hidden_act !== 'silu') throw new Error(`Qwen3 config: hidden_act '${c.hidden_act}' is not supported (only 'silu')`);
  const numKeyValueHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKeyValueHeads !== 0) {
    throw new Error(
      `Qwen3 config: num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${numKeyValueHeads})`,
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`Qwen3 config: head_dim ${headDim} must be an even integer`);
  let reconciled: ReconciledKeys;
  try {
    reconciled = reconcileGenerations(c);
  } catch (e) {
    throw new Error(`Qwen3 config: ${(e as Error).message}`);
  }
  const { ropeTheta, ropeScaling } = reconciled;
  if (ropeScaling) {
    const t = ropeScaling.type ?? ropeScaling.rope_type ?? 'default';
    if (!['default', 'linear', 'yarn', 'mrope'].includes(t))
      throw new Error(`Qwen3 config: rope_scaling type '${t}' is not supported (default, linear, yarn)`);
    if (t === 'linear' || t === 'yarn') {
      if (typeof ropeScaling.factor !== 'number') throw new Error(`Qwen3 config: rope_scaling '${t}' needs a numeric 'factor'`);
    }
  }
  const intermediateSize = c.intermediate_size;
  const numExperts = moe ? reconciled.numExperts : 0;
  if (moe) {
    if (numExperts < 1) throw new Error('Qwen3 config: qwen3_moe needs num_experts (or num_local_experts) ≥ 1');
    if (c.num_experts_per_tok === undefined || c.num_experts_per_tok > numExperts) {
      throw new Error(`Qwen3 config: num_experts_per_tok must be between 1 and num_experts (${numExperts}), got ${c.num_experts_per_tok}`);
    }
    if (c.moe_intermediate_size === undefined) throw new Error('Qwen3 config: qwen3_moe needs moe_intermediate_size');
  }
  const numLayers = c.num_hidden_layers;
  const outside = c.mlp_only_layers.find((i) => i >= numLayers);
  if (outside !== undefined)
    throw new RangeError(`Qwen3 config: mlp_only_layers names layer ${outside}, but the model has ${numLayers} layers (num_hidden_layers)`);
  const needsDense =
    !moe ||
    Array.from({ length: numLayers }, (_, i) => !isSparseLayer(i, c.mlp_only_layers, numExperts, c.decoder_sparse_step)).some(Boolean);
  if (needsDense && intermediateSize === undefined) throw new Error('Qwen3 config: intermediate_size is required');
  const q = c.quantization ?? c.quantization_config ?? null;
  const method = q?.quant_method;
  // transformers' own quantization formats (fp8, gptq, awq, bitsandbytes, ...) are not MLX's.
  if (method !== undefined && method !== 'mlx') {
    throw new Error(
      `Qwen3 config: quantization method ${JSON.stringify(method)} is not supported (MLX-quantized checkpoints only, as mlx-community writes them)`,
    );
  }
  const eos = c.eos_token_id;
  return {
    modelType: c.model_type,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: intermediateSize ?? 0,
    numHiddenLayers: numLayers,
    numAttentionHeads: c.num_attention_heads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings: c.max_position_embeddings,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta,
    ropeScaling,
    tieWordEmbeddings: c.tie_word_embeddings,
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos],
    numExperts,
    // Both are checked above whenever the model is a qwen3_moe.
    numExpertsPerTok: moe ? (c.num_experts_per_tok ?? 0) : 0,
    decoderSparseStep: c.decoder_sparse_step,
    mlpOnlyLayers: c.mlp_only_layers,
    moeIntermediateSize: moe ? (c.moe_intermediate_size ?? 0) : 0,
    normTopkProb: c.norm_topk_prob,
    quantization: q ? parseQuantization(q) : null,
    raw: { ...rec },
  };
}

/**
 * The path of the first own `__proto__` key in a parsed config, if any. JSON.parse keeps such a
 * key as data, but the schema copies objects by assignment and would drop it without a word.
 * Iterative, so a deeply nested file cannot overflow the stack.
 */
function reservedKeyPath(root: object): string | undefined {
  const stack: [unknown, string][] = [[root, '(root)']];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, path] = top;
    if (v === null || typeof v !== 'object') continue;
    if (Object.hasOwn(v, '__proto__')) return path;
    for (const [k, child] of Object.entries(v)) stack.push([child, `${path}.${k}`]);
  }
  return undefined;
}

/** Whether decoder layer `i` of a MoE config uses the sparse block (mlx-lm's rule). */
export function isSparseLayer(i: number, mlpOnlyLayers: readonly number[], numExperts: number, decoderSparseStep: number): boolean {
  return !mlpOnlyLayers.includes(i) && numExperts > 0 && (i + 1) % decoderSparseStep === 0;
}

/** `Qwen3Quantization` back to the snake_case shape config.json (and nn's quantizeFromCheckpoint) use. */
export function quantizationToJson(q: Qwen3Quantization): Record<string, unknown> {
  const out = Object.assign(Object.create(null), { group_size: q.groupSize, bits: q.bits }) as Record<string, unknown>;
  if (q.mode !== 'affine') out.mode = q.mode;
  for (const [k, v] of Object.entries(q.layers)) {
    out[k] = v === false ? false : { group_size: v.groupSize, bits: v.bits, ...(v.mode && v.mode !== 'affine' ? { mode: v.mode } : {}) };
  }
  return out;
}
