/**
 * Tools the policy may call during rollouts (TRL 1.16's `GRPOTrainer(tools=...)`): their schemas
 * for the chat template, their execution (sync or async JavaScript, each call bounded in time and
 * in the size of what it returns, failures reported to the model as results), and the tokens of
 * the tool turn the chat template renders after a completion that called tools.
 */

import { checkOptionKeys } from '@mlxn/core/internal';
import type { ChatMessage, Tokenizer } from '@mlxn/io';

/** What a tool's handler receives besides its arguments. */
export interface ToolCallContext {
  /** Aborted when the call runs past `toolTimeoutMs`; a long-running handler should stop then. */
  signal: AbortSignal;
}

/** A tool the model can call: its schema (rendered into the prompt) and the function that runs it. */
export interface GRPOTool {
  /** The name the model calls it by (unique among the tools). */
  name: string;
  /** What it does (shown to the model). */
  description?: string;
  /** JSON schema of its arguments object. Default: an object without declared properties. */
  parameters?: Record<string, unknown>;
  /**
   * Runs one call with the arguments the model wrote. Sync or async. A string result is sent
   * as is, anything else as JSON; a throw or rejection is sent as `{"error": message}`.
   */
  handler: (args: Record<string, unknown>, context: ToolCallContext) => unknown;
}

/** One call the model made (as the chat template's `tool_calls` entries). */
export interface ToolCallRequest {
  name: string;
  arguments: Record<string, unknown>;
}

/** What one call produced, as a `tool` message's fields. */
export interface ToolCallResult {
  name: string;
  content: string;
  /** True when the call failed (unknown tool, throw, rejection, timeout). */
  failed: boolean;
}

export interface ToolExecutionOptions {
  /** A call still running after this many milliseconds fails with a timeout result. */
  timeoutMs: number;
  /** Results longer than this many characters are cut, with a note saying how much was cut. */
  maxResultChars: number;
}

/** Checks a tool list and returns it by name. */
export function toolTable(tools: readonly GRPOTool[]): Map<string, GRPOTool> {
  if (!Array.isArray(tools)) throw new TypeError('tools must be a list of { name, handler, description?, parameters? }');
  const table = new Map<string, GRPOTool>();
  tools.forEach((t, i) => {
    if (t === null || typeof t !== 'object')
      throw new TypeError(`tools[${i}] must be an object { name, handler, description?, parameters? }`);
    checkOptionKeys(t, ['name', 'description', 'parameters', 'handler'], `tools[${i}]`);
    if (typeof t.name !== 'string' || !/^[A-Za-z_][\w.-]*$/.test(t.name))
      throw new TypeError(`tools[${i}].name must be an identifier-like string, got ${JSON.stringify(t.name)}`);
    if (typeof t.handler !== 'function') throw new TypeError(`tools[${i}] (${t.name}): handler must be a function`);
    if (t.description !== undefined && typeof t.description !== 'string')
      throw new TypeError(`tools[${i}] (${t.name}): description must be a string`);
    if (t.parameters !== undefined && (t.parameters === null || typeof t.parameters !== 'object' || Array.isArray(t.parameters))) {
      throw new TypeError(`tools[${i}] (${t.name}): parameters must be a JSON schema object`);
    }
    if (table.has(t.name)) throw new TypeError(`tools: the name '${t.name}' is used twice`);
    table.set(t.name, t);
  });
  return table;
}

/** The tools as the chat template's `tools` (OpenAI-style function schemas, as transformers passes them). */
export function toolSchemas(tools: readonly GRPOTool[]): Record<string, unknown>[] {
  return tools.map((t) => ({
    type: 'function',
    function: {
      name: t.name,
      ...(t.description === undefined ? {} : { description: t.description }),
      parameters: t.parameters ?? { type: 'object', properties: {} },
    },
  }));
}

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'null';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function bound(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… [${text.length - max} more characters cut]`;
}

/**
 * Runs the calls of one assistant turn, all concurrently, and returns one result per call in
 * call order. Never throws: an unknown tool, a throw, a rejection or a timeout becomes a failed
 * result `{"error": "..."}` the model reads (TRL's rule), so a tool cannot stop training.
 */
export async function runToolCalls(
  calls: readonly ToolCallRequest[],
  tools: ReadonlyMap<string, GRPOTool>,
  options: ToolExecutionOptions,
): Promise<ToolCallResult[]> {
  return Promise.all(
    calls.map(async (call): Promise<ToolCallResult> => {
      const fail = (message: string): ToolCallResult => ({
        name: call.name,
        content: bound(JSON.stringify({ error: message }), options.maxResultChars),
        failed: true,
      });
      const tool = tools.get(call.name);
      if (tool === undefined) return fail(`Tool ${call.name} not found.`);
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = new Error(`Tool ${call.name} timed out after ${options.timeoutMs} ms`);
          controller.abort(e);
          reject(e);
        }, options.timeoutMs);
      });
      try {
        const result = await Promise.race([
          Promise.resolve().then(() => tool.handler(call.arguments, { signal: controller.signal })),
          timeout,
        ]);
        return { name: call.name, content: bound(render(result), options.maxResultChars), failed: false };
      } catch (e) {
        return fail(e instanceof Error ? e.message : String(e));
      } finally {
        clearTimeout(timer);
      }
    }),
  );
}

/**
 * The token ids the chat template puts after an assistant turn that called tools: the tool
 * messages' turn and the next assistant turn's opening (TRL's `_get_tool_suffix_ids`). Both
 * renders use a dummy conversation; the suffix starts after the end-of-turn token that closes
 * the assistant turn. TRL finds that token as the last end-of-sequence token of the shorter
 * render, which needs a prefix-preserving template (TRL swaps in its own training template for
 * Qwen3's, which is not); here it is the same-numbered end-of-sequence token of the longer
 * render, which gives TRL's ids for prefix-preserving templates and the right ones for Qwen3's own.
 */
export function toolSuffixIds(
  tokenizer: Tokenizer,
  toolMessages: readonly ChatMessage[],
  options: { chatTemplateKwargs?: Record<string, unknown> | null } = {},
): number[] {
  if (toolMessages.length === 0) throw new Error('toolSuffixIds: no tool messages');
  const { enable_thinking: thinking, ...extra } = options.chatTemplateKwargs ?? {};
  const common = { extra, ...(thinking === undefined ? {} : { enableThinking: Boolean(thinking) }) };
  const dummy: ChatMessage[] = [
    { role: 'user', content: 'dummy' },
    { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: toolMessages[0].name, arguments: {} } }] },
  ];
  const prefix = tokenizer.applyChatTemplate(dummy, { ...common, addGenerationPrompt: false, tokenize: true });
  const full = tokenizer.applyChatTemplate([...dummy, ...toolMessages], { ...common, addGenerationPrompt: true, tokenize: true });
  const eos = tokenizer.eos?.id;
  const turns = eos === undefined ? 0 : prefix.filter((id) => id === eos).length;
  if (turns === 0) {
    // No end-of-turn token to align on: the shorter render must be a prefix of the longer one (TRL).
    if (prefix.some((id, i) => full[i] !== id))
      throw new Error('toolSuffixIds: the chat template renders the turns before the tool results differently once they follow');
    return full.slice(prefix.length);
  }
  let seen = 0;
  for (let i = 0; i < full.length; i++) {
    if (full[i] === eos && ++seen === turns) return full.slice(i + 1);
  }
  throw new Error('toolSuffixIds: the chat template rendered fewer turns than expected');
}
