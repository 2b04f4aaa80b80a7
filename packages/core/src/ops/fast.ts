/** `mx.fast`: fused kernels for normalisation, rotary embeddings and attention. */
import { type Array, Array as ArrayClass, wrap } from '../array.js';
import { checkOptionKeys } from '../options.js';

const ATTENTION_KEYS = ['scale', 'mask', 'sinks'];

import { asArray } from '../create.js';
import { native } from '../native.js';
import { tidy } from '../scope.js';
import { add, astype, multiply, rsqrt, square, subtract } from './elementwise.js';
import { mean } from './reduce.js';

/** RMS normalisation over the last axis, scaled by `weight` (or unscaled when `null`). */
export function rmsNorm(x: Array, weight: Array | null, eps: number): Array {
  return wrap(native.fastRmsNorm(x.handle, weight?.handle, eps));
}

/**
 * Layer normalisation over the last axis, scaled by `weight` and shifted by `bias` (each may be
 * `null`).
 *
 * On a GPU, MLX 0.32.4's fused kernel gives wrong gradients with respect to `x` when the last
 * axis is not a multiple of 4 (measured with Python MLX on an H200: axis sizes 5, 6, 7, 31 and 33
 * against the CPU, `tooling/gpu-suite/mlx-gpu-probes.py`; the forward values were right). There
 * the same normalisation runs as separate ops, in float32, so that its gradient is right.
 */
export function layerNorm(x: Array, weight: Array | null, bias: Array | null, eps: number): Array {
  const d = x.shape[x.ndim - 1];
  if (d % 4 === 0 || native.defaultDeviceType() !== 1) return wrap(native.fastLayerNorm(x.handle, weight?.handle, bias?.handle, eps));
  return tidy(() => {
    const x32 = astype(x, 'float32');
    const centred = subtract(x32, mean(x32, -1, true));
    let y = multiply(centred, rsqrt(add(mean(square(centred), -1, true), eps)));
    if (weight) y = multiply(y, astype(weight, 'float32'));
    if (bias) y = add(y, astype(bias, 'float32'));
    return astype(y, x.dtype);
  });
}

export interface RopeOptions {
  traditional?: boolean;
  /** Base of the frequencies (default 10000 unless `freqs` is given). */
  base?: number | null;
  scale?: number;
  /** Position of the first token: a number or a scalar/[B] int array. */
  offset?: number | Array;
  /** Explicit frequencies (instead of `base`). */
  freqs?: Array;
}

/** Rotary position embedding on the last axis (first `dims` features). */
export function rope(x: Array, dims: number, options: RopeOptions = {}): Array {
  const offset = options.offset ?? 0;
  const off = typeof offset === 'number' ? asArray(offset, 'int32') : offset;
  const base = options.freqs ? undefined : (options.base ?? 10000);
  return wrap(
    native.fastRope(x.handle, dims, options.traditional ?? false, base ?? undefined, options.scale ?? 1, off.handle, options.freqs?.handle),
  );
}

export interface AttentionOptions {
  /** Multiplies `q @ k^T` (usually `1 / sqrt(headDim)`). */
  scale: number;
  /** `'causal'`, a boolean or additive mask array, or none. */
  mask?: 'causal' | Array | null;
  /** Attention sinks, one logit per head. */
  sinks?: Array;
}

/**
 * `softmax(q @ k^T * scale + mask) @ v`, with grouped-query heads, in one fused op. On a CPU
 * under Linux it runs in @mlxn's own kernel on several threads, float32 scores, the output
 * rounded once: blocks of queries and keys with a running softmax, never holding every score at
 * once, skipping the keys a causal mask hides. Scores keep float32 precision as in
 * MLX's GPU kernels, where MLX's CPU fallback rounds them to the half format. Attention with
 * `sinks` keeps MLX's own path (in float32 for a half-precision prompt).
 */
export function scaledDotProductAttention(q: Array, k: Array, v: Array, options: AttentionOptions): Array {
  checkOptionKeys(options, ATTENTION_KEYS, 'scaledDotProductAttention');
  const mask = options.mask ?? null;
  // Anything else (a typo such as 'casual') would otherwise mean no mask at all.
  if (mask !== null && mask !== 'causal' && !(mask instanceof ArrayClass)) {
    throw new TypeError(
      `scaledDotProductAttention: mask must be 'causal', an mx.Array or null, got ${typeof mask === 'string' ? JSON.stringify(mask) : typeof mask}`,
    );
  }
  const mode = mask === 'causal' ? 'causal' : mask === null ? '' : 'array';
  return wrap(
    native.fastSdpa(
      q.handle,
      k.handle,
      v.handle,
      options.scale,
      mode,
      mask !== null && mask !== 'causal' ? mask.handle : undefined,
      options.sinks?.handle,
    ),
  );
}
