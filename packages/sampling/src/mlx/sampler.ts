/** `makeSampler` on MLX arrays: the whole filter chain and the draw in one compiled graph. */
import * as mx from '@mlxn/core';
import { checkTokenIds, checkTopK, planSampler, type SamplerOptions } from '../options.js';
import { categoricalGraph, checkKey, checkLogits, keepMaskFor, minPGraph, topKGraph, topPGraph, xtcGraph } from './filters.js';

export interface SampleOptions {
  /** An explicit random key (`mx.random.key(seed)`); without it the global key sequence is used. */
  key?: mx.Array;
}

/** Log-probabilities `[B, V]` (or `[V]`) in, token ids `[B]` (or a scalar) out. */
export type Sampler = (logprobs: mx.Array, options?: SampleOptions) => mx.Array;

interface Extras {
  key?: mx.Array;
  keepMask?: mx.Array;
}

/**
 * mlx-lm's `make_sampler`: top-p, min-p, XTC and top-k (in that order) on log-probabilities, then
 * a categorical draw at `temperature`; temperature 0 is argmax. The chain is traced once into a
 * compiled graph with the random key as state, so a step stays on the device; with the global
 * seed it draws the same tokens as mlx-lm.
 *
 * @example
 * const sample = makeSampler({ temperature: 0.8, topP: 0.95, topK: 40 });
 * const tokens = sample(mx.logSoftmax(logits));           // [B] uint32
 */
export function makeSampler(options: SamplerOptions = {}): Sampler {
  const plan = planSampler(options);
  if (plan.temperature === 0) {
    return (logprobs) => mx.argmax(checkLogits(logprobs, 'sampler'), -1);
  }
  const chain = (lp: mx.Array, extras: Extras): mx.Array => {
    let xtcKey: mx.Array | undefined;
    let drawKey = extras.key;
    if (extras.key !== undefined && plan.xtc !== null) {
      const keys = mx.random.split(extras.key, 2);
      xtcKey = mx.index(keys, 0);
      drawKey = mx.index(keys, 1);
    }
    let x = lp;
    if (plan.topP !== null) x = topPGraph(x, plan.topP);
    if (plan.minP !== null) x = minPGraph(x, plan.minP, plan.minTokensToKeep);
    if (plan.xtc !== null) x = xtcGraph(x, plan.xtc.probability, plan.xtc.threshold, extras.keepMask, xtcKey);
    if (plan.topK !== null) x = topKGraph(x, plan.topK);
    return categoricalGraph(x, plan.temperature, drawKey);
  };
  const compiled = mx.compile(chain);
  let keepMask: mx.Array | undefined;
  let maskVocab = -1;
  return (logprobs, sampleOptions = {}) => {
    const x = checkLogits(logprobs, 'sampler');
    const vocab = x.shape[x.ndim - 1];
    if (plan.topK !== null) checkTopK(plan.topK, vocab);
    const extras: Extras = {};
    const key = checkKey(sampleOptions.key, 'sampler');
    if (key !== undefined) extras.key = key;
    if (plan.xtc !== null && plan.xtc.specialTokens.length > 0) {
      if (maskVocab !== vocab) {
        checkTokenIds(plan.xtc.specialTokens, vocab, 'xtcSpecialTokens');
        keepMask?.dispose();
        keepMask = keepMaskFor(vocab, plan.xtc.specialTokens);
        maskVocab = vocab;
      }
      extras.keepMask = keepMask;
    }
    return compiled(x, extras);
  };
}
