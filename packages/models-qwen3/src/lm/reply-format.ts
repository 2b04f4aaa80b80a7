/**
 * How a model family writes its replies, as chat and structured output need to know it: where
 * reasoning starts and ends, how a tool call is written, and a parser that splits a reply into
 * those parts. Each model family provides one; the parts below are what every family's parser
 * yields.
 */
import type { ToolChoice } from './structured.js';

/** A well-formed tool call. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
  /** The tool call's text as generated (between its tags). */
  raw: string;
}

/** A tool-call block that could not be decoded, with the reason (never dropped silently). */
export interface InvalidToolCall {
  raw: string;
  error: string;
}

/** One piece of a reply as the parser recognises it. */
export type ReplyPart =
  | { type: 'reasoning'; text: string }
  | { type: 'text'; text: string }
  | { type: 'toolCall'; toolCall: ToolCall }
  | { type: 'invalidToolCall'; invalidToolCall: InvalidToolCall };

/** An incremental reply parser: `push` decoded text as it arrives, `finish` at the end. */
export interface IncrementalReplyParser {
  push(text: string): ReplyPart[];
  finish(): ReplyPart[];
  /** Whether a reasoning block was seen (or the reply started in one). */
  readonly sawReasoning: boolean;
}

/** A model family's reply format. */
export interface ReplyFormat {
  /** The tokens that open and close a reasoning block (`<think>`, `</think>`), when the family reasons. */
  readonly reasoningTags?: readonly [open: string, close: string];
  /** The tokens around a tool call, kept out of a constrained answer (the parser would cut it there). */
  readonly toolCallTags: readonly [open: string, close: string];
  /** Whether a rendered prompt ends inside an open reasoning block (the reply starts with reasoning). */
  opensReasoning(prompt: string): boolean;
  /** A parser for one reply; `startInReasoning`: the prompt already opened the reasoning block. */
  parser(options: { startInReasoning: boolean }): IncrementalReplyParser;
  /** The Lark grammar a forced tool call follows: calls of `tools` (those `choice` allows), several when `parallel`. */
  toolCallGrammar(tools: readonly unknown[], choice: ToolChoice, parallel: boolean): string;
}
