// Hugging Face tokenizers (tokenizer.json + tokenizer_config.json) through the Rust
// `tokenizers` crate, chat templates through minijinja, and a streaming detokenizer.
import { resolve } from 'node:path';
import { checkOptionKeys, native } from '@mlxn/core/internal';
import { StreamingDetokenizer } from './detokenizer.js';

type NativeTokenizer = ReturnType<typeof native.IoTokenizer.fromFolder>;

export interface EncodeOptions {
  /** Add the tokenizer's special tokens (BOS/EOS post-processing). Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (`<|im_end|>`, ...) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

const ENCODE_OPTIONS: readonly string[] = ['addSpecialTokens'] satisfies (keyof EncodeOptions)[];
const DECODE_OPTIONS: readonly string[] = ['skipSpecialTokens'] satisfies (keyof DecodeOptions)[];

/** A chat message. Extra keys (`reasoning_content`, `tool_calls`, `name`, ...) reach the template. */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Tool definitions (JSON schema objects), as the template's `tools`. */
  tools?: readonly unknown[];
  /** Append the assistant turn's opening. Default false (as in transformers). */
  addGenerationPrompt?: boolean;
  /** Qwen3's `enable_thinking`: false asks the model to answer without reasoning. */
  enableThinking?: boolean;
  /** Return token ids instead of text. Default false. */
  tokenize?: boolean;
  /** A template to use instead of the tokenizer's own (or the name of one of its templates). */
  chatTemplate?: string;
  /** More template variables, passed as written (snake_case, as templates expect). */
  extra?: Record<string, unknown>;
  /** Bounds on the render (templates come with a model and are untrusted). */
  limits?: TemplateLimits;
}

const CHAT_TEMPLATE_OPTIONS: readonly string[] = [
  'tools',
  'addGenerationPrompt',
  'enableThinking',
  'tokenize',
  'chatTemplate',
  'extra',
  'limits',
] satisfies (keyof ChatTemplateOptions)[];

/**
 * Bounds on rendering a chat template. Every render stops with an Error naming the limit it
 * hit; the defaults are far above what real chat templates need. See docs/security.md.
 */
export interface TemplateLimits {
  /** Longest template source, in bytes. Default 1 MiB. */
  maxTemplateBytes?: number;
  /** Instructions a render may run (loop iterations, calls, ...). Default 20,000,000. */
  fuel?: number;
  /**
   * Bytes a render may produce in total: output, captured blocks, and every string or list
   * built along the way (a list item counts 16 bytes). Default 64 MiB.
   */
  maxBytes?: number;
  /** Deepest nesting of lists and maps the template builds or passes to `tojson`. Default 256. */
  maxDepth?: number;
}

/** The special tokens a tokenizer declares, as text and id. */
export interface SpecialToken {
  text: string;
  id: number | undefined;
}

/**
 * A Hugging Face tokenizer.
 *
 * ```ts
 * const tok = await Tokenizer.load('path/to/Qwen3-0.6B');
 * tok.encode('Hello'); // [9707]
 * ```
 */
export class Tokenizer {
  readonly #native: NativeTokenizer;
  readonly #config: Record<string, unknown>;
  /** bos / eos / pad / unk, where the config names them. */
  readonly bos: SpecialToken | undefined;
  readonly eos: SpecialToken | undefined;
  readonly pad: SpecialToken | undefined;
  readonly unk: SpecialToken | undefined;
  /** The model's other special tokens (`additional_special_tokens` and special added tokens). */
  readonly extraSpecialTokens: readonly string[];
  readonly #vocabSize: number;

  private constructor(n: NativeTokenizer) {
    this.#native = n;
    this.#vocabSize = n.vocabSize();
    this.#config = JSON.parse(n.configJson()) as Record<string, unknown>;
    const { named, extra } = n.specialTokens();
    const tok = (key: string): SpecialToken | undefined =>
      named[key] === undefined ? undefined : { text: named[key], id: n.tokenToId(named[key]) ?? undefined };
    this.bos = tok('bos');
    this.eos = tok('eos');
    this.pad = tok('pad');
    this.unk = tok('unk');
    this.extraSpecialTokens = Object.freeze(extra.filter((t) => !Object.values(named).includes(t)));
  }

  /** Loads `tokenizer.json` (+ `tokenizer_config.json`) from a folder, synchronously. */
  static loadSync(folder: string): Tokenizer {
    return new Tokenizer(native.IoTokenizer.fromFolder(resolve(folder)));
  }

  /** Loads `tokenizer.json` (+ `tokenizer_config.json`) from a folder. */
  static async load(folder: string): Promise<Tokenizer> {
    return Tokenizer.loadSync(folder);
  }

  /**
   * The tokenizer as `tokenizer.json` text (as Hugging Face `tokenizers` writes it): for tools
   * that read the vocabulary themselves, such as constrained decoding in @mlxn/sampling.
   */
  serialize(): string {
    return this.#native.serialize();
  }

  /** The raw `tokenizer_config.json`. */
  get config(): Readonly<Record<string, unknown>> {
    return this.#config;
  }

  /** Vocabulary size, added tokens included. */
  get vocabSize(): number {
    return this.#vocabSize;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`encode expects a string, got ${typeof text}`);
    checkOptionKeys(options, ENCODE_OPTIONS, 'encode');
    return this.#native.encode(text, options.addSpecialTokens ?? true);
  }

  encodeBatch(texts: readonly string[], options: EncodeOptions = {}): number[][] {
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new TypeError('encodeBatch expects a list of strings');
    checkOptionKeys(options, ENCODE_OPTIONS, 'encodeBatch');
    return this.#native.encodeBatch([...texts], options.addSpecialTokens ?? true);
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    checkOptionKeys(options, DECODE_OPTIONS, 'decode');
    return this.#native.decode(checkIds(ids), options.skipSpecialTokens ?? false);
  }

  decodeBatch(batch: readonly (readonly number[])[], options: DecodeOptions = {}): string[] {
    checkOptionKeys(options, DECODE_OPTIONS, 'decodeBatch');
    return this.#native.decodeBatch(
      batch.map((ids) => checkIds(ids)),
      options.skipSpecialTokens ?? false,
    );
  }

  /** The id of a token (special or not), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.#native.tokenToId(token) ?? undefined;
  }

  idToToken(id: number): string | undefined {
    return this.#native.idToToken(id) ?? undefined;
  }

  /** The chat template from `tokenizer_config.json` (a named one when there are several). */
  chatTemplate(name?: string): string | undefined {
    return this.#native.chatTemplate(name) ?? undefined;
  }

  /**
   * Renders the chat template (minijinja with transformers' Jinja settings) and returns the
   * text, or token ids with `{ tokenize: true }` (encoded without adding special tokens, as
   * transformers does).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions & { tokenize: true }): number[];
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions & { tokenize?: false }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string | number[];
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string | number[] {
    checkOptionKeys(options, CHAT_TEMPLATE_OPTIONS, 'applyChatTemplate');
    let template = options.chatTemplate;
    if (template !== undefined && !template.includes('{')) template = this.chatTemplate(template);
    template ??= this.chatTemplate();
    if (template === undefined) throw new Error('this tokenizer has no chat_template (pass options.chatTemplate)');
    const context: Record<string, unknown> = {
      ...specialTokenVars(this.#config),
      ...options.extra,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    };
    if (options.tools !== undefined) context.tools = options.tools;
    if (options.enableThinking !== undefined) context.enable_thinking = options.enableThinking;
    const text = renderChatTemplate(template, context, options.limits);
    return options.tokenize ? this.encode(text, { addSpecialTokens: false }) : text;
  }

  /** A streaming detokenizer for token-by-token generation. */
  detokenizer(options: DecodeOptions = {}): StreamingDetokenizer {
    checkOptionKeys(options, DECODE_OPTIONS, 'detokenizer');
    const skip = options.skipSpecialTokens ?? false;
    return new StreamingDetokenizer((ids) => this.#native.decode(ids, skip));
  }
}

function checkIds(ids: readonly number[]): number[] {
  if (!Array.isArray(ids)) throw new TypeError('token ids must be a list of numbers');
  for (const id of ids) {
    if (!(Number.isInteger(id) && id >= 0 && id < 2 ** 32)) throw new RangeError(`token id ${id} is not a non-negative integer`);
  }
  return ids as number[];
}

// transformers passes the special tokens by name (bos_token, eos_token, ...) to every template.
function specialTokenVars(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token']) {
    const v = config[key];
    if (typeof v === 'string') out[key] = v;
    else if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
      out[key] = (v as { content: string }).content;
  }
  return out;
}

/**
 * Renders a Jinja chat template with `context` as its variables (minijinja, `trim_blocks` and
 * `lstrip_blocks` on, Python string methods, `raise_exception`, `strftime_now`, and a `tojson`
 * that writes what Python's `json.dumps(..., ensure_ascii=False)` writes).
 *
 * The render is bounded by `limits` (fuel, size, depth), so it always finishes promptly: it
 * runs synchronously and needs no AbortSignal.
 */
export function renderChatTemplate(template: string, context: Record<string, unknown>, limits: TemplateLimits = {}): string {
  if (typeof template !== 'string') throw new TypeError('template must be a string');
  return native.ioRenderTemplate(template, JSON.stringify(context), checkLimits(limits));
}

function checkLimits(limits: TemplateLimits): TemplateLimits {
  if (limits === null || typeof limits !== 'object') throw new TypeError('limits must be an object');
  const out: TemplateLimits = {};
  for (const key of ['maxTemplateBytes', 'fuel', 'maxBytes', 'maxDepth'] as const) {
    const v = limits[key];
    if (v === undefined) continue;
    if (!(Number.isSafeInteger(v) && v >= 1)) throw new RangeError(`limits.${key} must be a positive integer, got ${String(v)}`);
    out[key] = v;
  }
  return out;
}
