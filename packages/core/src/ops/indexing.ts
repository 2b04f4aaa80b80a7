/**
 * Indexing: `a.index(...)` (basic slicing with steps, negative indices, new axes, ellipsis,
 * and integer-array indices), `a.put(...)` (functional index assignment), and the explicit
 * gathers and scatters (`take`, `takeAlongAxis`, `putAlongAxis`, `scatter`, `sliceUpdate`).
 * Integer indices are bounds-checked here with a clear error.
 */
import { Array, describeValue, Scratch, wrap } from '../array.js';
import { asArray } from '../create.js';
import { dtypeCode, isInteger } from '../dtype.js';
import { hostRange } from '../host-indices.js';
import { type NativeArray, native } from '../native.js';
import type { ArrayLike, IndexSpec, Slice } from '../types.js';
import { code, SCATTER } from './codes.js';

/** A slice `start:stop:step`, for `a.index(...)`. Omitted parts take numpy's defaults. */
export function sl(start?: number | null, stop?: number | null, step?: number | null): Slice {
  return { kind: 'slice', start: start ?? undefined, stop: stop ?? undefined, step: step ?? undefined };
}

const ELLIPSIS = Symbol('ellipsis');
const FULL: Slice = { kind: 'slice' };
type Parsed = number | Slice | null | Array | typeof ELLIPSIS;

export class IndexError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'IndexError';
  }
}

/**
 * Bounds check for integer-array indices.
 *
 * MLX's gather/scatter kernels (take, takeAlongAxis, putAlongAxis, gather, scatter, array
 * indexing, gatherMm) do no bounds checking: an out-of-range index reads or writes outside the
 * array's buffer, which returns garbage, corrupts memory or crashes the process. We check here,
 * in TS, whenever the index array is already evaluated (arrays made from JS data, results that
 * were evaluated): that costs one read of the indices and never forces evaluation (none for
 * small arrays made from JS data, whose range was remembered when they were made). Indices that
 * are still lazy (computed in the same graph, or tracers inside grad/vmap/compile) are not
 * checked: reading them would force evaluation, which is not allowed while tracing. We do not
 * clamp either, because clamping would silently change results (and cost an op per gather).
 * Valid range: `[-size, size)` (negative indices count from the end, as in MLX).
 *
 * @internal
 */
export function checkIndexBounds(idx: Array, size: number, what: string): void {
  if (!isInteger(idx.dtype)) throw new TypeError(`${what}: indices must have an integer dtype, got ${idx.dtype}`);
  const h = idx.handle;
  if (idx.size === 0) return;
  // Indices made from host data carry their range: no read (which waits for the evaluation lock).
  let range = hostRange(idx);
  if (range === undefined) {
    if (!native.isAvailable(h)) return;
    const data = idx.dataSync() as unknown as { readonly length: number; readonly [i: number]: number | bigint };
    let lo: number | bigint = data[0];
    let hi: number | bigint = data[0];
    for (let i = 1; i < data.length; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    range = [lo, hi];
  }
  const [lo, hi] = range;
  const n = typeof lo === 'bigint' ? BigInt(size) : size;
  if (lo < -n || hi >= n) {
    const bad = lo < -n ? lo : hi;
    throw new IndexError(`${what}: index ${bad} is out of bounds for size ${size}`);
  }
}

/** The size of `axis` of `shape` (the whole size when `axis` is undefined/null); undefined if out of range (MLX reports that). */
function axisSize(shape: number[], axis: number | null | undefined): number | undefined {
  if (axis === undefined || axis === null) return shape.reduce((p, d) => p * d, 1);
  const ax = axis < 0 ? axis + shape.length : axis;
  return Number.isInteger(ax) && ax >= 0 && ax < shape.length ? shape[ax] : undefined;
}

const prod = (xs: number[]) => xs.reduce((p, d) => p * d, 1);
/** @internal The product of all but the last two dims (the batch that gatherMm indexes). */
export const batchSize = (shape: number[]) => prod(shape.slice(0, -2));

function parseSliceString(s: string): Parsed {
  const t = s.trim();
  if (t === '...') return ELLIPSIS;
  if (t === 'None' || t === 'newaxis') return null;
  const parts = t.split(':');
  const num = (p: string | undefined, what: string) => {
    if (p === undefined || p.trim() === '') return undefined;
    const v = Number(p.trim());
    if (!Number.isInteger(v)) throw new TypeError(`index: bad ${what} ${JSON.stringify(p)} in ${JSON.stringify(s)}`);
    return v;
  };
  if (parts.length === 1) {
    const v = num(parts[0], 'index');
    if (v === undefined) throw new TypeError(`index: empty index string`);
    return v;
  }
  if (parts.length > 3) throw new TypeError(`index: bad slice ${JSON.stringify(s)}`);
  return sl(num(parts[0], 'start'), num(parts[1], 'stop'), num(parts[2], 'step'));
}

const clampI32 = (v: number) => Math.max(-2147483648, Math.min(2147483647, v));

// A zero step must never reach MLX: its slice divides by the step (SIGFPE, the process dies).
function checkStep(p: Parsed): Parsed {
  if (typeof p === 'object' && p !== null && (p as Slice).kind === 'slice' && (p as Slice).step === 0) {
    throw new TypeError('index: slice step cannot be zero');
  }
  return p;
}

function parseSpecs(specs: IndexSpec[]): Parsed[] {
  // One string with commas is a whole index expression: a.index('1:3, ::2, None, ...').
  if (specs.length === 1 && typeof specs[0] === 'string' && specs[0].includes(',')) {
    return specs[0].split(',').map((p) => checkStep(parseSliceString(p)));
  }
  return specs.map((s) => {
    if (typeof s === 'string') return checkStep(parseSliceString(s));
    if (s === null || s instanceof Array) return s;
    if (typeof s === 'number') {
      if (!Number.isInteger(s)) throw new TypeError(`index: indices must be integers, got ${s}`);
      return s;
    }
    if (typeof s === 'object' && (s as Slice).kind === 'slice') {
      const { start, stop, step } = s as Slice;
      for (const v of [start, stop, step]) {
        if (v !== undefined && !Number.isInteger(v)) throw new TypeError(`index: slice bounds must be integers`);
      }
      if (step === 0) throw new TypeError('index: slice step cannot be zero');
      return s as Slice;
    }
    throw new TypeError(`index: unsupported index ${describeValue(s)}`);
  });
}

interface Plan {
  h: NativeArray;
  shape: number[];
  starts: number[];
  stops: number[];
  strides: number[];
  sliced: boolean;
  squeeze: number[];
  advanced: { axis: number; idx: Array }[];
}

function plan(a: Array, raw: IndexSpec[], allowNewAxis: boolean, scratch: Scratch): Plan {
  let specs = parseSpecs(raw);
  let h = a.handle;
  let shape = a.shape;
  const consuming = specs.filter((s) => s !== null && s !== ELLIPSIS).length;
  const ellipses = specs.filter((s) => s === ELLIPSIS).length;
  if (ellipses > 1) throw new IndexError('index: an index can only have a single ellipsis');
  if (consuming > shape.length) {
    throw new IndexError(`index: too many indices (${consuming}) for an array with ${shape.length} dimensions`);
  }
  if (ellipses === 1) {
    const at = specs.indexOf(ELLIPSIS);
    const fill: Parsed[] = globalThis.Array.from({ length: shape.length - consuming }, () => FULL);
    specs = [...specs.slice(0, at), ...fill, ...specs.slice(at + 1)];
  }
  // New axes: insert size-1 axes, then index them with a full slice.
  const newAxes: number[] = [];
  specs = specs.map((s, i) => {
    if (s === null) {
      newAxes.push(i);
      return FULL;
    }
    return s;
  });
  if (newAxes.length > 0) {
    if (!allowNewAxis) throw new TypeError('put: new axes (null) are not allowed in an assignment index');
    h = scratch.t(native.expandDims(h, newAxes));
    shape = native.shape(h);
  }
  while (specs.length < shape.length) specs.push(FULL);

  const p: Plan = { h, shape, starts: [], stops: [], strides: [], sliced: false, squeeze: [], advanced: [] };
  specs.forEach((s, axis) => {
    const n = shape[axis];
    if (typeof s === 'number') {
      const i = s < 0 ? s + n : s;
      if (i < 0 || i >= n) throw new IndexError(`index ${s} is out of bounds for axis ${axis} with size ${n}`);
      p.starts.push(i);
      p.stops.push(i + 1);
      p.strides.push(1);
      p.squeeze.push(axis);
      p.sliced = true;
    } else if (s instanceof Array) {
      if (!isInteger(s.dtype)) throw new TypeError(`index: array indices must have an integer dtype, got ${s.dtype}`);
      checkIndexBounds(s, n, `index (axis ${axis})`);
      p.starts.push(0);
      p.stops.push(n);
      p.strides.push(1);
      p.advanced.push({ axis, idx: s });
    } else {
      const sl = s as Slice;
      const step = sl.step ?? 1;
      const start = sl.start ?? (step < 0 ? n - 1 : 0);
      const stop = sl.stop ?? (step < 0 ? -n - 1 : n);
      // Clamped to int32 (what crosses the FFI): every axis is shorter, so the slice is the same,
      // where an unclamped 2**32 would wrap (a step of 2**32 would even become 0).
      p.starts.push(clampI32(start));
      p.stops.push(clampI32(stop));
      p.strides.push(clampI32(step));
      if (sl.start !== undefined || sl.stop !== undefined || step !== 1) p.sliced = true;
    }
  });
  return p;
}

/** `a[specs]` with numpy/MLX semantics. */
export function index(a: ArrayLike, ...specs: IndexSpec[]): Array {
  const arr = asArray(a);
  const scratch = new Scratch();
  const { t } = scratch;
  const p = plan(arr, specs, true, scratch);
  let h = p.sliced ? t(native.slice(p.h, p.starts, p.stops, p.strides)) : p.h;
  if (p.squeeze.length > 0) h = t(native.squeeze(h, p.squeeze));
  const adv = p.advanced.map(({ axis, idx }) => ({ axis: axis - p.squeeze.filter((q) => q < axis).length, idx }));
  // numpy/MLX: next to array indices, integer indices are advanced indices too. When the
  // advanced indices are not all adjacent (a[1, :, idx]), the broadcast index dims go first.
  const advPos = [...p.squeeze, ...p.advanced.map((x) => x.axis)].sort((x, y) => x - y);
  const together = advPos.every((ax, i) => i === 0 || ax === advPos[i - 1] + 1);
  if (adv.length === 1) {
    const { axis, idx } = adv[0];
    h = t(native.take(h, idx.handle, axis));
    if (!together && axis > 0) {
      const nd = native.shape(h).length;
      const k = idx.ndim;
      const order = [...range(axis, axis + k), ...range(0, axis), ...range(axis + k, nd)];
      h = t(native.transpose(h, order));
    }
  } else if (adv.length > 1) {
    h = gatherAdvanced(h, adv, t, together);
  }
  // Indexing with nothing to do still returns a new Array (its own handle).
  const out = h === arr.handle ? native.astype(h, native.dtype(h)) : h;
  scratch.release(out);
  return wrap(out);
}

const range = (from: number, to: number) => globalThis.Array.from({ length: to - from }, (_, i) => from + i);

function gatherAdvanced(
  h: NativeArray,
  adv: { axis: number; idx: Array }[],
  t: (h: NativeArray) => NativeArray,
  together: boolean,
): NativeArray {
  const shape = native.shape(h);
  const axes = adv.map((x) => x.axis);
  const sliceSizes = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  let out = t(
    native.gather(
      h,
      adv.map((x) => x.idx.handle),
      axes,
      sliceSizes,
    ),
  );
  const bcastNd = native.shape(out).length - shape.length;
  out = t(
    native.squeeze(
      out,
      axes.map((ax) => bcastNd + ax),
    ),
  );
  // `together`: the array indices and any integer indices among them are adjacent (see index()).
  if (together && axes[0] > 0) {
    // numpy: adjacent array indices keep their place; otherwise the broadcast dims lead.
    const nd = native.shape(out).length;
    const order: number[] = [];
    const rest = globalThis.Array.from({ length: nd - bcastNd }, (_, i) => bcastNd + i);
    order.push(...rest.slice(0, axes[0]), ...globalThis.Array.from({ length: bcastNd }, (_, i) => i), ...rest.slice(axes[0]));
    out = t(native.transpose(out, order));
  }
  return out;
}

/**
 * Functional index assignment: returns a copy of `a` with `value` written at `specs`
 * (basic indices, or one integer array index with full slices elsewhere).
 */
export function put(a: ArrayLike, specs: IndexSpec | IndexSpec[], value: ArrayLike): Array {
  const arr = asArray(a);
  const list = globalThis.Array.isArray(specs) ? specs : [specs];
  const scratch = new Scratch();
  const { t } = scratch;
  try {
    const p = plan(arr, list, false, scratch);
    const v = value instanceof Array ? value : asArray(value, arr.dtype);
    const vh = v.dtype === arr.dtype ? v.handle : t(native.astype(v.handle, dtypeCode(arr.dtype)));
    if (p.advanced.length === 0) {
      const target = native.shape(t(native.slice(p.h, p.starts, p.stops, p.strides)));
      const squeezed = target.filter((_, i) => !p.squeeze.includes(i));
      const upd = t(native.reshape(t(native.broadcastTo(vh, squeezed)), target));
      return wrap(native.sliceUpdate(p.h, upd, p.starts, p.stops, p.strides));
    }
    if (p.advanced.length === 1 && !p.sliced) {
      const { axis, idx } = p.advanced[0];
      const idxShape = idx.shape;
      const rest = p.shape.filter((_, i) => i !== axis);
      let upd = t(native.broadcastTo(vh, [...idxShape, ...rest]));
      upd = t(native.expandDims(upd, [idxShape.length + axis]));
      return wrap(native.scatter(code(SCATTER, 'Set'), p.h, [idx.handle], upd, [axis]));
    }
  } finally {
    scratch.release();
  }
  throw new TypeError('put: supports basic indices, or a single integer-array index with full slices elsewhere');
}

/** Elements at `indices` along `axis` (of the flattened array when `axis` is omitted). */
export function take(a: ArrayLike, indices: ArrayLike, axis?: number): Array {
  const idx = asArray(indices);
  const arr = asArray(a);
  if (!isInteger(idx.dtype)) throw new TypeError(`take: indices must have an integer dtype, got ${idx.dtype}`);
  const n = axisSize(arr.shape, axis);
  if (n !== undefined) checkIndexBounds(idx, n, 'take');
  return wrap(native.take(arr.handle, idx.handle, axis));
}

export function takeAlongAxis(a: ArrayLike, indices: Array, axis?: number | null): Array {
  const arr = asArray(a);
  const n = axisSize(arr.shape, axis);
  if (n !== undefined && indices instanceof Array) checkIndexBounds(indices, n, 'takeAlongAxis');
  return wrap(native.takeAlongAxis(arr.handle, indices.handle, axis ?? undefined));
}

export function putAlongAxis(a: ArrayLike, indices: Array, values: ArrayLike, axis?: number | null): Array {
  const arr = asArray(a);
  const n = axisSize(arr.shape, axis);
  if (n !== undefined && indices instanceof Array) checkIndexBounds(indices, n, 'putAlongAxis');
  const v = values instanceof Array ? values : asArray(values, arr.dtype);
  return wrap(native.putAlongAxis(arr.handle, indices.handle, v.handle, axis ?? undefined));
}

export type ScatterMode = 'set' | 'add' | 'prod' | 'max' | 'min';

/**
 * Writes `updates` into `a` at `indices` along `axes` (MLX's scatter). `updates` has shape
 * `broadcast(indices).shape + a.shape with 1 at each indexed axis`.
 */
export function scatter(
  a: ArrayLike,
  indices: Array | Array[],
  updates: ArrayLike,
  axes: number | number[],
  mode: ScatterMode = 'set',
): Array {
  const arr = asArray(a);
  const idx = globalThis.Array.isArray(indices) ? indices : [indices];
  const ax = typeof axes === 'number' ? [axes] : axes;
  const m = { set: 'Set', add: 'Add', prod: 'Prod', max: 'Max', min: 'Min' }[mode] as (typeof SCATTER)[number];
  if (m === undefined) throw new TypeError(`scatter: unknown mode ${JSON.stringify(mode)}`);
  checkEach(arr.shape, idx, ax, 'scatter');
  const u = updates instanceof Array ? updates : asArray(updates, arr.dtype);
  return wrap(
    native.scatter(
      code(SCATTER, m),
      arr.handle,
      idx.map((i) => i.handle),
      u.handle,
      ax,
    ),
  );
}

export function scatterAdd(a: ArrayLike, indices: Array | Array[], updates: ArrayLike, axes: number | number[]): Array {
  return scatter(a, indices, updates, axes, 'add');
}

function checkEach(shape: number[], indices: unknown, axes: unknown, what: string): void {
  if (!globalThis.Array.isArray(indices) || !globalThis.Array.isArray(axes)) return;
  indices.forEach((idx, k) => {
    const n = typeof axes[k] === 'number' ? axisSize(shape, axes[k]) : undefined;
    if (n !== undefined && idx instanceof Array) checkIndexBounds(idx, n, `${what} (axis ${axes[k]})`);
  });
}

/** Writes `update` into `a[start:stop:strides]` (stop defaults to start + update's shape). */
export function sliceUpdate(a: ArrayLike, update: ArrayLike, start: number[], stop?: number[], strides?: number[]): Array {
  const arr = asArray(a);
  const u = asArray(update, arr.dtype);
  const st = strides ?? start.map(() => 1);
  const sp = stop ?? start.map((s, i) => s + (u.shape[u.ndim - start.length + i] ?? 1) * st[i]);
  return wrap(native.sliceUpdate(arr.handle, u.handle, start, sp, st));
}

/** Gathers slices of size `sliceSizes` at `indices` along `axes` (MLX's gather). */
export function gather(a: ArrayLike, indices: Array[], axes: number[], sliceSizes: number[]): Array {
  const arr = asArray(a);
  checkEach(arr.shape, indices, axes, 'gather');
  return wrap(
    native.gather(
      arr.handle,
      indices.map((i) => i.handle),
      axes,
      sliceSizes,
    ),
  );
}
