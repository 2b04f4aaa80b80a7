/**
 * Qwen3's reply format for the model-agnostic chat and structured output of `lm/`: reasoning in
 * `<think>` … `</think>`, tool calls as `<tool_call>` JSON blocks, split by the parser of
 * `reply.ts`. The package's `chat`, `chatStream` and `compileReplyConstraint` are those of `lm/`
 * with this format.
 */
import type { ChatMessage } from '@mlxn/io';
import { type ChatOptions, type ChatPart, type ChatResult, chatStreamWithFormat, chatWithFormat } from './lm/chat.js';
import type { ConstrainableModel, GenerationModel } from './lm/model-interface.js';
import type { ReplyFormat } from './lm/reply-format.js';
import {
  type ConstrainedReply,
  compileReplyConstraintWithFormat,
  type ReplyConstraintOptions,
  type ToolChoice,
  toolCallSchema,
} from './lm/structured.js';
import { promptOpensThinking, ReplyParser } from './reply.js';

/**
 * Qwen3's tool-call format as a Lark grammar: `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`
 * blocks (one, or several separated by a newline), the arguments valid against the tool's schema.
 */
export function toolCallGrammar(tools: readonly unknown[], choice: ToolChoice, parallel: boolean): string {
  const schema = toolCallSchema(tools, choice);
  return [
    `start: call${parallel ? ' ("\\n" call)*' : ''}`,
    `call: "<tool_call>\\n" %json ${JSON.stringify(schema)} "\\n</tool_call>"`,
  ].join('\n');
}

const QWEN3_REPLY_FORMAT: ReplyFormat = {
  reasoningTags: ['<think>', '</think>'],
  toolCallTags: ['<tool_call>', '</tool_call>'],
  opensReasoning: promptOpensThinking,
  parser: (options) => new ReplyParser(options),
  toolCallGrammar,
};

/**
 * The constraint a chat reply is under, or undefined when it is free (`response_format` text or
 * none, `tool_choice` auto or none). Throws `ConstraintError` for a schema or tool choice that
 * cannot be compiled.
 */
export function compileReplyConstraint(model: ConstrainableModel, options: ReplyConstraintOptions): ConstrainedReply | undefined {
  return compileReplyConstraintWithFormat(QWEN3_REPLY_FORMAT, model, options);
}

/**
 * Streams a chat reply as parts: `reasoning` and `text` pieces, each `toolCall` (or
 * `invalidToolCall`) once its block closes, and a final `done` part. Breaking out stops
 * generation and frees its memory.
 *
 * @example
 * for await (const part of chatStream(model, [{ role: 'user', content: 'Hi' }])) {
 *   if (part.type === 'text') process.stdout.write(part.text);
 * }
 */
export function chatStream(
  model: GenerationModel,
  messages: readonly ChatMessage[],
  options: ChatOptions = {},
): AsyncGenerator<ChatPart, void, undefined> {
  return chatStreamWithFormat(QWEN3_REPLY_FORMAT, model, messages, options, 'Qwen3.chatStream');
}

/**
 * Generates a chat reply and returns it split into text, reasoning and tool calls.
 *
 * @example
 * const r = await chat(model, [{ role: 'user', content: 'Weather in Paris?' }], { tools: [weatherTool] });
 * r.toolCalls; // [{ name: 'get_weather', arguments: { city: 'Paris' }, raw: '...' }]
 */
export function chat(model: GenerationModel, messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatResult> {
  return chatWithFormat(QWEN3_REPLY_FORMAT, model, messages, options, 'Qwen3.chat');
}
