/**
 * Per-token log-probabilities of given tokens — the primitive policy-gradient training uses.
 * Token `t` is scored by the logits at position `t − 1`, divided by the temperature (TRL's
 * semantics). The output head runs in chunks of positions, so float32 logits over the whole
 * vocabulary exist for one chunk at a time, never for every position at once (each chunk is
 * evaluated before the next is built). It differentiates inside `valueAndGrad`; it cannot run
 * inside `mx.compile` (it evaluates).
 */

import { createCausalMask } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import type { LogprobsModel } from './model-interface.js';

export interface TokenLogprobsOptions {
  /** First scored position (≥ 1): tokens `start … T−1` are scored. */
  start: number;
  /** Logits are divided by it before the softmax (default 1). */
  temperature?: number;
  /** Positions per chunk of the output head (default: about 64 MiB of float32 logits per chunk). */
  chunkSize?: number;
  /** Also return the entropy of each scored position's distribution. */
  withEntropy?: boolean;
  /**
   * `[B, T]` attention mask over the inputs (1 / true: a real token, 0 / false: padding), for
   * padded batches; padding keys are hidden from every query. Default: no padding.
   */
  mask?: mx.Array;
}

export interface TokenLogprobs {
  /** `[B, T − start]` float32. */
  logprobs: mx.Array;
  /** `[B, T − start]` float32, with `withEntropy`. */
  entropy?: mx.Array;
}

const CHUNK_BYTES = 64 * 2 ** 20;

/** The `[B, 1, T, T]` boolean mask: causal, and padding keys hidden. */
export function paddingAttentionMask(mask: mx.Array): mx.Array {
  const t = mask.shape[1];
  const valid = mask.dtype === 'bool' ? mask : mx.notEqual(mask, 0);
  return mx.logicalAnd(createCausalMask(t, 0), mx.expandDims(valid, [1, 2]));
}

/**
 * Log-probabilities (and optionally entropies) of `inputIds[:, start:]` under `model`.
 *
 * @example
 * const { logprobs } = tokenLogprobs(model, ids, { start: promptLength, temperature: 0.9 });
 */
export function tokenLogprobs(model: LogprobsModel, inputIds: mx.Array, options: TokenLogprobsOptions): TokenLogprobs {
  if (!(inputIds instanceof mx.Array) || inputIds.ndim !== 2) {
    throw new TypeError(
      `tokenLogprobs: inputIds must be an mx.Array [B, T], got ${inputIds instanceof mx.Array ? `[${inputIds.shape}]` : typeof inputIds}`,
    );
  }
  if (!mx.isInteger(inputIds.dtype)) throw new TypeError(`tokenLogprobs: inputIds must be integer token ids, got ${inputIds.dtype}`);
  const [b, t] = inputIds.shape;
  const { start } = options ?? ({} as TokenLogprobsOptions);
  if (!Number.isInteger(start) || start < 1 || start >= t) {
    throw new RangeError(`tokenLogprobs: start must be an integer in [1, ${t - 1}] (token t is scored by position t − 1), got ${start}`);
  }
  const temperature = options.temperature ?? 1;
  if (!(typeof temperature === 'number' && Number.isFinite(temperature) && temperature > 0)) {
    throw new RangeError(`tokenLogprobs: temperature must be a positive number, got ${temperature}`);
  }
  const chunkSize = options.chunkSize;
  if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1)) {
    throw new RangeError(`tokenLogprobs: chunkSize must be a positive integer, got ${chunkSize}`);
  }
  let attn: mx.Array | undefined;
  if (options.mask !== undefined) {
    const m = options.mask;
    if (!(m instanceof mx.Array) || m.ndim !== 2 || m.shape[0] !== b || m.shape[1] !== t) {
      throw new Error(
        `tokenLogprobs: mask must be an mx.Array [${b}, ${t}] like inputIds, got ${m instanceof mx.Array ? `[${m.shape}]` : typeof m}`,
      );
    }
    attn = paddingAttentionMask(m);
  }
  const h = model.hidden(inputIds, attn ? { mask: attn } : {});
  const out = tokenLogprobsFromHidden(model, h, inputIds, options);
  h.dispose();
  attn?.dispose();
  return out;
}

/** The options of `tokenLogprobsFromHidden` (the mask has already shaped the hidden states). */
export type HiddenLogprobsOptions = Omit<TokenLogprobsOptions, 'mask'>;

/**
 * The output-head half of `tokenLogprobs`: log-probabilities (and entropies) of
 * `inputIds[:, start:]` from the final-normed hidden states `h` `[B, T, hidden]` of those ids.
 * Split out so a caller that produces the hidden states another way (gradient checkpointing
 * differentiates the head separately from the decoder layers) scores exactly as `tokenLogprobs`.
 */
export function tokenLogprobsFromHidden(
  model: Pick<LogprobsModel, 'logitsFromHidden' | 'config'>,
  h: mx.Array,
  inputIds: mx.Array,
  options: HiddenLogprobsOptions,
): TokenLogprobs {
  if (!(h instanceof mx.Array) || h.ndim !== 3)
    throw new TypeError(
      `tokenLogprobsFromHidden: h must be an mx.Array [B, T, hidden], got ${h instanceof mx.Array ? `[${h.shape}]` : typeof h}`,
    );
  if (!(inputIds instanceof mx.Array) || inputIds.ndim !== 2 || inputIds.shape[0] !== h.shape[0] || inputIds.shape[1] !== h.shape[1]) {
    throw new TypeError(
      `tokenLogprobsFromHidden: inputIds must be an mx.Array [${h.shape.slice(0, 2)}] matching h, got ${inputIds instanceof mx.Array ? `[${inputIds.shape}]` : typeof inputIds}`,
    );
  }
  const [b, t] = inputIds.shape;
  const { start } = options ?? ({} as HiddenLogprobsOptions);
  if (!Number.isInteger(start) || start < 1 || start >= t) {
    throw new RangeError(`tokenLogprobs: start must be an integer in [1, ${t - 1}] (token t is scored by position t − 1), got ${start}`);
  }
  const temperature = options.temperature ?? 1;
  if (!(typeof temperature === 'number' && Number.isFinite(temperature) && temperature > 0)) {
    throw new RangeError(`tokenLogprobs: temperature must be a positive number, got ${temperature}`);
  }
  const n = t - start;
  const vocab = model.config.vocabSize;
  const chunk = options.chunkSize ?? Math.max(1, Math.floor(CHUNK_BYTES / (b * vocab * 4)));
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`tokenLogprobs: chunkSize must be a positive integer, got ${chunk}`);
  const lps: mx.Array[] = [];
  const ents: mx.Array[] = [];
  for (let c0 = 0; c0 < n; c0 += chunk) {
    const c1 = Math.min(n, c0 + chunk);
    const [lp, ent] = mx.tidy(() => {
      // Hidden states at positions start−1+c0 … start−1+c1−1 score tokens start+c0 … start+c1−1.
      const hc = h.index(mx.sl(), mx.sl(start - 1 + c0, start - 1 + c1));
      let logits = mx.astype(model.logitsFromHidden(hc), 'float32');
      if (temperature !== 1) logits = mx.divide(logits, temperature);
      const lse = mx.logsumexp(logits, -1);
      const targets = mx.expandDims(inputIds.index(mx.sl(), mx.sl(start + c0, start + c1)), -1);
      const picked = mx.squeeze(mx.takeAlongAxis(logits, targets, -1), -1);
      const logprob = mx.subtract(picked, lse);
      if (!options.withEntropy) return [logprob, null] as const;
      // H = logsumexp(z) − Σ softmax(z)·z
      const probs = mx.exp(mx.subtract(logits, mx.expandDims(lse, -1)));
      return [logprob, mx.subtract(lse, mx.sum(mx.multiply(probs, logits), -1))] as const;
    });
    // MLX would otherwise schedule every chunk's output-head matmul before the reductions that
    // consume them (all chunks' logits alive at once): evaluating chunk by chunk is what bounds
    // the memory. Under valueAndGrad the results stay traced, so gradients still flow.
    mx.eval(ent ? [lp, ent] : lp);
    lps.push(lp);
    if (ent) ents.push(ent);
  }
  const join = (xs: mx.Array[]) => {
    if (xs.length === 1) return xs[0];
    const out = mx.concatenate(xs, 1);
    for (const x of xs) x.dispose();
    return out;
  };
  const out: TokenLogprobs = { logprobs: join(lps) };
  if (options.withEntropy) out.entropy = join(ents);
  return out;
}

export interface CompletionLogprobsOptions {
  /** `[B, P]` 1 for real prompt tokens, 0 for left padding (default: all real). */
  promptMask?: mx.Array;
  /** `[B, C]` 1 for real completion tokens, 0 for right padding (default: all real). */
  completionMask?: mx.Array;
  temperature?: number;
  chunkSize?: number;
  withEntropy?: boolean;
}

/**
 * Scores completions after their prompts in ONE batched forward: `promptTokens` `[B, P]`
 * left-padded, `completionTokens` `[B, C]` right-padded. Returns `[B, C]` log-probabilities
 * (0 where the completion is padding). Rotary positions are relative, so a left-padded row
 * scores as it would unpadded.
 */
export function completionLogprobs(
  model: LogprobsModel,
  promptTokens: mx.Array,
  completionTokens: mx.Array,
  options: CompletionLogprobsOptions = {},
): TokenLogprobs {
  for (const [a, name] of [
    [promptTokens, 'promptTokens'],
    [completionTokens, 'completionTokens'],
  ] as const) {
    if (!(a instanceof mx.Array) || a.ndim !== 2) throw new TypeError(`logprobs: ${name} must be an mx.Array [B, L]`);
  }
  const [b, p] = promptTokens.shape;
  const [cb, c] = completionTokens.shape;
  if (cb !== b) throw new Error(`logprobs: promptTokens has ${b} rows but completionTokens has ${cb}`);
  if (c < 1) throw new Error('logprobs: completionTokens must hold at least one token per row');
  const checkMask = (m: mx.Array | undefined, shape: number[], name: string) => {
    if (m !== undefined && (!(m instanceof mx.Array) || m.ndim !== 2 || m.shape[0] !== shape[0] || m.shape[1] !== shape[1])) {
      throw new Error(`logprobs: ${name} must be an mx.Array [${shape}]`);
    }
  };
  checkMask(options.promptMask, [b, p], 'promptMask');
  checkMask(options.completionMask, [b, c], 'completionMask');
  return mx.tidy(() => {
    const ids = mx.concatenate([promptTokens, mx.astype(completionTokens, promptTokens.dtype)], 1);
    const hasMask = options.promptMask !== undefined || options.completionMask !== undefined;
    const asBool = (m: mx.Array | undefined, len: number) => (m === undefined ? mx.ones([b, len], 'bool') : mx.notEqual(m, 0));
    const mask = hasMask ? mx.concatenate([asBool(options.promptMask, p), asBool(options.completionMask, c)], 1) : undefined;
    const r = tokenLogprobs(model, ids, {
      start: p,
      temperature: options.temperature,
      chunkSize: options.chunkSize,
      withEntropy: options.withEntropy,
      mask,
    });
    if (options.completionMask === undefined) return r;
    const keep = mx.notEqual(options.completionMask, 0);
    const zero = (x: mx.Array) => mx.where(keep, x, mx.zeros([], 'float32'));
    return { logprobs: zero(r.logprobs), ...(r.entropy ? { entropy: zero(r.entropy) } : {}) };
  });
}
