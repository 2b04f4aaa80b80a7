// Elementwise math, arithmetic with broadcasting, comparisons, logic and bit ops, reductions,
// scans, sorting and selection: @mlxn/core against golden values from Python MLX
// (tooling/reference/core_golden.py -> test/fixtures/ops.json). Each case below mirrors the
// Python case of the same name. Tolerances: float32 rtol 1e-5 / atol 1e-6, float16 1e-3,
// bfloat16 8e-3; integers and bools exactly.
import { describe, expect, it } from 'vitest';
import * as mx from '../src/index.js';
import { type CaseSpec, flatValues, loadFixture, parityCases } from './parity-helpers.js';

const fx = loadFixture('ops');
const cpu = <T>(fn: () => T): T => mx.withStream(mx.cpu, fn);
const { sl } = mx;
type A = mx.Array;
type I = Record<string, A>;
const T: Record<string, CaseSpec> = {};

// ---- unary math ----
const unaryX: Record<string, (a: A) => A> = {
  exp: mx.exp,
  expm1: mx.expm1,
  sin: mx.sin,
  cos: mx.cos,
  tan: mx.tan,
  arctan: mx.arctan,
  sinh: mx.sinh,
  cosh: mx.cosh,
  tanh: mx.tanh,
  arcsinh: mx.arcsinh,
  erf: mx.erf,
  sigmoid: mx.sigmoid,
  floor: mx.floor,
  ceil: mx.ceil,
  abs: mx.abs,
  sign: mx.sign,
  square: mx.square,
  negative: mx.negative,
  reciprocal: mx.reciprocal,
  degrees: mx.degrees,
  radians: mx.radians,
  isnan: mx.isnan,
  isinf: mx.isinf,
  isfinite: mx.isfinite,
  isposinf: mx.isposinf,
  isneginf: mx.isneginf,
  logical_not: mx.logicalNot,
};
for (const [name, f] of Object.entries(unaryX)) {
  T[`${name}_X`] = (I: I) => f(I.X);
  T[`${name}_SP`] = (I: I) => f(I.SP);
}
const unaryP: Record<string, (a: A) => A> = {
  log: mx.log,
  log2: mx.log2,
  log10: mx.log10,
  log1p: mx.log1p,
  sqrt: mx.sqrt,
  rsqrt: mx.rsqrt,
};
for (const [name, f] of Object.entries(unaryP)) {
  T[`${name}_P`] = (I: I) => f(I.P);
  T[`${name}_SP`] = (I: I) => f(I.SP);
}
const unaryU: Record<string, (a: A) => A> = { arcsin: mx.arcsin, arccos: mx.arccos, arctanh: mx.arctanh, erfinv: mx.erfinv };
for (const [name, f] of Object.entries(unaryU)) {
  T[`${name}_U`] = (I: I) => f(I.U);
  T[`${name}_SP`] = (I: I) => f(I.SP);
}
T.arccosh_G = (I: I) => mx.arccosh(I.G);
for (const dec of [0, 1, 2, -1]) T[`round_${dec}`] = (I: I) => mx.round(I.R, dec);
Object.assign(T, {
  round_int: (I: I) => mx.round(I.Ia, -1),
  abs_int: (I: I) => mx.abs(I.Ia),
  sign_int: (I: I) => mx.sign(I.Ia),
  square_int: (I: I) => mx.square(I.Ia),
  negative_int: (I: I) => mx.negative(I.Ia),
  exp_f16: (I: I) => mx.exp(I.X.astype('float16')),
  sigmoid_bf16: (I: I) => mx.sigmoid(I.X.astype('bfloat16')),
  nan_to_num: (I: I) => mx.nanToNum(I.SP, { nan: -1, posinf: 100 }),
  stop_gradient: (I: I) => mx.stopGradient(I.X),
  isclose: (I: I) => mx.isclose(I.Na, mx.array([1 + 1e-6, NaN, 3.1, 0, -1, Infinity], 'float32')),
  isclose_equal_nan: (I: I) => mx.isclose(I.Na, I.Na, { rtol: 0, atol: 0.5, equalNan: true }),
  allclose: (I: I) => mx.allclose(I.X, mx.add(I.X, 1e-7)),
  allclose_false: (I: I) => mx.allclose(I.X, mx.add(I.X, 1e-3), { atol: 1e-4 }),
  array_equal: (I: I) => mx.arrayEqual(I.Ia, I.Ia.astype('float32')),
  array_equal_nan: (I: I) => mx.arrayEqual(I.Na, I.Na, true),
  view_f32_i32: (I: I) => mx.view(I.Fa, 'int32'),
  view_i32_u8: (I: I) => mx.view(I.Ji, 'uint8'),
  view_u8_i16: (I: I) => mx.view(I.Ua, 'int16'),
  // float64 and int64 keep full precision for JS scalars
  // float64: MLX computes it on the CPU only.
  f64_add_scalar: (I: I) => cpu(() => mx.add(I.D, 0.1)),
  f64_mul_scalar_first: (I: I) => cpu(() => mx.multiply(1e-10, I.D)),
  f64_where_scalar: (I: I) => cpu(() => mx.where(mx.greater(I.D, 0), I.D, 0.1)),
  f64_clip_scalar: (I: I) => cpu(() => mx.clip(I.D, 0.1, 3.0000000001)),
  f64_ops: (I: I) => cpu(() => [mx.exp(I.D.index(sl(null, 2))), mx.sqrt(mx.abs(I.D)), mx.sum(I.D), mx.divide(I.D, 3)]),
  i64_add_big: (I: I) => mx.add(I.L, 2 ** 60),
  i64_sub_scalar_first: (I: I) => mx.subtract(2 ** 50, I.L),
  i64_ops: (I: I) => [
    mx.multiply(I.L, 3),
    mx.floorDivide(I.L, 7),
    mx.remainder(I.L, 7),
    mx.sum(I.L),
    mx.max(I.L),
    mx.cumsum(I.L),
    mx.rightShift(I.L, 3),
  ],
  // complex
  complex_mul: (I: I) => mx.multiply(I.Cx, I.Cy),
  complex_div: (I: I) => mx.divide(I.Cx, I.Cy),
  complex_add_scalar: (I: I) => mx.add(I.Cx, 1.5),
  complex_abs: (I: I) => mx.abs(I.Cx),
  complex_conj: (I: I) => mx.conjugate(I.Cx),
  complex_real_imag: (I: I) => [mx.real(I.Cx), mx.imag(I.Cx)],
  complex_exp: (I: I) => mx.exp(I.Cx),
  complex_sum: (I: I) => mx.sum(I.Cx),
  complex_from_float: (I: I) => mx.multiply(I.X.index(0).astype('complex64'), I.Cx),
});

// ---- binary, with broadcasting ----
const binary: Record<string, (a: mx.ArrayLike, b: mx.ArrayLike) => A> = {
  add: mx.add,
  subtract: mx.subtract,
  multiply: mx.multiply,
  divide: mx.divide,
  maximum: mx.maximum,
  minimum: mx.minimum,
  arctan2: mx.arctan2,
  logaddexp: mx.logaddexp,
  equal: mx.equal,
  not_equal: mx.notEqual,
  less: mx.less,
  less_equal: mx.lessEqual,
  greater: mx.greater,
  greater_equal: mx.greaterEqual,
  floor_divide: mx.floorDivide,
  remainder: mx.remainder,
  logical_and: mx.logicalAnd,
  logical_or: mx.logicalOr,
  bitwise_and: mx.bitwiseAnd,
  bitwise_or: mx.bitwiseOr,
  bitwise_xor: mx.bitwiseXor,
};
for (const name of [
  'add',
  'subtract',
  'multiply',
  'divide',
  'maximum',
  'minimum',
  'arctan2',
  'logaddexp',
  'equal',
  'not_equal',
  'less',
  'less_equal',
  'greater',
  'greater_equal',
]) {
  const f = binary[name];
  T[`${name}_XY`] = (I: I) => f(I.X, I.Y);
  T[`${name}_Xrow`] = (I: I) => f(I.X, I.row);
  T[`${name}_colrow`] = (I: I) => f(I.col, I.row);
}
for (const name of ['add', 'subtract', 'multiply', 'divide', 'floor_divide', 'remainder']) {
  const f = binary[name];
  T[`${name}_int`] = (I: I) => f(I.Ia, I.Ib);
  T[`${name}_float`] = (I: I) => f(I.Fa, I.Fb);
}
for (const name of ['maximum', 'minimum', 'logaddexp', 'equal', 'not_equal', 'less', 'greater_equal', 'add']) {
  const f = binary[name];
  T[`${name}_nan`] = (I: I) => f(I.Na, I.Nb);
}
for (const name of ['logical_and', 'logical_or']) T[`${name}_bool`] = (I: I) => binary[name](I.Ba, I.Bb);
for (const name of ['bitwise_and', 'bitwise_or', 'bitwise_xor']) {
  const f = binary[name];
  T[`${name}_u8`] = (I: I) => f(I.Ua, I.Ub);
  T[`${name}_i32`] = (I: I) => f(I.Ji, I.Js);
  T[`${name}_bool`] = (I: I) => f(I.Ba, I.Bb);
}
Object.assign(T, {
  divmod_int: (I: I) => mx.divmod(I.Ia, I.Ib),
  divmod_float: (I: I) => mx.divmod(I.Fa, I.Fb),
  floor_divide_scalar: (I: I) => mx.floorDivide(I.Ia, -3),
  remainder_scalar: (I: I) => mx.remainder(I.Ia, -3),
  remainder_float_scalar: (I: I) => mx.remainder(I.Fa, 2.5),
  power_float: (I: I) => mx.power(I.P, I.X),
  power_int: (I: I) => mx.power(I.Ia, I.Pb),
  power_scalar: (I: I) => mx.power(I.X, 2),
  power_scalar_half: (I: I) => mx.power(I.P, 0.5),
  rpower_scalar: (I: I) => mx.power(2, I.Pb),
  logaddexp_inf: () => mx.logaddexp(mx.array([-Infinity, -Infinity, 1], 'float32'), mx.array([-Infinity, 2, Infinity], 'float32')),
  logical_and_float: (I: I) => mx.logicalAnd(mx.greater(I.X, 0), mx.less(I.Y, 0.5)),
  bitwise_invert_u8: (I: I) => mx.bitwiseInvert(I.Ua),
  bitwise_invert_i32: (I: I) => mx.bitwiseInvert(I.Ji),
  left_shift_u8: (I: I) => mx.leftShift(I.Ua, I.Sh),
  right_shift_u8: (I: I) => mx.rightShift(I.Ua, I.Sh),
  left_shift_i32: (I: I) => mx.leftShift(I.Ji, I.Js),
  right_shift_i32: (I: I) => mx.rightShift(I.Ji, I.Js),
  left_shift_scalar: (I: I) => mx.leftShift(I.Ji, 2),
  right_shift_scalar: (I: I) => mx.rightShift(I.Ua, 1),
  add_scalar_int: (I: I) => mx.add(I.Ia, 5),
  add_scalar_float: (I: I) => mx.add(I.Ia, 0.25),
  subtract_scalar_first: (I: I) => mx.subtract(10, I.Ia),
  divide_scalar_first: (I: I) => mx.divide(1.5, I.Fb),
  multiply_f16_scalar: (I: I) => mx.multiply(I.X.astype('float16'), 1.5),
  add_int8_f32: (I: I) => mx.add(I.Ia.astype('int8'), I.X.index(0, mx.sl(), mx.sl())),
  add_u8_i8: (I: I) => mx.add(I.Ua, I.Ub.astype('int8')),
  add_bf16_f16: (I: I) => mx.add(I.X.astype('bfloat16'), I.X.astype('float16')),
});

// ---- where / clip / softmax ----
Object.assign(T, {
  where: (I: I) => mx.where(mx.greater(I.X, 0), I.X, I.Y),
  where_scalar: (I: I) => mx.where(I.Ba, 1.5, -2),
  where_int_scalar: (I: I) => mx.where(mx.greater(I.Ia, 0), I.Ia, 0.5),
  clip_scalars: (I: I) => mx.clip(I.X, -0.5, 1.25),
  clip_min_only: (I: I) => mx.clip(I.X, 0, null),
  clip_max_only: (I: I) => mx.clip(I.Ia, null, 2),
  clip_arrays: (I: I) => mx.clip(I.X, mx.subtract(I.row, 1), mx.add(I.row, 1)),
  softmax_last: (I: I) => mx.softmax(I.X, -1),
  softmax_all: (I: I) => mx.softmax(I.X),
  softmax_axes: (I: I) => mx.softmax(I.X, [0, 2]),
  softmax_precise_f16: (I: I) => mx.softmax(I.X.astype('float16'), -1, { precise: true }),
  softmax_inf: () =>
    mx.softmax(
      mx.array(
        [
          [-Infinity, 0, 1],
          [2, -Infinity, 2],
        ],
        'float32',
      ),
    ),
  // mx.logSoftmax is @mlxn's own (mlx.core has none): it must equal x - logsumexp(x, -1, keepdims).
  log_softmax_ref: (I: I) => mx.logSoftmax(I.X, -1),
});

// ---- reductions ----
const axesVariants: Record<string, number | number[] | undefined> = { all: undefined, a1: 1, a02: [0, 2], aneg1: -1 };
const reductions: Record<string, (a: mx.ArrayLike, axis?: number | number[], keepdims?: boolean) => A> = {
  sum: mx.sum,
  mean: mx.mean,
  prod: mx.prod,
  max: mx.max,
  min: mx.min,
  logsumexp: mx.logsumexp,
};
for (const [name, f] of Object.entries(reductions)) {
  for (const [an, ax] of Object.entries(axesVariants)) T[`${name}_${an}`] = (I: I) => f(I.X, ax);
  T[`${name}_a1_keep`] = (I: I) => f(I.X, 1, true);
}
for (const [name, f] of [
  ['var', mx.variance],
  ['std', mx.std],
] as const) {
  T[`${name}_all`] = (I: I) => f(I.X);
  T[`${name}_a2`] = (I: I) => f(I.X, 2);
  T[`${name}_a2_ddof1`] = (I: I) => f(I.X, 2, false, 1);
  T[`${name}_a01_keep_ddof1`] = (I: I) => f(I.X, [0, 1], true, 1);
}
Object.assign(T, {
  sum_int: (I: I) => mx.sum(I.Ia, 0),
  sum_bool: (I: I) => mx.sum(I.Ba),
  sum_u8: (I: I) => mx.sum(I.Ua),
  mean_int: (I: I) => mx.mean(I.Ia, 1),
  prod_int: (I: I) => mx.prod(I.Ib, 1),
  max_int: (I: I) => mx.max(I.Ia, { axis: 1, keepdims: true }),
  max_nan: (I: I) => mx.max(I.Na),
  min_nan: (I: I) => mx.min(I.Na),
  sum_nan: (I: I) => mx.sum(I.Na),
});
for (const [name, f] of [
  ['argmax', mx.argmax],
  ['argmin', mx.argmin],
] as const) {
  T[`${name}_all`] = (I: I) => f(I.X);
  T[`${name}_a1`] = (I: I) => f(I.X, 1);
  T[`${name}_a2_keep`] = (I: I) => f(I.X, 2, true);
  T[`${name}_ties`] = () =>
    f(
      mx.array([
        [1, 3, 3, 0],
        [2, 2, 0, 0],
      ]),
      1,
    );
  T[`${name}_int`] = (I: I) => f(I.Ia, 0);
}
for (const [name, f] of [
  ['all', mx.all],
  ['any', mx.any],
] as const) {
  T[`${name}_all`] = (I: I) => f(I.Bi);
  T[`${name}_a2`] = (I: I) => f(I.Bi, 2);
  T[`${name}_a01_keep`] = (I: I) => f(I.Bi, [0, 1], true);
  T[`${name}_float`] = () =>
    f(
      mx.array(
        [
          [0, 1.5],
          [0, 0],
        ],
        'float32',
      ),
      1,
    );
}
Object.assign(T, {
  median_all: (I: I) => mx.median(I.X),
  median_a1: (I: I) => mx.median(I.X, 1),
  median_a2_keep: (I: I) => mx.median(I.X, 2, true),
  median_odd: (I: I) => mx.median(I.Q, 1),
});

// ---- scans ----
const scans: Record<string, (a: mx.ArrayLike, axis?: number | null, o?: mx.ScanOptions) => A> = {
  cumsum: mx.cumsum,
  cumprod: mx.cumprod,
  cummax: mx.cummax,
  cummin: mx.cummin,
  logcumsumexp: mx.logcumsumexp,
};
for (const [name, f] of Object.entries(scans)) {
  T[`${name}_flat`] = (I: I) => f(I.X);
  for (const reverse of [false, true]) {
    for (const inclusive of [true, false]) {
      if ((name === 'cummax' || name === 'cummin') && !inclusive) continue;
      T[`${name}_a1_r${Number(reverse)}_i${Number(inclusive)}`] = (I: I) => f(I.X, 1, { reverse, inclusive });
    }
  }
}
Object.assign(T, {
  cumsum_int: (I: I) => mx.cumsum(I.Ia, 1),
  cumsum_bool: (I: I) => mx.cumsum(I.Ba, 1),
  cumprod_int_rev: (I: I) => mx.cumprod(I.Ib, 1, { reverse: true }),
  cummax_int: (I: I) => mx.cummax(I.Ia, 0),
});

// ---- sorting and selection ----
Object.assign(T, {
  sort_last: (I: I) => mx.sort(I.X),
  sort_a0: (I: I) => mx.sort(I.X, 0),
  sort_flat: (I: I) => mx.sort(I.X, null),
  sort_int: (I: I) => mx.sort(I.Ia, 1),
  sort_nan: (I: I) => mx.sort(I.Na),
  argsort_last: (I: I) => mx.argsort(I.X),
  argsort_a1: (I: I) => mx.argsort(I.X, 1),
  argsort_flat: (I: I) => mx.argsort(I.X, null),
  partition_a0: (I: I) => mx.partition(I.Q, 1, 0).index(1),
  // topk's order is unspecified: both sides sort it.
  topk_3: (I: I) => mx.sort(mx.topk(I.T, 3), -1),
  topk_a0: (I: I) => mx.sort(mx.topk(I.Q, 2, 0), 0),
  topk_flat: (I: I) => mx.sort(mx.topk(I.X, 4, null)),
});
for (const k of [0, 2, 5]) {
  T[`partition_k${k}`] = (I: I) => {
    const p = mx.partition(I.T, k);
    return [mx.sort(p, -1), p.index(mx.sl(), k)];
  };
  T[`argpartition_k${k}`] = (I: I) => mx.takeAlongAxis(I.T, mx.argpartition(I.T, k), -1).index(mx.sl(), k);
}

describe('ops parity with Python MLX', () => {
  parityCases(fx, T);
});

describe('ops: properties the golden values do not pin down', () => {
  it('partition puts smaller values before kth and larger ones after', () => {
    const t = mx.array(
      [
        [3, 1, 2, 5, 4, 0.5],
        [-1, -3, 7, 2, 0, 6.5],
      ],
      'float32',
    );
    for (const k of [0, 2, 5]) {
      const p = mx.partition(t, k).tolist() as number[][];
      for (const row of p) {
        for (let i = 0; i < row.length; i++) {
          if (i < k) expect(row[i]).toBeLessThanOrEqual(row[k]);
          if (i > k) expect(row[i]).toBeGreaterThanOrEqual(row[k]);
        }
      }
    }
  });
  it('topk holds the k largest values', () => {
    const t = mx.array([5, 1, 9, 3, 7, 2], 'int32');
    const got = Array.from(flatValues(mx.topk(t, 3)) as number[]).sort((a, b) => a - b);
    expect(got).toEqual([5, 7, 9]);
  });
});
