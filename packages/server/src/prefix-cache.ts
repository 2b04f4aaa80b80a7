/**
 * The prompt-prefix cache shared by a server's requests, as `mlx_lm.server` keeps one: the keys
 * and values of finished sequences (prompt and reply), keyed by their tokens, so a request that
 * starts with the same tokens (the next turn of a conversation, a shared system prompt) prefills
 * only what follows the longest cached prefix. Least recently used entries are evicted to stay
 * within a count and a byte budget.
 */

import { KVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';

export interface PrefixCacheOptions {
  /** Most sequences kept. Default 16. */
  maxEntries?: number;
  /** Most bytes of keys and values kept. Default 512 MiB. */
  maxBytes?: number;
}

interface Entry {
  tokens: number[];
  /** Per layer: keys and values `[1, heads, tokens.length, headDim]`, owned by the entry. */
  layers: Array<[mx.Array, mx.Array]>;
  bytes: number;
}

/** A cache hit: single-sequence caches holding the prompt's first `length` tokens. */
export interface PrefixHit {
  length: number;
  caches: KVCache[];
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class PrefixCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** In recency order: the least recently used first. */
  #entries: Entry[] = [];
  #bytes = 0;

  constructor(options: PrefixCacheOptions = {}) {
    const check = (v: number | undefined, name: string, dflt: number): number => {
      if (v === undefined) return dflt;
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`prefixCache.${name} must be an integer >= 1, got ${String(v)}`);
      return v;
    };
    this.maxEntries = check(options.maxEntries, 'maxEntries', 16);
    this.maxBytes = check(options.maxBytes, 'maxBytes', 512 << 20);
  }

  get size(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The longest cached prefix of `prompt`, leaving at least its last token to be computed (its
   * logits start the reply). `null` when no entry shares a token with it.
   */
  lookup(prompt: readonly number[]): PrefixHit | null {
    const [best, length] = this.#longest(prompt);
    if (best === null) return null;
    this.#entries = [...this.#entries.filter((e) => e !== best), best];
    // The caches read the entry's arrays up to `length`; writing after it makes new arrays, so
    // the entry itself never changes.
    return { length, caches: best.layers.map(([k, v]) => KVCache.fromState([k, v, length])) };
  }

  /** How many tokens of `prompt` a `lookup` would serve (0: none), without touching the order. */
  cachedLength(prompt: readonly number[]): number {
    return this.#longest(prompt)[1];
  }

  #longest(prompt: readonly number[]): [Entry | null, number] {
    let best: Entry | null = null;
    let length = 0;
    for (const e of this.#entries) {
      const n = Math.min(commonPrefix(e.tokens, prompt), prompt.length - 1);
      if (n > length) [best, length] = [e, n];
    }
    return [best, length];
  }

  /**
   * Stores the keys and values of `tokens` (per layer, `[1, heads, tokens.length, headDim]`),
   * taking ownership of the arrays. Entries that are a prefix of `tokens` are dropped (the new
   * one serves them); an entry larger than the byte budget is not kept.
   */
  store(tokens: readonly number[], layers: Array<[mx.Array, mx.Array]>): void {
    const bytes = layers.reduce((n, [k, v]) => n + k.nbytes + v.nbytes, 0);
    if (tokens.length === 0 || bytes > this.maxBytes) {
      mx.dispose(layers.flat());
      return;
    }
    for (const e of [...this.#entries])
      if (e.tokens.length <= tokens.length && commonPrefix(e.tokens, tokens) === e.tokens.length) this.#drop(e);
    mx.keep(layers.flat());
    this.#entries.push({ tokens: [...tokens], layers, bytes });
    this.#bytes += bytes;
    while (this.#entries.length > this.maxEntries || this.#bytes > this.maxBytes) this.#drop(this.#entries[0]);
  }

  clear(): void {
    for (const e of [...this.#entries]) this.#drop(e);
  }

  #drop(e: Entry): void {
    this.#entries = this.#entries.filter((x) => x !== e);
    this.#bytes -= e.bytes;
    mx.dispose(e.layers.flat());
  }
}
