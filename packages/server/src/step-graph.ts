/**
 * The graph of one decoding step of the server's batch: the model's forward for every row's
 * next token, then each row sampled with its own sampler, processors, token mask and random key
 * sequence, and the log-probabilities the row asked for. Nothing here is evaluated: the scheduler
 * queues the step and reads it later (possibly after building the next one from its lazy tokens).
 */

import type { BatchKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import type { GenerationModel, GenerationPlan } from '@mlxn/models-qwen3';
import { applyTokenMask } from '@mlxn/sampling';

/** What one decoding step computes, per row in batch order. */
export interface StepArrays {
  tokens: mx.Array;
  logprobs: mx.Array | null;
  topIndices: mx.Array | null;
  topValues: mx.Array | null;
}

/** One row of the step, as the graph needs it. */
export interface StepRow {
  plan: GenerationPlan;
  /** How many alternatives to report (0: none). */
  topLogprobs: number;
  wantLogprobs: boolean;
  keys: mx.random.KeySequence | undefined;
  /** Tokens known on the host before the (lazy) token this step feeds: what processors see first. */
  known: readonly number[];
  /** The tokens the row's constraint allows at this step, if it has one. */
  mask: mx.Array | undefined;
}

/**
 * Builds the step feeding `inputs` (`[B]`, one token per row, possibly still lazy) into the
 * model with `caches`.
 */
export function buildDecodeStep(model: GenerationModel, caches: BatchKVCache[], inputs: mx.Array, rows: readonly StepRow[]): StepArrays {
  return mx.tidy(() => {
    let logits = model.forward(mx.reshape(inputs, [-1, 1]), { cache: caches });
    logits = mx.index(logits, mx.sl(), -1, mx.sl());
    // All rows greedy, with nothing to report: one argmax for the batch (what each row's
    // temperature-0 sampler computes) instead of a graph per row.
    if (
      rows.every(
        (r) =>
          r.mask === undefined && r.plan.temperature === 0 && !r.plan.customSampler && r.plan.processors.length === 0 && !r.wantLogprobs,
      )
    ) {
      return { tokens: mx.astype(mx.argmax(logits, -1), 'int32'), logprobs: null, topIndices: null, topValues: null };
    }
    const shared = mx.subtract(logits, mx.logsumexp(logits, -1, true));
    const tokens: mx.Array[] = [];
    const lps: mx.Array[] = [];
    const topIdx: mx.Array[] = [];
    const topVal: mx.Array[] = [];
    const topWidth = Math.max(0, ...rows.map((r) => r.topLogprobs));
    const reportAny = topWidth > 0 || rows.some((r) => r.wantLogprobs);
    rows.forEach((row, i) => {
      const { plan } = row;
      let l = mx.index(logits, mx.sl(i, i + 1));
      let logprobs: mx.Array;
      if (plan.processors.length > 0 || row.mask !== undefined) {
        if (plan.processors.length > 0) {
          // The row's processors see its own history: known tokens plus the (lazy) input token.
          const history = mx.concatenate([mx.array([...row.known], 'int32'), mx.index(inputs, mx.sl(i, i + 1))]);
          for (const p of plan.processors) l = p(history, l);
        }
        // After the processors, so no bias can bring back a token the constraint refuses.
        if (row.mask !== undefined) l = applyTokenMask(l, row.mask);
        logprobs = mx.subtract(l, mx.logsumexp(l, -1, true));
      } else {
        logprobs = mx.index(shared, mx.sl(i, i + 1));
      }
      const draw = () => plan.sampler(logprobs);
      const y = mx.astype(row.keys === undefined ? draw() : row.keys.run(draw), 'int32');
      tokens.push(y);
      if (!reportAny) return;
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
