/**
 * Streaming detokenization with bounded work per token. Each step decodes a short window: the
 * tokens whose text came out at the previous step (their decode is the window's "context") and
 * the tokens since, and emits the window's text past the context's. Decoding the context again
 * keeps what depends on the left neighbour right (a SentencePiece "▁" turns into a space only
 * after another token), and nothing older is decoded again, so a line of any length costs the
 * same per token. The text equals decoding each segment (up to a newline) whole, which is what
 * the detokenizer did before; a window that ends inside a UTF-8 character (U+FFFD at the end)
 * waits for more tokens, and a newline starts a new segment.
 */
const REPLACEMENT = '\uFFFD';

/** Decodes token ids to text (the tokenizer's decode with the detokenizer's options). */
export type DecodeIds = (ids: number[]) => string;

/**
 * Turns generated token ids into text as they arrive, emitting only complete characters (a
 * multi-byte character split over tokens comes out once its last byte arrives).
 */
export class StreamingDetokenizer {
  readonly #decode: DecodeIds;
  /** Context tokens (already emitted) followed by pending ones. */
  #window: number[] = [];
  /** How many of the window's tokens are context. */
  #contextCount = 0;
  /** The decoded text of the window's context tokens. */
  #contextText = '';
  #text = '';
  readonly tokens: number[] = [];

  /** @internal Made by `Tokenizer.detokenizer()`. */
  constructor(decode: DecodeIds) {
    this.#decode = decode;
  }

  /** Adds one token; returns the new text it completes ('' while a character is incomplete). */
  add(id: number): string {
    if (!(Number.isInteger(id) && id >= 0 && id < 2 ** 32)) throw new RangeError(`token id ${id} is not a non-negative integer`);
    this.#window.push(id);
    this.tokens.push(id);
    const text = this.#decode(this.#window);
    if (text.endsWith(REPLACEMENT)) return '';
    const out = text.slice(this.#contextText.length);
    if (text.endsWith('\n')) {
      this.#window = [];
      this.#contextCount = 0;
      this.#contextText = '';
    } else {
      // The tokens that completed `out` are the next window's context.
      this.#window = this.#window.slice(this.#contextCount);
      this.#contextCount = this.#window.length;
      this.#contextText = this.#decode(this.#window);
    }
    this.#text += out;
    return out;
  }

  /** Flushes what is left (an incomplete character becomes U+FFFD) and starts a new segment. */
  finalize(): string {
    const out = this.#window.length === 0 ? '' : this.#decode(this.#window).slice(this.#contextText.length);
    this.#window = [];
    this.#contextText = '';
    this.#contextCount = 0;
    this.#text += out;
    return out;
  }

  /** All text emitted so far. */
  get text(): string {
    return this.#text;
  }

  /** Starts over. */
  reset(): void {
    this.#window = [];
    this.#contextText = '';
    this.#contextCount = 0;
    this.#text = '';
    this.tokens.length = 0;
  }
}
