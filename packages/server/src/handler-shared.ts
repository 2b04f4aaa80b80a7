/** What the endpoint handlers share: the served model, ids, event-stream writing, usage. */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { GenerationModel } from '@mlxn/models-qwen3';
import { ApiError } from './errors.js';
import type { GenerationLimits } from './options.js';
import type { RunStats } from './run.js';
import type { RowEvent, Scheduler } from './scheduler.js';
import type { TokenTexts } from './token-text.js';

export interface HandlerContext {
  model: GenerationModel;
  /** The name `/v1/models` lists and requests must use. */
  modelId: string;
  scheduler: Scheduler;
  limits: GenerationLimits;
  /** `system_fingerprint` of responses: names the package version. */
  fingerprint: string;
  tokenTexts: TokenTexts;
  /** Headers every response carries (CORS). */
  headers: Record<string, string>;
  sendJson: (res: ServerResponse, status: number, body: unknown) => void;
}

/** One request in flight, as the server tracks it. */
export interface RequestRun {
  /** Aborted (reason: a `StopCause`) when the client leaves, the timeout passes or the server closes. */
  signal: AbortSignal;
  startedAt: number;
  stats: RunStats;
  finishReasons: string[];
}

export function checkModel(ctx: HandlerContext, model: string): void {
  if (model !== ctx.modelId)
    throw new ApiError(
      404,
      `The model '${model}' does not exist; this server serves '${ctx.modelId}'`,
      'not_found_error',
      'model',
      'model_not_found',
    );
}

export const newId = (prefix: string): string => `${prefix}-${randomBytes(12).toString('hex')}`;

export function usageOf(stats: RunStats) {
  return {
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.completionTokens,
    total_tokens: stats.promptTokens + stats.completionTokens,
    prompt_tokens_details: { cached_tokens: stats.cachedTokens },
  };
}

/** A chat `logprobs.content` entry for one token event. */
export function logprobEntry(ctx: HandlerContext, e: Extract<RowEvent, { type: 'token' }>): Record<string, unknown> {
  const t = ctx.tokenTexts.get(e.token);
  return {
    token: t.token,
    logprob: e.logprob ?? null,
    bytes: t.bytes,
    top_logprobs: (e.top ?? []).map(([id, lp]) => {
      const a = ctx.tokenTexts.get(id);
      return { token: a.token, logprob: lp, bytes: a.bytes };
    }),
  };
}

export function openEventStream(res: ServerResponse, ctx: HandlerContext): void {
  res.writeHead(200, {
    ...ctx.headers,
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
}

const overflowGuards = new WeakMap<ServerResponse, { limit: number; onOverflow: () => void }>();

/** Calls `onOverflow` once a streaming client leaves more than `limit` bytes unread. */
export function setOverflowGuard(res: ServerResponse, limit: number, onOverflow: () => void): void {
  overflowGuards.set(res, { limit, onOverflow });
}

export function sendEvent(res: ServerResponse, data: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  res.write(`data: ${JSON.stringify(data)}\n\n`);
  // The batch never waits for one reader: a client that stops reading is dropped instead of
  // letting its unsent events grow without bound.
  const guard = overflowGuards.get(res);
  if (guard !== undefined && res.writableLength > guard.limit) {
    overflowGuards.delete(res);
    guard.onOverflow();
  }
}
