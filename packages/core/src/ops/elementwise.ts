/** Elementwise arithmetic, comparison, logic and math, with MLX's broadcasting and promotion. */
import { Array, wrap } from '../array.js';
import { asArray } from '../create.js';
import { type Dtype, dtypeCode, weakScalarDtype } from '../dtype.js';
import { native } from '../native.js';
import type { ArrayLike, Scalar } from '../types.js';
import { BINARY, code, UNARY } from './codes.js';

const isScalar = (v: unknown): v is Scalar => typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint';

function scalarOp(op: number, arr: Array, s: Scalar, scalarFirst: boolean): Array {
  const d = weakScalarDtype(s, arr.dtype);
  if (typeof s === 'bigint' || (typeof s === 'number' && Number.isInteger(s) && !Number.isSafeInteger(s))) {
    const sa = asArray(s, d);
    const out = wrap(scalarFirst ? native.binary(op, sa.handle, arr.handle) : native.binary(op, arr.handle, sa.handle));
    sa.dispose();
    return out;
  }
  return wrap(native.binaryScalar(op, arr.handle, typeof s === 'boolean' ? Number(s) : s, dtypeCode(d), scalarFirst));
}

/** @internal Applies binary op `op` with JS scalars weakly typed against the array operand. */
export function binop(op: number, a: ArrayLike, b: ArrayLike): Array {
  if (a instanceof Array) {
    if (b instanceof Array) return wrap(native.binary(op, a.handle, b.handle));
    if (isScalar(b)) return scalarOp(op, a, b, false);
    return wrap(native.binary(op, a.handle, asArray(b).handle));
  }
  if (b instanceof Array) {
    if (isScalar(a)) return scalarOp(op, b, a, true);
    return wrap(native.binary(op, asArray(a).handle, b.handle));
  }
  return wrap(native.binary(op, asArray(a).handle, asArray(b).handle));
}

/** @internal */
export function unop(op: number, a: ArrayLike): Array {
  return wrap(native.unary(op, asArray(a).handle));
}

const B = (name: (typeof BINARY)[number]) => {
  const c = code(BINARY, name);
  return (a: ArrayLike, b: ArrayLike): Array => binop(c, a, b);
};
const U = (name: (typeof UNARY)[number]) => {
  const c = code(UNARY, name);
  return (a: ArrayLike): Array => unop(c, a);
};

export const add = B('Add');
export const subtract = B('Subtract');
export const multiply = B('Multiply');
export const divide = B('Divide');
export const floorDivide = B('FloorDivide');
export const remainder = B('Remainder');
export const power = B('Power');
export const maximum = B('Maximum');
export const minimum = B('Minimum');
export const equal = B('Equal');
export const notEqual = B('NotEqual');
export const less = B('Less');
export const lessEqual = B('LessEqual');
export const greater = B('Greater');
export const greaterEqual = B('GreaterEqual');
export const logicalAnd = B('LogicalAnd');
export const logicalOr = B('LogicalOr');
export const bitwiseAnd = B('BitwiseAnd');
export const bitwiseOr = B('BitwiseOr');
export const bitwiseXor = B('BitwiseXor');
export const leftShift = B('LeftShift');
export const rightShift = B('RightShift');
export const arctan2 = B('Arctan2');
export const logaddexp = B('Logaddexp');

export const abs = U('Abs');
export const negative = U('Negative');
export const sign = U('Sign');
export const sqrt = U('Sqrt');
export const rsqrt = U('Rsqrt');
export const square = U('Square');
export const reciprocal = U('Reciprocal');
export const exp = U('Exp');
export const expm1 = U('Expm1');
export const log = U('Log');
export const log2 = U('Log2');
export const log10 = U('Log10');
export const log1p = U('Log1p');
export const sin = U('Sin');
export const cos = U('Cos');
export const tan = U('Tan');
export const arcsin = U('Arcsin');
export const arccos = U('Arccos');
export const arctan = U('Arctan');
export const sinh = U('Sinh');
export const cosh = U('Cosh');
export const tanh = U('Tanh');
export const arcsinh = U('Arcsinh');
export const arccosh = U('Arccosh');
export const arctanh = U('Arctanh');
export const erf = U('Erf');
export const erfinv = U('Erfinv');
export const sigmoid = U('Sigmoid');
export const floor = U('Floor');
export const ceil = U('Ceil');
export const logicalNot = U('LogicalNot');
export const bitwiseInvert = U('BitwiseInvert');
/** Blocks gradients: the result is treated as a constant by `grad`, `vjp` and friends. */
export const stopGradient = U('StopGradient');
export const isnan = U('Isnan');
export const isinf = U('Isinf');
export const isfinite = U('Isfinite');
export const isposinf = U('Isposinf');
export const isneginf = U('Isneginf');
export const real = U('Real');
export const imag = U('Imag');
export const conjugate = U('Conjugate');
export const degrees = U('Degrees');
export const radians = U('Radians');
export const copy = U('Copy');

/** Quotient and remainder, elementwise. */
export function divmod(a: ArrayLike, b: ArrayLike): [Array, Array] {
  const [q, r] = native.divmod(asArray(a).handle, asArray(b).handle);
  return [wrap(q), wrap(r)];
}

/** Rounds to `decimals` places (half to even, as MLX does). */
export function round(a: ArrayLike, decimals = 0): Array {
  return wrap(native.round(asArray(a).handle, decimals));
}

export function astype(a: ArrayLike, dtype: Dtype): Array {
  return wrap(native.astype(asArray(a).handle, dtypeCode(dtype)));
}

/** Reinterprets the bits of `a` as `dtype` (sizes may differ: the last axis rescales). */
export function view(a: ArrayLike, dtype: Dtype): Array {
  return wrap(native.view(asArray(a).handle, dtypeCode(dtype)));
}

/** `condition ? x : y`, elementwise with broadcasting. */
export function where(condition: ArrayLike, x: ArrayLike, y: ArrayLike): Array {
  const c = asArray(condition);
  if (x instanceof Array && !(y instanceof Array)) {
    return wrap(native.where(c.handle, x.handle, asArray(y, weakScalarDtype(y as Scalar, x.dtype)).handle));
  }
  if (y instanceof Array && !(x instanceof Array)) {
    return wrap(native.where(c.handle, asArray(x, weakScalarDtype(x as Scalar, y.dtype)).handle, y.handle));
  }
  return wrap(native.where(c.handle, asArray(x).handle, asArray(y).handle));
}

/** Limits values to `[min, max]`; either bound may be `null`. */
export function clip(a: ArrayLike, min: ArrayLike | null, max: ArrayLike | null): Array {
  const arr = asArray(a);
  if (min === null && max === null) throw new TypeError('clip: at least one of min and max must be given');
  const bound = (v: ArrayLike | null) =>
    v === null ? undefined : v instanceof Array ? v.handle : asArray(v, weakScalarDtype(v as Scalar, arr.dtype)).handle;
  return wrap(native.clip(arr.handle, bound(min), bound(max)));
}

export function nanToNum(a: ArrayLike, options: { nan?: number; posinf?: number; neginf?: number } = {}): Array {
  return wrap(native.nanToNum(asArray(a).handle, options.nan ?? 0, options.posinf, options.neginf));
}

export function isclose(a: ArrayLike, b: ArrayLike, options: { rtol?: number; atol?: number; equalNan?: boolean } = {}): Array {
  return wrap(native.isclose(asArray(a).handle, asArray(b).handle, options.rtol ?? 1e-5, options.atol ?? 1e-8, options.equalNan ?? false));
}

export function allclose(a: ArrayLike, b: ArrayLike, options: { rtol?: number; atol?: number; equalNan?: boolean } = {}): Array {
  const close = isclose(a, b, options);
  const out = wrap(native.reduce(5, close.handle, undefined, false, 0));
  close.dispose();
  return out;
}

export function arrayEqual(a: ArrayLike, b: ArrayLike, equalNan = false): Array {
  return wrap(native.arrayEqual(asArray(a).handle, asArray(b).handle, equalNan));
}
