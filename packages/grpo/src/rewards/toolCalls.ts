// Finding and checking Qwen3 tool calls (`<tool_call>{"name": …, "arguments": {…}}</tool_call>`)
// in a completion with the Qwen3 reply parser of @mlxn/models-qwen3 (crates/mlxn-qwen3/src/reply.rs):
// calls inside the reasoning do not count, a block that never closes is invalid, `arguments`
// may be an object or a JSON string holding one.
import { parseReply } from '@mlxn/models-qwen3';
import { compileJsonSchema, type JsonSchema } from './jsonSchema.js';

export interface FoundToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

export interface ToolCallScan {
  calls: FoundToolCall[];
  /** Blocks that could not be decoded, with the reason. */
  invalid: { raw: string; error: string }[];
}

/** The tool calls of a completion, outside its reasoning. */
export function findToolCalls(completion: string, startInReasoning = false): ToolCallScan {
  const reply = parseReply(completion, { startInReasoning });
  return {
    calls: reply.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })),
    invalid: reply.invalidToolCalls.map((c) => ({ raw: c.raw, error: c.error })),
  };
}

/** A tool by name, or its definition (`{ name, parameters }` or OpenAI's `{ type: 'function', function: {…} }`). */
export type ToolSpec =
  | string
  | { name: string; parameters?: JsonSchema }
  | { type: 'function'; function: { name: string; parameters?: JsonSchema } };

/** A checker returning the problems with one call (empty = valid). */
export function toolValidator(tools?: readonly ToolSpec[]): (call: FoundToolCall) => string[] {
  if (tools === undefined) return () => [];
  const byName = new Map<string, ((v: unknown) => string[]) | null>();
  for (const t of tools) {
    const def = typeof t === 'string' ? { name: t } : 'function' in t ? t.function : t;
    if (typeof def?.name !== 'string' || def.name === '')
      throw new TypeError(`toolCallReward: a tool needs a name, got ${JSON.stringify(t)}`);
    byName.set(def.name, def.parameters !== undefined ? compileJsonSchema(def.parameters) : null);
  }
  return (call) => {
    if (!byName.has(call.name)) return [`unknown tool "${call.name}"`];
    const validate = byName.get(call.name);
    return validate ? validate(call.arguments) : [];
  };
}
