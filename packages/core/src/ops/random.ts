/**
 * `mx.random`: counter-based (threefry) random numbers with a global key sequence or explicit
 * keys. The global sequence follows MLX's: each draw splits the key and uses the second half,
 * so `seed(s)` followed by the same calls gives the same numbers as Python MLX.
 * Inside `compile`, the key is threaded through the compiled function as state.
 */
import { Array, Scratch, wrap, wrapUntracked } from '../array.js';
import { asArray } from '../create.js';
import { type Dtype, dtypeCode, isFloating, isInt32, weakScalarDtype } from '../dtype.js';
import { type NativeArray, native } from '../native.js';
import type { ArrayLike, Scalar } from '../types.js';

// The global key, owned by this module (never part of a tidy scope; the wrapper's finalizer
// frees a replaced key).
let state: Array | null = null;

/** @internal The global key (created from the clock on first use, as MLX does). */
export function getRandomState(): NativeArray {
  state ??= wrapUntracked(native.randomKey(BigInt(Date.now())));
  return state.handle;
}
/** @internal Saves the global key object (for `compile`, which swaps in a traced key). */
export function saveRandomState(): Array | null {
  return state;
}
/** @internal Restores a key object from `saveRandomState`. */
export function restoreRandomState(saved: Array | null): void {
  state = saved;
}
/** @internal Makes `key` the global key (the handle becomes owned by this module). */
export function setRandomState(key: NativeArray): void {
  state = wrapUntracked(key);
}

function nextKey(): NativeArray {
  const scratch = new Scratch();
  const { t } = scratch;
  const keys = t(native.randomSplit(getRandomState(), 2));
  setRandomState(native.reshape(t(native.slice(keys, [0, 0], [1, 2], [1, 1])), [2]));
  const sub = native.reshape(t(native.slice(keys, [1, 0], [2, 2], [1, 1])), [2]);
  scratch.release();
  return sub;
}

/** The key for one draw: the caller's, or a fresh one from the global sequence (wrapped so it is freed). */
function keyOf(key: Array | undefined): NativeArray {
  return key === undefined ? wrap(nextKey()).handle : key.handle;
}

function shapeOf(shape: number | number[] | undefined): number[] {
  if (shape === undefined) return [];
  const s = typeof shape === 'number' ? [shape] : shape;
  if (!globalThis.Array.isArray(s) || !s.every((d) => isInt32(d) && d >= 0)) {
    throw new TypeError(`random: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return s;
}

function floatDtype(d: Dtype | undefined, what: string): number {
  const dt = d ?? 'float32';
  if (!isFloating(dt)) throw new TypeError(`random.${what}: dtype must be floating point, got ${dt}`);
  return dtypeCode(dt);
}

const bound = (v: ArrayLike, d: Dtype): Array => (v instanceof Array ? v : asArray(v, weakScalarDtype(v as Scalar, d)));

export interface KeyOptions {
  key?: Array;
}
export interface RandomOptions extends KeyOptions {
  dtype?: Dtype;
}

/** Seeds the global key sequence. */
export function seed(s: number): void {
  if (!Number.isInteger(s) || s < 0) throw new TypeError(`random.seed: seed must be a non-negative integer, got ${s}`);
  setRandomState(native.randomKey(BigInt(s)));
}

/**
 * A key sequence of its own: draws made inside `run(fn)` come from it instead of the global
 * sequence, in the same way (each draw splits the key), so a seeded computation gives the same
 * numbers whatever else draws from the global sequence meanwhile — two seeded generations
 * interleaved, for instance. Started from `seed`, it gives the draws `seed(s)` would.
 *
 * @example
 * const keys = new mx.random.KeySequence(7);
 * const a = keys.run(() => mx.random.uniform(0, 1, [2]));
 */
export class KeySequence {
  #key: Array | null;

  constructor(s: number) {
    if (!Number.isInteger(s) || s < 0) throw new TypeError(`random.KeySequence: seed must be a non-negative integer, got ${s}`);
    this.#key = wrapUntracked(native.randomKey(BigInt(s)));
  }

  /** Runs `fn` with this sequence as the global one, then puts the global one back. */
  run<T>(fn: () => T): T {
    const outer = state;
    state = this.#key;
    try {
      return fn();
    } finally {
      this.#key = state;
      state = outer;
    }
  }
}

/** A PRNG key from a seed. */
export function key(s: number): Array {
  if (!Number.isInteger(s) || s < 0) throw new TypeError(`random.key: seed must be a non-negative integer, got ${s}`);
  return wrap(native.randomKey(BigInt(s)));
}

/** Splits a key into `num` keys (shape `[num, 2]`). */
export function split(k: Array, num = 2): Array {
  return wrap(native.randomSplit(k.handle, num));
}

/** Raw random bits (`width` bytes per element: 1, 2 or 4). */
export function bits(shape: number | number[], options: KeyOptions & { width?: number } = {}): Array {
  return wrap(native.randomBits(shapeOf(shape), options.width ?? 4, keyOf(options.key)));
}

/** Uniform samples in `[low, high)`. */
export function uniform(low: ArrayLike = 0, high: ArrayLike = 1, shape?: number | number[], options: RandomOptions = {}): Array {
  const dt = floatDtype(options.dtype, 'uniform');
  const d = options.dtype ?? 'float32';
  return wrap(native.randomUniform(bound(low, d).handle, bound(high, d).handle, shapeOf(shape), dt, keyOf(options.key)));
}

/** Normal samples with mean `loc` and standard deviation `scale`. */
export function normal(shape?: number | number[], options: RandomOptions & { loc?: ArrayLike; scale?: ArrayLike } = {}): Array {
  const d = options.dtype ?? 'float32';
  const dt = floatDtype(options.dtype, 'normal');
  return wrap(
    native.randomNormal(shapeOf(shape), dt, bound(options.loc ?? 0, d).handle, bound(options.scale ?? 1, d).handle, keyOf(options.key)),
  );
}

/** Integers in `[low, high)`. */
export function randint(low: ArrayLike, high: ArrayLike, shape?: number | number[], options: RandomOptions = {}): Array {
  const d = options.dtype ?? 'int32';
  return wrap(native.randomRandint(bound(low, d).handle, bound(high, d).handle, shapeOf(shape), dtypeCode(d), keyOf(options.key)));
}

/** Booleans that are true with probability `p`. */
export function bernoulli(p: ArrayLike = 0.5, shape?: number | number[], options: KeyOptions = {}): Array {
  return wrap(native.randomBernoulli(bound(p, 'float32').handle, shape === undefined ? undefined : shapeOf(shape), keyOf(options.key)));
}

/** Normal samples truncated to `[lower, upper]`. */
export function truncatedNormal(lower: ArrayLike, upper: ArrayLike, shape?: number | number[], options: RandomOptions = {}): Array {
  const d = options.dtype ?? 'float32';
  return wrap(
    native.randomTruncatedNormal(
      bound(lower, d).handle,
      bound(upper, d).handle,
      shape === undefined ? undefined : shapeOf(shape),
      floatDtype(options.dtype, 'truncatedNormal'),
      keyOf(options.key),
    ),
  );
}

export function gumbel(shape?: number | number[], options: RandomOptions = {}): Array {
  return wrap(native.randomGumbel(shapeOf(shape), floatDtype(options.dtype, 'gumbel'), keyOf(options.key)));
}

/** Samples indices from unnormalised log-probabilities `logits` along `axis`. */
export function categorical(logits: Array, options: KeyOptions & { axis?: number; shape?: number[]; numSamples?: number } = {}): Array {
  if (options.shape !== undefined && options.numSamples !== undefined) {
    throw new TypeError('random.categorical: give at most one of shape and numSamples');
  }
  return wrap(
    native.randomCategorical(
      logits.handle,
      options.axis ?? -1,
      options.shape === undefined ? undefined : shapeOf(options.shape),
      options.numSamples ?? 0,
      keyOf(options.key),
    ),
  );
}

/** A random permutation of `arange(x)` or of `x` along `axis`. */
export function permutation(x: number | Array, options: KeyOptions & { axis?: number } = {}): Array {
  if (typeof x === 'number') return wrap(native.randomPermutationN(x, keyOf(options.key)));
  return wrap(native.randomPermutation(x.handle, options.axis ?? 0, keyOf(options.key)));
}
