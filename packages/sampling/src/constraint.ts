/**
 * Constrained decoding: a JSON Schema (or a Lark grammar) compiled by llguidance, in the native
 * binary, into the tokens allowed at each step. A `TokenConstraint` is one generation's state:
 * `mask` gives `bool [1, width]` for the next step's logits, `accept` advances it by the sampled
 * token. A `ConstraintVocabulary` (every token's bytes) is built once per tokenizer and shared.
 *
 * @example
 * const vocab = ConstraintVocabulary.fromTokenizerJson(tokenizer.serialize(), [151645]);
 * const c = TokenConstraint.jsonSchema(vocab, { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] });
 * const logits2 = applyTokenMask(logits, c.mask(logits.shape[1]));
 * c.accept(token);
 */
import * as mx from '@mlxn/core';
import { native, wrap } from '@mlxn/core/internal';

type NativeVocabulary = InstanceType<typeof native.SamplingVocabulary>;
type NativeConstraint = InstanceType<typeof native.SamplingConstraint>;

/** A schema or grammar that cannot be compiled (the message says why); also a refused token. */
export class ConstraintError extends Error {
  override name = 'ConstraintError';
}

/** JSON nesting the native side accepts (serde_json's recursion limit). */
const MAX_JSON_DEPTH = 128;

/**
 * Throws `ConstraintError` when `value` (a parsed JSON document) nests more than `limit` arrays
 * and objects deep. Iterative, so a hostile document cannot overflow the stack here (as
 * `JSON.stringify` of it would).
 */
export function checkJsonDepth(value: unknown, what: string, limit = MAX_JSON_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || typeof v !== 'object') continue;
    if (depth > limit) throw new ConstraintError(`${what} nests too deeply (more than ${limit} levels of JSON)`);
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
}

function rethrow(e: unknown, what: string): never {
  throw new ConstraintError(`${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/** A tokenizer's tokens, prepared once for every constraint on it. */
export class ConstraintVocabulary {
  /** @internal */
  readonly native: NativeVocabulary;

  private constructor(n: NativeVocabulary) {
    this.native = n;
  }

  /**
   * From the text of a Hugging Face `tokenizer.json` (`Tokenizer.serialize()` in @mlxn/io) and
   * the ids that end a generation (allowed only where the output is complete).
   */
  static fromTokenizerJson(tokenizerJson: string, eosTokenIds: readonly number[]): ConstraintVocabulary {
    ConstraintVocabulary.#check(tokenizerJson, eosTokenIds, 'fromTokenizerJson');
    try {
      return new ConstraintVocabulary(native.SamplingVocabulary.fromTokenizerJson(tokenizerJson, [...eosTokenIds]));
    } catch (e) {
      return rethrow(e, 'ConstraintVocabulary');
    }
  }

  /**
   * `fromTokenizerJson` on a worker thread: building the trie of a 150k-token vocabulary takes
   * most of a second, during which the event loop keeps running.
   */
  static async fromTokenizerJsonAsync(tokenizerJson: string, eosTokenIds: readonly number[]): Promise<ConstraintVocabulary> {
    ConstraintVocabulary.#check(tokenizerJson, eosTokenIds, 'fromTokenizerJsonAsync');
    try {
      return new ConstraintVocabulary(await native.samplingBuildVocabulary(tokenizerJson, [...eosTokenIds]));
    } catch (e) {
      return rethrow(e, 'ConstraintVocabulary');
    }
  }

  static #check(tokenizerJson: unknown, eosTokenIds: readonly number[], what: string): void {
    if (typeof tokenizerJson !== 'string') throw new TypeError(`ConstraintVocabulary.${what}: expected tokenizer.json as text`);
    if (!Array.isArray(eosTokenIds) || eosTokenIds.length === 0 || !eosTokenIds.every((t) => Number.isInteger(t) && t >= 0)) {
      throw new TypeError(`ConstraintVocabulary.${what}: eosTokenIds must be a non-empty list of token ids`);
    }
  }

  /** Token ids the tokenizer defines (`0..size`). */
  get size(): number {
    return this.native.size;
  }
}

/** One generation's position in a grammar. Call `dispose` when the generation ends. */
export class TokenConstraint {
  #native: NativeConstraint | null;

  private constructor(n: NativeConstraint) {
    this.#native = n;
  }

  /**
   * Output that is one JSON document valid against `schema` (`{ type: 'object' }` for any
   * object), written compactly with `", "` and `": "` separators. Unsupported keywords, a
   * schema that nothing satisfies, and schemas past llguidance's size and effort limits throw
   * `ConstraintError`.
   */
  static jsonSchema(vocabulary: ConstraintVocabulary, schema: unknown): TokenConstraint {
    if (schema !== true && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
      throw new ConstraintError('the JSON schema must be an object');
    }
    checkJsonDepth(schema, 'the JSON schema');
    return TokenConstraint.#compile(vocabulary, 'json_schema', JSON.stringify(schema));
  }

  /** Output that is a sentence of a Lark grammar in llguidance's dialect (`%json { … }` embeds a schema). */
  static lark(vocabulary: ConstraintVocabulary, grammar: string): TokenConstraint {
    if (typeof grammar !== 'string') throw new TypeError('TokenConstraint.lark: the grammar must be a string');
    return TokenConstraint.#compile(vocabulary, 'lark', grammar);
  }

  static #compile(vocabulary: ConstraintVocabulary, kind: string, source: string): TokenConstraint {
    if (!(vocabulary instanceof ConstraintVocabulary)) throw new TypeError('TokenConstraint: expected a ConstraintVocabulary');
    try {
      return new TokenConstraint(native.SamplingConstraint.compile(vocabulary.native, kind, source));
    } catch (e) {
      return rethrow(e, 'invalid grammar');
    }
  }

  #live(): NativeConstraint {
    if (this.#native === null) throw new Error('TokenConstraint: disposed');
    return this.#native;
  }

  /**
   * `bool [1, width]`: the tokens allowed next (`width` is the logits' width, which may exceed
   * the vocabulary). `also` are allowed besides them and `never` are not.
   */
  mask(width: number, options: { also?: readonly number[]; never?: readonly number[] } = {}): mx.Array {
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`TokenConstraint.mask: width must be a positive integer, got ${width}`);
    return wrap(this.#live().mask(width, [...(options.also ?? [])], [...(options.never ?? [])]));
  }

  /** The ids allowed next, ascending. */
  allowedTokens(): number[] {
    return this.#live().allowedTokens();
  }

  /** Advances by the sampled token; a token the grammar does not allow throws `ConstraintError`. */
  accept(token: number): void {
    try {
      this.#live().accept(token);
    } catch (e) {
      rethrow(e, 'TokenConstraint.accept');
    }
  }

  /** Whether the output so far is complete (end-of-sequence is allowed). */
  get isAccepting(): boolean {
    return this.#live().isAccepting();
  }

  /** Whether the output is complete and nothing may follow. */
  get isFinished(): boolean {
    return this.#live().isFinished();
  }

  /** Frees the parser state now (also done by the garbage collector). */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }
}

/** `logits` with every column where `mask` is false set to -Infinity. */
export function applyTokenMask(logits: mx.Array, mask: mx.Array): mx.Array {
  return mx.where(mask, logits, -Infinity);
}
