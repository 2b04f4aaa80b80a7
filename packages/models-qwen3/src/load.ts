/**
 * `Qwen3.load`: a Hugging Face or mlx-community model folder → a ready `Qwen3`. The config is
 * validated first, the weights' names and shapes are planned and checked before any array is
 * built, and on any error (or abort) everything made so far is released: no half-loaded model.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import {
  classifyModelSource,
  ensureHubSnapshot,
  type HubDownloadProgress,
  isValidRevision,
  loadSync,
  readConfig,
  readTextFileSync,
  Tokenizer,
} from '@mlxn/io';
import { recoverFolder, recoverFolderSave } from '@mlxn/io/internal';
import { parseQwen3Config, type Qwen3Config, type Qwen3ConfigLimits, resolveConfigLimits } from './config.js';
import { checkConfigAgainstWeights } from './config-check.js';
import { type ParsedGenerationConfig, parseGenerationConfig } from './lm/generation-config.js';
import { Qwen3 } from './model.js';
import { quantizeLikeCheckpoint, quantizeModel } from './quantization.js';
import { sanitize } from './sanitize.js';

/** A progress event of `Qwen3.load`. */
export interface LoadProgress {
  /** `download` (a hub id not in the cache yet) counts bytes; `weights` counts decoder layers. */
  phase: 'download' | 'config' | 'weights' | 'tokenizer' | 'done';
  done: number;
  total: number;
  /** While downloading: the file being received. */
  file?: string;
}

export interface LoadOptions {
  /** Cast floating-point weights to this dtype (default: keep the checkpoint's). */
  dtype?: 'float32' | 'float16' | 'bfloat16';
  /**
   * Quantize a float checkpoint while loading (as mlx-lm's `convert -q`). `groupSize` and `bits`
   * default to the mode's (affine 64 and 4, mxfp4 32 and 4, mxfp8 32 and 8, nvfp4 16 and 4).
   * Layers whose input width is not a multiple of the group size stay in floating point
   * (`config.quantization.layers` lists them as `false`); if no layer can be quantized, loading fails.
   */
  quantize?: { bits?: number; groupSize?: number; mode?: 'affine' | 'mxfp4' | 'mxfp8' | 'nvfp4' };
  /**
   * Called as loading goes: `download` counts bytes while a hub id is downloaded, `weights`
   * counts decoder layers read.
   */
  onProgress?: (event: LoadProgress) => void;
  /**
   * Abort loading; the promise rejects with the signal's reason and nothing is left allocated
   * (a download stops too, and what it received is resumed next time).
   */
  signal?: AbortSignal;
  /** Leave weights unread until first use (default false: read them all before resolving). */
  lazy?: boolean;
  /**
   * The model deliberately keeps only the first `vocab_size` ids of a larger tokenizer (a tiny
   * model trained on text whose tokens all have small ids). Without it, a tokenizer with more
   * tokens than the embedding has rows is an error at load, since any id past the table fails
   * wherever it is used (a chat template's `<|im_start|>`, the tokenizer's end-of-sequence id).
   */
  truncatedVocab?: boolean;
  /**
   * Raise the largest sizes `config.json` may ask for (`QWEN3_CONFIG_LIMITS`: 1024 layers, hidden
   * size 65536, ...), e.g. `{ numHiddenLayers: 4096 }`.
   */
  configLimits?: Partial<Qwen3ConfigLimits>;
  /**
   * For a Hugging Face model id: the branch, tag or commit hash (default `main`, or the id's
   * `@revision`). Taken from the local Hugging Face cache, else downloaded into it.
   */
  revision?: string;
  /**
   * For a Hugging Face model id of a gated or private repository: the access token (default:
   * `HF_TOKEN`, then the token `huggingface-cli login` saved).
   */
  token?: string;
}

/** Chat template files (`chat_template.jinja` / `.json`); published ones are a few kilobytes. */
const MAX_CHAT_TEMPLATE_FILE_BYTES = 16 * 2 ** 20;

const LOAD_OPTIONS: readonly string[] = [
  'dtype',
  'quantize',
  'onProgress',
  'signal',
  'lazy',
  'truncatedVocab',
  'configLimits',
  'revision',
  'token',
] satisfies (keyof LoadOptions)[];

function checkOptions(options: LoadOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('Qwen3.load: options must be an object');
  checkOptionKeys(options, LOAD_OPTIONS, 'Qwen3.load');
  const { dtype, quantize } = options;
  if (dtype !== undefined && !['float32', 'float16', 'bfloat16'].includes(dtype)) {
    throw new TypeError(`Qwen3.load: dtype must be 'float32', 'float16' or 'bfloat16', got ${JSON.stringify(dtype)}`);
  }
  if (quantize !== undefined) {
    const ok = (n: unknown) => n === undefined || (typeof n === 'number' && Number.isInteger(n) && n > 0);
    if (quantize === null || typeof quantize !== 'object' || !ok(quantize.bits) || !ok(quantize.groupSize)) {
      throw new TypeError('Qwen3.load: quantize must be { bits?, groupSize?, mode? } with positive integers');
    }
    checkOptionKeys(quantize, ['bits', 'groupSize', 'mode'], 'Qwen3.load: quantize');
    if (quantize.mode !== undefined && !['affine', 'mxfp4', 'mxfp8', 'nvfp4'].includes(quantize.mode)) {
      throw new TypeError(`Qwen3.load: quantize.mode must be 'affine', 'mxfp4', 'mxfp8' or 'nvfp4', got ${JSON.stringify(quantize.mode)}`);
    }
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new TypeError('Qwen3.load: onProgress must be a function');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new TypeError('Qwen3.load: signal must be an AbortSignal');
  resolveConfigLimits(options.configLimits, 'Qwen3.load');
  if (options.revision !== undefined && (typeof options.revision !== 'string' || !isValidRevision(options.revision))) {
    throw new TypeError(`Qwen3.load: revision must be a branch, tag or commit hash, got ${JSON.stringify(options.revision)}`);
  }
  if (options.token !== undefined && typeof options.token !== 'string')
    throw new TypeError(`Qwen3.load: token must be a string, got ${typeof options.token}`);
  if (options.truncatedVocab !== undefined && typeof options.truncatedVocab !== 'boolean') {
    throw new TypeError(`Qwen3.load: truncatedVocab must be a boolean, got ${typeof options.truncatedVocab}`);
  }
}

/**
 * A tokenizer must fit the embedding: every id it can produce needs a row. The message names
 * both sizes and the first special tokens that would not fit.
 */
function checkTokenizerFits(dir: string, tokenizer: Tokenizer, vocabSize: number, truncated: boolean): void {
  if (tokenizer.vocabSize <= vocabSize || truncated) return;
  const outside = [tokenizer.eos, tokenizer.bos, tokenizer.pad]
    .filter((t): t is { text: string; id: number } => t?.id !== undefined && t.id >= vocabSize)
    .map((t) => `${t.text} = ${t.id}`);
  throw new Error(
    `Qwen3.load: ${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's embedding has ${vocabSize} rows ` +
      `(vocab_size in config.json)${outside.length > 0 ? `, so ids such as ${outside.join(', ')} are out of range` : ''}. ` +
      'Use the tokenizer that belongs to this model, or pass { truncatedVocab: true } if the model deliberately keeps only ' +
      `the first ${vocabSize} ids (then every token it is given must be below ${vocabSize}).`,
  );
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('Qwen3.load was aborted', 'AbortError');
}

const yieldToEvents = () => new Promise<void>((r) => setImmediate(r));

/** The chat template: tokenizer_config.json's, else chat_template.jinja / chat_template.json. */
function readChatTemplate(dir: string, tokenizer: Tokenizer | undefined): string | undefined {
  const fromTokenizer = tokenizer?.chatTemplate();
  if (fromTokenizer !== undefined) return fromTokenizer;
  const jinja = join(dir, 'chat_template.jinja');
  const limits = { maxBytes: MAX_CHAT_TEMPLATE_FILE_BYTES, what: 'chat template files' };
  if (existsSync(jinja)) return readTextFileSync(jinja, limits);
  const json = join(dir, 'chat_template.json');
  if (existsSync(json)) {
    let v: { chat_template?: unknown } | null;
    try {
      v = JSON.parse(readTextFileSync(json, limits)) as { chat_template?: unknown } | null;
    } catch (e) {
      throw new Error(`Qwen3.load: ${json}: ${(e as Error).message}`);
    }
    if (v === null || typeof v !== 'object') throw new Error(`Qwen3.load: ${json}: expected a JSON object`);
    if (typeof v.chat_template === 'string') return v.chat_template;
  }
  return undefined;
}

export interface ResolveModelOptions {
  revision?: string;
  token?: string;
  signal?: AbortSignal;
  onDownload?: (event: HubDownloadProgress) => void;
}

/**
 * The folder `source` names: itself when it exists, else a hub id's snapshot in the local
 * Hugging Face cache, downloaded into it first when it is not there (unless `HF_HUB_OFFLINE`).
 */
export async function resolveModelFolder(source: string, options: ResolveModelOptions = {}): Promise<string> {
  const s = classifyModelSource(source);
  if (s.kind === 'folder') {
    if (options.revision !== undefined)
      throw new TypeError(`Qwen3.load: revision applies to Hugging Face model ids, but ${source} is a local folder`);
    return s.path;
  }
  try {
    return await ensureHubSnapshot(source, {
      revision: options.revision,
      token: options.token,
      signal: options.signal,
      onProgress: options.onDownload,
    });
  } catch (e) {
    if (options.signal?.aborted) throw abortError(options.signal);
    throw new Error(`Qwen3.load: ${(e as Error).message} (no local folder ${resolve(source)} either)`);
  }
}

/** Loads a model folder; see `Qwen3.load`. */
export async function loadQwen3(folder: string, options: LoadOptions = {}): Promise<Qwen3> {
  if (typeof folder !== 'string' || folder.length === 0)
    throw new TypeError('Qwen3.load: folder must be a non-empty path or a Hugging Face model id');
  checkOptions(options);
  const { signal, onProgress } = options;
  const dir = await resolveModelFolder(folder, {
    revision: options.revision,
    token: options.token,
    signal,
    onDownload: onProgress && ((e) => onProgress({ phase: 'download', done: e.bytes, total: e.total, file: e.file })),
  });
  // A save killed midway may have left the newest complete copy hidden beside (or inside) it.
  recoverFolder(dir);
  if (existsSync(dir) && statSync(dir).isDirectory()) recoverFolderSave(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`Qwen3.load: ${dir} is not a folder`);
  if (!existsSync(join(dir, 'config.json'))) throw new Error(`Qwen3.load: ${dir} has no config.json (not a model folder?)`);
  if (signal?.aborted) throw abortError(signal);

  const { config: rawConfig, generationConfig } = await readConfig(dir);
  let config: Qwen3Config;
  try {
    config = parseQwen3Config(rawConfig, { limits: options.configLimits });
  } catch (e) {
    throw new Error(`Qwen3.load: ${join(dir, 'config.json')}: ${(e as Error).message}`);
  }
  let generation: ParsedGenerationConfig | undefined;
  if (generationConfig !== undefined) {
    try {
      generation = parseGenerationConfig(generationConfig, config.vocabSize);
    } catch (e) {
      throw new Error(`Qwen3.load: ${join(dir, 'generation_config.json')}: ${(e as Error).message}`);
    }
  }
  onProgress?.({ phase: 'config', done: 1, total: 1 });
  // The tokenizer is read before the weights so that one which does not fit fails fast.
  let tokenizer: Tokenizer | undefined;
  if (existsSync(join(dir, 'tokenizer.json'))) {
    try {
      tokenizer = Tokenizer.loadSync(dir);
    } catch (e) {
      throw new Error(`Qwen3.load: ${dir}: cannot read the tokenizer (${(e as Error).message})`);
    }
    checkTokenizerFits(dir, tokenizer, config.vocabSize, options.truncatedVocab ?? false);
  }

  let weights: Record<string, mx.Array> = {};
  let model: Qwen3 | undefined;
  try {
    try {
      weights = readWeights(dir);
    } catch (e) {
      throw new Error(`Qwen3.load: ${dir}: cannot read the weights (${(e as Error).message})`);
    }
    if (Object.keys(weights).length === 0) throw new Error(`Qwen3.load: ${dir}: the checkpoint holds no tensors`);
    // Before anything is built for it: a config that does not describe these weights could ask
    // for any number of layers.
    checkConfigAgainstWeights(join(dir, 'config.json'), config, weights);
    // Building the module only records lazy random initialisers; they are never evaluated.
    model = new Qwen3(config);
    if (config.quantization) quantizeLikeCheckpoint(model, Object.keys(weights), config.quantization);
    let ready: Record<string, mx.Array>;
    try {
      ready = sanitize(model, weights, config);
    } catch (e) {
      throw new Error(`Qwen3.load: ${dir}: ${(e as Error).message}`);
    }
    weights = ready;
    if (options.dtype) {
      const dtype = options.dtype;
      for (const [k, a] of Object.entries(weights)) {
        if (mx.isFloating(a.dtype) && a.dtype !== dtype) {
          weights[k] = mx.astype(a, dtype);
          a.dispose();
        }
      }
    }
    // sanitize's plan checked every name and shape; they are not checked a second time.
    model.assignCheckedWeights(Object.entries(weights));
    weights = {};
    if (options.quantize) {
      if (config.quantization) throw new Error(`Qwen3.load: ${dir} is already quantized; quantize applies to float checkpoints`);
      let q: ReturnType<typeof quantizeModel>;
      try {
        q = quantizeModel(model, options.quantize, config.modelType === 'qwen3_moe');
      } catch (e) {
        throw new RangeError(`Qwen3.load: ${dir}: ${(e as Error).message}`);
      }
      model.setConfig({ ...config, quantization: q });
    }
    const params = model.namedParameters().map(([, a]) => a);
    // Out of the caller's tidy scopes, but the model's own (not claimed as mx.keep would): an
    // optimizer's update frees the weights it replaces instead of leaving them to the GC.
    for (const a of params) a.untrack();
    if (!options.lazy) {
      // Read layer by layer so progress can be reported and an abort takes effect between layers.
      const groups = groupByLayer(model);
      for (let i = 0; i < groups.length; i++) {
        if (signal?.aborted) throw abortError(signal);
        mx.eval(...groups[i]);
        onProgress?.({ phase: 'weights', done: i + 1, total: groups.length });
        await yieldToEvents();
      }
    }
    if (signal?.aborted) throw abortError(signal);
    onProgress?.({ phase: 'tokenizer', done: 1, total: 1 });
    model.setExtras({ tokenizer, chatTemplate: readChatTemplate(dir, tokenizer), generation, folder: dir });
    model.eval();
    onProgress?.({ phase: 'done', done: 1, total: 1 });
    return model;
  } catch (e) {
    for (const a of Object.values(weights)) if (!a.disposed) a.dispose();
    if (model) for (const [, a] of model.namedParameters()) if (!a.disposed) a.dispose();
    throw e;
  }
}

/**
 * The checkpoint's tensors (lazy): the index and its shards when there is one, else the
 * `model*.safetensors` files (as mlx-lm reads them, so e.g. a LoRA `adapters.safetensors` beside
 * them is not taken for model weights), else whatever safetensors files the folder has.
 */
function readWeights(dir: string): Record<string, mx.Array> {
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return loadSync(dir).arrays;
  const files = readdirSync(dir)
    .filter((f) => /^model.*\.safetensors$/.test(f))
    .sort();
  if (files.length === 0) return loadSync(dir).arrays;
  // Tensor names come from the files: no prototype, so `__proto__` is an ordinary key.
  const out = Object.create(null) as Record<string, mx.Array>;
  try {
    for (const f of files) {
      for (const [k, a] of Object.entries(loadSync(join(dir, f)).arrays)) {
        if (k in out) throw new Error(`tensor '${k}' appears in more than one file (again in ${f})`);
        out[k] = a;
      }
    }
  } catch (e) {
    for (const a of Object.values(out)) a.dispose();
    throw e;
  }
  return out;
}

/** Parameters grouped as embeddings, one group per decoder layer, then the rest. */
function groupByLayer(model: Qwen3): mx.Array[][] {
  const groups = new Map<string, mx.Array[]>();
  for (const [k, a] of model.namedParameters()) {
    const m = /^model\.layers\.(\d+)\./.exec(k);
    const key = m ? `layer${m[1]}` : k.startsWith('model.embed_tokens') ? 'embed' : 'rest';
    const group = groups.get(key);
    if (group) group.push(a);
    else groups.set(key, [a]);
  }
  return [...groups.values()];
}
