/**
 * The scheduler's public types: what a row asks for and reports, the scheduler's options and
 * statistics, and the error a full queue raises.
 */
import type { FinishReason, GenerationPlan } from '@mlxn/models-qwen3';
import type { PrefixCacheOptions } from './prefix-cache.js';

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
  /** Handing a step to MLX and waiting for its result (MLX may hold the hand-off until earlier work drains). */
  evaluate: number;
  /** Reading a step's tokens and sending each row's event. */
  deliver: number;
  /** Copying finished rows into the prefix cache. */
  remember: number;
  /** Taking finished rows out of the batch. */
  drop: number;
}
