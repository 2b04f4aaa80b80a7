/**
 * Generation for one sequence, following mlx-lm's `generate_step` / `stream_generate`
 * (generate.py): the prompt is prefilled in steps of `prefillStepSize` tokens (all but its last
 * token), then each step feeds one token and samples the next. The step after the current one
 * is built from the current token and queued before that token is read back; on a GPU it is
 * evaluated on the evaluation thread (`scheduleForRead`, `readScheduled` from @mlxn/core):
 * while that thread encodes step n+1, this one reads token n and builds step n+2.
 */

import type { Cache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { forgetScheduled, readScheduled, type ScheduledRead, scheduleForRead, settleEvalThread, useEvalThread } from '@mlxn/core/internal';
import type { ChatMessage, Tokenizer } from '@mlxn/io';
import { applyTokenMask, checkProcessedLogits, checkSampledTokens, checkTokenId } from '@mlxn/sampling';
import { withGenerationDefaults } from './generation-config.js';
import type { GenerationModel } from './model-interface.js';
import {
  type ChatPromptOptions,
  describe,
  type GenerateOptions,
  type GenerationPlan,
  type Prompt,
  resolveGenerateOptions,
} from './options.js';
import { claimCache, maybeQuantize, type PreparedCache, prepareCache, releaseCache } from './prompt-cache.js';
import { speculativeSteps } from './speculative.js';
import { StopStrings, stopTokenSet } from './stop.js';

/** Why generation ended: a stop token or string, `maxTokens`, or the abort signal. */
export type FinishReason = 'stop' | 'length' | 'abort';

/** One streamed piece of a generation. */
export interface GenerationChunk {
  /** New text (possibly '' while a character or a possible stop string is incomplete). */
  text: string;
  /** The token this chunk is for (`null` on an abort chunk that carries no new token). */
  token: number | null;
  /** Log-probability of `token` (with `logprobs: true`); see `stepLogprob`. */
  logprob?: number;
  /** Set on the last chunk only. */
  finishReason: FinishReason | null;
  /** Prompt tokens (the whole prompt, reused cache included). */
  promptTokens: number;
  /** Tokens generated so far (a stop token included). */
  completionTokens: number;
  /** Prompt tokens processed per second (reused cache tokens are not counted). */
  promptTokensPerSec: number;
  /** Generated tokens per second since the first token. */
  tokensPerSec: number;
  /** MLX's peak memory in bytes. */
  peakMemory: number;
  /** With a `draftModel`: whether the draft proposed this token (and the model agreed). */
  fromDraft?: boolean;
}

/** The collected result of `generate`. */
export interface GenerationResult {
  text: string;
  /** Generated token ids (the stop token only with `includeStopToken`). */
  tokens: number[];
  /** With `logprobs: true`: one per entry of `tokens`. */
  logprobs?: number[];
  finishReason: FinishReason;
  /** `draftTokens`: with a `draftModel`, how many of the generated tokens the draft proposed. */
  usage: { promptTokens: number; completionTokens: number; cachedPromptTokens: number; draftTokens?: number };
  promptTokensPerSec: number;
  tokensPerSec: number;
  peakMemory: number;
}

/** A prompt rendered to token ids (and the text, when a chat template rendered it). */
export interface EncodedPrompt {
  tokens: number[];
  text?: string;
}

function isMessages(p: Prompt): p is readonly ChatMessage[] {
  return Array.isArray(p) && p.length > 0 && typeof p[0] === 'object' && p[0] !== null;
}

/** Turns a prompt (text, token ids or chat messages) into token ids, checking them. */
export function encodePrompt(model: GenerationModel, prompt: Prompt, chat: ChatPromptOptions, what: string): EncodedPrompt {
  const vocab = model.config.vocabSize;
  const tokenizer = (): Tokenizer => {
    if (model.tokenizer === undefined)
      throw new Error(`${what}: the model has no tokenizer (load it from a folder with tokenizer.json), so the prompt must be token ids`);
    return model.tokenizer;
  };
  let tokens: number[];
  let text: string | undefined;
  if (typeof prompt === 'string') {
    const tok = tokenizer();
    // As mlx-lm: add the tokenizer's special tokens unless the text already starts with BOS.
    const bos = tok.bos?.text;
    tokens = tok.encode(prompt, { addSpecialTokens: bos === undefined || !prompt.startsWith(bos) });
  } else if (isMessages(prompt)) {
    prompt.forEach((m, i) => {
      if (
        typeof m !== 'object' ||
        m === null ||
        typeof m.role !== 'string' ||
        (typeof m.content !== 'string' && m.content !== undefined && m.content !== null)
      ) {
        throw new TypeError(`${what}: message ${i} must be { role: string, content: string }, got ${describe(m)}`);
      }
    });
    text = tokenizer().applyChatTemplate(prompt, {
      addGenerationPrompt: true,
      tools: chat.tools,
      enableThinking: chat.enableThinking,
      chatTemplate: model.chatTemplate,
      extra: chat.templateVariables,
    });
    tokens = tokenizer().encode(text, { addSpecialTokens: false });
  } else if (Array.isArray(prompt)) {
    tokens = [...(prompt as number[])];
    tokens.forEach((t, i) => {
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= vocab) {
        throw new RangeError(`${what}: prompt token ${i} is ${describe(t)}, not an id in [0, ${vocab})`);
      }
    });
  } else {
    throw new TypeError(`${what}: the prompt must be a string, token ids or chat messages, got ${describe(prompt)}`);
  }
  if (tokens.length === 0) throw new Error(`${what}: the prompt is empty`);
  return text === undefined ? { tokens } : { tokens, text };
}

// A chunk that ends with 'stop' carries either a stop token or the token that completed a stop
// string; only the former is left out of `tokens`.
const stopTokenChunks = new WeakSet<GenerationChunk>();

/**
 * One position's token from its logits `[1, V]`: the logits processors (given `history`, the
 * tokens before it; none without processors), the token mask, then the sampler, and with
 * `withLogprob` the token's log-probability at the sampling temperature (after the processors,
 * before top-p/top-k/min-p/XTC: what a trainer scores a completion with).
 */
export function sampleLogits(
  logits: mx.Array,
  history: mx.Array | null,
  plan: GenerationPlan,
  withLogprob: boolean,
): [mx.Array, mx.Array | null] {
  const { what } = plan;
  if (history !== null) {
    for (const p of plan.processors)
      logits = plan.customProcessors ? checkProcessedLogits(logits, p(history, logits), `${what}: logits processor`) : p(history, logits);
  }
  const allowed = plan.tokenMask?.mask(logits.shape[logits.shape.length - 1]);
  if (allowed != null) logits = applyTokenMask(logits, allowed);
  // The built-in greedy sampler is an argmax, which normalizing the logits does not change: without
  // reported log-probabilities the log-sum-exp (an exp per vocabulary entry, scalar in MLX's CPU
  // backend) is skipped.
  if (plan.temperature === 0 && !plan.customSampler && !withLogprob) return [mx.argmax(logits, -1), null];
  const logprobs = mx.subtract(logits, mx.logsumexp(logits, -1, true));
  const y = plan.customSampler ? checkSampledTokens(logprobs, plan.sampler(logprobs), `${what}: sampler`) : plan.sampler(logprobs);
  if (!withLogprob) return [y, null];
  const scaled = plan.temperature > 0 ? mx.logSoftmax(mx.divide(logits, plan.temperature), -1) : logprobs;
  return [y, mx.reshape(mx.takeAlongAxis(scaled, mx.reshape(mx.astype(y, 'int32'), [1, 1]), -1), [1])];
}

/** Lets timers and I/O run between tokens (an async generator alone only runs microtasks). */
const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** One sampled token of `generateStep`. */
export interface StepOutput {
  token: number;
  /** With `plan.logprobs`: log-probability of the token at the sampling temperature. */
  logprob?: number;
  /** With `plan.draftModel`: whether the draft proposed the token. */
  fromDraft?: boolean;
}

/**
 * Feeds all of `tokens` but the last into `cache`, `plan.prefillStepSize` tokens per forward
 * pass, computing only the caches; `onChunk` follows each pass. False when `plan.signal` aborted.
 */
export async function prefillAllButLast(
  model: Pick<GenerationModel, 'forward'>,
  tokens: readonly number[],
  cache: Cache[],
  plan: GenerationPlan,
  onChunk?: (chunk: readonly number[]) => void,
): Promise<boolean> {
  let processed = 0;
  while (tokens.length - processed > 1) {
    if (plan.signal?.aborted) return false;
    const chunk = tokens.slice(processed, processed + Math.min(plan.prefillStepSize, tokens.length - processed - 1));
    mx.tidy(() => {
      // Only the caches are computed: dropping the unused logits first lets MLX free each
      // layer's activations as soon as its keys and values are written.
      model.forward(mx.array([chunk], 'int32'), { cache, prefill: true }).dispose();
      maybeQuantize(cache, plan);
      mx.eval(cache.map((c) => c.state));
    });
    processed += chunk.length;
    onChunk?.(chunk);
    mx.clearCache();
    await breathe();
  }
  return !plan.signal?.aborted;
}

/**
 * `prefillAllButLast` for a generation's prompt: the fed tokens go into `record` and
 * `plan.onPromptProgress` hears of each pass (from 0; the last token is reported by
 * `promptDone` once its step is read).
 */
export async function prefillPrompt(
  model: Pick<GenerationModel, 'forward'>,
  prompt: readonly number[],
  cache: Cache[],
  plan: GenerationPlan,
  record: StepRecord,
): Promise<boolean> {
  plan.onPromptProgress?.({ processed: 0, total: prompt.length });
  return prefillAllButLast(model, prompt, cache, plan, (chunk) => {
    record.fed.push(...chunk);
    record.promptProcessed += chunk.length;
    plan.onPromptProgress?.({ processed: record.promptProcessed, total: prompt.length });
  });
}

/** Records and reports the whole prompt as processed (the first generated token was read). */
export function promptDone(plan: GenerationPlan, record: StepRecord, total: number): void {
  record.promptProcessed = total;
  plan.onPromptProgress?.({ processed: total, total });
}

/** Where `generateStep` records what it did (for cache reuse and statistics). */
export interface StepRecord {
  /** Tokens that went into the cache (prompt and generated), in order. */
  fed: number[];
  /** Prompt tokens processed (prefill and the last prompt token). */
  promptProcessed: number;
}

/**
 * The token loop: prefills `prompt` into `cache` and yields sampled tokens, at most
 * `plan.maxTokens`, until the caller stops iterating or `plan.signal` aborts. `context` is the
 * token history before `prompt` (for the logits processors). The log-probability reported is
 * `logSoftmax(logits / temperature)` of the sampled token after the logits processors and before
 * top-p/top-k/min-p/XTC (the distribution a trainer scores a completion with). With
 * `plan.draftModel` the draft proposes tokens (speculative decoding, see speculative.ts) and each
 * token says whether it was one of them (`fromDraft`).
 */
export async function* generateStep(
  model: GenerationModel,
  prompt: readonly number[],
  cache: Cache[],
  plan: GenerationPlan,
  context: readonly number[] = [],
  record: StepRecord = { fed: [], promptProcessed: 0 },
): AsyncGenerator<StepOutput, void, undefined> {
  if (prompt.length === 0) throw new Error('generateStep: the prompt is empty');
  if (plan.draftModel !== undefined) {
    yield* speculativeSteps({ model, draft: plan.draftModel, prompt, cache, plan, context, record });
    return;
  }
  const { processors, signal } = plan;
  const vocabSize = model.config.vocabSize;
  const { what } = plan;
  // A seeded request draws from its own key sequence: interleaved requests stay reproducible.
  const keys = plan.seed !== undefined ? new mx.random.KeySequence(plan.seed) : undefined;
  let history: mx.Array | null = processors.length > 0 ? mx.keep(mx.array([...context, ...prompt], 'int32')) : null;

  // The logits processors and the sampler for one step's logits `[1, V]` (`input` is the token fed).
  const sample = (logits: mx.Array, input: mx.Array, feedsHistory: boolean): [mx.Array, mx.Array | null] => {
    if (history !== null && feedsHistory) {
      const grown = mx.keep(mx.concatenate([history, mx.astype(mx.reshape(input, [-1]), 'int32')]));
      history.dispose();
      history = grown;
    }
    maybeQuantize(cache, plan);
    return sampleLogits(logits, history, plan, plan.logprobs);
  };

  const step = (input: mx.Array, feedsHistory: boolean): [mx.Array, mx.Array | null] =>
    mx.tidy(() => {
      const logits = mx.index(model.forward(mx.reshape(input, [1, -1]), { cache }), mx.sl(), -1, mx.sl());
      return keys === undefined ? sample(logits, input, feedsHistory) : keys.run(() => sample(logits, input, feedsHistory));
    });

  const total = prompt.length;
  if (!(await prefillPrompt(model, prompt, cache, plan, record))) return;

  // The history already holds the prompt, so the last prompt token is not appended again.
  let current: [mx.Array, mx.Array | null] | null = null;
  let next: [mx.Array, mx.Array | null] | null = null;
  let currentRead: ScheduledRead | null = null;
  let nextRead: ScheduledRead | null = null;
  try {
    const last = mx.array([prompt[total - 1]], 'int32');
    current = step(last, false);
    last.dispose();
    record.fed.push(prompt[total - 1]);
    const threaded = useEvalThread();
    currentRead = scheduleForRead(current, threaded);
    // A token mask (structured output) depends on token n, so step n+1 waits for it.
    const lookAhead = plan.tokenMask === undefined;
    for (let n = 0; ; n++) {
      if (current === null || currentRead === null) throw new Error(`${what}: no step is in flight`);
      const cur: [mx.Array, mx.Array | null] = current;
      const curRead = currentRead;
      const more = n + 1 < plan.maxTokens;
      // Step n+1 is built from token n and queued before token n is read (one step of
      // look-ahead): building it, or on the evaluation thread encoding it, overlaps the device
      // finishing step n and this thread reading token n.
      if (more && lookAhead) {
        next = step(cur[0], true);
        nextRead = scheduleForRead(next, threaded);
      }
      if (n > 0) await breathe();
      const values = readScheduled(curRead);
      currentRead = null;
      if (n === 0) promptDone(plan, record, total);
      const token = checkTokenId(values[0], vocabSize, `${what}: sampler`);
      const logprob = cur[1] === null ? undefined : values[1];
      if (more) record.fed.push(token);
      if (plan.tokenMask !== undefined) {
        plan.tokenMask.accept(token);
        if (more) {
          next = step(cur[0], true);
          nextRead = scheduleForRead(next, threaded);
        }
      }
      mx.dispose(cur);
      current = null;
      yield logprob === undefined ? { token } : { token, logprob };
      if (!more || signal?.aborted) return;
      current = next;
      currentRead = nextRead;
      next = null;
      nextRead = null;
      if (n % 256 === 255) mx.clearCache();
    }
  } finally {
    for (const r of [currentRead, nextRead]) if (r !== null) forgetScheduled(r);
    settleEvalThread();
    if (current !== null) mx.dispose(current);
    if (next !== null) mx.dispose(next);
    history?.dispose();
    history = null;
  }
}

/**
 * Streams a generation: text, tokens and statistics as chunks, the last with `finishReason`.
 * Breaking out of the loop stops generation and releases its arrays and caches. `what` names the
 * caller in error messages (`Qwen3`'s method passes `'Qwen3.stream'`).
 *
 * @example
 * for await (const c of stream(model, 'Hello', { maxTokens: 32 })) process.stdout.write(c.text);
 */
export function stream(
  model: GenerationModel,
  prompt: Prompt,
  options: GenerateOptions = {},
  what = 'stream',
): AsyncGenerator<GenerationChunk, void, undefined> {
  // Validation and prompt encoding happen here, synchronously, before any work.
  const plan = resolveGenerateOptions(withGenerationDefaults(options, model.generationDefaults), model.config.vocabSize, what);
  const encoded = encodePrompt(model, prompt, plan.chat, what);
  const prepared = prepareCache(model, plan, encoded.tokens, what);
  return streamTokens(model, encoded.tokens, plan, prepared);
}

/** Shared by `stream` and `chat`: the prompt is already encoded and the cache prepared. */
async function* streamTokens(
  model: GenerationModel,
  promptTokens: number[],
  plan: GenerationPlan,
  prepared: PreparedCache,
): AsyncGenerator<GenerationChunk, void, undefined> {
  const { cache, owned, reused } = prepared;
  const stopIds = stopTokenSet(model.eosTokenIds, plan.stopTokenIds);
  const stops = new StopStrings(plan.stopStrings);
  const detok = model.tokenizer?.detokenizer({ skipSpecialTokens: plan.skipSpecialTokens });
  const record: StepRecord = { fed: [], promptProcessed: 0 };
  const suffix = promptTokens.slice(reused);
  const t0 = performance.now();
  let tFirst = 0;
  let promptTps = 0;
  let n = 0;
  const stats = (finishReason: FinishReason | null) => ({
    finishReason,
    promptTokens: promptTokens.length,
    completionTokens: n,
    promptTokensPerSec: promptTps,
    tokensPerSec: n === 0 ? 0 : n / Math.max((performance.now() - tFirst) / 1000, 1e-9),
    peakMemory: mx.memory().peak,
  });
  const decode = (token: number): string => (detok === undefined ? '' : detok.add(token));
  const flush = (): string => (detok === undefined ? '' : detok.finalize());
  // Checked again when the stream starts: another one may have started on it since.
  if (!owned) claimCache(cache, plan.what);
  try {
    const context = promptTokens.slice(0, reused);
    for await (const out of generateStep(model, suffix, cache, plan, context, record)) {
      n++;
      if (n === 1) {
        tFirst = performance.now();
        promptTps = suffix.length / Math.max((tFirst - t0) / 1000, 1e-9);
      }
      const lp = {
        ...(out.logprob === undefined ? {} : { logprob: out.logprob }),
        ...(out.fromDraft === undefined ? {} : { fromDraft: out.fromDraft }),
      };
      if (stopIds.has(out.token)) {
        const tail = stops.push(flush());
        const chunk: GenerationChunk = { text: tail.text + stops.flush(), token: out.token, ...lp, ...stats('stop') };
        stopTokenChunks.add(chunk);
        yield chunk;
        return;
      }
      const check = stops.push(decode(out.token));
      if (check.stopped) {
        yield { text: check.text, token: out.token, ...lp, ...stats('stop') };
        return;
      }
      if (n === plan.maxTokens) {
        const tail = stops.push(flush());
        yield {
          text: check.text + tail.text + (tail.stopped ? '' : stops.flush()),
          token: out.token,
          ...lp,
          ...stats(tail.stopped ? 'stop' : 'length'),
        };
        return;
      }
      yield { text: check.text, token: out.token, ...lp, ...stats(null) };
    }
    // The token loop ends early only when the signal aborted it.
    const tail = stops.push(flush());
    yield { text: tail.text + (tail.stopped ? '' : stops.flush()), token: null, ...stats('abort') };
  } finally {
    if (owned) {
      for (const c of cache) c.dispose();
    } else {
      releaseCache(cache, prepared.unknownPrefix === 0 ? [...promptTokens.slice(0, reused), ...record.fed] : undefined);
    }
  }
}

/**
 * Runs `stream` to the end and collects it. `what` names the caller in error messages (`Qwen3`'s
 * method passes `'Qwen3.generate'`).
 *
 * @example
 * const { text, finishReason } = await generate(model, 'Hello', { maxTokens: 32 });
 */
export async function generate(
  model: GenerationModel,
  prompt: Prompt,
  options: GenerateOptions = {},
  what = 'generate',
): Promise<GenerationResult> {
  const plan = resolveGenerateOptions(withGenerationDefaults(options, model.generationDefaults), model.config.vocabSize, what);
  const encoded = encodePrompt(model, prompt, plan.chat, what);
  const prepared = prepareCache(model, plan, encoded.tokens, what);
  return collectStream(streamTokens(model, encoded.tokens, plan, prepared), plan, prepared.reused);
}

async function collectStream(chunks: AsyncIterable<GenerationChunk>, plan: GenerationPlan, cached: number): Promise<GenerationResult> {
  let text = '';
  const tokens: number[] = [];
  const logprobs: number[] = [];
  let last: GenerationChunk | undefined;
  let draftTokens = 0;
  for await (const c of chunks) {
    text += c.text;
    last = c;
    if (c.token === null) continue;
    if (c.fromDraft === true) draftTokens++;
    if (!plan.includeStopToken && stopTokenChunks.has(c)) continue;
    tokens.push(c.token);
    if (c.logprob !== undefined) logprobs.push(c.logprob);
  }
  if (last === undefined || last.finishReason === null) throw new Error('generate: the stream ended without a finish reason');
  return {
    text,
    tokens,
    ...(plan.logprobs ? { logprobs } : {}),
    finishReason: last.finishReason,
    usage: {
      promptTokens: last.promptTokens,
      completionTokens: last.completionTokens,
      cachedPromptTokens: cached,
      ...(plan.draftModel === undefined ? {} : { draftTokens }),
    },
    promptTokensPerSec: last.promptTokensPerSec,
    tokensPerSec: last.tokensPerSec,
    peakMemory: last.peakMemory,
  };
}

/** @internal For `chat`: the same pipeline with the rendered prompt at hand. */
export function prepareGeneration(
  model: GenerationModel,
  prompt: Prompt,
  options: GenerateOptions,
  what: string,
  extraKeys: readonly string[] = [],
) {
  const plan = resolveGenerateOptions(withGenerationDefaults(options, model.generationDefaults), model.config.vocabSize, what, extraKeys);
  const encoded = encodePrompt(model, prompt, plan.chat, what);
  const prepared = prepareCache(model, plan, encoded.tokens, what);
  return { plan, encoded, cachedPromptTokens: prepared.reused, run: () => streamTokens(model, encoded.tokens, plan, prepared) };
}
