/**
 * Rollouts: prompts → token ids → one batched generation for every prompt × generation →
 * padded tensors and masks for the loss. Follows TRL's `GRPOTrainer._generate_and_score_completions`
 * up to the rewards: completions keep their first end-of-sequence token and nothing after it,
 * prompts are left-padded, completions right-padded, and with `maskTruncatedCompletions` a
 * completion that never ended is masked out of the loss.
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import type { ChatMessage, Tokenizer } from '@mlxn/io';
import { parseReply } from '@mlxn/models-qwen3';
import { type GRPOTool, runToolCalls, type ToolCallRequest, toolSuffixIds } from './tools.js';

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
  /** Multi-turn tool use (TRL's tool loop); omitted: one turn. */
  toolLoop?: ToolLoopOptions;
}

/** How completions that call tools are continued (TRL 1.16's `_tool_call_loop`). */
export interface ToolLoopOptions {
  /** The tools by name (`toolTable`). */
  tools: ReadonlyMap<string, GRPOTool>;
  /** Rounds of tool calls per completion; null: until no completion calls a tool (TRL's default). */
  maxToolCallingIterations: number | null;
  /** Per call. */
  toolTimeoutMs: number;
  /** Per result. */
  maxToolResultChars: number;
  /** The chat template's extra variables (TRL's `chat_template_kwargs`), used to render tool turns. */
  chatTemplateKwargs?: Record<string, unknown> | null;
  /** The model's context length: a row whose next turn would reach it stops calling tools (TRL). */
  maxModelLength?: number;
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
  /**
   * With tools: 1 on tokens the model generated, 0 on tool-turn tokens (TRL's `tool_mask`), one
   * entry per completion token; null without tools.
   */
  toolMask: number[][] | null;
  /** Tool calls made (0 without tools). */
  toolCallCount: number;
  /** Of those, the calls that failed (unknown tool, error, timeout). */
  toolFailureCount: number;
  /**
   * With tools: each completion as messages (TRL's conversational completions): assistant turns
   * (`content`, `reasoning_content` when there was a `<think>` block, `tool_calls`) and the
   * `tool` results between them; null without tools.
   */
  completionMessages: ChatMessage[][] | null;
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
  options: { maxPromptLength?: number | null; chatTemplateKwargs?: Record<string, unknown> | null; tools?: readonly unknown[] | null } = {},
): number[][] {
  checkOptionKeys(options, ['maxPromptLength', 'chatTemplateKwargs', 'tools'], 'tokenizePrompts');
  const max = options.maxPromptLength ?? null;
  if (max !== null && (!Number.isInteger(max) || max < 1))
    throw new RangeError(`maxPromptLength must be a positive integer or null, got ${max}`);
  const { enable_thinking: enableThinking, ...extra } = options.chatTemplateKwargs ?? {};
  return prompts.map((p, i) => {
    let ids: number[];
    if (isChat(p)) {
      ids = tokenizer.applyChatTemplate(p, {
        addGenerationPrompt: true,
        tokenize: true,
        extra,
        // `tools` only when there are some (TRL passes None for none).
        ...(options.tools && options.tools.length > 0 ? { tools: options.tools } : {}),
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
export async function generateRollouts(
  model: PolicyModel,
  prompts: readonly Prompt[],
  promptIds: number[][],
  options: RolloutGenerationOptions,
): Promise<Rollouts> {
  checkOptionKeys(
    options,
    ['maxCompletionLength', 'temperature', 'topP', 'topK', 'minP', 'repetitionPenalty', 'seed', 'signal', 'toolLoop'],
    'generateRollouts',
  );
  if (prompts.length !== promptIds.length)
    throw new Error(`generateRollouts: ${prompts.length} prompts but ${promptIds.length} token lists`);
  if (typeof model.batchGenerate !== 'function') throw new TypeError('generateRollouts: the model has no batchGenerate method');
  if (!model.tokenizer) throw new TypeError('generateRollouts: the model has no tokenizer');
  const eos = new Set(model.eosTokenIds);
  if (eos.size === 0) throw new Error('generateRollouts: the model declares no end-of-sequence token ids');
  if (options.toolLoop && !prompts.every(isChat))
    throw new TypeError('generateRollouts: tools need chat prompts (lists of messages), as in TRL');
  const first = await generateTurn(model, promptIds, options, eos, options.maxCompletionLength);
  const completionIds = first.map((r) => r.ids);
  let truncated = first.map((r) => !r.ended);
  let toolMask: number[][] | null = null;
  let toolCallCount = 0;
  let toolFailureCount = 0;
  let completionMessages: ChatMessage[][] | null = null;
  if (options.toolLoop) {
    const loop = await runToolLoop(model, promptIds, completionIds, options, options.toolLoop, eos);
    toolMask = loop.toolMask;
    toolCallCount = loop.calls;
    toolFailureCount = loop.failures;
    completionMessages = loop.messages;
    // TRL's rule for multi-turn completions: truncated unless the last token ends a turn.
    const ends = new Set([...eos, ...(model.tokenizer.pad?.id === undefined ? [] : [model.tokenizer.pad.id])]);
    truncated = completionIds.map((ids) => ids.length === 0 || !ends.has(ids[ids.length - 1]));
  }
  const completions = model.tokenizer.decodeBatch(completionIds, { skipSpecialTokens: true });
  return {
    prompts: [...prompts],
    promptIds: promptIds.map((p) => [...p]),
    completionIds,
    completions,
    truncated,
    toolMask,
    toolCallCount,
    toolFailureCount,
    completionMessages,
  };
}

/** One batched generation for every row, each cut after its first end-of-sequence token. */
async function generateTurn(
  model: PolicyModel,
  promptIds: readonly number[][],
  options: RolloutGenerationOptions,
  eos: ReadonlySet<number>,
  maxTokens: number | readonly number[],
): Promise<{ ids: number[]; ended: boolean }[]> {
  const budgets = typeof maxTokens === 'number' ? promptIds.map(() => maxTokens) : maxTokens;
  const out: { ids: number[]; ended: boolean }[] = promptIds.map(() => ({ ids: [], ended: false }));
  const rows = promptIds.map((_, i) => i).filter((i) => budgets[i] > 0);
  if (rows.length === 0) return out;
  const max = Math.max(...rows.map((i) => budgets[i]));
  // One batch for every row (no continuous-batching waves) and the stop token kept, since the
  // completion TRL trains on ends with it.
  const genOptions: Record<string, unknown> = {
    maxBatchSize: rows.length,
    prefillBatchSize: rows.length,
    includeStopToken: true,
    maxTokens: max,
    temperature: options.temperature,
    topP: options.topP ?? 1,
    topK: options.topK ?? 0,
    minP: options.minP ?? 0,
  };
  if (options.repetitionPenalty !== undefined && options.repetitionPenalty !== 1) genOptions.repetitionPenalty = options.repetitionPenalty;
  if (options.seed !== undefined) genOptions.seed = options.seed;
  if (options.signal !== undefined) genOptions.signal = options.signal;
  if (!model.batchGenerate) throw new TypeError('generating rollouts needs a model with batchGenerate');
  const generated = await model.batchGenerate(
    rows.map((i) => promptIds[i]),
    genOptions,
  );
  if (!Array.isArray(generated) || generated.length !== rows.length) {
    throw new Error(
      `generateRollouts: batchGenerate returned ${Array.isArray(generated) ? generated.length : 'no'} rows for ${rows.length} prompts`,
    );
  }
  rows.forEach((i, k) => {
    out[i] = cutAtEos(generated[k].tokens.slice(0, budgets[i]), eos);
  });
  return out;
}

/**
 * A generated turn as an assistant message and its tool calls (Qwen3's `<tool_call>` JSON
 * blocks; a malformed block is not a call).
 */
function parseTurn(tokenizer: Tokenizer, ids: readonly number[]): { message: ChatMessage; calls: ToolCallRequest[] } {
  const reply = parseReply(tokenizer.decode(ids, { skipSpecialTokens: true }));
  const calls = reply.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments }));
  const message: ChatMessage = { role: 'assistant', content: reply.text };
  if (reply.reasoning !== null) message.reasoning_content = reply.reasoning;
  if (calls.length > 0) message.tool_calls = calls.map((c) => ({ type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return { message, calls };
}

/**
 * TRL 1.16's `_tool_call_loop`: while completions call tools (and for at most
 * `maxToolCallingIterations` rounds), run the calls, append the tool turn the chat template
 * renders (`toolSuffixIds`) and generate the next turn after it. Token ids are concatenated, never
 * re-tokenized. A row whose tool turn would take it past `maxCompletionLength` (or the model's
 * context) stops with its completion as it was; a next turn is cut to what remains of
 * `maxCompletionLength`. Updates `completionIds` in place.
 */
async function runToolLoop(
  model: PolicyModel,
  promptIds: readonly number[][],
  completionIds: number[][],
  options: RolloutGenerationOptions,
  loop: ToolLoopOptions,
  eos: ReadonlySet<number>,
): Promise<{ toolMask: number[][]; calls: number; failures: number; messages: ChatMessage[][] }> {
  const tokenizer = model.tokenizer;
  if (!tokenizer) throw new TypeError("tool calls need the model's tokenizer (to read and write the turns)");
  const toolMask = completionIds.map((ids) => ids.map(() => 1));
  let calls = 0;
  let failures = 0;
  const firstTurns = completionIds.map((ids) => parseTurn(tokenizer, ids));
  const messages = firstTurns.map((t) => [t.message]);
  let pending = firstTurns.map((t, i) => ({ row: i, calls: t.calls })).filter((p) => p.calls.length > 0);
  const maxRounds = loop.maxToolCallingIterations ?? Number.POSITIVE_INFINITY;
  for (let round = 0; pending.length > 0 && round < maxRounds; round++) {
    const results = await Promise.all(
      pending.map((p) => runToolCalls(p.calls, loop.tools, { timeoutMs: loop.toolTimeoutMs, maxResultChars: loop.maxToolResultChars })),
    );
    const next: { row: number; ids: number[]; suffix: number }[] = [];
    pending.forEach((p, k) => {
      calls += results[k].length;
      failures += results[k].filter((r) => r.failed).length;
      const toolMessages = results[k].map((r) => ({ role: 'tool', name: r.name, content: r.content }));
      const suffix = toolSuffixIds(tokenizer, toolMessages, { chatTemplateKwargs: loop.chatTemplateKwargs });
      const ids = [...promptIds[p.row], ...completionIds[p.row], ...suffix];
      const overlong =
        ids.length - promptIds[p.row].length > options.maxCompletionLength ||
        (loop.maxModelLength !== undefined && ids.length >= loop.maxModelLength);
      if (overlong) return;
      next.push({ row: p.row, ids, suffix: suffix.length });
      messages[p.row].push(...toolMessages);
    });
    if (next.length === 0) break;
    const budgets = next.map((n) => options.maxCompletionLength - (n.ids.length - promptIds[n.row].length));
    // Each round draws from its own seed (the same seed again would repeat the first turn's draws).
    const seed = options.seed === undefined ? undefined : (options.seed + round + 1) >>> 0;
    const turns = await generateTurn(
      model,
      next.map((n) => n.ids),
      { ...options, seed },
      eos,
      budgets,
    );
    pending = [];
    next.forEach((n, k) => {
      const post = turns[k].ids;
      toolMask[n.row].push(...new Array<number>(n.suffix).fill(0), ...post.map(() => 1));
      completionIds[n.row] = [...n.ids.slice(promptIds[n.row].length), ...post];
      if (post.length === 0) return;
      const turn = parseTurn(tokenizer, post);
      messages[n.row].push(turn.message);
      if (turn.calls.length > 0) pending.push({ row: n.row, calls: turn.calls });
    });
  }
  return { toolMask, calls, failures, messages };
}

/**
 * Pads rollouts into the loss's tensors. Completion masks cover each completion's tokens
 * (the end-of-sequence token included, nothing after it); with `maskTruncatedCompletions` the
 * rows that never ended get an all-zero completion mask (TRL masks them for attention and loss).
 * With a `toolMask`, tool-turn tokens stay in the attention mask and leave the completion mask.
 */
export function rolloutTensors(
  promptIds: readonly (readonly number[])[],
  completionIds: readonly (readonly number[])[],
  truncated: readonly boolean[],
  options: { padTokenId: number; maskTruncatedCompletions?: boolean; toolMask?: readonly (readonly number[])[] | null },
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
    const tools = options.toolMask?.[i];
    if (tools && tools.length !== co.length)
      throw new Error(`rolloutTensors: completion ${i} has ${co.length} tokens but its tool mask ${tools.length}`);
    for (let j = 0; j < co.length; j++) {
      ids[base + p + j] = co[j];
      if (keep) {
        attn[base + p + j] = 1;
        // Tool-turn tokens are attended to but not trained on (TRL's completion_mask * tool_mask).
        cmask[i * c + j] = tools ? tools[j] : 1;
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
