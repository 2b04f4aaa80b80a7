/**
 * `@mlxn/io`: checkpoints (safetensors files, Hugging Face sharded folders, GGUF), model
 * configs, Hugging Face tokenizers, chat templates and streaming detokenization.
 *
 * @packageDocumentation
 */

export type { Checkpoint, LoadOptions, SaveOptions, TensorFilter, TensorInfo } from './checkpoint.js';
export { inspectSafetensors, load, loadSync, parseSize, save, saveSync } from './checkpoint.js';
export type { ModelConfig, ReadConfigOptions } from './config.js';
export { CONFIG_FILE_LIMITS, readConfig } from './config.js';
export { StreamingDetokenizer } from './detokenizer.js';
export type { ReadFileLimits } from './files.js';
export { jsonDepth, readRegularFileSync, readTextFile, readTextFileSync } from './files.js';
export type { HubId, ResolveHubOptions } from './hub-cache.js';
export { classifyModelSource, hubCacheDir, isValidRevision, parseHubId, resolveHubSnapshot } from './hub-cache.js';
export type { CachedHubRepo, CachedHubRevision } from './hub-cache-list.js';
export { listHubCache } from './hub-cache-list.js';
export type { HubDownloadOptions, HubDownloadProgress } from './hub-download.js';
export { downloadHubSnapshot, ensureHubSnapshot, isHubOffline, snapshotHasModel } from './hub-download.js';
export { DEFAULT_HUB_ENDPOINT, HubHttpError, HubNetworkError } from './hub-http.js';
export { isModelFile, MODEL_SIDE_FILES, selectModelFiles } from './hub-model-files.js';
export type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, SpecialToken, TemplateLimits } from './tokenizer.js';
export { renderChatTemplate, Tokenizer } from './tokenizer.js';
