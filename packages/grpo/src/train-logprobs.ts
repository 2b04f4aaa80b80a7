/**
 * Log-probabilities of a training batch's completion tokens under the model being trained (or
 * its reference), through @mlxn/models-qwen3's chunked head, and how many rows of the head fit
 * one chunk in training.
 */
import type * as mx from '@mlxn/core';
import { type LogprobsModel, paddingAttentionMask, tokenLogprobsFromHidden } from '@mlxn/models-qwen3';
import type { TrainableModel } from './trainable-model.js';

/**
 * Float32 logits per chunk of the output head in training (see RowwiseHeadLoss): 512 MiB, a few
 * rows of a long completion over a large vocabulary, whose backward pass holds a few copies.
 */
const HEAD_CHUNK_BYTES = 512 * 2 ** 20;

/** Batch rows per chunk of the training head: `positions` scored per row over the model's vocabulary. */
export function headRowsPerChunk(model: TrainableModel, positions: number): number {
  const vocab = (model as unknown as LogprobsModel).config.vocabSize;
  return Math.max(1, Math.floor(HEAD_CHUNK_BYTES / (Math.max(1, positions) * vocab * 4)));
}

/**
 * Per-token log-probabilities (and optionally entropies) of a training batch's completion tokens
 * at the sampling temperature from the model's final hidden states `h` of `batch.inputIds`, through
 * @mlxn/models-qwen3's chunked head (token t scored by the logits at t − 1; full-vocabulary
 * logits exist for one chunk of positions at a time).
 */
export function trainBatchLogprobsFromHidden(
  model: TrainableModel,
  h: mx.Array,
  batch: { inputIds: mx.Array; promptLength: number },
  options: { temperature: number; withEntropy?: boolean; chunkSize?: number },
): { logprobs: mx.Array; entropy: mx.Array | null } {
  const r = tokenLogprobsFromHidden(model as unknown as LogprobsModel, h, batch.inputIds, {
    start: batch.promptLength,
    temperature: options.temperature,
    withEntropy: options.withEntropy ?? false,
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
  });
  return { logprobs: r.logprobs, entropy: r.entropy ?? null };
}

/**
 * Per-token log-probabilities (and optionally entropies) of a training batch's completion tokens
 * at the sampling temperature, in one forward of the padded batch: each row of `inputIds` holds a
 * prompt (the first `promptLength` positions) and its completion, padding marked by
 * `attentionMask`, as in a `TrainBatch`. Padded positions keep their values (the loss masks them);
 * @mlxn/models-qwen3's `completionLogprobs` takes prompts and completions apart instead and
 * zeroes padding.
 */
export function trainBatchLogprobs(
  model: TrainableModel,
  batch: { inputIds: mx.Array; attentionMask: mx.Array; promptLength: number },
  options: { temperature: number; withEntropy?: boolean; chunkSize?: number },
): { logprobs: mx.Array; entropy: mx.Array | null } {
  const mask = paddingAttentionMask(batch.attentionMask);
  const h = model.hidden(batch.inputIds, { mask });
  const out = trainBatchLogprobsFromHidden(model, h, batch, options);
  h.dispose();
  mask.dispose();
  return out;
}
