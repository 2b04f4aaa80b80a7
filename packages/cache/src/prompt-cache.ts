/**
 * Building a model's per-layer caches and moving them through files. Follows mlx-lm's
 * `make_prompt_cache`, `save_prompt_cache`, `load_prompt_cache` and `trim_prompt_cache`.
 */

import { resolve } from 'node:path';
import * as mx from '@mlxn/core';
import { inspectSafetensors, loadSync, saveSync } from '@mlxn/io';
import type { Cache, StateEntry } from './base.js';
import { BatchKVCache } from './batch.js';
import { describeWithShape } from './checks.js';
import { KVCache } from './kv-cache.js';
import { type PromptCacheLayout, promptCacheLayout } from './native.js';
import { decodeTokens, encodeTokens, promptCacheTokens, setPromptCacheTokens, TOKENS_METADATA_KEY } from './prompt-tokens.js';
import { QuantizedKVCache } from './quantized.js';
import { RotatingKVCache } from './rotating.js';

/**
 * What `makePromptCache` needs from a model: its layer count, or its own `makeCache()` (for
 * models whose layers need different caches, such as sliding-window layers).
 */
export interface CacheModel {
  /** The transformer layers (only the count is used). */
  readonly layers?: { readonly length: number };
  /** The layer count, when the model does not expose `layers`. */
  readonly numLayers?: number;
  /** The model's own caches; when present, `makePromptCache` uses it. */
  makeCache?(): Cache[];
}

export interface PromptCacheOptions {
  /** Bound the cache: a `RotatingKVCache({ maxSize: maxKvSize, keep: 4 })` per layer. */
  maxKvSize?: number;
  /** Quantize keys and values: a `QuantizedKVCache({ bits: kvBits, groupSize: kvGroupSize })` per layer. */
  kvBits?: number;
  /** Group size for `kvBits`. Default 64. */
  kvGroupSize?: number;
}

/**
 * One cache per layer: the model's `makeCache()` if it has one, otherwise `KVCache`,
 * `RotatingKVCache` (with `maxKvSize`) or `QuantizedKVCache` (with `kvBits`).
 *
 * @example
 * const cache = makePromptCache({ numLayers: 28 }, { maxKvSize: 4096 });
 */
export function makePromptCache(model: CacheModel, options: PromptCacheOptions = {}): Cache[] {
  if (typeof model !== 'object' || model === null)
    throw new TypeError(`makePromptCache: expected a model, got ${describeWithShape(model)}`);
  const { maxKvSize, kvBits, kvGroupSize } = options;
  if (maxKvSize !== undefined && kvBits !== undefined) {
    throw new Error('makePromptCache: maxKvSize and kvBits cannot be combined (a rotating cache is not quantized, as in mlx-lm)');
  }
  if (typeof model.makeCache === 'function') return model.makeCache();
  const n = model.numLayers ?? model.layers?.length;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new TypeError('makePromptCache: the model must have `layers`, `numLayers` or `makeCache()`');
  }
  if (maxKvSize !== undefined) return Array.from({ length: n }, () => new RotatingKVCache({ maxSize: maxKvSize, keep: 4 }));
  if (kvBits !== undefined) return Array.from({ length: n }, () => new QuantizedKVCache({ bits: kvBits, groupSize: kvGroupSize ?? 64 }));
  return Array.from({ length: n }, () => new KVCache());
}

/** Whether every cache can be trimmed. */
export function canTrimPromptCache(cache: readonly Cache[]): boolean {
  return cache.every((c) => c.isTrimmable());
}

/**
 * Drops the last `numTokens` tokens from every layer (when all can be trimmed); returns how
 * many were dropped (0 when the cache cannot be trimmed).
 */
export function trimPromptCache(cache: readonly Cache[], numTokens: number): number {
  if (!Number.isInteger(numTokens) || numTokens < 0)
    throw new RangeError(`trimPromptCache: numTokens must be a non-negative integer, got ${numTokens}`);
  if (cache.length === 0 || !canTrimPromptCache(cache)) return 0;
  return cache.map((c) => c.trim(numTokens))[0];
}

/**
 * Saves the caches (and string `metadata`) to a `.safetensors` file in mlx-lm's prompt-cache
 * layout, so mlx-lm's `load_prompt_cache` reads it too. The path must end in `.safetensors`.
 * The cache's token ids, when known ({@link promptCacheTokens}), go into the metadata as
 * `mlxn_tokens` (a reserved key; mlx-lm keeps it as ordinary metadata).
 * The write is atomic (`@mlxn/io`: temporary file, fsync, rename).
 *
 * @example
 * await savePromptCache('chat.safetensors', cache, { model: 'Qwen3-0.6B' });
 */
export async function savePromptCache(path: string, cache: readonly Cache[], metadata: Record<string, string> = {}): Promise<void> {
  if (typeof path !== 'string' || !path.endsWith('.safetensors'))
    throw new TypeError(`savePromptCache: path must end in .safetensors, got ${describeWithShape(path)}`);
  if (!globalThis.Array.isArray(cache) || cache.length === 0) throw new TypeError('savePromptCache: expected a non-empty list of caches');
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string')
      throw new TypeError(`savePromptCache: metadata ${JSON.stringify(k)} must be a string, got ${describeWithShape(v)}`);
    // mlx-lm unflattens keys on '.', so a dotted key would not come back as written.
    if (k.includes('.') || k.length === 0)
      throw new Error(`savePromptCache: metadata key ${JSON.stringify(k)} must be non-empty and contain no '.'`);
    if (k === TOKENS_METADATA_KEY)
      throw new Error(`savePromptCache: metadata key ${JSON.stringify(k)} is reserved for the cache's token ids`);
  }
  await mx.tidy(() => {
    const tensors: Record<string, mx.Array> = {};
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata)) meta[`0.${k}`] = v;
    // The token ids, when known, so that a cache loaded from the file reuses its prefix.
    const tokens = promptCacheTokens(cache);
    if (tokens !== undefined && tokens.length === offsetOf(cache[0])) meta[`0.${TOKENS_METADATA_KEY}`] = encodeTokens(tokens);
    meta['2.0'] = '';
    let scalarIndex = 1;
    cache.forEach((c, layer) => {
      const names = ['KVCache', 'RotatingKVCache', 'QuantizedKVCache', 'BatchKVCache'];
      if (!names.includes(c?.className))
        throw new TypeError(`savePromptCache: layer ${layer} is not a cache of @mlxn/cache (${describeWithShape(c)})`);
      meta[`1.${layer}`] = c.className;
      const addScalar = (path: string, kind: string): void => {
        meta[`2.${scalarIndex}.0`] = path;
        meta[`2.${scalarIndex}.1`] = kind;
        scalarIndex++;
      };
      c.state.forEach((entry: StateEntry, i: number) => {
        const p = `${layer}.${i}`;
        if (entry instanceof mx.Array) tensors[p] = entry;
        else if (typeof entry === 'number') {
          tensors[p] = mx.array(entry, Number.isInteger(entry) ? 'int32' : 'float32');
          addScalar(p, 'scalar');
        } else if (entry === null) {
          tensors[p] = mx.zeros([0], 'float32');
          addScalar(p, 'none');
        } else {
          for (const [j, a] of entry.entries()) tensors[`${p}.${j}`] = a;
        }
      });
    });
    try {
      saveSync(path, tensors, { metadata: meta });
    } catch (e) {
      throw new Error(`savePromptCache: ${path}: ${withoutPath((e as Error).message, path)}`);
    }
  });
}

/** A loaded prompt cache and the metadata saved with it. */
export interface LoadedPromptCache {
  cache: Cache[];
  metadata: Record<string, string>;
}

/**
 * Loads a prompt-cache file written by {@link savePromptCache} or by mlx-lm. A corrupt,
 * truncated or foreign file throws an error naming the file and the problem. When the file lists
 * the cache's token ids (files `savePromptCache` wrote for a cache that generation filled), they
 * are recorded ({@link promptCacheTokens}), so generating from the whole conversation again
 * reuses the cached prefix.
 */
export async function loadPromptCache(path: string): Promise<LoadedPromptCache> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('loadPromptCache: path must be a non-empty string');
  let layout: PromptCacheLayout;
  let tensors: Map<string, mx.Array>;
  try {
    // Safetensors level first (@mlxn/io), then mlx-lm's cache layout (mlxn-cache), then data.
    const header = inspectSafetensors(path);
    layout = promptCacheLayout(
      header.metadata,
      header.tensors.map((t) => t.name),
    );
    tensors = new Map(Object.entries(loadSync(path).arrays));
    // @mlxn/io reads lazily; read everything now, so the cache never depends on the file
    // again (saving the continued cache over the same path is the usual next step).
    await mx.asyncEval([...tensors.values()]);
  } catch (e) {
    throw new Error(`loadPromptCache: ${path} is not a valid prompt-cache file: ${withoutPath((e as Error).message, path)}`);
  }
  try {
    const cache = layout.classes.map((cls, layer) => {
      const paths = STATE_SHAPE[cls as keyof typeof STATE_SHAPE];
      const entry = (p: string): StateEntry => {
        const full = `${layer}.${p}`;
        const kind = layout.scalars[full];
        if (kind === 'none') return null;
        const a = tensors.get(full);
        if (a === undefined) throw new Error(`state entry ${full} is missing`);
        if (kind === 'scalar') return Number(a.item());
        if (kind === 'string') throw new Error(`state entry ${full} is a string, which ${cls} does not use`);
        return a;
      };
      const state: StateEntry[] = paths.map((p) => {
        if (p.endsWith('.*')) {
          const base = p.slice(0, -2);
          if (layout.scalars[`${layer}.${base}`] === 'none') return null;
          return [0, 1, 2].map((j) => entry(`${base}.${j}`) as mx.Array);
        }
        return entry(p);
      });
      try {
        return FROM_STATE[cls as keyof typeof FROM_STATE](state);
      } catch (e) {
        throw new Error(`layer ${layer} (${cls}): ${(e as Error).message}`);
      }
    });
    const metadata: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, layout.metadata);
    const listed = metadata[TOKENS_METADATA_KEY];
    if (listed !== undefined) {
      setPromptCacheTokens(cache, decodeTokens(listed, offsetOf(cache[0])));
      delete metadata[TOKENS_METADATA_KEY];
    }
    return { cache, metadata };
  } catch (e) {
    throw new Error(`loadPromptCache: ${path}: ${(e as Error).message}`);
  } finally {
    for (const a of tensors.values()) a.dispose();
  }
}

/** Tokens a layer's cache has seen (its `offset`); 0 for caches without one. */
function offsetOf(c: Cache | undefined): number {
  const off = (c as { offset?: unknown } | undefined)?.offset;
  return typeof off === 'number' ? off : 0;
}

/** @mlxn/io's messages start with the file's path; ours already name it. */
function withoutPath(message: string, path: string): string {
  const full = resolve(path);
  for (const p of [full, path]) if (message.startsWith(`${p}: `)) return message.slice(p.length + 2);
  return message;
}

const STATE_SHAPE = {
  KVCache: ['0', '1', '2'],
  RotatingKVCache: ['0', '1', '2', '3', '4', '5'],
  QuantizedKVCache: ['0.*', '1.*', '2', '3', '4'],
  BatchKVCache: ['0', '1', '2', '3', '4'],
} as const;

const FROM_STATE = {
  KVCache: (s: StateEntry[]) => KVCache.fromState(s),
  RotatingKVCache: (s: StateEntry[]) => RotatingKVCache.fromState(s),
  QuantizedKVCache: (s: StateEntry[]) => QuantizedKVCache.fromState(s),
  BatchKVCache: (s: StateEntry[]) => BatchKVCache.fromState(s),
};
