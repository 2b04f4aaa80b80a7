/**
 * The filters of mlx-lm's sample_utils.py as MLX graphs (reference: mlx_lm/sample_utils.py).
 * Each `*Graph` function only builds ops (no checks, no host reads), so the sampler can trace
 * them inside one `mx.compile`; the exported `apply*` functions validate first.
 */
import * as mx from '@mlxn/core';
import { checkDefinedOptionKeys, checkMinP, checkTokenIds, checkTopK, checkTopP, checkXtc } from '../options.js';

const KEY_OPTIONS: readonly string[] = ['key'];

const NEG_INF = Number.NEGATIVE_INFINITY;

export function checkLogits(x: unknown, what: string): mx.Array {
  if (!(x instanceof mx.Array)) throw new TypeError(`${what}: expected an mx.Array of logits, got ${typeof x}`);
  if (x.ndim < 1 || x.ndim > 2) throw new RangeError(`${what}: logits must have shape [V] or [B, V], got [${x.shape.join(', ')}]`);
  if (!mx.isFloating(x.dtype)) throw new TypeError(`${what}: logits must be floating point, got ${x.dtype}`);
  if (x.shape[x.ndim - 1] === 0) throw new RangeError(`${what}: the vocabulary axis is empty`);
  return x;
}

const vocabOf = (x: mx.Array) => x.shape[x.ndim - 1];
const lastAxis = (x: mx.Array, start: number, stop?: number) => mx.index(x, '...', mx.sl(start, stop));

export function topKGraph(logprobs: mx.Array, k: number): mx.Array {
  const drop = lastAxis(mx.argpartition(mx.negative(logprobs), k - 1, -1), k);
  return mx.putAlongAxis(logprobs, drop, mx.array(NEG_INF, { dtype: logprobs.dtype }), -1);
}

export function topPGraph(logprobs: mx.Array, topP: number): mx.Array {
  const sorted = mx.sort(logprobs, -1);
  const probs = mx.exp(mx.astype(sorted, 'float32'));
  const above = mx.cumsum(probs, -1, { reverse: true, inclusive: false });
  const total = mx.add(lastAxis(above, 0, 1), lastAxis(probs, 0, 1));
  const dropped = mx.sum(mx.greaterEqual(above, mx.multiply(total, topP)), -1, true);
  const threshold = mx.takeAlongAxis(sorted, dropped, -1);
  return mx.where(mx.less(logprobs, threshold), NEG_INF, logprobs);
}

export function minPGraph(logprobs: mx.Array, minP: number, keep: number): mx.Array {
  const top = mx.max(logprobs, -1, true);
  let remove = mx.less(logprobs, mx.add(top, Math.log(minP)));
  if (keep > 1) {
    const best = lastAxis(mx.argpartition(logprobs, -keep, -1), -keep);
    remove = mx.putAlongAxis(remove, best, mx.array(false), -1);
  }
  return mx.where(remove, NEG_INF, logprobs);
}

/** `keepMask` is false at special tokens (or undefined when there are none). */
export function xtcGraph(
  logits: mx.Array,
  probability: number,
  threshold: number,
  keepMask: mx.Array | undefined,
  key?: mx.Array,
): mx.Array {
  const probs = mx.softmax(logits, -1);
  const least = mx.min(mx.where(mx.greater(probs, threshold), probs, Number.POSITIVE_INFINITY), -1, true);
  let mask = mx.greater(probs, least);
  if (keepMask !== undefined) mask = mx.logicalAnd(mask, keepMask);
  const u = mx.random.uniform(0, 1, [], { key });
  return mx.where(mx.greater(u, probability), logits, mx.where(mask, NEG_INF, logits));
}

export function categoricalGraph(logits: mx.Array, temperature: number, key?: mx.Array): mx.Array {
  return mx.random.categorical(mx.multiply(logits, 1 / temperature), { axis: -1, key });
}

/** `[V]` bool, false at `special` (a constant captured by compiled samplers). */
export function keepMaskFor(vocab: number, special: readonly number[]): mx.Array | undefined {
  if (special.length === 0) return undefined;
  const host = new Uint8Array(vocab).fill(1);
  for (const t of special) host[t] = 0;
  return mx.keep(mx.astype(mx.array(host), 'bool'));
}

export function checkKey(key: unknown, what: string): mx.Array | undefined {
  if (key === undefined) return undefined;
  if (!(key instanceof mx.Array) || key.dtype !== 'uint32' || key.shape.length !== 1 || key.shape[0] !== 2) {
    throw new TypeError(`${what}: key must be a random key from mx.random.key() (uint32, shape [2])`);
  }
  return key;
}

// One compiled graph per filter, as in mlx-lm; parameters are part of the compile signature.
const topKCompiled = mx.compile(topKGraph);
const topPCompiled = mx.compile(topPGraph);
const minPCompiled = mx.compile(minPGraph);

/** Keeps the `topK` largest log-probabilities along the last axis; the rest become -inf. */
export function applyTopK(logprobs: mx.Array, topK: number): mx.Array {
  const x = checkLogits(logprobs, 'applyTopK');
  return topKCompiled(x, checkTopK(topK, vocabOf(x)));
}

/** Nucleus filter: keeps the most likely tokens whose probability mass reaches `topP` (in (0, 1]). */
export function applyTopP(logprobs: mx.Array, topP: number): mx.Array {
  return topPCompiled(checkLogits(logprobs, 'applyTopP'), checkTopP(topP));
}

/** Removes tokens less likely than `minP` times the top token; the top `minTokensToKeep` stay. */
export function applyMinP(logprobs: mx.Array, minP: number, minTokensToKeep = 1): mx.Array {
  const x = checkLogits(logprobs, 'applyMinP');
  const [p, keep] = checkMinP(minP, minTokensToKeep);
  return minPCompiled(x, p, keep);
}

/**
 * XTC ("exclude top choices"): with probability `xtcProbability` (one draw per call, shared by
 * the batch, as in mlx-lm) removes every token above `xtcThreshold` except the least likely one.
 */
export function applyXtc(
  logits: mx.Array,
  xtcProbability: number,
  xtcThreshold: number,
  xtcSpecialTokens: readonly number[] = [],
  options: { key?: mx.Array } = {},
): mx.Array {
  const x = checkLogits(logits, 'applyXtc');
  checkDefinedOptionKeys(options, KEY_OPTIONS, 'applyXtc');
  const [p, t, special] = checkXtc(xtcProbability, xtcThreshold, xtcSpecialTokens);
  checkTokenIds(special, vocabOf(x), 'xtcSpecialTokens');
  const key = checkKey(options.key, 'applyXtc');
  return mx.tidy(() => {
    const keepMask = keepMaskFor(vocabOf(x), special);
    const out = xtcGraph(x, p, t, keepMask, key);
    keepMask?.dispose();
    return out;
  });
}

/** Draws one token per row from `softmax(logits / temperature)` (temperature > 0). */
export function categoricalSampling(logits: mx.Array, temperature: number, options: { key?: mx.Array } = {}): mx.Array {
  const x = checkLogits(logits, 'categoricalSampling');
  checkDefinedOptionKeys(options, KEY_OPTIONS, 'categoricalSampling');
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new RangeError(`categoricalSampling: temperature must be a finite number > 0, got ${String(temperature)}`);
  }
  return categoricalGraph(x, temperature, checkKey(options.key, 'categoricalSampling'));
}
