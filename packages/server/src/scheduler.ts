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
 */
import * as mx from '@mlxn/core';
import { BatchKVCache, type KVCache } from '@mlxn/cache';
import type { StreamingDetokenizer } from '@mlxn/io';
import { type FinishReason, type GenerationModel, type GenerationPlan, StopStrings } from '@mlxn/models-qwen3';
import { applyTokenMask, checkTokenId } from '@mlxn/sampling';
import { PrefixCache, type PrefixCacheOptions } from './prefix-cache.js';

/** What a row reports while it runs. */
export type RowEvent =
  | {
      type: 'token';
      token: number;
      /** Text that is final now ('' while a character or a possible stop string is incomplete). */
      text: string;
      /** Log-probability of `token` (when the request asked for log-probabilities). */
      logprob?: number;
      /** The most likely tokens at this step with their log-probabilities, best first. */
      top?: Array<[number, number]>;
    }
  | {
      type: 'done';
      /** The rest of the text (held-back characters released at the end). */
      text: string;
      finishReason: FinishReason;
      promptTokens: number;
      /** Prompt tokens whose keys and values came from the prefix cache. */
      cachedTokens: number;
      completionTokens: number;
    }
  | { type: 'error'; error: Error };

/** One sequence to generate. */
export interface RowRequest {
  /** Prompt token ids (already checked against the vocabulary and the context). */
  prompt: readonly number[];
  /**
   * Validated generation options (`resolveGenerateOptions`): sampler, processors, stops, budget,
   * and `tokenMask` for structured output, which the scheduler owns once `submit` accepted the
   * row: it is disposed when the row ends, however it ends.
   */
  plan: GenerationPlan;
  /** How many alternatives to report per token (0: none). */
  topLogprobs: number;
  /** Aborting stops the row before the next step; it ends with finish reason `'abort'`. */
  signal?: AbortSignal;
  /** Called synchronously from the scheduler's loop; must not throw. */
  onEvent: (event: RowEvent) => void;
}

export interface SchedulerOptions {
  /** Most rows decoded together. Default 32. */
  maxBatchSize?: number;
  /** Most prompts prefilled together when rows join. Default 8. */
  prefillBatchSize?: number;
  /** Most rows waiting for a place in the batch; more are refused (`QueueFullError`). Default 64. */
  maxQueue?: number;
  /** Prompt tokens per forward pass while prefilling. Default 2048. */
  prefillStepSize?: number;
  /** The prompt-prefix cache's bounds, or `false` for none. Default `{ maxEntries: 16, maxBytes: 512 MiB }`. */
  prefixCache?: PrefixCacheOptions | false;
}

/** The queue is full: the caller should answer 429. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

export interface SchedulerStats {
  /** Rows being decoded now. */
  running: number;
  /** Rows waiting to join. */
  waiting: number;
  /** Forward passes of the decoding batch so far. */
  steps: number;
  /** Sequences and bytes the prompt-prefix cache holds. */
  prefixCache: { entries: number; bytes: number };
  /** Milliseconds the scheduler has spent in each phase since it was made (see `PhaseTimes`). */
  phaseMs: Readonly<PhaseTimes>;
}

/**
 * Where the scheduler's time goes, summed over its life, in milliseconds: compare two readings
 * to see what a load cost. `running` is the time its loop ran at all; what the phases leave of
 * it went to the event loop's other work (HTTP, streaming) between steps.
 */
export interface PhaseTimes {
  /** The loop running (rows active or waiting). */
  running: number;
  /** Prefilling joining prompts (or continuing a cached prefix), evaluation included. */
  prefill: number;
  /** Adding prefilled rows to the running batch (the caches' padded copies). */
  join: number;
  /** Building a decoding step's graph. */
  build: number;
  /** Waiting for a step's evaluation. */
  evaluate: number;
  /** Reading a step's tokens and sending each row's event. */
  deliver: number;
  /** Copying finished rows into the prefix cache. */
  remember: number;
  /** Taking finished rows out of the batch. */
  drop: number;
}

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

/** What one decoding step computed, per row in batch order. */
interface StepArrays {
  tokens: mx.Array;
  logprobs: mx.Array | null;
  topIndices: mx.Array | null;
  topValues: mx.Array | null;
}

const breathe = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Rows split into groups whose padded prefill (rows × longest prompt) costs at most a quarter
 * more than their real tokens, longest first (the scheduler takes the last: the shortest).
 */
export function similarLengths<T extends { prompt: readonly number[] }>(rows: readonly T[]): T[][] {
  const sorted = [...rows].sort((a, b) => b.prompt.length - a.prompt.length);
  const groups: T[][] = [];
  let group: T[] = [];
  let real = 0;
  for (const row of sorted) {
    const n = row.prompt.length;
    if (group.length > 0 && (group.length + 1) * group[0].prompt.length > 1.25 * (real + n)) {
      groups.push(group);
      group = [];
      real = 0;
    }
    group.push(row);
    real += n;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

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
  /** The token each active row feeds next, `[B]` int32. */
  #inputs: mx.Array | null = null;
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
    return { running: this.#active.length, waiting: this.#pending.length, steps: this.#steps, prefixCache, phaseMs: { ...this.#time, running: this.#time.running + (this.#loopStart === null ? 0 : performance.now() - this.#loopStart) } };
  }

  /**
   * Adds rows that must run together (the `n` choices of one request): either all are queued
   * or, when the queue has no room for all of them, none is and `QueueFullError` is thrown.
   */
  submit(requests: readonly RowRequest[]): void {
    if (this.#closed) throw new Error('Scheduler: closed');
    const free = this.#maxBatch - this.#active.length + this.#maxQueue - this.#pending.length;
    if (requests.length > free) throw new QueueFullError(`the server is busy: ${this.#active.length} requests running and ${this.#pending.length} waiting (queue limit ${this.#maxQueue})`);
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
    row.request.onEvent({ type: 'done', text, finishReason, promptTokens: row.prompt.length, cachedTokens: row.cached, completionTokens: row.completion });
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
          if (this.#pending.length > 0 && this.#active.length < this.#maxBatch) await this.#join();
          if (this.#active.length > 0) await this.#step();
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
    if (this.#caches !== null) for (const c of this.#caches) c.dispose();
    this.#caches = null;
    this.#inputs?.dispose();
    this.#inputs = null;
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
    const caches = this.#caches!;
    const inputs = mx.tidy(() => {
      for (const c of caches) c.filter(keep);
      return mx.keep(mx.take(this.#inputs!, mx.array(keep, 'int32'), 0));
    });
    this.#inputs?.dispose();
    this.#inputs = inputs;
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
    const rows = hitRow !== undefined ? [hitRow] : similarLengths(candidates).at(-1)!;
    this.#pending.unshift(...candidates.filter((r) => !rows.includes(r)));
    let caches: BatchKVCache[];
    try {
      if (hitRow !== undefined) {
        const hit = cache!.lookup(hitRow.prompt)!;
        caches = await this.#timedAsync('prefill', () => this.#continuePrefix(hitRow, hit.length, hit.caches));
      } else {
        caches = await this.#timedAsync('prefill', () => this.#prefill(rows));
      }
    } catch (e) {
      this.#fail(rows, e instanceof Error ? e : new Error(String(e)));
      return;
    }
    const last = mx.array(rows.map((r) => r.prompt[r.prompt.length - 1]), 'int32');
    if (this.#caches === null || this.#inputs === null) {
      this.#caches = caches;
      this.#inputs = mx.keep(last);
    } else {
      const running = this.#caches;
      // In a tidy: extend's padded copies of the keys and values are released at once, not
      // when the garbage collector gets to them (the caches keep what they hold).
      const grown = this.#timed('join', () =>
        mx.tidy(() => {
          for (let l = 0; l < this.#numLayers; l++) {
            running[l].extend(caches[l]);
            caches[l].dispose();
          }
          return mx.keep(mx.concatenate([this.#inputs!, last]));
        }),
      );
      mx.dispose([this.#inputs, last]);
      this.#inputs = grown;
    }
    this.#active = [...this.#active, ...rows];
  }

  /** Prefills `rows` together (left-padded, all but each prompt's last token). */
  async #prefill(rows: readonly Row[]): Promise<BatchKVCache[]> {
    const lens = rows.map((r) => r.prompt.length - 1);
    const width = Math.max(...lens);
    const caches = Array.from({ length: this.#numLayers }, () => new BatchKVCache({ leftPadding: lens.map((l) => width - l) }));
    try {
      for (let start = 0; start < width; start += this.#prefillStep) {
        const stop = Math.min(width, start + this.#prefillStep);
        const block = rows.map((r, i) => new Array<number>(width - lens[i]).fill(0).concat(r.prompt.slice(0, -1)).slice(start, stop));
        const states = mx.tidy(() => {
          // Only the caches are computed; the unused logits are dropped before evaluation.
          this.#model.forward(mx.array(block, 'int32'), { cache: caches }).dispose();
          return caches.flatMap((c) => c.state.filter((s): s is mx.Array => s instanceof mx.Array));
        });
        await mx.asyncEval(states);
        mx.dispose(states); // fresh handles (views of the caches' buffers), not the buffers
        mx.clearCache();
        // Clients that left during a long prefill stop it.
        if (rows.every((r) => r.request.signal?.aborted)) break;
      }
      return caches;
    } catch (e) {
      for (const c of caches) c.dispose();
      throw e;
    }
  }

  /** Continues a cached prefix of `length` tokens: prefills the rest of the prompt but its last token. */
  async #continuePrefix(row: Row, length: number, kv: KVCache[]): Promise<BatchKVCache[]> {
    try {
      const rest = row.prompt.slice(length, -1);
      for (let start = 0; start < rest.length; start += this.#prefillStep) {
        const chunk = rest.slice(start, start + this.#prefillStep);
        const states = mx.tidy(() => {
          this.#model.forward(mx.array([chunk], 'int32'), { cache: kv }).dispose();
          return kv.flatMap((c) => c.state.filter((s): s is mx.Array => s instanceof mx.Array));
        });
        await mx.asyncEval(states);
        mx.dispose(states);
        if (row.request.signal?.aborted) break;
      }
      row.cached = length;
      return mx.tidy(() => kv.map((c) => BatchKVCache.merge([c])));
    } finally {
      for (const c of kv) c.dispose();
    }
  }

  /** Keeps a copy of a finished row's keys and values in the prefix cache. */
  #remember(row: Row, index: number): void {
    if (this.#prefixCache === null || this.#caches === null) return;
    this.#timed('remember', () => this.#rememberCopy(row, index));
  }

  #rememberCopy(row: Row, index: number): void {
    if (this.#prefixCache === null || this.#caches === null) return;
    const caches = this.#caches;
    const layers = mx.tidy(() =>
      caches.map((c): [mx.Array, mx.Array] => {
        const single = c.extract(index);
        const [k, v] = single.keysAndValues();
        single.dispose();
        // Copies: views would keep the whole batch's buffers alive.
        return [mx.multiply(k, 1), mx.multiply(v, 1)];
      }),
    );
    try {
      if (layers[0][0].shape[2] !== row.history.length) throw new Error('the cache does not hold what the row fed');
      mx.eval(layers.flat());
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

  /** Builds one decoding step for the whole batch: each row sampled with its own settings. */
  #buildStep(): StepArrays {
    const rows = this.#active;
    const inputs = this.#inputs!;
    const masks = this.#masks();
    try {
      return this.#buildStepWith(rows, inputs, masks);
    } finally {
      mx.dispose([...masks.values()]);
    }
  }

  #buildStepWith(rows: readonly Row[], inputs: mx.Array, masks: Map<Row, mx.Array>): StepArrays {
    return mx.tidy(() => {
      let logits = this.#model.forward(mx.reshape(inputs, [-1, 1]), { cache: this.#caches! });
      logits = mx.index(logits, mx.sl(), -1, mx.sl());
      // All rows greedy, with nothing to report: one argmax for the batch (what each row's
      // temperature-0 sampler computes) instead of a graph per row.
      if (masks.size === 0 && rows.every((r) => r.request.plan.temperature === 0 && !r.request.plan.customSampler && r.request.plan.processors.length === 0 && !r.wantLogprobs)) {
        return { tokens: mx.astype(mx.argmax(logits, -1), 'int32'), logprobs: null, topIndices: null, topValues: null };
      }
      const shared = mx.subtract(logits, mx.logsumexp(logits, -1, true));
      const tokens: mx.Array[] = [];
      const lps: mx.Array[] = [];
      const topIdx: mx.Array[] = [];
      const topVal: mx.Array[] = [];
      const topWidth = Math.max(0, ...rows.map((r) => r.request.topLogprobs));
      rows.forEach((row, i) => {
        const { plan } = row.request;
        let l = mx.index(logits, mx.sl(i, i + 1));
        let logprobs: mx.Array;
        const allowed = masks.get(row);
        if (plan.processors.length > 0 || allowed !== undefined) {
          if (plan.processors.length > 0) {
            // The row's processors see its own history: known tokens plus the (lazy) input token.
            const history = mx.concatenate([mx.array(row.history, 'int32'), mx.index(inputs, mx.sl(i, i + 1))]);
            for (const p of plan.processors) l = p(history, l);
          }
          // After the processors, so no bias can bring back a token the constraint refuses.
          if (allowed !== undefined) l = applyTokenMask(l, allowed);
          logprobs = mx.subtract(l, mx.logsumexp(l, -1, true));
        } else {
          logprobs = mx.index(shared, mx.sl(i, i + 1));
        }
        const draw = () => plan.sampler(logprobs);
        const y = mx.astype(row.keys === undefined ? draw() : row.keys.run(draw), 'int32');
        tokens.push(y);
        if (topWidth === 0 && !rows.some((r) => r.wantLogprobs)) return;
        // Reported at the sampling temperature, after the processors (as `generate` reports them).
        const scaled = plan.temperature > 0 ? mx.logSoftmax(mx.divide(l, plan.temperature), -1) : logprobs;
        lps.push(mx.reshape(mx.takeAlongAxis(scaled, mx.reshape(y, [1, 1]), -1), [1]));
        if (topWidth > 0) {
          const idx = mx.index(mx.argpartition(mx.negative(scaled), topWidth - 1, -1), mx.sl(), mx.sl(0, topWidth));
          topIdx.push(idx);
          topVal.push(mx.takeAlongAxis(scaled, idx, -1));
        }
      });
      return {
        tokens: mx.concatenate(tokens),
        logprobs: lps.length > 0 ? mx.concatenate(lps) : null,
        topIndices: topIdx.length > 0 ? mx.concatenate(topIdx, 0) : null,
        topValues: topVal.length > 0 ? mx.concatenate(topVal, 0) : null,
      };
    });
  }

  async #step(): Promise<void> {
    const out = this.#timed('build', () => this.#buildStep());
    const arrays = [out.tokens, out.logprobs, out.topIndices, out.topValues].filter((a): a is mx.Array => a !== null);
    let next: mx.Array | null = out.tokens;
    try {
      await this.#timedAsync('evaluate', () => mx.asyncEval(arrays));
      const delivering = performance.now();
      const remembering = this.#time.remember;
      this.#steps++;
      const tokens = out.tokens.dataSync() as Int32Array;
      const logprobs = out.logprobs?.dataSync() as Float32Array | undefined;
      const topIndices = out.topIndices?.dataSync() as Int32Array | Uint32Array | undefined;
      const topValues = out.topValues?.dataSync() as Float32Array | undefined;
      const topWidth = out.topIndices?.shape[1] ?? 0;
      const vocab = this.#model.config.vocabSize;
      this.#active.forEach((row, i) => {
        if (row.finished) return; // aborted while the step ran: its token is dropped
        const token = checkTokenId(tokens[i], vocab, 'server: sampler');
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
          this.#remember(row, i);
          this.#finish(row, 'stop');
          return;
        }
        row.completion++;
        const check = row.stops.push(row.detok?.add(token) ?? '');
        const event: RowEvent = { type: 'token', token, text: check.text };
        if (row.wantLogprobs && logprobs !== undefined) event.logprob = logprobs[i];
        if (row.request.topLogprobs > 0 && topIndices !== undefined && topValues !== undefined) {
          const pairs: Array<[number, number]> = [];
          for (let k = 0; k < topWidth; k++) pairs.push([topIndices[i * topWidth + k], topValues[i * topWidth + k]]);
          pairs.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
          event.top = pairs.slice(0, row.request.topLogprobs);
        }
        row.request.onEvent(event);
        row.lastToken = token;
        if (check.stopped || row.completion >= row.maxTokens) {
          this.#remember(row, i);
          this.#finish(row, check.stopped ? 'stop' : 'length');
        }
      });
      mx.dispose([this.#inputs, out.logprobs, out.topIndices, out.topValues]);
      this.#inputs = mx.keep(out.tokens);
      next = null;
      // Delivering, less the prefix-cache copies made on the way (counted as `remember`).
      this.#time.deliver += performance.now() - delivering - (this.#time.remember - remembering);
      if (this.#steps % 256 === 0) mx.clearCache();
    } finally {
      if (next !== null) mx.dispose(arrays);
    }
  }
}
