/**
 * The Qwen3 / Qwen3-MoE network (mlx-lm's `models/qwen3.py` and `qwen3_moe.py` semantics).
 * Property names mirror checkpoint keys (`model.layers.0.self_attn.q_proj.weight`), so weights
 * load by tree path; everything that is not a parameter lives in `_`-prefixed fields.
 */

import type { QuantizedTriple } from '@mlxn/cache';
import {
  type AttentionMask,
  attentionMask,
  type Cache,
  makePromptCache,
  type PromptCacheOptions,
  quantizedScaledDotProductAttention,
} from '@mlxn/cache';
import * as mx from '@mlxn/core';
import type { ChatMessage, Tokenizer } from '@mlxn/io';
import {
  Embedding,
  initializeRope,
  Linear,
  Module,
  type QuantizedEmbedding,
  type QuantizedLinear,
  RMSNorm,
  type RoPE,
  swiglu,
  type YarnRoPE,
} from '@mlxn/nn';
import { isSparseLayer, type Qwen3Config } from './config.js';
import { fuseProjections } from './fused-projections.js';
import { type BatchGenerateOptions, type BatchPrompt, type BatchResults, batchGenerate } from './lm/batch.js';
import type { ChatOptions, ChatPart, ChatResult } from './lm/chat.js';
import { type GenerationChunk, type GenerationResult, generate, stream } from './lm/generate.js';
import type { GenerationDefaults, ParsedGenerationConfig } from './lm/generation-config.js';
import { type CompletionLogprobsOptions, completionLogprobs, type TokenLogprobs } from './lm/logprobs.js';
import type { GenerateOptions, Prompt } from './lm/options.js';
import { type LoadOptions, loadQwen3 } from './load.js';
import { Qwen3SparseMoeBlock } from './moe.js';
import { nativeForward } from './native-forward.js';
import { chat, chatStream } from './qwen3-chat.js';
import { type SaveOptions, saveQwen3 } from './save.js';

/**
 * Whether `makeCache` stacks projections (fused-projections.ts): by default on a GPU, where a
 * matmul's encode cost is what stacking saves; on a CPU it measured no better (2-core machine,
 * small-float32 at batch 8). `MLXN_FUSED_PROJECTIONS=1` stacks on any device, `0` never.
 */
function fusionWanted(): boolean {
  const v = process.env.MLXN_FUSED_PROJECTIONS;
  if (v === '1' || v === '0') return v === '1';
  return mx.defaultDevice().type === 'gpu';
}

/** What a layer's cache offers the attention (every cache of @mlxn/cache has these). */
interface LayerCache extends Cache {
  readonly offset: number | mx.Array;
  updateAndFetch(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array] | [QuantizedTriple, QuantizedTriple];
  makeMask?(n: number, options?: { returnArray?: boolean; windowSize?: number }): AttentionMask;
  readonly bits?: number;
  readonly groupSize?: number;
}

/** The mask argument of `forward`: `'causal'`, an explicit boolean/additive mask, or none. */
export type ForwardMask = 'causal' | mx.Array | null;

export interface ForwardOptions {
  /** One cache per layer (`model.makeCache()`); keys and values are appended to it. */
  cache?: readonly Cache[];
  /**
   * Attention mask; by default the first cache's `makeMask` (causal, padding hidden for a
   * `BatchKVCache`), or causal without a cache.
   */
  mask?: ForwardMask;
  /**
   * Only the caches of this call will be used (a prompt's prefill). Where the network runs
   * natively, a long input (1,024 rows or more) is then evaluated layer by layer as it is
   * built, so only a few layers' activations are alive at once instead of nearly all of them;
   * the result is the same. Ignored under autograd and `compile`.
   */
  prefill?: boolean;
}

type Proj = Linear | QuantizedLinear;

/** Grouped-query attention with per-head RMS-normalised queries and keys and rotary positions. */
export class Qwen3Attention extends Module {
  qProj: Proj;
  kProj: Proj;
  vProj: Proj;
  oProj: Proj;
  qNorm: RMSNorm;
  kNorm: RMSNorm;
  rope: RoPE | YarnRoPE;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly scale: number;

  constructor(c: Qwen3Config) {
    super();
    const d = c.hiddenSize;
    this.nHeads = c.numAttentionHeads;
    this.nKvHeads = c.numKeyValueHeads;
    this.headDim = c.headDim;
    this.scale = c.headDim ** -0.5;
    this.qProj = new Linear(d, this.nHeads * this.headDim, { bias: false });
    this.kProj = new Linear(d, this.nKvHeads * this.headDim, { bias: false });
    this.vProj = new Linear(d, this.nKvHeads * this.headDim, { bias: false });
    this.oProj = new Linear(this.nHeads * this.headDim, d, { bias: false });
    this.qNorm = new RMSNorm(this.headDim, { eps: c.rmsNormEps });
    this.kNorm = new RMSNorm(this.headDim, { eps: c.rmsNormEps });
    // mlx-lm's qwen3_moe ignores rope_scaling; dense Qwen3 honours it.
    this.rope = initializeRope(this.headDim, {
      base: c.ropeTheta,
      traditional: false,
      scalingConfig: c.modelType === 'qwen3' ? c.ropeScaling : null,
      maxPositionEmbeddings: c.maxPositionEmbeddings,
    });
  }

  /** `offset`: the cache's offset as an array, when the caller already made one (shared by layers). */
  forward(x: mx.Array, mask: AttentionMask, cache?: LayerCache, offset?: mx.Array): mx.Array {
    const [b, l] = x.shape;
    const hd = this.headDim;
    const heads = (t: mx.Array, n: number) => mx.transpose(mx.reshape(t, [b, l, n, hd]), [0, 2, 1, 3]);
    let q = mx.transpose(this.qNorm.forward(mx.reshape(this.qProj.forward(x), [b, l, this.nHeads, hd])), [0, 2, 1, 3]);
    let k = mx.transpose(this.kNorm.forward(mx.reshape(this.kProj.forward(x), [b, l, this.nKvHeads, hd])), [0, 2, 1, 3]);
    const v = heads(this.vProj.forward(x), this.nKvHeads);
    let out: mx.Array;
    if (cache) {
      // A number for single-sequence caches, a per-row [B] array for BatchKVCache.
      const off = offset ?? (typeof cache.offset === 'number' ? mx.array(cache.offset, 'int32') : cache.offset);
      q = this.rope.forward(q, off);
      k = this.rope.forward(k, off);
      const kv = cache.updateAndFetch(k, v);
      if (cache.bits !== undefined) {
        out = quantizedScaledDotProductAttention(q, kv[0] as QuantizedTriple, kv[1] as QuantizedTriple, {
          scale: this.scale,
          mask,
          groupSize: cache.groupSize,
          bits: cache.bits,
        });
      } else {
        out = mx.fast.scaledDotProductAttention(q, kv[0] as mx.Array, kv[1] as mx.Array, { scale: this.scale, mask });
      }
    } else {
      q = this.rope.forward(q);
      k = this.rope.forward(k);
      out = mx.fast.scaledDotProductAttention(q, k, v, { scale: this.scale, mask });
    }
    return this.oProj.forward(mx.reshape(mx.transpose(out, [0, 2, 1, 3]), [b, l, this.nHeads * hd]));
  }
}

/** The dense gated MLP: `down(silu(gate(x)) · up(x))`. */
export class Qwen3MLP extends Module {
  gateProj: Proj;
  downProj: Proj;
  upProj: Proj;

  constructor(dims: number, hiddenDims: number) {
    super();
    this.gateProj = new Linear(dims, hiddenDims, { bias: false });
    this.downProj = new Linear(hiddenDims, dims, { bias: false });
    this.upProj = new Linear(dims, hiddenDims, { bias: false });
  }

  forward(x: mx.Array): mx.Array {
    return this.downProj.forward(swiglu(this.gateProj.forward(x), this.upProj.forward(x)));
  }
}

/** Pre-norm residual block: attention, then the (dense or sparse) MLP. */
export class Qwen3DecoderLayer extends Module {
  selfAttn: Qwen3Attention;
  mlp: Qwen3MLP | Qwen3SparseMoeBlock;
  inputLayernorm: RMSNorm;
  postAttentionLayernorm: RMSNorm;

  constructor(c: Qwen3Config, index: number) {
    super();
    this.selfAttn = new Qwen3Attention(c);
    this.mlp =
      c.modelType === 'qwen3_moe' && isSparseLayer(index, c.mlpOnlyLayers, c.numExperts, c.decoderSparseStep)
        ? new Qwen3SparseMoeBlock(c)
        : new Qwen3MLP(c.hiddenSize, c.intermediateSize);
    this.inputLayernorm = new RMSNorm(c.hiddenSize, { eps: c.rmsNormEps });
    this.postAttentionLayernorm = new RMSNorm(c.hiddenSize, { eps: c.rmsNormEps });
  }

  forward(x: mx.Array, mask: AttentionMask, cache?: LayerCache, offset?: mx.Array): mx.Array {
    const h = mx.add(x, this.selfAttn.forward(this.inputLayernorm.forward(x), mask, cache, offset));
    return mx.add(h, this.mlp.forward(this.postAttentionLayernorm.forward(h)));
  }
}

/** Embeddings, decoder layers and the final norm (checkpoint prefix `model.`). */
export class Qwen3Model extends Module {
  embedTokens: Embedding | QuantizedEmbedding;
  layers: Qwen3DecoderLayer[];
  norm: RMSNorm;

  constructor(c: Qwen3Config) {
    super();
    this.embedTokens = new Embedding(c.vocabSize, c.hiddenSize);
    this.layers = Array.from({ length: c.numHiddenLayers }, (_, i) => new Qwen3DecoderLayer(c, i));
    this.norm = new RMSNorm(c.hiddenSize, { eps: c.rmsNormEps });
  }

  /** Final-normed hidden states `[B, L, hidden]`. */
  forward(inputs: mx.Array, options: ForwardOptions = {}): mx.Array {
    if (!(inputs instanceof mx.Array)) throw new TypeError('Qwen3.forward: inputs must be an mx.Array of token ids [B, L]');
    if (inputs.ndim !== 2) throw new Error(`Qwen3.forward: inputs must be token ids of shape [B, L], got [${inputs.shape}]`);
    if (!mx.isInteger(inputs.dtype)) throw new TypeError(`Qwen3.forward: token ids must have an integer dtype, got ${inputs.dtype}`);
    const l = inputs.shape[1];
    if (l === 0) throw new Error('Qwen3.forward: at least one token is needed (L = 0)');
    const cache = options.cache as readonly LayerCache[] | undefined;
    if (cache !== undefined && cache.length !== this.layers.length) {
      throw new Error(`Qwen3.forward: expected one cache per layer (${this.layers.length}), got ${cache.length}`);
    }
    const mask = options.mask !== undefined ? options.mask : defaultMask(l, cache?.[0]);
    // The same layers built in one native call when every module is one of ours (see
    // native-forward.ts); otherwise, or when disabled, the TypeScript layers below.
    const built = nativeForward(this, LAYER_CLASSES, inputs, mask, cache, options.prefill === true);
    if (built !== undefined) {
      if (options.mask === undefined && mask instanceof mx.Array) mask.dispose();
      return built;
    }
    let h = this.embedTokens.forward(inputs);
    // Layers whose caches stand at the same numeric offset (the usual case) share one offset array.
    let shared: { at: number; array: mx.Array } | undefined;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const c = cache?.[i];
      let offset: mx.Array | undefined;
      if (c !== undefined && typeof c.offset === 'number') {
        if (shared?.at !== c.offset) {
          shared?.array.dispose();
          shared = { at: c.offset, array: mx.array(c.offset, 'int32') };
        }
        offset = shared.array;
      }
      const prev = h;
      // Each layer's intermediates are released as soon as its graph is built, so memory holds
      // what MLX's graph needs, not every handle made during the forward.
      h = mx.tidy(() => layer.forward(prev, mask, c, offset));
      prev.dispose();
    }
    shared?.array.dispose();
    const out = this.norm.forward(h);
    h.dispose();
    // A mask made here is referenced by the graph now; the handle is no longer needed.
    if (options.mask === undefined && mask instanceof mx.Array) mask.dispose();
    return out;
  }
}

const LAYER_CLASSES = { layer: Qwen3DecoderLayer, attention: Qwen3Attention, mlp: Qwen3MLP };

function defaultMask(n: number, cache: LayerCache | undefined): AttentionMask {
  if (cache === undefined) return attentionMask(n, 0);
  if (typeof cache.makeMask === 'function') return cache.makeMask(n);
  return attentionMask(n, typeof cache.offset === 'number' ? cache.offset : 0);
}

const NO_DEFAULTS: Readonly<GenerationDefaults> = Object.freeze({});

/** Fields of a loaded model that are not parameters. */
export interface Qwen3Extras {
  tokenizer?: Tokenizer;
  chatTemplate?: string;
  /** generation_config.json's end-of-sequence ids and sampling defaults, when the folder has one. */
  generation?: ParsedGenerationConfig;
  /** The folder it was loaded from (its tokenizer files are copied by `save`). */
  folder?: string;
}

/**
 * A Qwen3 or Qwen3-MoE causal language model: `model` (embeddings, layers, norm) and, when the
 * embeddings are not tied, `lmHead`. Build one with `Qwen3.load(folderOrHubId)`, or `new Qwen3(config)`
 * for random weights.
 */
export class Qwen3 extends Module {
  model: Qwen3Model;
  lmHead?: Proj;
  private _config: Qwen3Config;
  private _extras: Qwen3Extras;

  constructor(config: Qwen3Config, extras: Qwen3Extras = {}) {
    super();
    this._config = config;
    this._extras = extras;
    this.model = new Qwen3Model(config);
    if (!config.tieWordEmbeddings) this.lmHead = new Linear(config.hiddenSize, config.vocabSize, { bias: false });
  }

  /**
   * Loads a model from a folder or a Hugging Face hub id (`'Qwen/Qwen3-0.6B'`, optionally
   * `'org/name@revision'` or `options.revision`): config.json, safetensors weights (single or
   * sharded; float32/float16/bfloat16 or quantized), tokenizer, chat template and generation
   * config when present. A hub id is taken from the Hugging Face cache (`HF_HUB_CACHE`,
   * `HF_HOME`) that mlx-lm and transformers share, else downloaded into it (`HF_TOKEN`,
   * `HF_HUB_OFFLINE`, `onProgress`, `signal`). Dense Qwen3 or Qwen3-MoE follows `model_type`.
   */
  static async load(source: string, options: LoadOptions = {}): Promise<Qwen3> {
    return loadQwen3(source, options);
  }

  /**
   * Writes config.json, the weights (sharded past `maxShardSize`, with an index) and the source
   * folder's tokenizer files to `folder`, atomically; mlx-lm and transformers load the result.
   */
  async save(folder: string, options: SaveOptions = {}): Promise<string[]> {
    return saveQwen3(this, folder, options);
  }

  /** The parsed config (camelCase; `raw` holds config.json as read). */
  get config(): Qwen3Config {
    return this._config;
  }

  /** The tokenizer of the folder the model was loaded from, when it has one. */
  get tokenizer(): Tokenizer | undefined {
    return this._extras.tokenizer;
  }

  /**
   * Generation options from the folder's generation_config.json (`temperature`, `topP`, `topK`,
   * `minP`, `repetitionPenalty`), used where a call passes none; empty without the file or
   * with `do_sample` false (greedy decoding).
   */
  get generationDefaults(): Readonly<GenerationDefaults> {
    return this._extras.generation?.defaults ?? NO_DEFAULTS;
  }

  /** The chat template (tokenizer_config.json or chat_template.jinja), when there is one. */
  get chatTemplate(): string | undefined {
    return this._extras.chatTemplate;
  }

  /** Token ids that end generation: config.json, generation_config.json and the tokenizer's eos, deduplicated. */
  get eosTokenIds(): number[] {
    const ids = new Set<number>(this._config.eosTokenIds);
    for (const id of this._extras.generation?.eosTokenIds ?? []) ids.add(id);
    const tokEos = this._extras.tokenizer?.eos?.id;
    if (tokEos !== undefined) ids.add(tokEos);
    return [...ids];
  }

  /** The decoder layers (what `@mlxn/cache`'s `makePromptCache` counts). */
  get layers(): Qwen3DecoderLayer[] {
    return this.model.layers;
  }

  /** @internal The folder the model was loaded from. */
  get sourceFolder(): string | undefined {
    return this._extras.folder;
  }

  /** @internal Replaces the non-parameter extras (used by `load`). */
  setExtras(extras: Qwen3Extras): void {
    this._extras = extras;
  }

  /** @internal Replaces the config (used when quantizing at load time). */
  setConfig(config: Qwen3Config): void {
    this._config = config;
  }

  /**
   * One cache per layer: `KVCache` by default, `RotatingKVCache` with `maxKvSize`,
   * `QuantizedKVCache` with `kvBits` (@mlxn/cache's `makePromptCache`).
   *
   * It also prepares the model for decoding: each layer's q/k/v and gate/up weights are stacked
   * into one array per group, and those parameters become views of it (same values, names and
   * memory; one matmul per group and step instead of three and two). The arrays this replaces
   * are disposed unless you claimed them with `mx.keep`; after an optimizer step, the next
   * `makeCache` stacks the new weights. On by default on a GPU; `MLXN_FUSED_PROJECTIONS=1`
   * stacks on any device, `0` never.
   */
  makeCache(options: PromptCacheOptions = {}): Cache[] {
    const cache = makePromptCache({ numLayers: this.model.layers.length }, options);
    if (fusionWanted()) fuseProjections(this.model.layers);
    return cache;
  }

  /** Logits `[B, L, vocab]` for token ids `[B, L]`. */
  forward(inputs: mx.Array, options: ForwardOptions = {}): mx.Array {
    const h = this.model.forward(inputs, options);
    const logits = this.logitsFromHidden(h);
    h.dispose();
    return logits;
  }

  /** Final-normed hidden states `[B, L, hidden]` (the input of the output head). */
  hidden(inputs: mx.Array, options: ForwardOptions = {}): mx.Array {
    return this.model.forward(inputs, options);
  }

  /**
   * Log-probabilities `[B, C]` of `completionTokens` (right-padded) after `promptTokens`
   * (left-padded), in one batched forward; see `tokenLogprobs` for the semantics.
   */
  logprobs(promptTokens: mx.Array, completionTokens: mx.Array, options: CompletionLogprobsOptions = {}): TokenLogprobs {
    return completionLogprobs(this, promptTokens, completionTokens, options);
  }

  /** The output head: `lmHead`, or the embedding table when tied. */
  logitsFromHidden(h: mx.Array): mx.Array {
    return this.lmHead ? this.lmHead.forward(h) : this.model.embedTokens.asLinear(h);
  }

  /**
   * Streams a generation as chunks `{ text, token, finishReason, ... }`; breaking out of the
   * loop stops it and frees its memory.
   *
   * @example
   * for await (const c of model.stream([{ role: 'user', content: 'Hi' }], { maxTokens: 64 })) process.stdout.write(c.text);
   */
  stream(prompt: Prompt, options?: GenerateOptions): AsyncGenerator<GenerationChunk, void, undefined> {
    return stream(this, prompt, options, 'Qwen3.stream');
  }

  /** Generates to the end: `{ text, tokens, finishReason, usage, ... }`. */
  generate(prompt: Prompt, options?: GenerateOptions): Promise<GenerationResult> {
    return generate(this, prompt, options, 'Qwen3.generate');
  }

  /** A chat reply split into `text`, `reasoning`, `toolCalls` and `invalidToolCalls`. */
  chat(messages: readonly ChatMessage[], options?: ChatOptions): Promise<ChatResult> {
    return chat(this, messages, options);
  }

  /** A chat reply as parts while they arrive (`reasoning`, `text`, `toolCall`, ..., `done`). */
  chatStream(messages: readonly ChatMessage[], options?: ChatOptions): AsyncGenerator<ChatPart, void, undefined> {
    return chatStream(this, messages, options);
  }

  /** Batched generation with continuous batching; results in prompt order. */
  batchGenerate(prompts: readonly BatchPrompt[], options?: BatchGenerateOptions): Promise<BatchResults> {
    return batchGenerate(this, prompts, options, 'Qwen3.batchGenerate');
  }
}
