/** Shape manipulation: reshape, transpose, joins and splits, padding, rolls and triangles. */
import { Array, handleOf, wrap, wrapAll } from '../array.js';
import { asArray } from '../create.js';
import { int32, isInt32, weakScalarDtype } from '../dtype.js';
import { native } from '../native.js';
import type { ArrayLike, Scalar } from '../types.js';

function ints(v: unknown, what: string): number[] {
  const list = typeof v === 'number' ? [v] : v;
  if (!globalThis.Array.isArray(list) || !list.every(isInt32)) {
    throw new TypeError(`${what} must be an integer or a list of integers, got ${JSON.stringify(v)}`);
  }
  return list as number[];
}

function handles(arrays: readonly ArrayLike[], what: string) {
  if (!globalThis.Array.isArray(arrays)) throw new TypeError(`${what} expects a list of arrays`);
  return arrays.map((a) => asArray(a).handle);
}

/** A new shape with the same data; one dimension may be -1. */
export function reshape(a: ArrayLike, shape: number[]): Array {
  return wrap(native.reshape(asArray(a).handle, ints(shape, 'reshape: shape')));
}
export function flatten(a: ArrayLike, startAxis = 0, endAxis = -1): Array {
  return wrap(native.flatten(asArray(a).handle, int32(startAxis, 'flatten: startAxis'), int32(endAxis, 'flatten: endAxis')));
}
/** Removes size-1 axes (all of them when `axis` is omitted). */
export function squeeze(a: ArrayLike, axis?: number | number[]): Array {
  return wrap(native.squeeze(asArray(a).handle, axis === undefined ? undefined : ints(axis, 'squeeze: axis')));
}
export function expandDims(a: ArrayLike, axis: number | number[]): Array {
  return wrap(native.expandDims(asArray(a).handle, ints(axis, 'expandDims: axis')));
}
/** Permutes axes (reverses them when `axes` is omitted). */
export function transpose(a: ArrayLike, axes?: number[]): Array {
  return wrap(native.transpose(asArray(a).handle, axes === undefined ? undefined : ints(axes, 'transpose: axes')));
}
export function swapaxes(a: ArrayLike, axis1: number, axis2: number): Array {
  return wrap(native.swapaxes(asArray(a).handle, int32(axis1, 'swapaxes: axis1'), int32(axis2, 'swapaxes: axis2')));
}
export function moveaxis(a: ArrayLike, source: number, destination: number): Array {
  return wrap(native.moveaxis(asArray(a).handle, int32(source, 'moveaxis: source'), int32(destination, 'moveaxis: destination')));
}
export function broadcastTo(a: ArrayLike, shape: number[]): Array {
  return wrap(native.broadcastTo(asArray(a).handle, ints(shape, 'broadcastTo: shape')));
}
/** Broadcasts arrays against each other. */
export function broadcastArrays(...arrays: Array[]): Array[] {
  const shapes = arrays.map((a) => a.shape);
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < nd; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = s[s.length - nd + i] ?? 1;
      if (v !== 1) {
        if (d !== 1 && d !== v) throw new TypeError(`broadcastArrays: shapes ${JSON.stringify(shapes)} cannot be broadcast`);
        d = v;
      }
    }
    out.push(d);
  }
  return arrays.map((a) => broadcastTo(a, out));
}
/** Joins arrays along `axis` (default 0; `null` flattens them first). */
export function concatenate(arrays: readonly ArrayLike[], axis: number | null = 0): Array {
  return wrap(native.concatenate(handles(arrays, 'concatenate'), axis === null ? undefined : int32(axis, 'concatenate: axis')));
}
export function stack(arrays: readonly ArrayLike[], axis = 0): Array {
  return wrap(native.stack(handles(arrays, 'stack'), int32(axis, 'stack: axis')));
}
/** Splits into `n` equal sections, or at the given indices. */
export function split(a: ArrayLike, indicesOrSections: number | number[], axis = 0): Array[] {
  const h = asArray(a).handle;
  int32(axis, 'split: axis');
  if (typeof indicesOrSections === 'number') return wrapAll(native.splitSections(h, int32(indicesOrSections, 'split: sections'), axis));
  return wrapAll(native.splitAt(h, ints(indicesOrSections, 'split: indices'), axis));
}
export function tile(a: ArrayLike, reps: number | number[]): Array {
  return wrap(native.tile(asArray(a).handle, ints(reps, 'tile: reps')));
}
/** Repeats each element `repeats` times along `axis` (omitted: the flattened array). */
export function repeat(a: ArrayLike, repeats: number, axis?: number): Array {
  return wrap(
    native.repeat(asArray(a).handle, int32(repeats, 'repeat: repeats'), axis === undefined ? undefined : int32(axis, 'repeat: axis')),
  );
}

export type PadWidth = number | [number, number] | [number, number][];

/**
 * Pads with `constantValues` (mode `'constant'`) or the edge values (`'edge'`). `padWidth`:
 * one number for every side, `[before, after]` for every axis, or one pair per axis.
 */
export function pad(
  a: ArrayLike,
  padWidth: PadWidth,
  options: { mode?: 'constant' | 'edge'; constantValues?: Scalar | Array } = {},
): Array {
  const arr = asArray(a);
  const nd = arr.ndim;
  let pairs: [number, number][];
  if (typeof padWidth === 'number') pairs = globalThis.Array.from({ length: nd }, () => [padWidth, padWidth] as [number, number]);
  else if (padWidth.length === 2 && typeof padWidth[0] === 'number')
    pairs = globalThis.Array.from({ length: nd }, () => padWidth as [number, number]);
  else pairs = padWidth as [number, number][];
  if (!globalThis.Array.isArray(pairs) || pairs.length !== nd)
    throw new TypeError(`pad: expected ${nd} (before, after) pairs, got ${JSON.stringify(padWidth)}`);
  for (const p of pairs) {
    if (!globalThis.Array.isArray(p) || p.length !== 2 || !p.every(isInt32))
      throw new TypeError(`pad: pad widths must be integer (before, after) pairs, got ${JSON.stringify(padWidth)}`);
  }
  const cv = options.constantValues ?? 0;
  const value = cv instanceof Array ? cv : asArray(cv, weakScalarDtype(cv, arr.dtype));
  return wrap(
    native.pad(
      arr.handle,
      pairs.map((_, i) => i),
      pairs.map((p) => p[0]),
      pairs.map((p) => p[1]),
      value.handle,
      options.mode ?? 'constant',
    ),
  );
}
export function roll(a: ArrayLike, shift: number | number[], axis?: number | number[]): Array {
  return wrap(native.roll(asArray(a).handle, ints(shift, 'roll: shift'), axis === undefined ? undefined : ints(axis, 'roll: axis')));
}
export function tril(a: ArrayLike, k = 0): Array {
  return wrap(native.tril(asArray(a).handle, int32(k, 'tril: k')));
}
export function triu(a: ArrayLike, k = 0): Array {
  return wrap(native.triu(asArray(a).handle, int32(k, 'triu: k')));
}
export function diagonal(a: ArrayLike, offset = 0, axis1 = 0, axis2 = 1): Array {
  return wrap(
    native.diagonal(asArray(a).handle, int32(offset, 'diagonal: offset'), int32(axis1, 'diagonal: axis1'), int32(axis2, 'diagonal: axis2')),
  );
}
export function diag(a: ArrayLike, k = 0): Array {
  return wrap(native.diag(asArray(a).handle, int32(k, 'diag: k')));
}
/** Reverses the order of elements along `axis` (all axes when omitted). */
export function flip(a: ArrayLike, axis?: number | number[]): Array {
  return wrap(native.flip(handleOf(asArray(a)), axis === undefined ? undefined : ints(axis, 'flip: axis')));
}
