/**
 * One token's text and bytes for OpenAI's `logprobs` entries. Qwen3's tokenizer is byte-level
 * BPE: a token's vocabulary string maps each byte to a printable character (GPT-2's
 * `bytes_to_unicode`), and a token may hold part of a UTF-8 character, so the bytes are read from
 * the vocabulary string rather than from decoded text (OpenAI's `bytes` exist for exactly that).
 */
import type { Tokenizer } from '@mlxn/io';

/** GPT-2's byte-to-character table, inverted: character → byte. */
const BYTE_OF_CHAR: ReadonlyMap<string, number> = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map = new Map<string, number>();
  for (const b of printable) map.set(String.fromCodePoint(b), b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) continue;
    map.set(String.fromCodePoint(256 + next), b);
    next++;
  }
  return map;
})();

export interface TokenText {
  token: string;
  bytes: number[];
}

/** A cache of token texts: the same ids recur across steps and requests. */
export class TokenTexts {
  readonly #tokenizer: Tokenizer | undefined;
  readonly #cache = new Map<number, TokenText>();

  constructor(tokenizer: Tokenizer | undefined) {
    this.#tokenizer = tokenizer;
  }

  get(id: number): TokenText {
    let t = this.#cache.get(id);
    if (t === undefined) {
      t = this.#compute(id);
      if (this.#cache.size < 65536) this.#cache.set(id, t);
    }
    return t;
  }

  #compute(id: number): TokenText {
    const piece = this.#tokenizer?.idToToken(id);
    if (piece === undefined) return { token: `<token ${id}>`, bytes: [...Buffer.from(`<token ${id}>`)] };
    const bytes: number[] = [];
    let byteLevel = true;
    for (const ch of piece) {
      const b = BYTE_OF_CHAR.get(ch);
      if (b === undefined) {
        byteLevel = false;
        break;
      }
      bytes.push(b);
    }
    // Added tokens (`<think>`, `<|im_end|>`) are stored as plain text, not byte-mapped.
    if (!byteLevel) return { token: piece, bytes: [...Buffer.from(piece)] };
    return { token: Buffer.from(bytes).toString('utf8'), bytes };
  }
}
