/**
 * Batched generation with continuous batching, following the semantics of mlx-lm's
 * `BatchGenerator` / `batch_generate` (generate.py): prompts are left-padded into one
 * `BatchKVCache` per layer, every step is one forward pass for the whole batch, each row stops on
 * its own (stop tokens, stop strings, its `maxTokens`), finished rows leave the batch (`filter`)
 * and waiting prompts are prefilled and join it (`extend`). As in mlx-lm the next step is
 * scheduled before the current tokens are read back, so JS work overlaps MLX's.
 */

import { BatchKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import {
  forgetScheduled,
  readNumbers,
  readScheduled,
  type ScheduledRead,
  scheduleForRead,
  settleEvalThread,
  useEvalThread,
} from '@mlxn/core/internal';
import type { StreamingDetokenizer } from '@mlxn/io';
import { checkProcessedLogits, checkSampledTokens, checkTokenId } from '@mlxn/sampling';
import { encodePrompt, type FinishReason } from './generate.js';
import { withGenerationDefaults } from './generation-config.js';
import type { GenerationModel } from './model-interface.js';
import { describe, type GenerateOptions, GenerationOptionsError, type Prompt, resolveGenerateOptions } from './options.js';
import { StopStrings, stopTokenSet } from './stop.js';

/** A prompt of a batch, optionally with its own token budget and stop strings. */
export type BatchPrompt = Prompt | { prompt: Prompt; maxTokens?: number; stop?: string | readonly string[] };

/** Options of `batchGenerate`: those of `generate` for a fresh cache, plus batch sizes. */
export interface BatchGenerateOptions
  extends Omit<
    GenerateOptions,
    'promptCache' | 'maxKvSize' | 'kvBits' | 'kvGroupSize' | 'quantizedKvStart' | 'onPromptProgress' | 'draftModel' | 'numDraftTokens'
  > {
  /** Most sequences decoded together; waiting prompts join as rows finish. Default 32. */
  maxBatchSize?: number;
  /** Most prompts prefilled together when rows join. Default 8 (at most `maxBatchSize`). */
  prefillBatchSize?: number;
  /** Called when a prompt's result is complete (in finishing order). */
  onResult?: (index: number, result: BatchResult) => void;
}

/** The result for one prompt. */
export interface BatchResult {
  text: string;
  /** Generated token ids (the stop token only with `includeStopToken`). */
  tokens: number[];
  /** With `logprobs: true`: log-probability of each token in `tokens` at the sampling temperature. */
  logprobs?: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number };
}

/** Throughput of a `batchGenerate` call. */
export interface BatchStats {
  promptTokens: number;
  promptTokensPerSec: number;
  generationTokens: number;
  tokensPerSec: number;
  /** MLX's peak memory in bytes. */
  peakMemory: number;
  /** Forward passes of the decoding batch. */
  steps: number;
}

/** Results in the order of the prompts, with the run's statistics. */
export type BatchResults = BatchResult[] & { stats: BatchStats };

const BATCH_KEYS = ['maxBatchSize', 'prefillBatchSize', 'onResult'];

interface Row {
  index: number;
  prompt: number[];
  maxTokens: number;
  /** Tokens before the one this row feeds next (what its logits processors see). */
  history: number[];
  tokens: number[];
  logprobs: number[];
  detok: StreamingDetokenizer | undefined;
  stops: StopStrings;
  text: string;
  /** Whether the token this row feeds next was generated (not the last prompt token). */
  generated: boolean;
  finish: FinishReason | null;
  stopToken: number | null;
}

/**
 * Generates a completion for every prompt with true batched decoding and continuous batching.
 * Token-id prompts are used as given; text and chat prompts are encoded as `generate` does.
 * `what` names the caller in error messages (`Qwen3`'s method passes `'Qwen3.batchGenerate'`).
 *
 * @example
 * const results = await batchGenerate(model, ['Hi', 'Tell me a joke'], { maxTokens: 64, maxBatchSize: 8 });
 * results.map((r) => r.text);
 */
export async function batchGenerate(
  model: GenerationModel,
  prompts: readonly BatchPrompt[],
  options: BatchGenerateOptions = {},
  what = 'batchGenerate',
): Promise<BatchResults> {
  for (const k of [
    'promptCache',
    'maxKvSize',
    'kvBits',
    'kvGroupSize',
    'quantizedKvStart',
    'onPromptProgress',
    'draftModel',
    'numDraftTokens',
  ]) {
    if ((options as Record<string, unknown>)[k] !== undefined)
      throw new GenerationOptionsError(
        `${what}: option ${JSON.stringify(k)} is not supported for batches (each batch builds its own BatchKVCache)`,
      );
  }
  const plan = resolveGenerateOptions(
    withGenerationDefaults(options as GenerateOptions, model.generationDefaults),
    model.config.vocabSize,
    what,
    BATCH_KEYS,
  );
  const int = (v: unknown, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new GenerationOptionsError(`${what}: ${name} must be an integer >= 1, got ${describe(v)}`);
    return v;
  };
  const maxBatch = int(options.maxBatchSize, 'maxBatchSize', 32);
  const prefillBatch = Math.min(int(options.prefillBatchSize, 'prefillBatchSize', 8), maxBatch);
  if (options.onResult !== undefined && typeof options.onResult !== 'function')
    throw new GenerationOptionsError(`${what}: onResult must be a function`);
  if (!Array.isArray(prompts) || prompts.length === 0)
    throw new TypeError(`${what}: expected a non-empty list of prompts, got ${describe(prompts)}`);
  const ctx = model.config.maxPositionEmbeddings;
  const rows: Row[] = prompts.map((p, index) => {
    const entry = typeof p === 'object' && p !== null && !Array.isArray(p) ? p : { prompt: p as Prompt };
    const where = `${what}: prompt ${index}`;
    const { tokens } = encodePrompt(model, entry.prompt, plan.chat, where);
    if (tokens.length > ctx)
      throw new RangeError(`${where} has ${tokens.length} tokens, more than the model's context of ${ctx} (maxPositionEmbeddings)`);
    const maxTokens = entry.maxTokens === undefined ? plan.maxTokens : int(entry.maxTokens, `prompt ${index} maxTokens`, 1);
    const stop = entry.stop === undefined ? plan.stopStrings : typeof entry.stop === 'string' ? [entry.stop] : [...entry.stop];
    return {
      index,
      prompt: tokens,
      maxTokens,
      history: tokens.slice(0, -1),
      tokens: [],
      logprobs: [],
      detok: model.tokenizer?.detokenizer({ skipSpecialTokens: plan.skipSpecialTokens }),
      stops: new StopStrings(stop),
      text: '',
      generated: false,
      finish: null,
      stopToken: null,
    };
  });

  const stopIds = stopTokenSet(model.eosTokenIds, plan.stopTokenIds);
  const vocabSize = model.config.vocabSize;
  const numLayers = model.makeCache().length;
  const { sampler, processors, temperature, signal } = plan;
  const greedy = temperature === 0 && !plan.customSampler;
  // A seeded batch draws from its own key sequence: interleaved requests stay reproducible.
  const keys = plan.seed !== undefined ? new mx.random.KeySequence(plan.seed) : undefined;

  const results: BatchResult[] = new Array(rows.length);
  const stats: BatchStats = { promptTokens: 0, promptTokensPerSec: 0, generationTokens: 0, tokensPerSec: 0, peakMemory: 0, steps: 0 };
  let promptMs = 0;
  const tStart = performance.now();

  const finishRow = (row: Row): void => {
    // Without stop strings the text is only needed at the end: the detokenizer sees the same
    // tokens in the same order, once per row instead of once per row and step.
    if (!row.stops.active && row.detok !== undefined) for (const t of row.tokens) row.text += row.detok.add(t);
    const tail = row.stops.push(row.detok?.finalize() ?? '');
    row.text += tail.text + row.stops.flush();
    const tokens = row.stopToken !== null && plan.includeStopToken ? [...row.tokens, row.stopToken] : row.tokens;
    const r: BatchResult = {
      text: row.text,
      tokens,
      finishReason: row.finish ?? 'abort',
      usage: { promptTokens: row.prompt.length, completionTokens: row.tokens.length + (row.stopToken !== null ? 1 : 0) },
    };
    if (plan.logprobs) r.logprobs = row.logprobs.slice(0, tokens.length);
    results[row.index] = r;
    options.onResult?.(row.index, r);
  };

  /** Prefills all but the last token of each new row; returns their caches and last tokens. */
  const prefill = (newRows: Row[]): [BatchKVCache[], mx.Array] => {
    const t0 = performance.now();
    const lens = newRows.map((r) => r.prompt.length - 1);
    const width = Math.max(...lens);
    const caches = Array.from({ length: numLayers }, () => new BatchKVCache({ leftPadding: lens.map((l) => width - l) }));
    for (let start = 0; start < width; start += plan.prefillStepSize) {
      const stop = Math.min(width, start + plan.prefillStepSize);
      const block = newRows.map((r, i) => {
        const padded = new Array<number>(width - lens[i]).fill(0).concat(r.prompt.slice(0, -1));
        return padded.slice(start, stop);
      });
      mx.tidy(() => {
        // Only the caches are computed; the unused logits are dropped before evaluation.
        model.forward(mx.array(block, 'int32'), { cache: caches, prefill: true }).dispose();
        mx.eval(caches.map((c) => c.state));
      });
      mx.clearCache();
    }
    // As mlx-lm counts: the tokens prefilled (each row's last prompt token goes with the first step).
    stats.promptTokens += lens.reduce((a, b) => a + b, 0);
    promptMs += performance.now() - t0;
    return [
      caches,
      mx.array(
        newRows.map((r) => r.prompt[r.prompt.length - 1]),
        'int32',
      ),
    ];
  };

  /**
   * Tells the caches where the batch ends at most: every row's remaining tokens (the last prompt
   * token included) and one step of look-ahead, so their buffers grow to exactly that end.
   */
  const reserveFor = (cs: readonly BatchKVCache[], batchRows: readonly Row[]): void => {
    const end = cs[0].idx + Math.max(...batchRows.map((r) => r.maxTokens - r.tokens.length)) + 1;
    if (end <= 2 ** 30) for (const c of cs) c.reserve(end);
  };

  /** One decoding step: the next token (and its log-probability) of every row. */
  const step = (inputs: mx.Array, active: readonly Row[], caches: BatchKVCache[]): [mx.Array, mx.Array | null] =>
    mx.tidy(() => {
      let logits = model.forward(mx.reshape(inputs, [-1, 1]), { cache: caches });
      logits = mx.index(logits, mx.sl(), -1, mx.sl());
      if (processors.length > 0) {
        // Each row's processors see its own history: the known tokens plus the (still lazy) input.
        const rowsOut = active.map((row, i) => {
          const history = mx.concatenate([mx.array(row.history, 'int32'), mx.astype(mx.index(inputs, mx.sl(i, i + 1)), 'int32')]);
          let l = mx.index(logits, mx.sl(i, i + 1));
          for (const p of processors)
            l = plan.customProcessors ? checkProcessedLogits(l, p(history, l), `${what}: logits processor`) : p(history, l);
          return l;
        });
        logits = mx.concatenate(rowsOut, 0);
      }
      // The built-in greedy sampler is an argmax, which normalizing the logits does not change.
      if (greedy && !plan.logprobs) return [mx.argmax(logits, -1), null];
      const logprobs = mx.subtract(logits, mx.logsumexp(logits, -1, true));
      const draw = () => (plan.customSampler ? checkSampledTokens(logprobs, sampler(logprobs), `${what}: sampler`) : sampler(logprobs));
      const y = keys === undefined ? draw() : keys.run(draw);
      if (!plan.logprobs) return [y, null];
      const scaled = temperature > 0 ? mx.logSoftmax(mx.divide(logits, temperature), -1) : logprobs;
      return [y, mx.reshape(mx.takeAlongAxis(scaled, mx.expandDims(mx.astype(y, 'int32'), 1), -1), [-1])];
    });

  const threaded = useEvalThread();
  const pending = [...rows];
  let active: Row[] = [];
  let caches: BatchKVCache[] | null = null;
  let inputs: mx.Array | null = null;
  let inputLogprobs: mx.Array | null = null;
  // How `inputs` will be read: the scheduled step that made them, and which of that step's rows
  // each active row is (rows leave between steps). null after rows joined: read directly.
  let inputsRead: { scheduled: ScheduledRead; rows: number; index: number[] } | null = null;
  // The step just queued, until `inputsRead` takes it over (released if a read throws first).
  let queued: ScheduledRead | null = null;
  try {
    while (active.length > 0 || pending.length > 0) {
      if (signal?.aborted) break;
      // Waiting prompts join while there is room.
      if (pending.length > 0 && active.length < maxBatch) {
        const joining = pending.splice(0, Math.min(prefillBatch, maxBatch - active.length));
        const [newCaches, lastTokens] = prefill(joining);
        if (caches === null || inputs === null) {
          reserveFor(newCaches, joining);
          caches = newCaches;
          inputs = lastTokens;
          inputLogprobs = plan.logprobs ? mx.zeros([joining.length]) : null;
        } else {
          // In a tidy: extending pads both caches' keys and values into new arrays, and the
          // intermediates would otherwise live until the garbage collector ran.
          const [old, oldLogprobs, joined] = [inputs, inputLogprobs, caches];
          const [grown, lp] = mx.tidy(() => {
            for (let l = 0; l < numLayers; l++) {
              joined[l].extend(newCaches[l]);
              newCaches[l].dispose();
            }
            return [
              mx.concatenate([mx.astype(old, 'int32'), lastTokens]),
              oldLogprobs === null ? null : mx.concatenate([oldLogprobs, mx.zeros([joining.length])]),
            ] as const;
          });
          reserveFor(joined, [...active, ...joining]);
          mx.dispose([old, lastTokens]);
          oldLogprobs?.dispose();
          inputs = grown;
          inputLogprobs = lp;
        }
        mx.keep([inputs, inputLogprobs]);
        if (inputsRead !== null) forgetScheduled(inputsRead.scheduled);
        inputsRead = null;
        active = [...active, ...joining];
        await new Promise((r) => setImmediate(r));
        if (signal?.aborted) break;
      }
      // The next tokens are built from the current ones and queued before those are read (one
      // step of look-ahead): building them, or on the evaluation thread encoding them, overlaps
      // the device finishing the current step and this thread reading it.
      if (inputs === null || caches === null) throw new Error('batchGenerate: rows are active but the batch has no inputs or caches');
      const running = caches;
      const [next, nextLogprobs] = step(inputs, active, running);
      stats.steps++;
      queued = scheduleForRead([next, nextLogprobs], threaded);
      const nextRead = { scheduled: queued, rows: active.length, index: active.map((_, i) => i) };
      let values: Float64Array;
      if (inputsRead === null) {
        values = readNumbers([inputs, inputLogprobs], threaded);
      } else {
        const { scheduled, rows, index } = inputsRead;
        inputsRead = null;
        const all = readScheduled(scheduled);
        values = new Float64Array(index.length * (inputLogprobs === null ? 1 : 2));
        index.forEach((r, i) => {
          values[i] = all[r];
          if (inputLogprobs !== null) values[index.length + i] = all[rows + r];
        });
      }
      inputsRead = nextRead;
      queued = null;
      const current = values.subarray(0, active.length);
      const currentLp = inputLogprobs === null ? null : values.subarray(active.length);
      const keep: number[] = [];
      active.forEach((row, i) => {
        if (row.generated) {
          const token = checkTokenId(current[i], vocabSize, `${what}: sampler`);
          if (stopIds.has(token)) {
            row.stopToken = token;
            if (currentLp !== null) row.logprobs.push(currentLp[i]);
            row.finish = 'stop';
          } else {
            row.tokens.push(token);
            row.history.push(token);
            if (currentLp !== null) row.logprobs.push(currentLp[i]);
            stats.generationTokens++;
            if (row.stops.active) {
              const check = row.stops.push(row.detok?.add(token) ?? '');
              row.text += check.text;
              if (check.stopped) row.finish = 'stop';
            }
            if (row.finish === null && row.tokens.length >= row.maxTokens) row.finish = 'length';
          }
        } else {
          row.history.push(row.prompt[row.prompt.length - 1]);
          row.generated = true;
        }
        if (row.finish === null) keep.push(i);
        else finishRow(row);
      });
      mx.dispose([inputs, inputLogprobs]);
      if (keep.length === 0) {
        for (const c of running) c.dispose();
        caches = null;
        mx.dispose([next, nextLogprobs]);
        inputs = null;
        inputLogprobs = null;
        forgetScheduled(nextRead.scheduled);
        inputsRead = null;
      } else if (keep.length < active.length) {
        // A ticket reads its own copies; without the thread the rows are read from `inputs`.
        if ('ticket' in nextRead.scheduled) nextRead.index = keep.map((i) => nextRead.index[i]);
        else inputsRead = null;
        for (const c of running) c.filter(keep);
        const ix = mx.array(keep, 'int32');
        inputs = mx.keep(mx.take(next, ix, 0));
        inputLogprobs = nextLogprobs === null ? null : mx.keep(mx.take(nextLogprobs, ix, 0));
        mx.dispose([ix, next, nextLogprobs]);
      } else {
        inputs = mx.keep(next);
        inputLogprobs = nextLogprobs === null ? null : mx.keep(nextLogprobs);
      }
      active = keep.map((i) => active[i]);
      if (stats.steps % 256 === 0) mx.clearCache();
      await new Promise((r) => setImmediate(r));
    }
    // Aborted: what each row has so far.
    for (const row of [...active, ...pending]) {
      row.finish = 'abort';
      finishRow(row);
    }
  } finally {
    for (const r of [inputsRead?.scheduled, queued]) if (r) forgetScheduled(r);
    settleEvalThread();
    if (caches !== null) for (const c of caches) c.dispose();
    mx.dispose([inputs, inputLogprobs]);
  }
  const totalMs = performance.now() - tStart;
  stats.promptTokensPerSec = stats.promptTokens / Math.max(promptMs / 1000, 1e-9);
  stats.tokensPerSec = stats.generationTokens / Math.max((totalMs - promptMs) / 1000, 1e-9);
  stats.peakMemory = mx.memory().peak;
  return Object.assign(results, { stats });
}
