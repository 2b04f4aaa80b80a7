/**
 * `Array`: a lazy MLX array. Operations build a graph; values are computed when read
 * (`dataSync`, `await data()`, `tolist`, `item`) or when `eval`-ed.
 */
import { inspect } from 'node:util';
import { type Dtype, dtypeFromCode, itemsize } from './dtype.js';
import { disposedError, MlxError } from './errors.js';
import { forgetHostRange } from './host-indices.js';
import { type NativeArray, native } from './native.js';
import * as el from './ops/elementwise.js';
import * as ix from './ops/indexing.js';
import * as mm from './ops/matmul.js';
import * as red from './ops/reduce.js';
import * as sh from './ops/shape.js';
import { KEPT, registerArrayClass, track } from './scope.js';
import type { ArrayLike, AxisOptions, IndexSpec } from './types.js';

/** The TypedArray that holds values of each dtype when read back. */
export type TypedArrayFor<D extends Dtype> = D extends 'bool' | 'uint8'
  ? Uint8Array
  : D extends 'uint16'
    ? Uint16Array
    : D extends 'uint32'
      ? Uint32Array
      : D extends 'uint64'
        ? BigUint64Array
        : D extends 'int8'
          ? Int8Array
          : D extends 'int16'
            ? Int16Array
            : D extends 'int32'
              ? Int32Array
              : D extends 'int64'
                ? BigInt64Array
                : D extends 'float64'
                  ? Float64Array
                  : Float32Array;

export type AnyTypedArray =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

export interface ReadOptions {
  /** For float16/bfloat16: return the stored 16-bit patterns (Uint16Array) instead of float32. */
  rawHalf?: boolean;
}

/** A nested JS list of values, as returned by `tolist()`. */
export type NestedList = number | boolean | bigint | { re: number; im: number } | NestedList[];

// Backstop for arrays that are never disposed: releases the native handle once the wrapper is
// garbage collected. `dispose()` unregisters, so a handle is released exactly once.
const finalizer = new FinalizationRegistry<NativeArray>((h) => native.release(h));

/** Element `i` of data read back from an array of `dtype`, as `tolist` gives it. */
function element(flat: { readonly [i: number]: number | bigint }, i: number, dtype: Dtype): NestedList {
  if (dtype === 'bool') return flat[i] !== 0;
  if (dtype === 'complex64') return { re: flat[2 * i] as number, im: flat[2 * i + 1] as number };
  return flat[i] as number | bigint;
}

export class Array {
  #h: NativeArray | null;
  #shape: number[] | undefined;
  #dtype = -1;
  #finalizable = false;
  /** @internal The `tidy` scope that will dispose this array (null: none). */
  scope: unknown[] | null = null;

  /** @internal Arrays come from ops; use `mx.array(...)` to create one. */
  constructor(handle: NativeArray) {
    this.#h = handle;
  }

  /**
   * @internal Hands the handle to the GC backstop. Arrays created inside `tidy` skip this
   * (the scope frees them) unless they outlive every scope; registration is the single largest
   * per-op cost after the op itself.
   */
  finalizeWhenCollected(): void {
    if (!this.#finalizable && this.#h !== null) {
      this.#finalizable = true;
      finalizer.register(this, this.#h, this);
    }
  }

  /** @internal Claimed by `mx.keep`: its holder disposes it, never a scope or library code. */
  get kept(): boolean {
    return this.scope === KEPT;
  }

  /** @internal What `mx.keep` does: no scope owns the array any more, and its holder claims it. */
  claim(): void {
    this.scope = KEPT;
    this.finalizeWhenCollected();
  }

  /**
   * @internal Takes the array out of every enclosing `tidy` scope without claiming it, for arrays
   * that library code owns and frees itself (a module's parameters, an optimizer's state).
   */
  untrack(): void {
    if (this.scope !== KEPT) this.scope = null;
    this.finalizeWhenCollected();
  }

  /** @internal The native handle (throws if disposed). */
  get handle(): NativeArray {
    const h = this.#h;
    if (h === null) throw disposedError();
    return h;
  }

  /** The cached shape, not copied (for the getters below). */
  #dims(): number[] {
    if (this.#shape === undefined) this.#shape = native.shape(this.handle);
    return this.#shape;
  }
  get shape(): number[] {
    return this.#dims().slice();
  }
  get ndim(): number {
    return this.#dims().length;
  }
  get size(): number {
    return this.#dims().reduce((a, b) => a * b, 1);
  }
  get dtype(): Dtype {
    return dtypeFromCode(this.dtypeCode);
  }
  /** @internal The numeric dtype code (cached: an array's dtype never changes). */
  get dtypeCode(): number {
    if (this.#dtype < 0) this.#dtype = native.dtype(this.handle);
    return this.#dtype;
  }
  get itemsize(): number {
    return itemsize(this.dtype);
  }
  get nbytes(): number {
    return this.size * this.itemsize;
  }
  /** True after `dispose()`. */
  get disposed(): boolean {
    return this.#h === null;
  }

  /** Releases the native memory now. Using the array afterwards throws. Idempotent. */
  dispose(): void {
    if (this.#h !== null) {
      if (this.#finalizable) finalizer.unregister(this);
      native.release(this.#h);
      this.#h = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * @internal Moves `from`'s storage into this array, which keeps its identity: holders of this
   * object (a user's reference to a model parameter) see the same values, now in `from`'s buffer
   * (a view of a stacked weight, say). `from` is left disposed. Shapes and dtypes must agree.
   */
  adoptStorage(from: Array): void {
    if (from === this) return;
    const old = this.handle;
    if (from.dtypeCode !== this.dtypeCode || from.shape.join() !== this.#dims().join()) {
      throw new TypeError(`adoptStorage: ${from.dtype}[${from.shape}] cannot replace ${this.dtype}[${this.#dims()}]`);
    }
    const h = from.detachHandle();
    if (h === null) throw new TypeError('adoptStorage: the source array is disposed');
    const wasFinalizable = this.#finalizable;
    if (wasFinalizable) {
      finalizer.unregister(this);
      this.#finalizable = false;
    }
    native.release(old);
    this.#h = h;
    forgetHostRange(this);
    if (wasFinalizable) this.finalizeWhenCollected();
  }

  /** @internal Marks the array disposed and hands back its handle for a batched release. */
  detachHandle(): NativeArray | null {
    const h = this.#h;
    if (h !== null) {
      if (this.#finalizable) finalizer.unregister(this);
      this.#h = null;
    }
    return h;
  }

  /** Evaluates and copies the values out synchronously. */
  dataSync<D extends Dtype = Dtype>(options: ReadOptions = {}): TypedArrayFor<D> {
    const buf = native.dataSync(this.handle, options.rawHalf === true);
    return typedView(buf, this.dtype, options.rawHalf === true) as TypedArrayFor<D>;
  }

  /**
   * Evaluates without blocking the event loop (MLX's `async_eval` runs the graph on its own
   * stream threads) and resolves with the values.
   */
  async data<D extends Dtype = Dtype>(options: ReadOptions = {}): Promise<TypedArrayFor<D>> {
    const h = this.handle;
    native.asyncEval([h]);
    await waitAvailable(h);
    return this.dataSync<D>(options);
  }

  /** The values as nested JS lists (64-bit integers as bigint, complex as `{re, im}`). */
  tolist(): NestedList {
    const flat = this.dataSync();
    const dtype = this.dtype;
    const shape = this.shape;
    let i = 0;
    const next = (): NestedList => element(flat, i++, dtype);
    const build = (dim: number): NestedList => {
      if (dim === shape.length) return next();
      const out: NestedList[] = [];
      for (let k = 0; k < shape[dim]; k++) out.push(build(dim + 1));
      return out;
    };
    return build(0);
  }

  /** The single value of a one-element array. */
  item(): number | boolean | bigint | { re: number; im: number } {
    if (this.size !== 1) {
      throw new MlxError(`[item] item() needs an array with exactly one element, got shape (${this.shape.join(',')})`);
    }
    // Read the element where it is: a reshaped copy would be a new graph node, and evaluating
    // it waits for everything queued on the stream since (on a GPU, the next decode step that
    // generation has already scheduled), not just for this array.
    return element(this.dataSync(), 0, this.dtype) as number | boolean | bigint | { re: number; im: number };
  }

  /** MLX's own printout, the same as Python's `repr(array)`. */
  toString(): string {
    if (this.#h === null) return 'array(<disposed>)';
    return native.describe(this.#h);
  }

  [inspect.custom](): string {
    return this.toString();
  }

  // ---- methods that mirror mlx.core.array ------------------------------------------------
  astype(dtype: Dtype): Array {
    return el.astype(this, dtype);
  }
  reshape(...shape: number[] | [number[]]): Array {
    return sh.reshape(this, flatShape(shape));
  }
  flatten(startAxis = 0, endAxis = -1): Array {
    return sh.flatten(this, startAxis, endAxis);
  }
  squeeze(axis?: number | number[]): Array {
    return sh.squeeze(this, axis);
  }
  expandDims(axis: number | number[]): Array {
    return sh.expandDims(this, axis);
  }
  transpose(...axes: number[] | [number[]]): Array {
    return sh.transpose(this, axes.length ? flatShape(axes) : undefined);
  }
  get T(): Array {
    return sh.transpose(this);
  }
  swapaxes(a: number, b: number): Array {
    return sh.swapaxes(this, a, b);
  }
  moveaxis(source: number, destination: number): Array {
    return sh.moveaxis(this, source, destination);
  }
  broadcastTo(shape: number[]): Array {
    return sh.broadcastTo(this, shape);
  }
  split(indicesOrSections: number | number[], axis = 0): Array[] {
    return sh.split(this, indicesOrSections, axis);
  }
  diagonal(offset = 0, axis1 = 0, axis2 = 1): Array {
    return sh.diagonal(this, offset, axis1, axis2);
  }

  /** Basic and advanced indexing: numbers, `sl(start, stop, step)` or `'1:3'`, `null` (new axis), `'...'`, int arrays. */
  index(...specs: IndexSpec[]): Array {
    return ix.index(this, ...specs);
  }
  /** Returns a new array with `value` written at `specs` (the array itself is unchanged). */
  put(specs: IndexSpec | IndexSpec[], value: ArrayLike): Array {
    return ix.put(this, specs, value);
  }

  add(b: ArrayLike): Array {
    return el.add(this, b);
  }
  subtract(b: ArrayLike): Array {
    return el.subtract(this, b);
  }
  multiply(b: ArrayLike): Array {
    return el.multiply(this, b);
  }
  divide(b: ArrayLike): Array {
    return el.divide(this, b);
  }
  floorDivide(b: ArrayLike): Array {
    return el.floorDivide(this, b);
  }
  remainder(b: ArrayLike): Array {
    return el.remainder(this, b);
  }
  power(b: ArrayLike): Array {
    return el.power(this, b);
  }
  matmul(b: Array): Array {
    return mm.matmul(this, b);
  }
  maximum(b: ArrayLike): Array {
    return el.maximum(this, b);
  }
  minimum(b: ArrayLike): Array {
    return el.minimum(this, b);
  }
  equal(b: ArrayLike): Array {
    return el.equal(this, b);
  }
  notEqual(b: ArrayLike): Array {
    return el.notEqual(this, b);
  }
  less(b: ArrayLike): Array {
    return el.less(this, b);
  }
  lessEqual(b: ArrayLike): Array {
    return el.lessEqual(this, b);
  }
  greater(b: ArrayLike): Array {
    return el.greater(this, b);
  }
  greaterEqual(b: ArrayLike): Array {
    return el.greaterEqual(this, b);
  }
  logicalAnd(b: ArrayLike): Array {
    return el.logicalAnd(this, b);
  }
  logicalOr(b: ArrayLike): Array {
    return el.logicalOr(this, b);
  }
  logicalNot(): Array {
    return el.logicalNot(this);
  }

  negative(): Array {
    return el.negative(this);
  }
  abs(): Array {
    return el.abs(this);
  }
  square(): Array {
    return el.square(this);
  }
  sqrt(): Array {
    return el.sqrt(this);
  }
  rsqrt(): Array {
    return el.rsqrt(this);
  }
  reciprocal(): Array {
    return el.reciprocal(this);
  }
  exp(): Array {
    return el.exp(this);
  }
  log(): Array {
    return el.log(this);
  }
  log1p(): Array {
    return el.log1p(this);
  }
  sin(): Array {
    return el.sin(this);
  }
  cos(): Array {
    return el.cos(this);
  }
  round(decimals = 0): Array {
    return el.round(this, decimals);
  }

  sum(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.sum(this, axis, keepdims);
  }
  mean(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.mean(this, axis, keepdims);
  }
  prod(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.prod(this, axis, keepdims);
  }
  max(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.max(this, axis, keepdims);
  }
  min(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.min(this, axis, keepdims);
  }
  all(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.all(this, axis, keepdims);
  }
  any(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.any(this, axis, keepdims);
  }
  logsumexp(axis?: number | number[] | AxisOptions, keepdims?: boolean): Array {
    return red.logsumexp(this, axis, keepdims);
  }
  var(axis?: number | number[] | AxisOptions, keepdims?: boolean, ddof?: number): Array {
    return red.variance(this, axis, keepdims, ddof);
  }
  std(axis?: number | number[] | AxisOptions, keepdims?: boolean, ddof?: number): Array {
    return red.std(this, axis, keepdims, ddof);
  }
  argmax(axis?: number, keepdims?: boolean): Array {
    return red.argmax(this, axis, keepdims);
  }
  argmin(axis?: number, keepdims?: boolean): Array {
    return red.argmin(this, axis, keepdims);
  }
  cumsum(axis?: number, options?: { reverse?: boolean; inclusive?: boolean }): Array {
    return red.cumsum(this, axis, options);
  }
  cumprod(axis?: number, options?: { reverse?: boolean; inclusive?: boolean }): Array {
    return red.cumprod(this, axis, options);
  }
}

registerArrayClass(Array);

/** @internal Wraps a native handle as a tracked Array (inside `tidy`, it joins the scope). */
export function wrap(h: NativeArray): Array {
  const a = new Array(h);
  if (!track(a)) a.finalizeWhenCollected();
  return a;
}

/** @internal Wraps a list of native handles. */
export function wrapAll(hs: NativeArray[]): Array[] {
  return hs.map(wrap);
}

/** @internal The native handle of an Array argument, with a clear error for anything else. */
export function handleOf(a: unknown, what = 'argument'): NativeArray {
  if (a instanceof Array) return a.handle;
  throw new TypeError(`${what} must be an mlx Array, got ${describeValue(a)}`);
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (globalThis.Array.isArray(v)) return 'a JS array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function flatShape(args: number[] | [number[]]): number[] {
  return globalThis.Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}

function typedView(buf: Buffer, dtype: Dtype, rawHalf: boolean): AnyTypedArray {
  const size = dtype === 'float16' || dtype === 'bfloat16' ? (rawHalf ? 2 : 4) : itemsize(dtype);
  let ab = buf.buffer;
  let off = buf.byteOffset;
  if (off % size !== 0) {
    const copy = new Uint8Array(buf.byteLength);
    copy.set(buf);
    ab = copy.buffer;
    off = 0;
  }
  const n = buf.byteLength / size;
  switch (dtype) {
    case 'bool':
    case 'uint8':
      return new Uint8Array(ab, off, n);
    case 'uint16':
      return new Uint16Array(ab, off, n);
    case 'uint32':
      return new Uint32Array(ab, off, n);
    case 'uint64':
      return new BigUint64Array(ab, off, n);
    case 'int8':
      return new Int8Array(ab, off, n);
    case 'int16':
      return new Int16Array(ab, off, n);
    case 'int32':
      return new Int32Array(ab, off, n);
    case 'int64':
      return new BigInt64Array(ab, off, n);
    case 'float16':
    case 'bfloat16':
      return rawHalf ? new Uint16Array(ab, off, n) : new Float32Array(ab, off, n);
    case 'float64':
      return new Float64Array(ab, off, n);
    case 'float32':
      return new Float32Array(ab, off, n);
    case 'complex64':
      return new Float32Array(ab, off, n * 2);
  }
}

/**
 * Waits for an asynchronously evaluated array without blocking the event loop: first by
 * yielding to it (setImmediate), then with short timers. MLX computes on its own threads.
 */
export async function waitAvailable(h: NativeArray): Promise<void> {
  let spins = 0;
  while (!native.isAvailable(h)) {
    if (spins++ < 200) await new Promise<void>((r) => setImmediate(r));
    else await new Promise<void>((r) => setTimeout(r, 1));
  }
  native.wait(h); // raises any error the asynchronous evaluation hit
}

/**
 * @internal Intermediate native handles that never become user-visible Arrays: collect them
 * with `t(h)` and `release()` them (except the result) when done.
 */
export class Scratch {
  #handles: NativeArray[] = [];
  t = (h: NativeArray): NativeArray => {
    this.#handles.push(h);
    return h;
  };
  /** Releases every collected handle except `keep`. */
  release(keep?: NativeArray): void {
    for (const h of this.#handles) if (h !== keep) native.release(h);
    this.#handles = [];
  }
}

/** @internal Wraps a handle without joining a tidy scope (module-owned state). */
export function wrapUntracked(h: NativeArray): Array {
  const a = new Array(h);
  a.finalizeWhenCollected();
  return a;
}
