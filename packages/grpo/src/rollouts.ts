/**
 * Rollouts: prompts → token ids → one batched generation for every prompt × generation →
 * padded tensors and masks for the loss. Follows TRL's `GRPOTrainer._generate_and_score_completions`
 * up to the rewards: completions keep their first end-of-sequence token and nothing after it,
 * prompts are left-padded, completions right-padded, and with `maskTruncatedCompletions` a
 * completion that never ended is masked out of the loss.
 */
import * as mx from '@mlxn/core';
import type { ChatMessage, Tokenizer } from '@mlxn/io';
import { checkOptionKeys } from '@mlxn/core/internal';

/** A prompt: plain text, or chat messages (rendered with the tokenizer's chat template). */
export type Prompt = string | readonly ChatMessage[];

/** Generation settings TRL's `GRPOConfig` passes to the generator. */
export interface RolloutGenerationOptions {
  maxCompletionLength: number;
  temperature: number;
  topP?: number;
  topK?: number;
  minP?: number | null;
  repetitionPenalty?: number;
  /** Seed of this generation's random draws (a fresh one per generation batch). */
  seed?: number;
  signal?: AbortSignal;
}

/** One result row of `batchGenerate`, as @mlxn/models-qwen3 returns it. */
interface GeneratedRow {
  tokens: number[];
  finishReason?: string | null;
}

/**
 * What the trainer needs from the policy (a Qwen3 from @mlxn/models-qwen3 has all of it). The
 * members are optional in the type only so that any model class can be passed; they are
 * checked when used.
 */
export interface PolicyModel {
  readonly tokenizer?: Tokenizer;
  readonly eosTokenIds: readonly number[];
  batchGenerate?(prompts: number[][], options: Record<string, unknown>): Promise<readonly GeneratedRow[]>;
}

/** The generated completions of one generation batch, one entry per completion. */
export interface Rollouts {
  /** The prompt of each completion (prompts are repeated `numGenerations` times in a row). */
  prompts: Prompt[];
  /** The prompt's token ids (after `maxPromptLength` truncation). */
  promptIds: number[][];
  /** The completion's token ids, up to and including the first end-of-sequence token. */
  completionIds: number[][];
  /** Completion text (special tokens skipped). */
  completions: string[];
  /** Completions that ran into `maxCompletionLength` without an end-of-sequence token. */
  truncated: boolean[];
}

/** Padded tensors of a set of rollouts, as the loss consumes them. */
export interface RolloutTensors {
  /** `[B, P + C]` int32: left-padded prompts then right-padded completions. */
  inputIds: mx.Array;
  /** `[B, P + C]` float32: 1 on real tokens (prompt and completion), 0 on padding. */
  attentionMask: mx.Array;
  /** `[B, C]` float32: 1 on completion tokens the loss counts. */
  completionMask: mx.Array;
  /** `P`, where completions start. */
  promptLength: number;
}

const isChat = (p: Prompt): p is readonly ChatMessage[] => Array.isArray(p);

/**
 * Token ids of prompts: text is encoded without special tokens (as TRL tokenizes raw prompts),
 * chat messages go through the chat template with the generation prompt appended. With
 * `maxPromptLength`, the *last* tokens are kept (TRL truncates prompts on the left).
 */
export function tokenizePrompts(
  tokenizer: Tokenizer,
  prompts: readonly Prompt[],
  options: { maxPromptLength?: number | null; chatTemplateKwargs?: Record<string, unknown> } = {},
): number[][] {
  checkOptionKeys(options, ['maxPromptLength', 'chatTemplateKwargs'], 'tokenizePrompts');
  const max = options.maxPromptLength ?? null;
  if (max !== null && (!Number.isInteger(max) || max < 1)) throw new RangeError(`maxPromptLength must be a positive integer or null, got ${max}`);
  const { enable_thinking: enableThinking, ...extra } = options.chatTemplateKwargs ?? {};
  return prompts.map((p, i) => {
    let ids: number[];
    if (isChat(p)) {
      ids = tokenizer.applyChatTemplate(p, {
        addGenerationPrompt: true,
        tokenize: true,
        extra,
        ...(enableThinking === undefined ? {} : { enableThinking: Boolean(enableThinking) }),
      });
    } else if (typeof p === 'string') {
      ids = tokenizer.encode(p, { addSpecialTokens: false });
    } else {
      throw new TypeError(`prompt ${i} must be a string or a list of chat messages, got ${typeof p}`);
    }
    if (ids.length === 0) throw new Error(`prompt ${i} encodes to no tokens`);
    return max !== null && ids.length > max ? ids.slice(ids.length - max) : ids;
  });
}

/** Cuts a generated sequence after its first end-of-sequence token; reports whether one was found. */
export function cutAtEos(tokens: readonly number[], eos: ReadonlySet<number>): { ids: number[]; ended: boolean } {
  for (let i = 0; i < tokens.length; i++) if (eos.has(tokens[i])) return { ids: tokens.slice(0, i + 1), ended: true };
  return { ids: [...tokens], ended: false };
}

/**
 * Generates one completion for every prompt in `prompts` (already repeated `numGenerations`
 * times) with ONE batched call to the model's `batchGenerate`, and decodes them.
 */
export async function generateRollouts(model: PolicyModel, prompts: readonly Prompt[], promptIds: number[][], options: RolloutGenerationOptions): Promise<Rollouts> {
  checkOptionKeys(options, ['maxCompletionLength', 'temperature', 'topP', 'topK', 'minP', 'repetitionPenalty', 'seed', 'signal'], 'generateRollouts');
  if (prompts.length !== promptIds.length) throw new Error(`generateRollouts: ${prompts.length} prompts but ${promptIds.length} token lists`);
  if (typeof model.batchGenerate !== 'function') throw new TypeError('generateRollouts: the model has no batchGenerate method');
  if (!model.tokenizer) throw new TypeError('generateRollouts: the model has no tokenizer');
  const eos = new Set(model.eosTokenIds);
  if (eos.size === 0) throw new Error('generateRollouts: the model declares no end-of-sequence token ids');
  // One batch for every row (no continuous-batching waves) and the stop token kept, since the
  // completion TRL trains on ends with it.
  const genOptions: Record<string, unknown> = {
    maxBatchSize: promptIds.length,
    prefillBatchSize: promptIds.length,
    includeStopToken: true,
    maxTokens: options.maxCompletionLength,
    temperature: options.temperature,
    topP: options.topP ?? 1,
    topK: options.topK ?? 0,
    minP: options.minP ?? 0,
  };
  if (options.repetitionPenalty !== undefined && options.repetitionPenalty !== 1) genOptions.repetitionPenalty = options.repetitionPenalty;
  if (options.seed !== undefined) genOptions.seed = options.seed;
  if (options.signal !== undefined) genOptions.signal = options.signal;
  const rows = await model.batchGenerate(promptIds, genOptions);
  if (!Array.isArray(rows) || rows.length !== prompts.length) {
    throw new Error(`generateRollouts: batchGenerate returned ${Array.isArray(rows) ? rows.length : 'no'} rows for ${prompts.length} prompts`);
  }
  const completionIds: number[][] = [];
  const truncated: boolean[] = [];
  for (const row of rows) {
    const { ids, ended } = cutAtEos(row.tokens.slice(0, options.maxCompletionLength), eos);
    completionIds.push(ids);
    truncated.push(!ended);
  }
  const completions = model.tokenizer.decodeBatch(completionIds, { skipSpecialTokens: true });
  return { prompts: [...prompts], promptIds: promptIds.map((p) => [...p]), completionIds, completions, truncated };
}

/**
 * Pads rollouts into the loss's tensors. Completion masks cover each completion's tokens
 * (the end-of-sequence token included, nothing after it); with `maskTruncatedCompletions` the
 * rows that never ended get an all-zero completion mask (TRL masks them for attention and loss).
 */
export function rolloutTensors(
  promptIds: readonly (readonly number[])[],
  completionIds: readonly (readonly number[])[],
  truncated: readonly boolean[],
  options: { padTokenId: number; maskTruncatedCompletions?: boolean },
): RolloutTensors {
  const b = promptIds.length;
  if (b === 0) throw new Error('rolloutTensors: no rollouts');
  const p = Math.max(...promptIds.map((r) => r.length));
  // A batch of empty completions still needs one column for the shapes to work.
  const c = Math.max(1, ...completionIds.map((r) => r.length));
  const ids = new Int32Array(b * (p + c)).fill(options.padTokenId);
  const attn = new Float32Array(b * (p + c));
  const cmask = new Float32Array(b * c);
  for (let i = 0; i < b; i++) {
    const pr = promptIds[i];
    const co = completionIds[i];
    const base = i * (p + c);
    for (let j = 0; j < pr.length; j++) {
      ids[base + p - pr.length + j] = pr[j];
      attn[base + p - pr.length + j] = 1;
    }
    const keep = !(options.maskTruncatedCompletions && truncated[i]);
    for (let j = 0; j < co.length; j++) {
      ids[base + p + j] = co[j];
      if (keep) {
        attn[base + p + j] = 1;
        cmask[i * c + j] = 1;
      }
    }
  }
  return {
    inputIds: mx.array(ids, { dtype: 'int32' }).reshape([b, p + c]),
    attentionMask: mx.array(attn, { dtype: 'float32' }).reshape([b, p + c]),
    completionMask: mx.array(cmask, { dtype: 'float32' }).reshape([b, c]),
    promptLength: p,
  };
}
