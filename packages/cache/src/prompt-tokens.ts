/**
 * Which token ids a prompt cache holds. Generation records them as it fills a cache, so a later
 * prompt that starts with the same tokens reuses that prefix instead of computing it again;
 * prompt-cache files carry them (`savePromptCache`/`loadPromptCache`), so a cache loaded from a
 * file is reused the same way.
 */
import type { Cache } from './base.js';

const tokensByCache = new WeakMap<readonly Cache[], readonly number[]>();

/** The metadata key prompt-cache files keep the token ids under (comma-separated). */
export const TOKENS_METADATA_KEY = 'mlxn_tokens';

/** The token ids `cache` holds, when known (filled by generation, or loaded with them). */
export function promptCacheTokens(cache: readonly Cache[]): readonly number[] | undefined {
  return tokensByCache.get(cache);
}

/**
 * Records the token ids `cache` holds (a frozen copy), or forgets them with `undefined`. The
 * list must describe the cache exactly: one id per position, in order.
 */
export function setPromptCacheTokens(cache: readonly Cache[], tokens: readonly number[] | undefined): void {
  if (tokens === undefined) {
    tokensByCache.delete(cache);
    return;
  }
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff)
      throw new RangeError(`setPromptCacheTokens: token ${i} must be a non-negative 32-bit integer, got ${String(t)}`);
  }
  tokensByCache.set(cache, Object.freeze([...tokens]));
}

/** The token ids as they are written into a file's metadata. */
export function encodeTokens(tokens: readonly number[]): string {
  return tokens.join(',');
}

/**
 * Parses a file's token list (untrusted): decimal ids, exactly `expected` of them. The length
 * is checked before splitting, so a huge string costs no more than its own size.
 */
export function decodeTokens(text: string, expected: number): number[] {
  if (expected === 0) {
    if (text !== '') throw new Error(`${TOKENS_METADATA_KEY} lists tokens but the cache is empty`);
    return [];
  }
  // Each id takes at most 10 digits and a comma.
  if (text.length > expected * 11) throw new Error(`${TOKENS_METADATA_KEY} is longer than ${expected} token ids can be`);
  const parts = text.split(',');
  if (parts.length !== expected) throw new Error(`${TOKENS_METADATA_KEY} lists ${parts.length} tokens, but the cache holds ${expected}`);
  return parts.map((p, i) => {
    if (!/^\d{1,10}$/.test(p) || Number(p) > 0x7fffffff)
      throw new Error(`${TOKENS_METADATA_KEY}: token ${i} is not a token id: ${JSON.stringify(p.slice(0, 20))}`);
    return Number(p);
  });
}
