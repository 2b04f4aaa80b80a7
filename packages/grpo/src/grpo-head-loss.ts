/**
 * The GRPO loss as a head loss over the policy's hidden states (what `GRPOTrainer.lossAndGrad`
 * differentiates): per-token log-probabilities and entropies of a few rows at a time, then the
 * configured GRPO loss of them all, with its metrics as extra outputs.
 */
import * as mx from '@mlxn/core';
import type { RowwiseHeadLoss } from '@mlxn/models-qwen3';
import type { GRPOConfig } from './config.js';
import type { TrainBatch } from './generation-batch.js';
import { grpoLoss } from './losses.js';
import { headRowsPerChunk, trainBatchLogprobsFromHidden } from './train-logprobs.js';
import type { TrainableModel } from './trainable-model.js';

/** What the head loss's last call put after the loss in its outputs: metric values, then the entropy window's sum and count. */
interface HeadLossLayout {
  metricNames: string[];
  hasStats: boolean;
}

/**
 * The head loss of one micro-batch, and the layout of its outputs (filled when it runs): the
 * loss, the loss metrics named in `layout.metricNames`, and with `layout.hasStats` the entropy
 * window's sum and count.
 */
export function grpoHeadLoss(
  model: TrainableModel,
  batch: TrainBatch,
  c: GRPOConfig,
  options: { entropyBonusCoef: number | null; numProcesses: number },
): { head: RowwiseHeadLoss<mx.Array[]>; layout: HeadLossLayout } {
  const { entropyBonusCoef } = options;
  const layout: HeadLossLayout = { metricNames: [], hasStats: false };
  const metricNames = layout.metricNames;
  // The head in two halves (see RowwiseHeadLoss): per-token log-probabilities and entropies of
  // a few rows at a time, then the loss of them all. The entropy is differentiated only with a
  // bonus; otherwise it is a metric or a mask, and the backward pass recomputes the
  // log-probabilities alone.
  const score = (hidden: mx.Array, rows: { start: number; end: number }, withEntropy: boolean) => {
    const ids =
      rows.start === 0 && rows.end === batch.inputIds.shape[0] ? batch.inputIds : batch.inputIds.index(mx.sl(rows.start, rows.end));
    const positions = ids.shape[1] - batch.promptLength;
    return trainBatchLogprobsFromHidden(
      model,
      hidden,
      { inputIds: ids, promptLength: batch.promptLength },
      { temperature: c.temperature, withEntropy, chunkSize: positions },
    );
  };
  const head: RowwiseHeadLoss<mx.Array[]> = {
    rowsPerChunk: headRowsPerChunk(model, batch.inputIds.shape[1] - batch.promptLength),
    tokens: (hidden, rows) => {
      const { logprobs, entropy } = score(hidden, rows, true);
      if (entropy === undefined || entropy === null) throw new Error('GRPOTrainer: the head gave no entropy although it was asked for');
      return [logprobs, entropyBonusCoef === null ? mx.stopGradient(entropy) : entropy];
    },
    ...(entropyBonusCoef === null
      ? {
          differentiated: {
            outputs: [0],
            tokens: (hidden: mx.Array, rows: { start: number; end: number }) => [score(hidden, rows, false).logprobs],
          },
        }
      : {}),
    loss: ([logprobs, entropy]) => {
      const result = grpoLoss({
        logprobs,
        oldLogprobs: batch.oldLogprobs,
        refLogprobs: batch.refLogprobs,
        advantages: batch.advantages,
        completionMask: batch.completionMask,
        entropy,
        config: c,
        gradientAccumulationSteps: c.gradientAccumulationSteps,
        stepsPerGeneration: c.stepsPerGeneration,
        numItemsInBatch: batch.numItemsInBatch,
        numProcesses: options.numProcesses,
        entropyBonusCoef,
      });
      const flat = flattenLossMetrics(result.metrics);
      metricNames.length = 0;
      metricNames.push(...flat.map(([k]) => k));
      const stats = result.entropyStats;
      layout.hasStats = stats !== undefined;
      return [result.loss, ...flat.map(([, v]) => v), ...(stats ? [stats.sum, stats.count] : [])];
    },
  };
  return { head, layout };
}

/** `[name, lazy scalar]` pairs of the loss metrics, with TRL's names. */
function flattenLossMetrics(m: ReturnType<typeof grpoLoss>['metrics']): [string, mx.Array][] {
  const out: [string, mx.Array][] = [];
  if (m.clipRatio) {
    out.push(
      ['clip_ratio/low_mean', m.clipRatio.lowMean],
      ['clip_ratio/high_mean', m.clipRatio.highMean],
      ['clip_ratio/region_mean', m.clipRatio.regionMean],
    );
    out.push(['clip_ratio/low_min', m.clipRatio.lowMin], ['clip_ratio/high_max', m.clipRatio.highMax]);
  }
  if (m.cispoClipRatio) out.push(['cispo_clip_ratio', m.cispoClipRatio]);
  if (m.vespoPhiSeqMean) out.push(['vespo/phi_seq_mean', m.vespoPhiSeqMean]);
  if (m.kl) out.push(['kl', m.kl]);
  if (m.entropy) out.push(['entropy', m.entropy]);
  if (m.policyLoss) out.push(['policy_loss', m.policyLoss]);
  return out;
}
