/**
 * `@mlxn/cache` — key/value caches for transformer decoding with mlx-lm's semantics
 * (`mlx_lm/models/cache.py`), and prompt-cache files that move between `@mlxn` and mlx-lm.
 *
 * @packageDocumentation
 */
export type { Cache, StateEntry } from './base.js';
export type { BatchKVCacheOptions } from './batch.js';
export { BatchKVCache } from './batch.js';
export { KVCache } from './kv-cache.js';
export type { AttentionMask, CausalMaskOptions } from './mask.js';
export { attentionMask, createCausalMask } from './mask.js';
export type { CacheModel, LoadedPromptCache, PromptCacheOptions } from './prompt-cache.js';
export { canTrimPromptCache, loadPromptCache, makePromptCache, savePromptCache, trimPromptCache } from './prompt-cache.js';
export { promptCacheTokens, setPromptCacheTokens } from './prompt-tokens.js';
export type { QuantizedAttentionOptions, QuantizedKVCacheOptions, QuantizedTriple } from './quantized.js';
export { QuantizedKVCache, quantizedScaledDotProductAttention } from './quantized.js';
export type { RotatingKVCacheOptions } from './rotating.js';
export { RotatingKVCache } from './rotating.js';
