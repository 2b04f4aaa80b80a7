/**
 * Qwen3 replies split into reasoning (`<think>`), text and tool calls (`<tool_call>` JSON), by
 * the parser in `crates/mlxn-qwen3/src/reply.rs`, whole or incrementally.
 */
import { native } from '@mlxn/core/internal';
import type { InvalidToolCall, ReplyPart, ToolCall } from './lm/reply-format.js';

/** A whole reply, parsed. */
export interface ParsedReply {
  text: string;
  /** `null` when the reply had no reasoning block. */
  reasoning: string | null;
  toolCalls: ToolCall[];
  invalidToolCalls: InvalidToolCall[];
}

type NativeEvent = ReturnType<InstanceType<typeof native.Qwen3ReplyParser>['finish']>[number];
type NativeToolCall = ReturnType<typeof native.qwen3ParseReply>['toolCalls'][number];

/** A tool call's arguments come as JSON text, read here as JSON means it (see reply.rs). */
function toolCall(c: NativeToolCall): ToolCall {
  return { name: c.name, arguments: JSON.parse(c.argumentsJson) as Record<string, unknown>, raw: c.raw };
}

function toParts(events: NativeEvent[]): ReplyPart[] {
  return events.map((e): ReplyPart => {
    if (e.type === 'toolCall') return { type: 'toolCall', toolCall: toolCall(e.call) };
    if (e.type === 'invalidToolCall') return { type: 'invalidToolCall', invalidToolCall: { raw: e.call.raw, error: e.call.error } };
    return { type: e.type, text: e.text };
  });
}

/**
 * Incremental parser: `push` decoded text as it arrives, `finish` at the end. A tag split over
 * pieces is held back until complete, so the parts do not depend on how the text was cut.
 *
 * @example
 * const p = new ReplyParser();
 * p.push('<think>hmm</th'); // [{ type: 'reasoning', text: 'hmm' }]
 */
export class ReplyParser {
  readonly #native: InstanceType<typeof native.Qwen3ReplyParser>;

  /** `startInReasoning`: the prompt already opened `<think>` (the reply starts with reasoning). */
  constructor(options: { startInReasoning?: boolean } = {}) {
    this.#native = new native.Qwen3ReplyParser(options.startInReasoning ?? false);
  }

  push(text: string): ReplyPart[] {
    if (typeof text !== 'string') throw new TypeError(`ReplyParser.push: expected a string, got ${typeof text}`);
    return toParts(this.#native.push(text));
  }

  finish(): ReplyPart[] {
    return toParts(this.#native.finish());
  }

  /** Whether a `<think>` block was seen (or the reply started in one). */
  get sawReasoning(): boolean {
    return this.#native.sawReasoning();
  }
}

/**
 * Parses a whole Qwen3 reply.
 *
 * @example
 * parseReply('<think>x</think>\n\nHi'); // { text: 'Hi', reasoning: 'x', toolCalls: [], invalidToolCalls: [] }
 */
export function parseReply(text: string, options: { startInReasoning?: boolean } = {}): ParsedReply {
  if (typeof text !== 'string') throw new TypeError(`parseReply: expected a string, got ${typeof text}`);
  const r = native.qwen3ParseReply(text, options.startInReasoning ?? false);
  return {
    text: r.text,
    reasoning: r.reasoning ?? null,
    toolCalls: r.toolCalls.map(toolCall),
    invalidToolCalls: r.invalidToolCalls.map((c) => ({ raw: c.raw, error: c.error })),
  };
}

/** Whether a rendered prompt ends inside an open `<think>` block (the reply starts with reasoning). */
export function promptOpensThinking(prompt: string): boolean {
  const open = prompt.lastIndexOf('<think>');
  return open !== -1 && prompt.indexOf('</think>', open) === -1 && prompt.slice(open + '<think>'.length).trim() === '';
}
