/** Reductions, scans, sorting and selection, softmax. Axis arguments follow `mlx.core`. */
import { type Array, wrap } from '../array.js';
import { asArray } from '../create.js';
import { isInt32 } from '../dtype.js';
import { native } from '../native.js';
import { checkOptionKeys } from '../options.js';
import type { ArrayLike, AxisOptions } from '../types.js';
import { code, REDUCE, SCAN, SORT } from './codes.js';

const KEEPDIMS_KEYS = ['keepdims'];
const AXIS_KEYS = ['axis', 'keepdims', 'ddof'];

type AxisArg = number | number[] | AxisOptions | undefined | null;

/** `keepdims` as a boolean, or inside an options object (`sum(a, -1, { keepdims: true })`). */
export type KeepdimsArg = boolean | { keepdims?: boolean } | undefined;

/** The boolean a `keepdims` argument stands for, with a clear error for anything else. */
function keepdimsOf(keepdims: KeepdimsArg, what = 'keepdims'): boolean | undefined {
  if (keepdims === undefined || typeof keepdims === 'boolean') return keepdims;
  if (keepdims !== null && typeof keepdims === 'object' && !globalThis.Array.isArray(keepdims)) {
    checkOptionKeys(keepdims, KEEPDIMS_KEYS, what);
    const k = keepdims.keepdims;
    if (k === undefined || typeof k === 'boolean') return k;
  }
  throw new TypeError(`${what} must be a boolean or { keepdims: boolean }, got ${JSON.stringify(keepdims)}`);
}

/** Normalises `(axis, keepdims)`, `(axis, { keepdims })` or `({ axis, keepdims })`. */
function axisArgs(axis: AxisArg, keepdims?: KeepdimsArg): { axes: number[] | undefined; keepdims: boolean } {
  const k = keepdimsOf(keepdims);
  if (axis !== null && typeof axis === 'object' && !globalThis.Array.isArray(axis)) {
    // `{ axes: 1 }` or `{ keepDims: true }` would otherwise reduce over every axis.
    checkOptionKeys(axis, AXIS_KEYS, 'reduction options');
    return { axes: toAxes(axis.axis), keepdims: keepdimsOf(axis.keepdims) ?? k ?? false };
  }
  return { axes: toAxes(axis ?? undefined), keepdims: k ?? false };
}

function toAxes(axis: number | number[] | undefined): number[] | undefined {
  if (axis === undefined) return undefined;
  const axes = typeof axis === 'number' ? [axis] : axis;
  if (!globalThis.Array.isArray(axes) || !axes.every(isInt32)) {
    throw new TypeError(`axis must be an integer or a list of integers, got ${JSON.stringify(axis)}`);
  }
  return axes;
}

function optAxis(axis: number | undefined | null, what: string): number | undefined {
  if (axis === undefined || axis === null) return undefined;
  if (!isInt32(axis)) throw new TypeError(`${what}: axis must be an integer, got ${JSON.stringify(axis)}`);
  return axis;
}

const R = (name: (typeof REDUCE)[number]) => {
  const c = code(REDUCE, name);
  return (a: ArrayLike, axis?: AxisArg, keepdims?: KeepdimsArg): Array => {
    const { axes, keepdims: k } = axisArgs(axis, keepdims);
    return wrap(native.reduce(c, asArray(a).handle, axes, k, 0));
  };
};

export const sum = R('Sum');
export const mean = R('Mean');
export const prod = R('Prod');
export const max = R('Max');
export const min = R('Min');
export const all = R('All');
export const any = R('Any');
export const logsumexp = R('Logsumexp');
export const median = R('Median');

/** Variance with `ddof` delta degrees of freedom. (Named `var` in the `mx` namespace.) */
export function variance(a: ArrayLike, axis?: AxisArg, keepdims?: KeepdimsArg, ddof = 0): Array {
  const { axes, keepdims: k } = axisArgs(axis, keepdims);
  const d =
    typeof axis === 'object' && axis !== null && !globalThis.Array.isArray(axis) ? ((axis as { ddof?: number }).ddof ?? ddof) : ddof;
  return wrap(native.reduce(code(REDUCE, 'Var'), asArray(a).handle, axes, k, d));
}

export function std(a: ArrayLike, axis?: AxisArg, keepdims?: KeepdimsArg, ddof = 0): Array {
  const { axes, keepdims: k } = axisArgs(axis, keepdims);
  const d =
    typeof axis === 'object' && axis !== null && !globalThis.Array.isArray(axis) ? ((axis as { ddof?: number }).ddof ?? ddof) : ddof;
  return wrap(native.reduce(code(REDUCE, 'Std'), asArray(a).handle, axes, k, d));
}

export function argmax(a: ArrayLike, axis?: number, keepdims: KeepdimsArg = false): Array {
  return wrap(
    native.sortOp(code(SORT, 'Argmax'), asArray(a).handle, optAxis(axis, 'argmax'), 0, keepdimsOf(keepdims, 'argmax: keepdims') ?? false),
  );
}
export function argmin(a: ArrayLike, axis?: number, keepdims: KeepdimsArg = false): Array {
  return wrap(
    native.sortOp(code(SORT, 'Argmin'), asArray(a).handle, optAxis(axis, 'argmin'), 0, keepdimsOf(keepdims, 'argmin: keepdims') ?? false),
  );
}

/** Sorts along `axis` (default -1; `null` sorts the flattened array). */
export function sort(a: ArrayLike, axis: number | null = -1): Array {
  return wrap(native.sortOp(code(SORT, 'Sort'), asArray(a).handle, optAxis(axis, 'sort'), 0, false));
}
export function argsort(a: ArrayLike, axis: number | null = -1): Array {
  return wrap(native.sortOp(code(SORT, 'Argsort'), asArray(a).handle, optAxis(axis, 'argsort'), 0, false));
}
/** Partially sorts so that the element at `kth` is in its sorted place. */
export function partition(a: ArrayLike, kth: number, axis: number | null = -1): Array {
  return wrap(native.sortOp(code(SORT, 'Partition'), asArray(a).handle, optAxis(axis, 'partition'), kth, false));
}
export function argpartition(a: ArrayLike, kth: number, axis: number | null = -1): Array {
  return wrap(native.sortOp(code(SORT, 'Argpartition'), asArray(a).handle, optAxis(axis, 'argpartition'), kth, false));
}
/** The `k` largest values along `axis` (not in sorted order, as in MLX). */
export function topk(a: ArrayLike, k: number, axis: number | null = -1): Array {
  return wrap(native.sortOp(code(SORT, 'Topk'), asArray(a).handle, optAxis(axis, 'topk'), k, false));
}

export interface ScanOptions {
  reverse?: boolean;
  inclusive?: boolean;
}

const S = (name: (typeof SCAN)[number]) => {
  const c = code(SCAN, name);
  return (a: ArrayLike, axis?: number | null, options: ScanOptions = {}): Array =>
    wrap(native.scan(c, asArray(a).handle, optAxis(axis, name.toLowerCase()), options.reverse ?? false, options.inclusive ?? true));
};

/** Cumulative sum along `axis` (omitted: over the flattened array). */
export const cumsum = S('Cumsum');
export const cumprod = S('Cumprod');
export const cummax = S('Cummax');
export const cummin = S('Cummin');
export const logcumsumexp = S('Logcumsumexp');

/** Softmax along `axis` (default: all axes, as in MLX). `precise` accumulates in float32. */
export function softmax(a: ArrayLike, axis?: number | number[], options: { precise?: boolean } = {}): Array {
  return wrap(native.softmax(asArray(a).handle, toAxes(axis), options.precise ?? false));
}

/** `a - logsumexp(a, axis, keepdims=true)`: log-probabilities along `axis` (default -1). */
export function logSoftmax(a: ArrayLike, axis: number = -1): Array {
  const x = asArray(a);
  const lse = native.reduce(code(REDUCE, 'Logsumexp'), x.handle, [axis], true, 0);
  const out = wrap(native.binary(1, x.handle, lse));
  native.release(lse);
  return out;
}
