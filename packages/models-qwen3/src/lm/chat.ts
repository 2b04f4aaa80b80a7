/**
 * Chat: messages rendered with the model's chat template, the reply generated and split into
 * reasoning, text and tool calls by the model family's reply parser (its `ReplyFormat`),
 * collected (`chatWithFormat`) or as parts while they arrive (`chatStreamWithFormat`).
 */
import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '@mlxn/io';
import { ConstraintError } from '@mlxn/sampling';
import { type FinishReason, type GenerationChunk, prepareGeneration } from './generate.js';
import type { GenerationModel } from './model-interface.js';
import { type GenerateOptions, GenerationOptionsError } from './options.js';
import type { IncrementalReplyParser, InvalidToolCall, ReplyFormat, ReplyPart, ToolCall } from './reply-format.js';
import { compileReplyConstraintWithFormat, type ResponseFormat, type ToolChoice } from './structured.js';

/**
 * A tool call of a chat reply, with OpenAI's fields besides the parsed ones: an `id` and
 * `function.arguments` as a JSON string, so it goes back unchanged into the next request's
 * assistant message (`tool_calls`) and its result's `tool_call_id`.
 */
export interface ChatToolCall extends ToolCall {
  /** `call_` and 24 hex digits, unique per call. */
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * A parsed tool call in OpenAI's shape, with a fresh id.
 *
 * @example
 * toOpenAIToolCall({ name: 'f', arguments: { x: 1 }, raw: '' }).function; // { name: 'f', arguments: '{"x":1}' }
 */
export function toOpenAIToolCall(call: ToolCall): ChatToolCall {
  return {
    ...call,
    id: `call_${randomBytes(12).toString('hex')}`,
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.arguments) },
  };
}

/** Options of `chat` and `chatStream`: generation options plus structured output. */
export interface ChatOptions extends GenerateOptions {
  /**
   * OpenAI's `response_format`: `{ type: 'json_schema', json_schema: { name, schema } }` or
   * `{ type: 'json_object' }` constrain the answer (after any thinking) to JSON valid against
   * the schema; it ends with finish reason `'stop'` only when complete (else `'length'`). Cannot
   * be combined with `stop` strings, which could cut the document.
   */
  responseFormat?: ResponseFormat;
  /** OpenAI's `tool_choice`: `'required'` or `{ type: 'function', function: { name } }` force a call of `tools` (arguments valid against its schema). */
  toolChoice?: ToolChoice;
  /** With a forced tool call: allow several calls. Default true. */
  parallelToolCalls?: boolean;
}

const CHAT_KEYS = ['responseFormat', 'toolChoice', 'parallelToolCalls'];

/** What `chat` returns. */
export interface ChatResult {
  /** The answer, without reasoning and tool calls. */
  text: string;
  /** The reasoning (`<think>` block); `null` when the reply had none. */
  reasoning: string | null;
  toolCalls: ChatToolCall[];
  /** Tool-call blocks that could not be decoded, with the raw text and the reason. */
  invalidToolCalls: InvalidToolCall[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number; cachedPromptTokens: number };
  promptTokensPerSec: number;
  tokensPerSec: number;
  peakMemory: number;
}

/** The last part of `chatStream`. */
export interface ChatDone {
  type: 'done';
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number };
  promptTokensPerSec: number;
  tokensPerSec: number;
  peakMemory: number;
}

/** A part of a streamed chat reply (tool calls in OpenAI's shape as well). */
export type ChatPart = Exclude<ReplyPart, { type: 'toolCall' }> | { type: 'toolCall'; toolCall: ChatToolCall } | ChatDone;

function withIds(parts: readonly ReplyPart[]): ChatPart[] {
  return parts.map((p) => (p.type === 'toolCall' ? { type: 'toolCall', toolCall: toOpenAIToolCall(p.toolCall) } : p));
}

function checkMessages(messages: unknown, what: string): readonly ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0)
    throw new TypeError(`${what}: expected a non-empty list of messages { role, content }`);
  return messages as ChatMessage[];
}

async function* partsOf(
  chunks: AsyncIterable<GenerationChunk>,
  parser: IncrementalReplyParser,
  release: () => void,
): AsyncGenerator<ChatPart, void, undefined> {
  try {
    yield* parts(chunks, parser);
  } finally {
    release();
  }
}

async function* parts(chunks: AsyncIterable<GenerationChunk>, parser: IncrementalReplyParser): AsyncGenerator<ChatPart, void, undefined> {
  for await (const c of chunks) {
    if (c.text !== '') yield* withIds(parser.push(c.text));
    if (c.finishReason !== null) {
      yield* withIds(parser.finish());
      yield {
        type: 'done',
        finishReason: c.finishReason,
        usage: { promptTokens: c.promptTokens, completionTokens: c.completionTokens },
        promptTokensPerSec: c.promptTokensPerSec,
        tokensPerSec: c.tokensPerSec,
        peakMemory: c.peakMemory,
      };
    }
  }
}

function start(format: ReplyFormat, model: GenerationModel, messages: readonly ChatMessage[], options: ChatOptions, what: string) {
  checkMessages(messages, what);
  if (model.tokenizer === undefined)
    throw new GenerationOptionsError(`${what}: the model has no tokenizer (load it from a folder with tokenizer.json)`);
  const g = prepareGeneration(model, messages, options, what, CHAT_KEYS);
  const startInReasoning = format.opensReasoning(g.encoded.text ?? '');
  const { responseFormat, toolChoice, parallelToolCalls } = options;
  if (responseFormat !== undefined && (responseFormat === null || typeof responseFormat !== 'object'))
    throw new GenerationOptionsError(`${what}: responseFormat must be an object like { type: 'json_object' }`);
  if (toolChoice !== undefined && typeof toolChoice !== 'string' && (toolChoice === null || typeof toolChoice !== 'object'))
    throw new GenerationOptionsError(`${what}: toolChoice must be 'none', 'auto', 'required' or { type: 'function', function: { name } }`);
  if (parallelToolCalls !== undefined && typeof parallelToolCalls !== 'boolean')
    throw new GenerationOptionsError(`${what}: parallelToolCalls must be a boolean`);
  try {
    g.plan.tokenMask = compileReplyConstraintWithFormat(format, model, {
      responseFormat,
      tools: options.tools,
      toolChoice,
      parallelToolCalls,
      startInReasoning,
      enableThinking: options.enableThinking,
    });
  } catch (e) {
    if (e instanceof ConstraintError) throw new GenerationOptionsError(`${what}: ${e.message}`);
    throw e;
  }
  if (g.plan.tokenMask !== undefined && g.plan.stopStrings.length > 0) {
    g.plan.tokenMask.dispose();
    throw new GenerationOptionsError(
      `${what}: stop strings cannot be combined with responseFormat or a required toolChoice (a stop string could cut the JSON)`,
    );
  }
  if (g.plan.tokenMask !== undefined && g.plan.draftModel !== undefined) {
    g.plan.tokenMask.dispose();
    throw new GenerationOptionsError(
      `${what}: draftModel cannot be combined with responseFormat or a required toolChoice (the constraint advances one token at a time)`,
    );
  }
  const parser = format.parser({ startInReasoning });
  const release = () => g.plan.tokenMask?.dispose();
  return { g, parser, release };
}

/**
 * Streams a chat reply in `format` as parts: `reasoning` and `text` pieces, each `toolCall` (or
 * `invalidToolCall`) once its block closes, and a final `done` part. Breaking out stops
 * generation and frees its memory. `what` names the caller in messages.
 */
export function chatStreamWithFormat(
  format: ReplyFormat,
  model: GenerationModel,
  messages: readonly ChatMessage[],
  options: ChatOptions,
  what: string,
): AsyncGenerator<ChatPart, void, undefined> {
  const { g, parser, release } = start(format, model, messages, options, what);
  return partsOf(g.run(), parser, release);
}

/** Generates a chat reply in `format` and returns it split into text, reasoning and tool calls. */
export async function chatWithFormat(
  format: ReplyFormat,
  model: GenerationModel,
  messages: readonly ChatMessage[],
  options: ChatOptions,
  what: string,
): Promise<ChatResult> {
  const { g, parser, release } = start(format, model, messages, options, what);
  let text = '';
  let reasoning = '';
  const toolCalls: ChatToolCall[] = [];
  const invalidToolCalls: InvalidToolCall[] = [];
  let done: ChatDone | undefined;
  let cached = 0;
  const chunks = g.run();
  for await (const part of partsOf(chunks, parser, release)) {
    if (part.type === 'text') text += part.text;
    else if (part.type === 'reasoning') reasoning += part.text;
    else if (part.type === 'toolCall') toolCalls.push(part.toolCall);
    else if (part.type === 'invalidToolCall') invalidToolCalls.push(part.invalidToolCall);
    else done = part;
  }
  cached = g.cachedPromptTokens;
  if (done === undefined) throw new Error(`${what}: the generation ended without a finish reason`);
  return {
    text,
    reasoning: parser.sawReasoning || reasoning !== '' ? reasoning : null,
    toolCalls,
    invalidToolCalls,
    finishReason: done.finishReason,
    usage: { ...done.usage, cachedPromptTokens: cached },
    promptTokensPerSec: done.promptTokensPerSec,
    tokensPerSec: done.tokensPerSec,
    peakMemory: done.peakMemory,
  };
}
