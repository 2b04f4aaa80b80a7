/**
 * Structured output for chat replies: OpenAI's `response_format` (`json_schema`, `json_object`)
 * and `tool_choice` (`"required"`, a named function) turned into a token constraint
 * (@mlxn/sampling's `TokenConstraint`, compiled by llguidance) that generation applies to every
 * step, so the answer is always valid (or ends by running out of tokens: finish reason
 * `'length'`).
 *
 * Thinking: the constraint applies to the answer, after the reasoning block (the reply format's
 * `reasoningTags`, `<think>` … `</think>` for Qwen3), as vLLM and SGLang do with a reasoning
 * parser. A reply whose prompt opened `<think>` thinks freely until `</think>`; otherwise, when
 * the template lets the model think (`enableThinking` not false and `<think>` in the vocabulary),
 * its first token may also be `<think>`, which starts a free block the same way. After
 * `</think>` the answer must start at once (no whitespace). The tool-call grammar and tags are
 * the reply format's too.
 */
import type * as mx from '@mlxn/core';
import type { Tokenizer } from '@mlxn/io';
import { ConstraintError, ConstraintVocabulary, checkJsonDepth, TokenConstraint } from '@mlxn/sampling';
import type { ConstrainableModel } from './model-interface.js';
import type { ReplyFormat } from './reply-format.js';

/** OpenAI's `response_format`. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };

/** OpenAI's `tool_choice`. */
export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

/**
 * The hook generation calls around each step when a reply is constrained: `mask` before the step
 * is built (`bool [1, width]`, or null for a free step), `accept` with each token sampled.
 */
export interface TokenMaskHook {
  mask(width: number): mx.Array | null;
  accept(token: number): void;
  dispose(): void;
}

/** What a reply is constrained to; undefined members mean "free". */
export interface ReplyConstraintOptions {
  responseFormat?: ResponseFormat;
  /** Tool definitions (OpenAI's `{ type: 'function', function: { name, parameters } }` or `{ name, parameters }`). */
  tools?: readonly unknown[];
  toolChoice?: ToolChoice;
  /** With `toolChoice` required/named: allow more than one call. Default true (OpenAI's default). */
  parallelToolCalls?: boolean;
  /** The prompt opened the reasoning block (the reply starts inside the reasoning). */
  startInReasoning: boolean;
  /** The chat template's `enable_thinking`. */
  enableThinking?: boolean;
}

/** Per tokenizer and end-of-sequence set: the vocabulary, or the promise of one being built. */
const vocabularies = new WeakMap<Tokenizer, Map<string, ConstraintVocabulary | Promise<ConstraintVocabulary>>>();

function vocabularySlot(model: ConstrainableModel): {
  tokenizer: Tokenizer;
  byEos: Map<string, ConstraintVocabulary | Promise<ConstraintVocabulary>>;
  key: string;
} {
  const tokenizer = model.tokenizer;
  if (tokenizer === undefined)
    throw new ConstraintError("structured output needs the model's tokenizer (load the model from a folder with tokenizer.json)");
  let byEos = vocabularies.get(tokenizer);
  if (byEos === undefined) {
    byEos = new Map();
    vocabularies.set(tokenizer, byEos);
  }
  return { tokenizer, byEos, key: model.eosTokenIds.join(',') };
}

/**
 * The tokenizer's vocabulary for constraints, built once per tokenizer and end-of-sequence set
 * (most of a second for Qwen3's; `prepareConstraintVocabulary` builds it off the JS thread).
 */
export function constraintVocabulary(model: ConstrainableModel): ConstraintVocabulary {
  const { tokenizer, byEos, key } = vocabularySlot(model);
  const known = byEos.get(key);
  if (known instanceof ConstraintVocabulary) return known;
  // Still being built on a worker thread: built here as well rather than waited for.
  const vocab = ConstraintVocabulary.fromTokenizerJson(tokenizer.serialize(), model.eosTokenIds);
  byEos.set(key, vocab);
  return vocab;
}

/** Builds the vocabulary `constraintVocabulary` returns on a worker thread (once; later calls share it). */
export async function prepareConstraintVocabulary(model: ConstrainableModel): Promise<ConstraintVocabulary> {
  const { tokenizer, byEos, key } = vocabularySlot(model);
  const known = byEos.get(key);
  if (known !== undefined) return known;
  const building = ConstraintVocabulary.fromTokenizerJsonAsync(tokenizer.serialize(), model.eosTokenIds);
  byEos.set(key, building);
  try {
    const vocab = await building;
    if (byEos.get(key) === building) byEos.set(key, vocab);
    return vocab;
  } catch (e) {
    if (byEos.get(key) === building) byEos.delete(key);
    throw e;
  }
}

/** A function tool's name and parameter schema, from OpenAI's shape or the bare one. */
function toolFunction(tool: unknown, i: number): { name: string; parameters: unknown } {
  const t = (tool ?? {}) as Record<string, unknown>;
  const fn = (t.type === 'function' && typeof t.function === 'object' && t.function !== null ? t.function : t) as Record<string, unknown>;
  if (typeof fn.name !== 'string' || fn.name === '') throw new ConstraintError(`tools[${i}] has no function name`);
  return { name: fn.name, parameters: fn.parameters ?? { type: 'object' } };
}

/**
 * A schema as OpenAI's structured outputs read it, in standard JSON Schema: `nullable: true`
 * (the OpenAPI keyword the `openai` client's zod helper writes for `.nullable()`, which
 * llguidance would ignore) becomes `null` among the `type`s (or the `enum`). The schema must
 * already be known to nest at most 128 levels (`checkJsonDepth`).
 */
export function standardSchema(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map(standardSchema);
  // fromEntries defines own properties: a property named `__proto__` stays a property.
  const out: Record<string, unknown> = Object.fromEntries(
    Object.entries(schema)
      .filter(([k]) => k !== 'nullable')
      .map(([k, v]) => [k, standardSchema(v)]),
  );
  if ((schema as Record<string, unknown>).nullable === true) {
    if (typeof out.type === 'string') out.type = out.type === 'null' ? 'null' : [out.type, 'null'];
    else if (Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  return out;
}

/** A reference into a schema's own `$defs` or `definitions`: the group, the name's pointer segment, the rest. */
const LOCAL_DEFINITION_REF = /^#\/(\$defs|definitions)\/([^/]+)(.*)$/;

/**
 * A tool's parameter schema made to sit inside the tool-call grammar's schema, where its own
 * references would resolve against the combined schema: the definitions in its root `$defs` and
 * `definitions` move into `defs` (the combined schema's `$defs`) as `<prefix>0`, `<prefix>1`, …,
 * and its references to them are rewritten to match (as pydantic and zod write them:
 * `#/$defs/Name/...`). Numbered keys need no escaping (llguidance reads a pointer's segments
 * as written). References to anything else in the tool's schema are refused.
 */
function hoistDefinitions(
  schema: Record<string, unknown>,
  prefix: string,
  defs: Record<string, unknown>,
  tool: string,
): Record<string, unknown> {
  const keys = new Map<string, string>(); // `<group>/<name>` → key in `defs`
  const found: Array<[string, unknown]> = [];
  for (const group of ['$defs', 'definitions']) {
    const members = schema[group];
    if (members === undefined) continue;
    if (members === null || typeof members !== 'object' || Array.isArray(members))
      throw new ConstraintError(`the parameters of tool ${tool} have ${group} that is not an object`);
    for (const [name, definition] of Object.entries(members)) {
      const key = `${prefix}${found.length}`;
      keys.set(`${group}/${name}`, key);
      found.push([key, definition]);
    }
  }
  const rewrite = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map(rewrite);
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => {
        if (k !== '$ref') return [k, rewrite(v)];
        const m = typeof v === 'string' ? LOCAL_DEFINITION_REF.exec(v) : null;
        if (m === null)
          throw new ConstraintError(
            `the parameters of tool ${tool} use $ref ${JSON.stringify(v)}; a forced tool call resolves only references into the parameters' own $defs or definitions`,
          );
        // A JSON pointer segment escapes `~` as `~0` and `/` as `~1`.
        const key = keys.get(`${m[1]}/${m[2].replaceAll('~1', '/').replaceAll('~0', '~')}`);
        if (key === undefined)
          throw new ConstraintError(`the parameters of tool ${tool} use $ref ${JSON.stringify(v)}, which names no definition`);
        return [k, `#/$defs/${key}${m[3]}`];
      }),
    );
  };
  for (const [key, definition] of found) defs[key] = rewrite(definition);
  return rewrite(Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$defs' && k !== 'definitions'))) as Record<
    string,
    unknown
  >;
}

/** How generated JSON is spaced (llguidance's option key; the same as the native default for schemas). */
const JSON_LAYOUT = { item_separator: ', ', key_separator: ': ', whitespace_flexible: false };

/**
 * The JSON schema of one forced tool call, `{"name": …, "arguments": …}` with the arguments valid
 * against the tool's parameters (llguidance's `x-guidance` layout included): what a reply
 * format's tool-call grammar wraps in its tags.
 */
export function toolCallSchema(tools: readonly unknown[], choice: ToolChoice): Record<string, unknown> {
  let fns = tools.map(toolFunction);
  if (typeof choice === 'object') {
    fns = fns.filter((f) => f.name === choice.function.name);
    if (fns.length === 0)
      throw new ConstraintError(`tool_choice names the function ${JSON.stringify(choice.function.name)}, which is not among the tools`);
  }
  if (fns.length === 0) throw new ConstraintError('tool_choice "required" needs at least one tool');
  const defs: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const calls = fns.map((f, i) => {
    if (f.parameters === null || typeof f.parameters !== 'object' || Array.isArray(f.parameters)) {
      throw new ConstraintError(`the parameters of tool ${JSON.stringify(f.name)} must be a JSON schema object`);
    }
    checkJsonDepth(f.parameters, `the parameters of tool ${JSON.stringify(f.name)}`);
    // Each tool's schema sits inside ours, so its definitions move to our root.
    const parameters = hoistDefinitions(
      standardSchema(f.parameters) as Record<string, unknown>,
      `tool${i}.def`,
      defs,
      JSON.stringify(f.name),
    );
    return {
      type: 'object',
      properties: { name: { const: f.name }, arguments: parameters },
      required: ['name', 'arguments'],
      additionalProperties: false,
    };
  });
  return {
    ...(calls.length === 1 ? calls[0] : { anyOf: calls }),
    ...(Object.keys(defs).length > 0 ? { $defs: defs } : {}),
    'x-guidance': JSON_LAYOUT,
  };
}

/** The JSON schema a `response_format` asks for (undefined for text). */
function schemaOf(format: ResponseFormat): unknown {
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'object' };
  if (format.type === 'json_schema') {
    const js = format.json_schema as Record<string, unknown> | undefined;
    if (js === undefined || typeof js !== 'object' || js === null)
      throw new ConstraintError('response_format json_schema needs json_schema: { name, schema }');
    if (typeof js.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(js.name)) {
      throw new ConstraintError('response_format.json_schema.name must be 1-64 letters, digits, underscores or dashes');
    }
    const schema = js.schema ?? { type: 'object' };
    checkJsonDepth(schema, 'the JSON schema');
    return standardSchema(schema);
  }
  throw new ConstraintError(`unknown response_format type ${JSON.stringify((format as { type: unknown }).type)}`);
}

type Phase = 'answer' | 'thinking' | 'maybeThinking';

/** A reply's constraint with the reasoning block in front of it (see the module comment). */
export class ConstrainedReply implements TokenMaskHook {
  readonly #constraint: TokenConstraint;
  #phase: Phase;
  readonly #open: number | undefined;
  readonly #close: number | undefined;
  readonly #never: number[];
  readonly #stopIds: ReadonlySet<number>;

  constructor(
    constraint: TokenConstraint,
    options: { phase: Phase; open?: number; close?: number; never: number[]; stopIds: ReadonlySet<number> },
  ) {
    this.#constraint = constraint;
    this.#phase = options.phase;
    this.#open = options.open;
    this.#close = options.close;
    this.#never = options.never;
    this.#stopIds = options.stopIds;
  }

  mask(width: number): mx.Array | null {
    if (this.#phase === 'thinking') return null;
    const also = this.#phase === 'maybeThinking' && this.#open !== undefined ? [this.#open] : [];
    return this.#constraint.mask(width, { also, never: this.#never });
  }

  accept(token: number): void {
    if (this.#stopIds.has(token)) return; // generation ends on it
    if (this.#phase === 'thinking') {
      if (token === this.#close) this.#phase = 'answer';
      return;
    }
    if (this.#phase === 'maybeThinking') {
      if (token === this.#open) {
        this.#phase = 'thinking';
        return;
      }
      this.#phase = 'answer';
    }
    this.#constraint.accept(token);
  }

  dispose(): void {
    this.#constraint.dispose();
  }
}

/**
 * The constraint a chat reply in `format` is under, or undefined when it is free
 * (`response_format` text or none, `tool_choice` auto or none). Throws `ConstraintError` for a
 * schema or tool choice that cannot be compiled.
 */
export function compileReplyConstraintWithFormat(
  format: ReplyFormat,
  model: ConstrainableModel,
  options: ReplyConstraintOptions,
): ConstrainedReply | undefined {
  const reply = options.responseFormat;
  const choice = options.toolChoice ?? 'auto';
  const forcedTool = choice === 'required' || typeof choice === 'object';
  const schema = reply === undefined ? undefined : schemaOf(reply);
  if (schema !== undefined && forcedTool)
    throw new ConstraintError('response_format and a required tool_choice cannot be combined (the reply cannot be both)');
  if (schema === undefined && !forcedTool) return undefined;
  const tools = options.tools ?? [];
  if (forcedTool && tools.length === 0) throw new ConstraintError('tool_choice "required" or a named function needs tools');
  const vocab = constraintVocabulary(model);
  const constraint = forcedTool
    ? TokenConstraint.lark(vocab, format.toolCallGrammar(tools, choice, options.parallelToolCalls ?? true))
    : TokenConstraint.jsonSchema(vocab, schema);
  const id = (text: string): number | undefined => model.tokenizer?.tokenToId(text);
  const reasoningTags = format.reasoningTags ?? [];
  const [openTag, closeTag] = reasoningTags;
  const open = openTag === undefined ? undefined : id(openTag);
  const close = closeTag === undefined ? undefined : id(closeTag);
  const thinks =
    open !== undefined && close !== undefined && (model.chatTemplate ?? model.tokenizer?.chatTemplate() ?? '').includes(openTag as string);
  const phase: Phase =
    options.startInReasoning && close !== undefined ? 'thinking' : thinks && options.enableThinking !== false ? 'maybeThinking' : 'answer';
  // Tags the reply parser reads are kept out of the answer (inside a JSON string they would
  // split it); a forced tool call needs its own tags.
  const tags = forcedTool ? reasoningTags : [...reasoningTags, ...format.toolCallTags];
  const never = tags.map(id).filter((t): t is number => t !== undefined);
  return new ConstrainedReply(constraint, { phase, open, close, never, stopIds: new Set(model.eosTokenIds) });
}
