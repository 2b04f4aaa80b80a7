/**
 * Runs one request's choices on the shared scheduler and reports their events, with the
 * request's own stop signal (client gone, timeout, server closing) and its statistics.
 */
import type { GenerationPlan } from '@mlxn/models-qwen3';
import { ApiError } from './errors.js';
import { QueueFullError, type RowEvent, type Scheduler } from './scheduler.js';

/** Why a request was stopped before its rows finished. */
export type StopCause = 'disconnected' | 'timeout' | 'closing';

/** Statistics of one request, for its log line. */
export interface RunStats {
  promptTokens: number;
  /** Prompt tokens reused from the prefix cache (the most any choice reused). */
  cachedTokens: number;
  completionTokens: number;
  /** Milliseconds from the request's arrival to its first generated token (null: none). */
  ttftMs: number | null;
  /** Milliseconds from the first token to the last. */
  decodeMs: number;
}

export interface RunRequest {
  prompt: readonly number[];
  plans: readonly GenerationPlan[];
  topLogprobs: number;
  /** Aborted with a `StopCause` as its reason. */
  signal: AbortSignal;
  /** When the request arrived (`performance.now()`). */
  startedAt: number;
  onEvent: (choice: number, event: RowEvent) => void;
}

/**
 * Queues the choices (all or none: 429 when the queue is full) and resolves when every one has
 * finished. A row that failed rejects after the others finished.
 */
export function runChoices(scheduler: Scheduler, r: RunRequest, stats: RunStats): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let left = r.plans.length;
    let failure: Error | null = null;
    let firstAt: number | null = null;
    const settle = () => {
      if (--left > 0) return;
      if (firstAt !== null) stats.decodeMs = performance.now() - firstAt;
      if (failure !== null) reject(failure);
      else resolve();
    };
    stats.promptTokens = r.prompt.length;
    try {
      scheduler.submit(
        r.plans.map((plan, choice) => ({
          prompt: r.prompt,
          plan,
          topLogprobs: r.topLogprobs,
          signal: r.signal,
          onEvent: (event: RowEvent) => {
            if (event.type === 'done') {
              stats.completionTokens += event.completionTokens;
              stats.cachedTokens = Math.max(stats.cachedTokens, event.cachedTokens);
            }
            if (event.type === 'token') {
              if (firstAt === null) {
                firstAt = performance.now();
                stats.ttftMs = firstAt - r.startedAt;
              }
            }
            try {
              r.onEvent(choice, event);
            } catch (e) {
              failure ??= e as Error;
            }
            if (event.type === 'error') failure ??= event.error;
            if (event.type !== 'token') settle();
          },
        })),
      );
    } catch (e) {
      // Not queued: the constraints the scheduler would have owned are freed here.
      for (const plan of r.plans) plan.tokenMask?.dispose();
      if (e instanceof QueueFullError) reject(new ApiError(429, e.message, 'rate_limit_error', null, 'rate_limit_exceeded'));
      else reject(e);
    }
  });
}
