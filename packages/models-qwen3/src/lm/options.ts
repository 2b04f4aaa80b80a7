/**
 * Generation options: what `stream`, `generate`, `chat` and `batchGenerate` accept, checked once
 * before any work so that a typo or an out-of-range value fails with a message naming it.
 * Defaults follow mlx-lm's `generate_step` (256 new tokens, prefill steps of 2048 tokens,
 * quantized caches from token 5000, group size 64).
 */
import type { Cache } from '@mlxn/cache';
import { editDistance } from '@mlxn/core/internal';
import type { ChatMessage } from '@mlxn/io';
import {
  LOGITS_PROCESSOR_OPTION_KEYS,
  type LogitsProcessor,
  type LogitsProcessorOptions,
  makeLogitsProcessors,
  makeSampler,
  SAMPLER_OPTION_KEYS,
  type Sampler,
  type SamplerOptions,
} from '@mlxn/sampling';
import type { DraftModel } from './model-interface.js';
import type { TokenMaskHook } from './structured.js';

/** A prompt: text, token ids, or chat messages (rendered with the model's chat template). */
export type Prompt = string | readonly number[] | readonly ChatMessage[];

/** Prompt progress: `processed` of `total` tokens that needed a forward pass. */
export interface PromptProgress {
  processed: number;
  total: number;
}

/** How a prompt made of chat messages is rendered. */
export interface ChatPromptOptions {
  /** Tool definitions (JSON schema objects) the template lists for the model. */
  tools?: readonly unknown[];
  /** Qwen3's `enable_thinking` (default: the template's own default, thinking on). */
  enableThinking?: boolean;
  /** More template variables, snake_case as templates expect them. */
  templateVariables?: Record<string, unknown>;
}

/** Options of `stream` and `generate`. */
export interface GenerateOptions extends SamplerOptions, LogitsProcessorOptions, ChatPromptOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** A sampler to use instead of the one the sampler options describe: log-probabilities `[1, V]` in, token ids `[1]` out. */
  sampler?: Sampler;
  /** More logits processors, applied after those the penalty options describe. */
  logitsProcessors?: readonly LogitsProcessor[];
  /** Stop when the text contains one of these (the stop string itself is not returned). */
  stop?: string | readonly string[];
  /** Stop at these token ids, in addition to the model's end-of-sequence ids. */
  stopTokenIds?: readonly number[];
  /** Stop generating (finish reason `'abort'`). */
  signal?: AbortSignal;
  /**
   * Caches to reuse and update in place (one per layer, from `model.makeCache()`). When this
   * cache was filled by an earlier call, only the part of the prompt after the longest common
   * prefix is processed; a cache filled elsewhere is taken to hold the text before `prompt`.
   */
  promptCache?: Cache[];
  /** Bound the cache to this many tokens (a rotating cache keeping the first 4). */
  maxKvSize?: number;
  /** Quantize the cache to this many bits once it holds `quantizedKvStart` tokens. */
  kvBits?: number;
  /** Group size of the quantized cache. Default 64. */
  kvGroupSize?: number;
  /** Token count at which the cache is quantized. Default 5000. */
  quantizedKvStart?: number;
  /** Prompt tokens per forward pass while prefilling. Default 2048. */
  prefillStepSize?: number;
  /** Called before the prompt is processed and after each prefill step. */
  onPromptProgress?: (progress: PromptProgress) => void;
  /**
   * Seeds this request's own random key sequence (the draws `mx.random.seed(seed)` would give,
   * as in mlx-lm), so the result is the same whatever else runs meanwhile.
   */
  seed?: number;
  /** Report the log-probability of each sampled token (`logprob` on chunks, `logprobs` in results). */
  logprobs?: boolean;
  /** Keep the token that stopped generation in `tokens` (its text is never returned). Default false. */
  includeStopToken?: boolean;
  /** Drop special tokens from the returned text. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * A smaller model with the same vocabulary that proposes tokens for this one (speculative
   * decoding, as mlx-lm's `draft_model`): each round the draft proposes `numDraftTokens` tokens,
   * this model scores them all in one forward pass, and the proposals it samples itself are
   * kept, followed by its own token where they part. The text follows this model alone (greedy:
   * the same tokens as without a draft); only the speed depends on how often the draft agrees.
   * Chunks say which tokens came from the draft (`fromDraft`). Not with `maxKvSize`, `kvBits`,
   * structured output or a `promptCache` filled outside generation.
   */
  draftModel?: DraftModel;
  /** Tokens the draft proposes per round. Default 3. */
  numDraftTokens?: number;
}

/** The validated options, with samplers and processors built. */
export interface GenerationPlan {
  /** The caller, as messages name it (`'Qwen3.generate'`, `'request'`): the `what` the plan was resolved with. */
  what: string;
  maxTokens: number;
  sampler: Sampler;
  /** Temperature the log-probabilities are reported at (0 for a custom sampler or greedy). */
  temperature: number;
  processors: LogitsProcessor[];
  /** Whether the sampler and processors include the caller's own (their results are checked). */
  customSampler: boolean;
  customProcessors: boolean;
  stopStrings: string[];
  stopTokenIds: Set<number>;
  signal: AbortSignal | undefined;
  promptCache: Cache[] | undefined;
  maxKvSize: number | undefined;
  kvBits: number | undefined;
  kvGroupSize: number;
  quantizedKvStart: number;
  prefillStepSize: number;
  onPromptProgress: ((p: PromptProgress) => void) | undefined;
  seed: number | undefined;
  logprobs: boolean;
  includeStopToken: boolean;
  skipSpecialTokens: boolean;
  chat: ChatPromptOptions;
  /** Set by `chat` for structured output: the tokens each step may sample (see structured.ts). */
  tokenMask: TokenMaskHook | undefined;
  /** Speculative decoding's draft model, and the tokens it proposes per round. */
  draftModel: DraftModel | undefined;
  numDraftTokens: number;
}

const GENERATE_KEYS = [
  ...SAMPLER_OPTION_KEYS,
  ...LOGITS_PROCESSOR_OPTION_KEYS,
  'maxTokens',
  'sampler',
  'logitsProcessors',
  'stop',
  'stopTokenIds',
  'signal',
  'promptCache',
  'maxKvSize',
  'kvBits',
  'kvGroupSize',
  'quantizedKvStart',
  'prefillStepSize',
  'onPromptProgress',
  'seed',
  'logprobs',
  'includeStopToken',
  'skipSpecialTokens',
  'tools',
  'enableThinking',
  'templateVariables',
  'draftModel',
  'numDraftTokens',
] as const;

export class GenerationOptionsError extends TypeError {
  override name = 'GenerationOptionsError';
}

const fail = (what: string, msg: string): never => {
  throw new GenerationOptionsError(`${what}: ${msg}`);
};

function int(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(what, `must be an integer >= ${min}, got ${describe(v)}`);
  return v as number;
}

export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v === null || typeof v !== 'object') return String(v);
  return `an object (${v.constructor?.name ?? 'Object'})`;
}

/** The allowed key closest to `key` if it is within two edits (the did-you-mean of a typo). */
function withinTwoEdits(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of allowed) {
    const d = editDistance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Rejects keys that no option has, naming the closest one (typos fail instead of being ignored). */
export function checkKeys(options: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if ((options as Record<string, unknown>)[key] === undefined || allowed.includes(key)) continue;
    const lower = key.toLowerCase().replace(/_/g, '');
    const near = allowed.find((k) => k.toLowerCase() === lower) ?? withinTwoEdits(key, allowed);
    fail(what, `unknown option ${JSON.stringify(key)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`);
  }
}

function tokenIds(v: unknown, what: string, vocabSize: number): number[] {
  if (!Array.isArray(v)) fail(what, `must be a list of token ids, got ${describe(v)}`);
  for (const id of v as unknown[]) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      fail(what, `token id ${describe(id)} is not an integer in [0, ${vocabSize})`);
    }
  }
  return [...(v as number[])];
}

/**
 * Validates `options` for a model with `vocabSize` tokens and builds the sampler and logits
 * processors. `what` names the caller in messages (`'Qwen3.stream'`).
 */
export function resolveGenerateOptions(
  options: GenerateOptions | undefined,
  vocabSize: number,
  what: string,
  extraKeys: readonly string[] = [],
): GenerationPlan {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail(what, `options must be an object, got ${describe(o)}`);
  checkKeys(o, [...GENERATE_KEYS, ...extraKeys], what);
  const maxTokens = o.maxTokens === undefined ? 256 : int(o.maxTokens, `${what}: maxTokens`, 1);
  let sampler: Sampler;
  let temperature = 0;
  const samplerOpts = Object.fromEntries(SAMPLER_OPTION_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) as SamplerOptions;
  if (o.sampler !== undefined) {
    if (typeof o.sampler !== 'function') fail(what, `sampler must be a function (logprobs) => tokens, got ${describe(o.sampler)}`);
    if (Object.keys(samplerOpts).length > 0)
      fail(what, `give either a custom sampler or sampler options (${Object.keys(samplerOpts).join(', ')}), not both`);
    sampler = o.sampler;
  } else {
    try {
      sampler = makeSampler(samplerOpts);
    } catch (e) {
      return fail(what, (e as Error).message);
    }
    temperature = samplerOpts.temperature ?? 0;
    if (samplerOpts.topK !== undefined && samplerOpts.topK >= vocabSize)
      fail(what, `topK must be below the vocabulary size ${vocabSize}, got ${samplerOpts.topK}`);
  }
  const procOpts = Object.fromEntries(
    LOGITS_PROCESSOR_OPTION_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]),
  ) as LogitsProcessorOptions;
  let processors: LogitsProcessor[];
  try {
    processors = makeLogitsProcessors(procOpts);
  } catch (e) {
    return fail(what, (e as Error).message);
  }
  if (procOpts.logitBias !== undefined) {
    const ids = procOpts.logitBias instanceof Map ? [...procOpts.logitBias.keys()] : Object.keys(procOpts.logitBias).map(Number);
    tokenIds(ids, `${what}: logitBias`, vocabSize);
  }
  if (o.logitsProcessors !== undefined) {
    if (!Array.isArray(o.logitsProcessors) || !o.logitsProcessors.every((p) => typeof p === 'function')) {
      fail(what, `logitsProcessors must be a list of functions (tokens, logits) => logits, got ${describe(o.logitsProcessors)}`);
    }
    processors = [...processors, ...o.logitsProcessors];
  }
  const stop = o.stop === undefined ? [] : typeof o.stop === 'string' ? [o.stop] : o.stop;
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === 'string' && s.length > 0)) {
    fail(what, `stop must be a non-empty string or a list of them, got ${describe(o.stop)}`);
  }
  const stopTokenIds = new Set(o.stopTokenIds === undefined ? [] : tokenIds(o.stopTokenIds, `${what}: stopTokenIds`, vocabSize));
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) fail(what, `signal must be an AbortSignal, got ${describe(o.signal)}`);
  if (o.promptCache !== undefined) {
    if (
      !Array.isArray(o.promptCache) ||
      o.promptCache.length === 0 ||
      !o.promptCache.every((c) => c && typeof c === 'object' && 'className' in c)
    ) {
      fail(what, `promptCache must be the list of caches model.makeCache() returns, got ${describe(o.promptCache)}`);
    }
    if (o.maxKvSize !== undefined)
      fail(
        what,
        'maxKvSize applies to caches generation creates; it cannot be combined with promptCache (make the cache with model.makeCache({ maxKvSize }))',
      );
  }
  const maxKvSize = o.maxKvSize === undefined ? undefined : int(o.maxKvSize, `${what}: maxKvSize`, 5);
  const kvBits = o.kvBits === undefined ? undefined : int(o.kvBits, `${what}: kvBits`, 1);
  if (kvBits !== undefined && ![2, 3, 4, 5, 6, 8].includes(kvBits)) fail(what, `kvBits must be one of 2, 3, 4, 5, 6 or 8, got ${kvBits}`);
  if (kvBits !== undefined && maxKvSize !== undefined)
    fail(what, 'kvBits and maxKvSize cannot be combined (a rotating cache is not quantized, as in mlx-lm)');
  const kvGroupSize = o.kvGroupSize === undefined ? 64 : int(o.kvGroupSize, `${what}: kvGroupSize`, 1);
  if (![32, 64, 128].includes(kvGroupSize)) fail(what, `kvGroupSize must be 32, 64 or 128, got ${kvGroupSize}`);
  const quantizedKvStart = o.quantizedKvStart === undefined ? 5000 : int(o.quantizedKvStart, `${what}: quantizedKvStart`, 0);
  const prefillStepSize = o.prefillStepSize === undefined ? 2048 : int(o.prefillStepSize, `${what}: prefillStepSize`, 1);
  if (o.onPromptProgress !== undefined && typeof o.onPromptProgress !== 'function')
    fail(what, `onPromptProgress must be a function, got ${describe(o.onPromptProgress)}`);
  const seed = o.seed === undefined ? undefined : int(o.seed, `${what}: seed`, 0);
  for (const k of ['logprobs', 'includeStopToken', 'skipSpecialTokens', 'enableThinking'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') fail(what, `${k} must be a boolean, got ${describe(o[k])}`);
  }
  if (o.tools !== undefined && !Array.isArray(o.tools)) fail(what, `tools must be a list of tool definitions, got ${describe(o.tools)}`);
  if (o.templateVariables !== undefined && (typeof o.templateVariables !== 'object' || o.templateVariables === null)) {
    fail(what, `templateVariables must be an object, got ${describe(o.templateVariables)}`);
  }
  const draftModel = o.draftModel;
  if (draftModel !== undefined) {
    const d = draftModel as Partial<DraftModel> | null;
    if (
      d === null ||
      typeof d !== 'object' ||
      typeof d.forward !== 'function' ||
      typeof d.makeCache !== 'function' ||
      typeof d.config?.vocabSize !== 'number'
    ) {
      fail(what, `draftModel must be a loaded model (forward, makeCache, config), got ${describe(draftModel)}`);
    }
    const draftVocab = d?.config?.vocabSize;
    if (draftVocab !== vocabSize)
      fail(what, `draftModel has a vocabulary of ${draftVocab} tokens, the model ${vocabSize}: they must share one`);
    if (maxKvSize !== undefined || kvBits !== undefined)
      fail(what, 'draftModel cannot be combined with maxKvSize or kvBits (rejected proposals are trimmed from the caches)');
  }
  if (o.numDraftTokens !== undefined && draftModel === undefined) fail(what, 'numDraftTokens needs a draftModel');
  const numDraftTokens = o.numDraftTokens === undefined ? 3 : int(o.numDraftTokens, `${what}: numDraftTokens`, 1);
  if (numDraftTokens > 64) fail(what, `numDraftTokens must be at most 64, got ${numDraftTokens}`);
  return {
    what,
    maxTokens,
    sampler,
    temperature,
    processors,
    customSampler: o.sampler !== undefined,
    customProcessors: o.logitsProcessors !== undefined && o.logitsProcessors.length > 0,
    stopStrings: [...stop],
    stopTokenIds,
    signal: o.signal,
    promptCache: o.promptCache,
    maxKvSize,
    kvBits,
    kvGroupSize,
    quantizedKvStart,
    prefillStepSize,
    onPromptProgress: o.onPromptProgress,
    seed,
    logprobs: o.logprobs ?? false,
    includeStopToken: o.includeStopToken ?? false,
    skipSpecialTokens: o.skipSpecialTokens ?? false,
    chat: { tools: o.tools, enableThinking: o.enableThinking, templateVariables: o.templateVariables },
    tokenMask: undefined,
    draftModel,
    numDraftTokens,
  };
}
