/**
 * How the scheduler fills the caches of rows that join its batch: which waiting prompts prefill
 * together, the left-padded prefill of a group, the continuation of a prefix the prefix cache
 * held, and the evaluation of each chunk (behind the step in flight on a GPU). Only the joins use
 * it, never a decoding step; the scheduler (`scheduler.ts`) decides when a join runs and merges
 * its caches into the batch.
 */

import { BatchKVCache, type KVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { scheduleEval, useEvalThread } from '@mlxn/core/internal';
import type { GenerationModel } from '@mlxn/models-qwen3';

/** What a prefill reads of a scheduler's row (and, continuing a prefix, records in it). */
export interface PrefillRow {
  readonly prompt: readonly number[];
  readonly request: { readonly signal?: AbortSignal };
  /** Prompt tokens taken from the prefix cache. */
  cached: number;
}

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

/** Prefills `rows` together (left-padded, all but each prompt's last token), `prefillStep` tokens at a time. */
export async function prefillRows(
  model: GenerationModel,
  rows: readonly PrefillRow[],
  numLayers: number,
  prefillStep: number,
): Promise<BatchKVCache[]> {
  const lens = rows.map((r) => r.prompt.length - 1);
  const width = Math.max(...lens);
  const caches = Array.from({ length: numLayers }, () => new BatchKVCache({ leftPadding: lens.map((l) => width - l) }));
  try {
    for (let start = 0; start < width; start += prefillStep) {
      const stop = Math.min(width, start + prefillStep);
      const block = rows.map((r, i) => new Array<number>(width - lens[i]).fill(0).concat(r.prompt.slice(0, -1)).slice(start, stop));
      const states = mx.tidy(() => {
        // Only the caches are computed; the unused logits are dropped before evaluation.
        model.forward(mx.array(block, 'int32'), { cache: caches, prefill: true }).dispose();
        return caches.flatMap((c) => c.state.filter((s): s is mx.Array => s instanceof mx.Array));
      });
      await evaluatePrefill(states);
      // Clients that left during a long prefill stop it.
      if (rows.every((r) => r.request.signal?.aborted)) break;
    }
    return caches;
  } catch (e) {
    for (const c of caches) c.dispose();
    throw e;
  }
}

/**
 * Evaluates a prefill chunk's cache states (fresh handles, views of the caches' buffers, which
 * are released here). With the evaluation thread (a GPU) the chunk is queued behind the step
 * in flight and not waited for: the rows join and the next step, built on the caches' lazy
 * states, is queued behind the prefill, so the device goes from the step to the prefill to
 * the next step without waiting for this thread (waiting left it idle while this thread built
 * the next step, at every join). A prefill that fails on the device then fails that step's
 * read, and with it the batch, as any failed step does. Without it (a CPU, where a prefill
 * takes seconds) the loop awaits the chunk, so the event loop serves requests meanwhile.
 */
async function evaluatePrefill(states: mx.Array[]): Promise<void> {
  try {
    if (useEvalThread()) {
      scheduleEval(states, true);
    } else {
      await mx.asyncEval(states);
      mx.clearCache();
    }
  } finally {
    mx.dispose(states);
  }
}

/**
 * Continues a cached prefix of `length` tokens (`kv`, disposed here): prefills the rest of the
 * prompt but its last token, `prefillStep` tokens at a time.
 */
export async function continuePrefix(
  model: GenerationModel,
  row: PrefillRow,
  length: number,
  kv: KVCache[],
  prefillStep: number,
): Promise<BatchKVCache[]> {
  try {
    const rest = row.prompt.slice(length, -1);
    for (let start = 0; start < rest.length; start += prefillStep) {
      const chunk = rest.slice(start, start + prefillStep);
      const states = mx.tidy(() => {
        model.forward(mx.array([chunk], 'int32'), { cache: kv, prefill: true }).dispose();
        return kv.flatMap((c) => c.state.filter((s): s is mx.Array => s instanceof mx.Array));
      });
      await evaluatePrefill(states);
      if (row.request.signal?.aborted) break;
    }
    row.cached = length;
    return mx.tidy(() => kv.map((c) => BatchKVCache.merge([c])));
  } finally {
    for (const c of kv) c.dispose();
  }
}
