/** Creating arrays from JS values and from shapes. Semantics follow `mlx.core`. */
import { Array, describeValue, wrap } from './array.js';
import { checkIntFits, type Dtype, dtypeCode, int32, isInt32, isInteger } from './dtype.js';
import { type HostValues, rememberHostRange } from './host-indices.js';
import { native } from './native.js';
import type { ArrayLike, ArrayLikeNested, DtypeOptions, Scalar } from './types.js';

type DtypeArg = Dtype | DtypeOptions | undefined;

function dtypeOf(arg: DtypeArg): Dtype | undefined {
  if (arg === undefined) return undefined;
  if (typeof arg === 'string') return arg;
  // (A JS list is not an options object: ['float32'] must not silently mean "no dtype".)
  if (typeof arg === 'object' && arg !== null && !globalThis.Array.isArray(arg)) return arg.dtype;
  throw new TypeError(`expected a dtype or { dtype }, got ${describeValue(arg)}`);
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * Creates an array from numbers, booleans, bigints, nested lists, TypedArrays or another Array.
 * Without `dtype`: booleans → bool, bigints → int64, integer-valued numbers → int32 (int64 when
 * they do not fit), other numbers → float32; a TypedArray keeps its own type (Float64Array →
 * float32, as MLX does with float64 NumPy arrays). A `Uint16Array` with dtype
 * `float16`/`bfloat16` is taken as raw bits.
 *
 * @example
 * const x = mx.array([[1, 2], [3, 4]], { dtype: 'float32' });
 */
export function array(data: ArrayLike, options?: DtypeArg): Array {
  const dtype = dtypeOf(options);
  if (dtype !== undefined) dtypeCode(dtype);
  if (data instanceof Array) {
    return dtype === undefined || dtype === data.dtype
      ? wrap(native.astype(data.handle, dtypeCode(data.dtype)))
      : wrap(native.astype(data.handle, dtypeCode(dtype)));
  }
  if (ArrayBuffer.isView(data)) return fromTypedArray(data, dtype);
  if (typeof data === 'number' || typeof data === 'boolean' || typeof data === 'bigint') {
    return scalarArray(data, dtype);
  }
  if (globalThis.Array.isArray(data)) return fromNested(data, dtype);
  throw new TypeError(`mx.array: cannot make an array from ${describeValue(data)}`);
}

function scalarArray(v: Scalar, dtype: Dtype | undefined): Array {
  const d = dtype ?? inferScalar(v);
  if (typeof v === 'bigint') {
    if (!isInteger(d)) return wrap(native.scalar(Number(v), dtypeCode(d)));
    checkIntFits(v, d);
    return wrap(native.scalarInt(v, dtypeCode(d)));
  }
  if (typeof v === 'number' && Number.isInteger(v) && isInteger(d) && !Number.isSafeInteger(v)) {
    return wrap(native.scalarInt(BigInt(v), dtypeCode(d)));
  }
  return wrap(native.scalar(typeof v === 'boolean' ? (v ? 1 : 0) : v, dtypeCode(d)));
}

function inferScalar(v: Scalar): Dtype {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int64';
  if (Number.isInteger(v)) return v >= INT32_MIN && v <= INT32_MAX ? 'int32' : 'int64';
  return 'float32';
}

const TYPED_DTYPE: [new (...a: never[]) => ArrayBufferView, Dtype][] = [
  [Float32Array, 'float32'],
  [Int32Array, 'int32'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray, 'uint8'],
  [Int8Array, 'int8'],
  [Int16Array, 'int16'],
  [Uint16Array, 'uint16'],
  [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'],
  [Float64Array, 'float64'],
];

function fromTypedArray(view: ArrayBufferView, dtype: Dtype | undefined, shape?: number[]): Array {
  if (view instanceof DataView) throw new TypeError('mx.array: DataView is not supported; pass a TypedArray');
  const entry = TYPED_DTYPE.find(([C]) => view instanceof C);
  if (!entry) throw new TypeError(`mx.array: unsupported TypedArray ${describeValue(view)}`);
  let natural = entry[1];
  const n = (view as unknown as { length: number }).length;
  const s = shape ?? [n];
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  // Raw half-precision bits.
  if (natural === 'uint16' && (dtype === 'float16' || dtype === 'bfloat16')) {
    return wrap(native.fromBytes(bytes, s, dtypeCode(dtype)));
  }
  // Float64 data defaults to float32 (MLX's choice for float64 host data), unless asked.
  const made = wrap(native.fromBytes(bytes, s, dtypeCode(natural)));
  const target = dtype ?? (natural === 'float64' ? 'float32' : natural);
  if (target === natural) {
    if (isInteger(natural)) rememberHostRange(made, view as unknown as HostValues);
    return made;
  }
  const cast = wrap(native.astype(made.handle, dtypeCode(target)));
  made.dispose();
  natural = target;
  return cast;
}

function fromNested(data: readonly ArrayLikeNested[], dtype: Dtype | undefined): Array {
  // Lists of mlx Arrays are stacked, as in MLX's Python API.
  if (data.length > 0 && data.every((d) => d instanceof Array)) {
    const stacked = wrap(
      native.stack(
        (data as Array[]).map((a) => a.handle),
        0,
      ),
    );
    return dtype && dtype !== stacked.dtype ? wrap(native.astype(stacked.handle, dtypeCode(dtype))) : stacked;
  }
  const shape: number[] = [];
  const leaves: Scalar[] = [];
  walk(data, 0, shape, leaves);
  const d = dtype ?? inferList(leaves);
  const typed = toTyped(leaves, d);
  // Always pass `d`: left undefined, float64 host data would take the Float64Array default (float32).
  return fromTypedArray(typed.view, d, shape);
}

function walk(node: ArrayLikeNested, depth: number, shape: number[], leaves: Scalar[]): void {
  if (globalThis.Array.isArray(node)) {
    if (depth === shape.length) shape.push(node.length);
    else if (shape[depth] !== node.length) {
      throw new TypeError(`mx.array: nested lists have inconsistent lengths at depth ${depth} (${shape[depth]} vs ${node.length})`);
    }
    for (const child of node) walk(child, depth + 1, shape, leaves);
    return;
  }
  if (depth !== shape.length) throw new TypeError(`mx.array: nested lists are ragged at depth ${depth}`);
  if (typeof node === 'number' || typeof node === 'boolean' || typeof node === 'bigint') {
    leaves.push(node);
    return;
  }
  if (node instanceof Array) {
    throw new TypeError('mx.array: a list may hold mlx Arrays only at its top level (they are stacked)');
  }
  throw new TypeError(`mx.array: unsupported element ${describeValue(node)}`);
}

function inferList(leaves: Scalar[]): Dtype {
  if (leaves.length === 0) return 'float32';
  let allBool = true;
  let anyBig = false;
  let allInt = true;
  let big = false;
  for (const v of leaves) {
    if (typeof v !== 'boolean') allBool = false;
    if (typeof v === 'bigint') anyBig = true;
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) allInt = false;
      else if (v < INT32_MIN || v > INT32_MAX) big = true;
    }
  }
  if (allBool) return 'bool';
  if (!allInt) return 'float32';
  return anyBig || big ? 'int64' : 'int32';
}

/** Leaves into a host TypedArray; half precision goes through float32 and is cast on device. */
function toTyped(leaves: Scalar[], d: Dtype): { view: ArrayBufferView; hostDtype: Dtype } {
  const num = (v: Scalar) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v));
  const big = (v: Scalar) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(num(v))));
  switch (d) {
    case 'bool':
      return { view: Uint8Array.from(leaves, (v) => (num(v) !== 0 ? 1 : 0)), hostDtype: 'uint8' };
    case 'uint8':
      return { view: Uint8Array.from(leaves, num), hostDtype: 'uint8' };
    case 'uint16':
      return { view: Uint16Array.from(leaves, num), hostDtype: 'uint16' };
    case 'uint32':
      return { view: Uint32Array.from(leaves, num), hostDtype: 'uint32' };
    case 'uint64':
      return { view: BigUint64Array.from(leaves, big), hostDtype: 'uint64' };
    case 'int8':
      return { view: Int8Array.from(leaves, num), hostDtype: 'int8' };
    case 'int16':
      return { view: Int16Array.from(leaves, num), hostDtype: 'int16' };
    case 'int32':
      return { view: Int32Array.from(leaves, num), hostDtype: 'int32' };
    case 'int64':
      return { view: BigInt64Array.from(leaves, big), hostDtype: 'int64' };
    case 'float64':
      return { view: Float64Array.from(leaves, num), hostDtype: 'float64' };
    // Real parts as float32; the cast to complex64 adds the zero imaginary parts (interleaved
    // pairs here would not match the element count of `shape`).
    case 'complex64':
      return { view: Float32Array.from(leaves, num), hostDtype: 'float32' };
    default:
      return { view: Float32Array.from(leaves, num), hostDtype: 'float32' };
  }
}

/** Turns any ArrayLike into an Array (Arrays pass through unchanged). */
export function asArray(x: ArrayLike, dtype?: Dtype): Array {
  return x instanceof Array ? x : array(x, dtype);
}

function checkShape(shape: unknown): number[] {
  const s = typeof shape === 'number' ? [shape] : shape;
  // int32: MLX's dimensions are int32 (a larger number would wrap when crossing the FFI).
  if (!globalThis.Array.isArray(s) || !s.every((d) => isInt32(d) && d >= 0)) {
    throw new TypeError(`shape must be a non-negative integer or a list of them, got ${JSON.stringify(shape)}`);
  }
  return s;
}

/** An array of `shape` filled with `value` (its dtype unless `dtype` is given). */
export function full(shape: number | number[], value: ArrayLike, options?: DtypeArg): Array {
  const d = dtypeOf(options);
  const v = asArray(value);
  return wrap(native.full(checkShape(shape), v.handle, d === undefined ? undefined : dtypeCode(d)));
}
function filled(shape: number | number[], value: number, options: DtypeArg): Array {
  const s = checkShape(shape);
  const v = native.scalar(value, dtypeCode(dtypeOf(options) ?? 'float32'));
  const out = wrap(native.full(s, v, undefined));
  native.release(v);
  return out;
}
export function zeros(shape: number | number[], options?: DtypeArg): Array {
  return filled(shape, 0, options);
}
export function ones(shape: number | number[], options?: DtypeArg): Array {
  return filled(shape, 1, options);
}
export function zerosLike(a: Array, options?: DtypeArg): Array {
  return zeros(a.shape, dtypeOf(options) ?? a.dtype);
}
export function onesLike(a: Array, options?: DtypeArg): Array {
  return ones(a.shape, dtypeOf(options) ?? a.dtype);
}
export function fullLike(a: Array, value: ArrayLike, options?: DtypeArg): Array {
  return full(a.shape, value, dtypeOf(options) ?? a.dtype);
}

/**
 * `arange(stop)`, `arange(start, stop, step = 1)`; int32 when all bounds are integers,
 * float32 otherwise, unless `dtype` is given.
 */
export function arange(start: number, stop?: number, step?: number, options?: DtypeArg): Array {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  step ??= 1;
  for (const [n, v] of [
    ['start', start],
    ['stop', stop],
    ['step', step],
  ] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`arange: ${n} must be a finite number`);
  }
  const d = dtypeOf(options) ?? ([start, stop, step].every(Number.isInteger) ? 'int32' : 'float32');
  return wrap(native.arange(start, stop, step, dtypeCode(d)));
}

export function linspace(start: number, stop: number, num = 50, options?: DtypeArg): Array {
  int32(num, 'linspace: num');
  return wrap(native.linspace(start, stop, num, dtypeCode(dtypeOf(options) ?? 'float32')));
}

export function eye(n: number, m?: number, k = 0, options?: DtypeArg): Array {
  int32(n, 'eye: n');
  if (m !== undefined) int32(m, 'eye: m');
  int32(k, 'eye: k');
  return wrap(native.eye(n, m ?? n, k, dtypeCode(dtypeOf(options) ?? 'float32')));
}

export function identity(n: number, options?: DtypeArg): Array {
  return eye(n, n, 0, options);
}

export function tri(n: number, m?: number, k = 0, options?: DtypeArg): Array {
  int32(n, 'tri: n');
  if (m !== undefined) int32(m, 'tri: m');
  int32(k, 'tri: k');
  return wrap(native.tri(n, m ?? n, k, dtypeCode(dtypeOf(options) ?? 'float32')));
}
