/**
 * The continuous-batching scheduler every request of a server shares. It runs one decoding
 * batch at a time, as @mlxn/models-qwen3's `batchGenerate` does (one `BatchKVCache` per layer,
 * left-padded prefill of joining prompts that `extend` the running caches, finished rows
 * `filter`ed out), but rows arrive and leave whenever requests do, and each row brings its own
 * sampler, logits processors, random key sequence (its seed), stop conditions and token budget.
 *
 * A row leaves the batch at the first step after its request stops it (finished, or its client
 * disconnected): its cache rows are dropped there, and when no row is left the caches are
 * disposed, so memory returns to what it was before the first request.
 *
 * A row may carry a token constraint (structured output): its mask is computed for each step
 * before the step is built, applied to that row's logits only, advanced with each token the row
 * samples, and disposed when the row finishes, fails or its client leaves. Constrained and free
 * rows share the batch.
 *
 * Decoding runs one step ahead, as `batchGenerate` does: step n+1 is built from step n's
 * still-lazy tokens and queued before step n is read, so building it (and the HTTP work between
 * steps) overlaps the device computing step n. A row that finishes at step n has had step n+1
 * computed for nothing (at most one step past its end). Rows with a constraint need step n's
 * token before their next mask exists, so while one is in the batch, step n is read first.
 * Joining prompts are prefilled behind the step in flight too (not after reading it), and with
 * the evaluation thread (a GPU) not waited for: the next step is queued behind the prefill.
 * (Those prefills, and which waiting prompts share one, are `prefill.ts`'s.)
 */

import type { BatchKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { forgetScheduled, readScheduled, type ScheduledRead, scheduleEval, scheduleForRead, useEvalThread } from '@mlxn/core/internal';
import type { StreamingDetokenizer } from '@mlxn/io';
import { type FinishReason, type GenerationModel, StopStrings } from '@mlxn/models-qwen3';
import { checkTokenId } from '@mlxn/sampling';
import { continuePrefix, prefillRows, similarLengths } from './prefill.js';
import { PrefixCache } from './prefix-cache.js';
import {
  type PhaseTimes,
  QueueFullError,
  type RowEvent,
  type RowRequest,
  type SchedulerOptions,
  type SchedulerStats,
} from './scheduler-types.js';
import { buildDecodeStep, type StepArrays, type StepRow } from './step-graph.js';

export type { PhaseTimes, RowEvent, RowRequest, SchedulerOptions, SchedulerStats } from './scheduler-types.js';
export { QueueFullError } from './scheduler-types.js';

interface Row {
  request: RowRequest;
  prompt: number[];
  maxTokens: number;
  /** Tokens before the one this row feeds next (what its logits processors see, and its cache holds). */
  history: number[];
  completion: number;
  /** Prompt tokens taken from the prefix cache. */
  cached: number;
  detok: StreamingDetokenizer | undefined;
  stops: StopStrings;
  stopIds: Set<number>;
  keys: mx.random.KeySequence | undefined;
  wantLogprobs: boolean;
  /** The last token generated (fed into the next step); null before the first. */
  lastToken: number | null;
  finished: boolean;
}

/** A decoding step built and queued but not yet read: its arrays, how to read them, its rows in order. */
interface QueuedStep {
  out: StepArrays;
  read: ScheduledRead;
  rows: Row[];
}

const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Scheduler {
  readonly #model: GenerationModel;
  readonly #maxBatch: number;
  readonly #prefillBatch: number;
  readonly #maxQueue: number;
  readonly #prefillStep: number;
  readonly #numLayers: number;
  #pending: Row[] = [];
  #active: Row[] = [];
  #caches: BatchKVCache[] | null = null;
  /** The token each active row feeds next, `[B]` int32 (often the queued step's lazy tokens). */
  #inputs: mx.Array | null = null;
  /** The newest step queued and not yet read. */
  #queued: QueuedStep | null = null;
  /** The step being read while a newer one is queued (one step of look-ahead). */
  #reading: QueuedStep | null = null;
  #running: Promise<void> | null = null;
  #steps = 0;
  readonly #time: PhaseTimes = { running: 0, prefill: 0, join: 0, build: 0, evaluate: 0, deliver: 0, remember: 0, drop: 0 };
  /** When the running loop started (null while idle): a reading includes the loop so far. */
  #loopStart: number | null = null;
  #closed = false;
  readonly #prefixCache: PrefixCache | null;

  constructor(model: GenerationModel, options: SchedulerOptions = {}) {
    const int = (v: number | undefined, name: string, dflt: number): number => {
      if (v === undefined) return dflt;
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`Scheduler: ${name} must be an integer >= 1, got ${String(v)}`);
      return v;
    };
    this.#model = model;
    this.#maxBatch = int(options.maxBatchSize, 'maxBatchSize', 32);
    this.#prefillBatch = Math.min(int(options.prefillBatchSize, 'prefillBatchSize', 8), this.#maxBatch);
    this.#maxQueue = options.maxQueue === 0 ? 0 : int(options.maxQueue, 'maxQueue', 64);
    this.#prefillStep = int(options.prefillStepSize, 'prefillStepSize', 2048);
    this.#prefixCache = options.prefixCache === false ? null : new PrefixCache(options.prefixCache);
    const probe = model.makeCache();
    this.#numLayers = probe.length;
    for (const c of probe) (c as { dispose?: () => void }).dispose?.();
  }

  get stats(): SchedulerStats {
    const prefixCache = { entries: this.#prefixCache?.size ?? 0, bytes: this.#prefixCache?.bytes ?? 0 };
    return {
      running: this.#active.length,
      waiting: this.#pending.length,
      steps: this.#steps,
      prefixCache,
      phaseMs: { ...this.#time, running: this.#time.running + (this.#loopStart === null ? 0 : performance.now() - this.#loopStart) },
    };
  }

  /**
   * Adds rows that must run together (the `n` choices of one request): either all are queued
   * or, when the queue has no room for all of them, none is and `QueueFullError` is thrown.
   */
  submit(requests: readonly RowRequest[]): void {
    if (this.#closed) throw new Error('Scheduler: closed');
    const free = this.#maxBatch - this.#active.length + this.#maxQueue - this.#pending.length;
    if (requests.length > free)
      throw new QueueFullError(
        `the server is busy: ${this.#active.length} requests running and ${this.#pending.length} waiting (queue limit ${this.#maxQueue})`,
      );
    const eos = this.#model.eosTokenIds;
    for (const request of requests) {
      const { plan } = request;
      this.#pending.push({
        request,
        prompt: [...request.prompt],
        maxTokens: plan.maxTokens,
        history: request.prompt.slice(0, -1),
        completion: 0,
        cached: 0,
        detok: this.#model.tokenizer?.detokenizer({ skipSpecialTokens: plan.skipSpecialTokens }),
        stops: new StopStrings(plan.stopStrings),
        stopIds: new Set([...eos, ...plan.stopTokenIds]),
        keys: plan.seed !== undefined ? new mx.random.KeySequence(plan.seed) : undefined,
        wantLogprobs: plan.logprobs || request.topLogprobs > 0,
        lastToken: null,
        finished: false,
      });
    }
    this.#running ??= this.#loop().finally(() => {
      this.#running = null;
    });
  }

  /** Stops every row (finish reason `'abort'`) and waits until the loop has released its memory. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const row of [...this.#active, ...this.#pending]) this.#finish(row, 'abort');
    await this.#running;
    this.#prefixCache?.clear();
  }

  /** Resolves when no row is running or waiting. */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running;
  }

  #finish(row: Row, reason: FinishReason): void {
    if (row.finished) return;
    row.finished = true;
    row.request.plan.tokenMask?.dispose();
    const tail = row.stops.push(row.detok?.finalize() ?? '');
    const text = tail.text + (tail.stopped ? '' : row.stops.flush());
    const finishReason = tail.stopped && reason === 'length' ? 'stop' : reason;
    row.request.onEvent({
      type: 'done',
      text,
      finishReason,
      promptTokens: row.prompt.length,
      cachedTokens: row.cached,
      completionTokens: row.completion,
    });
  }

  #fail(rows: readonly Row[], error: Error): void {
    for (const row of rows) {
      if (row.finished) continue;
      row.finished = true;
      row.request.plan.tokenMask?.dispose();
      row.request.onEvent({ type: 'error', error });
    }
  }

  async #loop(): Promise<void> {
    this.#loopStart = performance.now();
    try {
      while (this.#active.length > 0 || this.#pending.length > 0) {
        // Rows whose requests ended (a client went away) leave before any more work is done.
        for (const row of [...this.#active, ...this.#pending]) if (row.request.signal?.aborted) this.#finish(row, 'abort');
        this.#pending = this.#pending.filter((r) => !r.finished);
        this.#timed('drop', () => this.#dropFinished());
        try {
          if (this.#pending.length > 0 && this.#active.length < this.#maxBatch) {
            // Rows join behind the step in flight, which is read after the next one is queued,
            // as every other step is: reading it first would leave the device idle while the
            // host reads and prefills. (Its rows are the batch's first rows: joined rows and
            // their cache rows are appended.)
            await this.#join();
          }
          if (this.#active.length > 0) this.#step();
        } catch (e) {
          // A failed step fails the rows in the batch (their caches are gone); waiting rows and
          // later requests start a fresh batch.
          const error = e instanceof Error ? e : new Error(String(e));
          this.#fail(this.#active, error);
          this.#active = [];
          this.#reset();
        }
        await breathe();
      }
    } finally {
      this.#reset();
      mx.clearCache();
      this.#time.running += performance.now() - this.#loopStart;
      this.#loopStart = null;
    }
  }

  /** Runs `fn`, adding its time to `phase`. */
  #timed<T>(phase: keyof PhaseTimes, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.#time[phase] += performance.now() - t0;
    }
  }

  async #timedAsync<T>(phase: keyof PhaseTimes, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.#time[phase] += performance.now() - t0;
    }
  }

  #reset(): void {
    for (const step of [this.#reading, this.#queued]) {
      if (step === null) continue;
      forgetScheduled(step.read);
      mx.dispose([step.out.tokens, step.out.logprobs, step.out.topIndices, step.out.topValues]);
    }
    this.#reading = null;
    this.#queued = null;
    if (this.#caches !== null) for (const c of this.#caches) c.dispose();
    this.#caches = null;
    this.#inputs?.dispose();
    this.#inputs = null;
  }

  /** The running batch's caches and next inputs; only asked for while rows are active. */
  #batch(): { caches: BatchKVCache[]; inputs: mx.Array } {
    if (this.#caches === null || this.#inputs === null) throw new Error('the scheduler has no running batch');
    return { caches: this.#caches, inputs: this.#inputs };
  }

  /** Replaces the next step's inputs, releasing the old ones unless a queued step still reads them. */
  #setInputs(next: mx.Array): void {
    const old = this.#inputs;
    this.#inputs = next;
    if (old !== null && old !== next && old !== this.#queued?.out.tokens && old !== this.#reading?.out.tokens) old.dispose();
  }

  /** Drops finished rows from the batch (their cache rows and inputs). */
  #dropFinished(): void {
    const keep: number[] = [];
    this.#active.forEach((row, i) => {
      if (!row.finished) keep.push(i);
    });
    if (keep.length === this.#active.length) return;
    this.#active = keep.map((i) => this.#active[i]);
    if (keep.length === 0) {
      this.#reset();
      return;
    }
    const { caches, inputs: before } = this.#batch();
    const inputs = mx.tidy(() => {
      for (const c of caches) c.filter(keep);
      return mx.keep(mx.take(before, mx.array(keep, 'int32'), 0));
    });
    this.#setInputs(inputs);
  }

  /**
   * Adds waiting rows to the batch, one prefill at a time so that decoding steps (and the first
   * tokens of the rows just added) come between prefills: a prompt with a cached prefix
   * continues from a copy of it (prefilling only what follows); otherwise the shortest waiting
   * prompts of similar lengths are prefilled together (left-padded, all but their last token,
   * which feeds their first step). The other candidates go back to the front of the queue.
   */
  async #join(): Promise<void> {
    const candidates = this.#pending.splice(0, Math.min(this.#prefillBatch, this.#maxBatch - this.#active.length));
    const cache = this.#prefixCache;
    const hitRow = cache === null ? undefined : candidates.find((r) => r.prompt.length > 1 && cache.cachedLength(r.prompt) > 0);
    const rows = hitRow !== undefined ? [hitRow] : (similarLengths(candidates).at(-1) ?? []);
    this.#pending.unshift(...candidates.filter((r) => !rows.includes(r)));
    let caches: BatchKVCache[];
    try {
      if (hitRow !== undefined) {
        const hit = cache?.lookup(hitRow.prompt);
        if (!hit) throw new Error('the prefix cache no longer holds the prefix it matched a moment ago');
        caches = await this.#timedAsync('prefill', () => continuePrefix(this.#model, hitRow, hit.length, hit.caches, this.#prefillStep));
      } else {
        caches = await this.#timedAsync('prefill', () => prefillRows(this.#model, rows, this.#numLayers, this.#prefillStep));
      }
    } catch (e) {
      this.#fail(rows, e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const last = mx.array(
      rows.map((r) => r.prompt[r.prompt.length - 1]),
      'int32',
    );
    if (this.#caches === null || this.#inputs === null) {
      this.#caches = caches;
      this.#setInputs(mx.keep(last));
    } else {
      const running = this.#caches;
      const before = this.#inputs;
      // In a tidy: extend's padded copies of the keys and values are released at once, not
      // when the garbage collector gets to them (the caches keep what they hold).
      const grown = this.#timed('join', () =>
        mx.tidy(() => {
          for (let l = 0; l < this.#numLayers; l++) {
            running[l].extend(caches[l]);
            caches[l].dispose();
          }
          return mx.keep(mx.concatenate([before, last]));
        }),
      );
      last.dispose();
      this.#setInputs(grown);
    }
    this.#active = [...this.#active, ...rows];
    this.#reserve();
  }

  /**
   * Tells the running caches where the batch ends at most (each row's remaining tokens and a
   * step of look-ahead), so that their buffers grow to exactly that end rather than by a whole
   * step of 256 positions.
   */
  #reserve(): void {
    const { caches } = this.#batch();
    const end = caches[0].idx + Math.max(...this.#active.map((r) => r.maxTokens - r.completion)) + 1;
    if (end <= 2 ** 30) for (const c of caches) c.reserve(end);
  }

  /** Keeps a copy of a finished row's keys and values in the prefix cache. */
  #remember(row: Row): void {
    // The caches' rows follow `#active` (rows that left a queued step are already dropped).
    const index = this.#active.indexOf(row);
    if (this.#prefixCache === null || this.#caches === null || index < 0) return;
    this.#timed('remember', () => this.#rememberCopy(row, index));
  }

  #rememberCopy(row: Row, index: number): void {
    if (this.#prefixCache === null || this.#caches === null) return;
    const caches = this.#caches;
    // The cache may hold one position more than the row's history: the step queued ahead.
    const length = row.history.length;
    let complete = true;
    const layers = mx.tidy(() =>
      caches.map((c): [mx.Array, mx.Array] => {
        const single = c.extract(index);
        const [k, v] = single.keysAndValues();
        single.dispose();
        complete &&= k.shape[2] >= length && k.shape[2] <= length + 1;
        // Copies: views would keep the whole batch's buffers alive.
        const fed = (a: mx.Array) => mx.multiply(mx.index(a, mx.sl(), mx.sl(), mx.sl(0, length)), 1);
        return [fed(k), fed(v)];
      }),
    );
    try {
      if (!complete) throw new Error('the cache does not hold what the row fed');
      // Queued behind the step in flight, not waited for: waiting would stall the batch's
      // look-ahead at every finished row. (A copy that fails on the device, which only running
      // out of memory would do, fails the next step's read like any other evaluation.)
      scheduleEval(layers.flat(), useEvalThread());
    } catch {
      // The cache only saves work: a copy that fails is not kept, and the request is unaffected.
      mx.dispose(layers.flat());
      return;
    }
    this.#prefixCache.store(row.history, layers);
  }

  /**
   * The token masks of the constrained rows for the next step (host work: llguidance walks the
   * vocabulary trie). A row whose mask cannot be computed fails alone; the batch goes on.
   */
  #masks(): Map<Row, mx.Array> {
    const masks = new Map<Row, mx.Array>();
    const width = this.#model.config.vocabSize;
    for (const row of this.#active) {
      const constraint = row.request.plan.tokenMask;
      if (constraint === undefined || row.finished) continue;
      try {
        const mask = constraint.mask(width);
        if (mask !== null) masks.set(row, mask);
      } catch (e) {
        this.#fail([row], e instanceof Error ? e : new Error(String(e)));
      }
    }
    return masks;
  }

  /**
   * One decoding step: builds and queues step n+1, reading step n after it when every row may run
   * ahead, before it when a constrained row needs step n's token for its next mask.
   */
  #step(): void {
    const previous = this.#queued;
    const ahead = previous !== null && this.#active.every((r) => r.finished || r.request.plan.tokenMask === undefined);
    if (previous !== null && !ahead) {
      this.#settle();
      this.#timed('drop', () => this.#dropFinished());
      if (this.#active.length === 0) return;
    }
    const rows = this.#active;
    // Rows of the step in flight, whose fed token is not in `history` yet (rows that joined since
    // feed their prompt's last token, which is not in it either way).
    const inFlight = new Set(ahead ? previous.rows : []);
    const masks = this.#timed('build', () => this.#masks());
    let out: StepArrays;
    try {
      const { caches, inputs } = this.#batch();
      out = this.#timed('build', () =>
        buildDecodeStep(
          this.#model,
          caches,
          inputs,
          rows.map(
            (row): StepRow => ({
              plan: row.request.plan,
              topLogprobs: row.request.topLogprobs,
              wantLogprobs: row.wantLogprobs,
              keys: row.keys,
              // Ahead of step n's read, the token fed into step n is not in `history` yet.
              known: inFlight.has(row) ? [...row.history, row.lastToken ?? row.prompt[row.prompt.length - 1]] : row.history,
              mask: masks.get(row),
            }),
          ),
        ),
      );
    } finally {
      mx.dispose([...masks.values()]);
    }
    const arrays = [out.tokens, out.logprobs, out.topIndices, out.topValues];
    this.#reading = previous;
    this.#queued = { out, read: this.#timed('evaluate', () => scheduleForRead(arrays, useEvalThread())), rows };
    this.#setInputs(out.tokens);
    this.#steps++;
    if (ahead) {
      this.#reading = null;
      this.#deliver(previous);
      this.#timed('drop', () => this.#dropFinished());
    }
    if (this.#steps % 256 === 0) mx.clearCache();
  }

  /** Reads and delivers the queued step, if any. */
  #settle(): void {
    const step = this.#queued;
    if (step === null) return;
    this.#queued = null;
    this.#deliver(step);
  }

  /** Reads a queued step's tokens and sends each of its rows (still running) its event. */
  #deliver(step: QueuedStep): void {
    const { out } = step;
    try {
      const values = this.#timed('evaluate', () => readScheduled(step.read));
      const remembering = this.#time.remember;
      this.#timed('deliver', () => this.#deliverValues(step, values));
      // Delivering, less the prefix-cache copies made on the way (counted as `remember`).
      this.#time.deliver -= this.#time.remember - remembering;
    } finally {
      mx.dispose([out.logprobs, out.topIndices, out.topValues]);
      if (out.tokens !== this.#inputs) out.tokens.dispose();
    }
  }

  /** `values`: the step's arrays read in order and flattened (tokens, log-probabilities, top indices, top values). */
  #deliverValues(step: QueuedStep, values: Float64Array): void {
    const { out, rows } = step;
    const topWidth = out.topIndices?.shape[1] ?? 0;
    const logprobsAt = rows.length;
    const topIndicesAt = logprobsAt + (out.logprobs === null ? 0 : rows.length);
    const topValuesAt = topIndicesAt + rows.length * topWidth;
    const vocab = this.#model.config.vocabSize;
    rows.forEach((row, i) => {
      if (row.finished) return; // aborted while the step ran: its token is dropped
      const token = checkTokenId(values[i], vocab, 'server: sampler');
      // The token fed into this step joins the history the row's processors see next.
      row.history.push(row.lastToken ?? row.prompt[row.prompt.length - 1]);
      if (row.request.plan.tokenMask !== undefined) {
        try {
          row.request.plan.tokenMask.accept(token);
        } catch (e) {
          this.#fail([row], e instanceof Error ? e : new Error(String(e)));
          return;
        }
      }
      if (row.stopIds.has(token)) {
        row.completion++;
        this.#remember(row);
        this.#finish(row, 'stop');
        return;
      }
      row.completion++;
      const check = row.stops.push(row.detok?.add(token) ?? '');
      const event: RowEvent = { type: 'token', token, text: check.text };
      if (row.wantLogprobs && out.logprobs !== null) event.logprob = values[logprobsAt + i];
      if (row.request.topLogprobs > 0 && topWidth > 0) {
        const pairs: Array<[number, number]> = [];
        for (let k = 0; k < topWidth; k++) pairs.push([values[topIndicesAt + i * topWidth + k], values[topValuesAt + i * topWidth + k]]);
        pairs.sort((a, c) => c[1] - a[1] || a[0] - c[0]);
        event.top = pairs.slice(0, row.request.topLogprobs);
      }
      row.request.onEvent(event);
      row.lastToken = token;
      if (check.stopped || row.completion >= row.maxTokens) {
        this.#remember(row);
        this.#finish(row, check.stopped ? 'stop' : 'length');
      }
    });
  }
}
