/**
 * The prompt cache of one generation: a fresh one, or the caller's `promptCache` with the prefix
 * it already holds reused (trimmed back to where the new prompt departs from it), checked
 * against the model's context and against a second generation writing it at the same time.
 */
import {
  type Cache,
  promptCacheTokens as cachePromptTokens,
  canTrimPromptCache,
  KVCache,
  setPromptCacheTokens,
  trimPromptCache,
} from '@mlxn/cache';
import type { GenerationModel } from './model-interface.js';
import { GenerationOptionsError, type GenerationPlan } from './options.js';

/**
 * Prompt caches a running generation is writing: a second generation on the same cache would
 * interleave its keys with the first's and corrupt both outputs, so it is an error.
 */
const cachesInUse = new WeakSet<readonly Cache[]>();

function checkCacheFree(cache: readonly Cache[], what: string): void {
  if (cachesInUse.has(cache)) {
    throw new Error(
      `${what}: promptCache is in use by another generation that has not finished; give each concurrent generation its own cache (model.makeCache()) or wait for the other to end`,
    );
  }
}

/**
 * The tokens a prompt cache holds, when generation filled it (in this process, or before the
 * cache was saved with `savePromptCache` and loaded again). The same as `@mlxn/cache`'s.
 */
export const promptCacheTokens = cachePromptTokens;

function cacheOffset(c: Cache): number {
  const off = (c as { offset?: unknown }).offset;
  return typeof off === 'number' ? off : 0;
}

export interface PreparedCache {
  cache: Cache[];
  owned: boolean;
  /** Tokens already in the cache that the prompt starts with. */
  reused: number;
  /** Tokens the cache held before this prompt that we do not know (a cache filled elsewhere). */
  unknownPrefix: number;
}

export function prepareCache(model: GenerationModel, plan: GenerationPlan, prompt: readonly number[], what: string): PreparedCache {
  const given = plan.promptCache;
  if (plan.draftModel !== undefined && given !== undefined) {
    // Rejected proposals are trimmed at every round (a rotating cache may not allow it), and the
    // draft must read every token the cache holds. Checked before the cache is touched.
    const trimmable = given.every((c) => c.className === 'KVCache' || c.className === 'QuantizedKVCache');
    if (!trimmable || (cacheOffset(given[0]) > 0 && knownCacheTokens(given) === undefined)) {
      throw new GenerationOptionsError(
        `${what}: draftModel needs a promptCache that can be trimmed and whose tokens are known (filled by generation), not a rotating cache or one filled elsewhere`,
      );
    }
  }
  const prepared = cacheForPrompt(model, plan, prompt, what);
  // The cache ends at most at the prompt plus every token this generation may add (the last one
  // is never fed back, which leaves room for a step of look-ahead): growth stops there exactly.
  const end = prepared.unknownPrefix + prompt.length + plan.maxTokens;
  for (const c of prepared.cache) if (c instanceof KVCache && end <= 2 ** 30) c.reserve(end);
  return prepared;
}

/** The tokens a prompt cache holds, when generation recorded every one of them; else undefined. */
function knownCacheTokens(cache: Cache[]): readonly number[] | undefined {
  const known = cachePromptTokens(cache);
  return known !== undefined && known.length === cacheOffset(cache[0]) ? known : undefined;
}

function cacheForPrompt(model: GenerationModel, plan: GenerationPlan, prompt: readonly number[], what: string): PreparedCache {
  const ctx = model.config.maxPositionEmbeddings;
  if (plan.promptCache === undefined) {
    if (prompt.length > ctx)
      throw new RangeError(
        `${what}: the prompt has ${prompt.length} tokens, more than the model's context of ${ctx} (maxPositionEmbeddings)`,
      );
    const cache = plan.maxKvSize !== undefined ? model.makeCache({ maxKvSize: plan.maxKvSize }) : model.makeCache();
    return { cache, owned: true, reused: 0, unknownPrefix: 0 };
  }
  const cache = plan.promptCache;
  checkCacheFree(cache, what);
  const known = knownCacheTokens(cache);
  if (known !== undefined) {
    let common = 0;
    while (common < known.length && common < prompt.length && known[common] === prompt[common]) common++;
    if (common === prompt.length) common--; // the last prompt token must go through the model for logits
    const drop = known.length - common;
    if (drop > 0) {
      if (!canTrimPromptCache(cache) || trimPromptCache(cache, drop) !== drop) {
        throw new Error(
          `${what}: promptCache holds ${drop} tokens that the prompt does not continue, and it cannot be trimmed (a rotating cache past its size?)`,
        );
      }
    }
    if (prompt.length > ctx)
      throw new RangeError(
        `${what}: the prompt has ${prompt.length} tokens, more than the model's context of ${ctx} (maxPositionEmbeddings)`,
      );
    setPromptCacheTokens(cache, prompt.slice(0, common));
    return { cache, owned: false, reused: common, unknownPrefix: 0 };
  }
  const offset = cacheOffset(cache[0]);
  if (offset + prompt.length > ctx) {
    throw new RangeError(
      `${what}: the cache holds ${offset} tokens and the prompt ${prompt.length}, more than the model's context of ${ctx} (maxPositionEmbeddings)`,
    );
  }
  setPromptCacheTokens(cache, undefined);
  return { cache, owned: false, reused: 0, unknownPrefix: offset };
}

/** Converts caches to quantized ones once they hold `start` tokens (mlx-lm's `maybe_quantize_kv_cache`). */
export function maybeQuantize(cache: Cache[], plan: GenerationPlan): void {
  if (plan.kvBits === undefined) return;
  for (let i = 0; i < cache.length; i++) {
    const c = cache[i];
    if (c instanceof KVCache && c.offset >= plan.quantizedKvStart) {
      cache[i] = c.toQuantized({ bits: plan.kvBits, groupSize: plan.kvGroupSize });
      c.dispose();
    }
  }
}

/** Marks the caller's cache as written by a running generation (checked again: another may have started since). */
export function claimCache(cache: readonly Cache[], what: string): void {
  checkCacheFree(cache, what);
  cachesInUse.add(cache);
}

/** Ends a generation's claim on the caller's cache, recording the tokens it holds when they are all known. */
export function releaseCache(cache: Cache[], tokens: readonly number[] | undefined): void {
  cachesInUse.delete(cache);
  if (tokens !== undefined) setPromptCacheTokens(cache, tokens);
}
