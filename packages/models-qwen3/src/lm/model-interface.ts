/**
 * What the code in this folder needs from a model, and nothing more: any causal language model
 * with these members can be generated from, scored and trained with it (`Qwen3` has them all).
 * Keeping the requirements here, as interfaces, is what lets the folder stay free of any one
 * model family's files.
 */
import type { AttentionMask, Cache, PromptCacheOptions } from '@mlxn/cache';
import type * as mx from '@mlxn/core';
import type { Tokenizer } from '@mlxn/io';
import type { Module, ParamDict } from '@mlxn/nn';
import type { GenerationDefaults } from './generation-config.js';

/** What generation needs from a model (`Qwen3` has all of it). */
export interface GenerationModel {
  forward(inputs: mx.Array, options?: { cache?: readonly Cache[]; prefill?: boolean }): mx.Array;
  makeCache(options?: PromptCacheOptions): Cache[];
  readonly tokenizer?: Tokenizer;
  readonly eosTokenIds: readonly number[];
  readonly chatTemplate?: string;
  /** Options the model's generation_config.json sets where the caller passes none. */
  readonly generationDefaults?: Readonly<GenerationDefaults>;
  readonly config: { readonly vocabSize: number; readonly maxPositionEmbeddings: number };
}

/** What a draft model needs for speculative decoding (a `Qwen3` has it). */
export interface DraftModel {
  forward(inputs: mx.Array, options?: { cache?: readonly Cache[]; prefill?: boolean }): mx.Array;
  makeCache(options?: PromptCacheOptions): Cache[];
  readonly config: { readonly vocabSize: number };
}

/** A model's tokenizer with the ids generation ends on. */
export interface ConstrainableModel {
  readonly tokenizer?: Tokenizer;
  readonly eosTokenIds: readonly number[];
  readonly chatTemplate?: string;
}

/** What `tokenLogprobs` needs from a model (`Qwen3` has it). */
export interface LogprobsModel {
  hidden(inputs: mx.Array, options?: { mask?: 'causal' | mx.Array | null }): mx.Array;
  logitsFromHidden(h: mx.Array): mx.Array;
  readonly config: { vocabSize: number };
}

/** A module with trainable parameters and a forward pass (what a part of the network is). */
export interface TrainablePart {
  trainableParameters(): ParamDict;
  update(tree: Record<string, unknown>): unknown;
}

/** The structure checkpointing needs (`Qwen3` has it): embeddings, decoder layers, final norm, head. */
export interface CheckpointableModel extends Module {
  readonly model: {
    embedTokens: TrainablePart & { forward(ids: mx.Array): mx.Array };
    layers: readonly (TrainablePart & { forward(x: mx.Array, mask: AttentionMask): mx.Array })[];
    norm: TrainablePart & { forward(x: mx.Array): mx.Array };
  };
  lmHead?: TrainablePart;
  logitsFromHidden(h: mx.Array): mx.Array;
}
