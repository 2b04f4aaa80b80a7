/**
 * A battery of invalid calls, run in a child process by never-abort.test.ts.
 *
 * Every call must throw (or reject with) an Error that has a useful message; none may abort
 * the process. Prints one JSON line `{ total, threw, didNotThrow, wrong, records }` and exits 0.
 * (`wrong`: calls that threw, but not what they should: e.g. a transform that did not give back
 * the user's own exception, or a disposed array without code ERR_MLXN_DISPOSED.)
 */
import * as mx from '../../src/index.js';
import { handleOf, native } from '../../src/internal.js';

type Check = (e: unknown) => string | null; // null: acceptable; otherwise what is wrong
interface Case {
  name: string;
  fn: () => unknown;
  check?: Check;
}

const cases: Case[] = [];
const t = (name: string, fn: () => unknown, check?: Check) => cases.push({ name, fn, check });

const isErr: Check = (e) => (e instanceof Error ? null : `threw a non-Error ${typeof e}`);
const sameAs =
  (expected: unknown): Check =>
  (e) =>
    e === expected ? null : `expected the user's own exception, got ${String(e)}`;
const disposedCode: Check = (e) =>
  (e as { code?: unknown })?.code === 'ERR_MLXN_DISPOSED'
    ? null
    : `expected code ERR_MLXN_DISPOSED, got ${(e as { code?: unknown })?.code}`;
const isMlx: Check = (e) => (e instanceof mx.MlxError ? null : `expected an MlxError, got ${(e as Error)?.name}`);

// ---- fixtures -------------------------------------------------------------------------
const f23 = mx.reshape(mx.arange(6, undefined, undefined, 'float32'), [2, 3]);
const f4 = mx.arange(4, undefined, undefined, 'float32');
const i23 = mx.reshape(mx.arange(6), [2, 3]);
const i4 = mx.arange(4);
const f234 = mx.zeros([2, 3, 4]);
const sq = mx.array(
  [
    [2, 1],
    [1, 3],
  ],
  'float32',
);
const singular = mx.array(
  [
    [1, 2],
    [2, 4],
  ],
  'float32',
);
const sm = mx.eval(f23, f4, i23, i4, f234, sq, singular);
void sm;

// ---- A. shapes that do not broadcast, for every binary elementwise op -----------------
const binaries = {
  add: mx.add,
  subtract: mx.subtract,
  multiply: mx.multiply,
  divide: mx.divide,
  floorDivide: mx.floorDivide,
  remainder: mx.remainder,
  power: mx.power,
  maximum: mx.maximum,
  minimum: mx.minimum,
  equal: mx.equal,
  notEqual: mx.notEqual,
  less: mx.less,
  lessEqual: mx.lessEqual,
  greater: mx.greater,
  greaterEqual: mx.greaterEqual,
  logicalAnd: mx.logicalAnd,
  logicalOr: mx.logicalOr,
  arctan2: mx.arctan2,
  logaddexp: mx.logaddexp,
} as const;
const badPairs: [number[], number[]][] = [
  [[2, 3], [4]],
  [[3], [4]],
  [
    [2, 3],
    [3, 2],
  ],
  [
    [5, 1, 2],
    [3, 3],
  ],
];
for (const [name, op] of Object.entries(binaries)) {
  for (const [sa, sb] of badPairs) {
    t(`${name} ${JSON.stringify(sa)} with ${JSON.stringify(sb)}`, () => op(mx.ones(sa), mx.ones(sb)), isMlx);
  }
  t(`${name} with a JS list of the wrong length`, () => op(f23, [1, 2]), isMlx);
}
t('divmod shapes', () => mx.divmod(mx.ones([2]), mx.ones([3])));
t('where shapes', () => mx.where(mx.ones([2], 'bool'), mx.ones([3]), mx.ones([4])));
t('clip shapes', () => mx.clip(mx.ones([2]), mx.ones([3]), null));
t('isclose shapes', () => mx.isclose(mx.ones([2]), mx.ones([3])));
t('allclose shapes', () => mx.allclose(mx.ones([2]), mx.ones([3])));

// ---- bitwise ops need integers ---------------------------------------------------------
const bitwise = {
  bitwiseAnd: mx.bitwiseAnd,
  bitwiseOr: mx.bitwiseOr,
  bitwiseXor: mx.bitwiseXor,
  leftShift: mx.leftShift,
  rightShift: mx.rightShift,
} as const;
for (const [name, op] of Object.entries(bitwise)) {
  for (const d of ['float32', 'float16', 'bfloat16', 'float64'] as const) {
    t(`${name} on ${d}`, () => op(mx.ones([3], d), mx.ones([3], d)));
  }
  t(`${name} on float32 and a float scalar`, () => op(mx.ones([3]), 1.5));
  t(`${name} on int shapes [2] and [3]`, () => op(mx.ones([2], 'int32'), mx.ones([3], 'int32')));
}
for (const d of ['float32', 'float16', 'float64', 'complex64'] as const) {
  t(`bitwiseInvert on ${d}`, () => mx.bitwiseInvert(mx.ones([2], d)));
}

// ---- B. matmul and contractions --------------------------------------------------------
const mmPairs: [number[], number[]][] = [
  [
    [2, 3],
    [4, 5],
  ],
  [[3], [4]],
  [
    [2, 3, 4],
    [5, 4, 2],
  ],
  [[], [2, 2]],
  [[2, 2], []],
  [
    [4, 3],
    [4, 3],
  ],
  [
    [1, 2, 3],
    [2, 2, 3],
  ],
];
for (const [sa, sb] of mmPairs) {
  t(`matmul ${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, () => mx.matmul(mx.ones(sa), mx.ones(sb)));
  t(`array.matmul ${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, () => mx.ones(sa).matmul(mx.ones(sb)));
}
t('matmul int32', () => mx.matmul(i23, mx.ones([3, 2], 'int32')));
t('inner mismatch', () => mx.inner(mx.ones([3]), mx.ones([4])));
t('addmm mismatch', () => mx.addmm(mx.ones([2, 2]), mx.ones([2, 3]), mx.ones([2, 2])));
t('addmm c mismatch', () => mx.addmm(mx.ones([5, 5]), mx.ones([2, 3]), mx.ones([3, 2])));
t('tensordot axes mismatch', () => mx.tensordot(mx.ones([2, 3]), mx.ones([4, 5]), [[1], [0]]));
t('tensordot n too large', () => mx.tensordot(mx.ones([2, 3]), mx.ones([3, 2]), 3));
t('einsum bad subscripts', () => mx.einsum('ij,jk->il', mx.ones([2, 2]), mx.ones([2, 2])));
t('einsum operand count', () => mx.einsum('ij,jk->ik', mx.ones([2, 2])));
t('einsum shape mismatch', () => mx.einsum('ij,jk->ik', mx.ones([2, 3]), mx.ones([4, 2])));
t('einsum non-string', () => mx.einsum(42 as unknown as string, mx.ones([2])));

// ---- C. joins and splits ----------------------------------------------------------------
t('concatenate shapes', () => mx.concatenate([mx.ones([2, 3]), mx.ones([2, 4])], 0));
t('concatenate ndim', () => mx.concatenate([mx.ones([2, 3]), mx.ones([2])]));
t('concatenate axis 2', () => mx.concatenate([mx.ones([2, 3]), mx.ones([2, 3])], 2));
t('concatenate axis -3', () => mx.concatenate([mx.ones([2, 3]), mx.ones([2, 3])], -3));
t('concatenate empty', () => mx.concatenate([]));
t('concatenate not a list', () => mx.concatenate(mx.ones([2]) as unknown as mx.Array[]));
t('concatenate with null', () => mx.concatenate([mx.ones([2]), null as unknown as mx.Array]));
t('stack shapes', () => mx.stack([mx.ones([2]), mx.ones([3])]));
t('stack axis', () => mx.stack([mx.ones([2]), mx.ones([2])], 3));
t('stack empty', () => mx.stack([]));
t('split sections not dividing', () => mx.split(mx.ones([3]), 2));
t('split sections 0', () => mx.split(mx.ones([3]), 0));
t('split axis 2', () => mx.split(f23, 2, 2));
t('split axis -3', () => mx.split(f23, [1], -3));
t('split non-integer indices', () => mx.split(f23, [1.5]));

// ---- D/E. reshape and broadcastTo ------------------------------------------------------
for (const s of [[4], [5], [-1, -1], [7, -1], [-2, 3], [0], [2, 2, 2], [1.5, 4], [NaN], [Infinity]]) {
  t(`reshape [2,3] to ${JSON.stringify(s)}`, () => mx.reshape(f23, s));
}
t('reshape shape is a string', () => mx.reshape(f23, 'abc' as unknown as number[]));
t('array.reshape to [4]', () => f23.reshape(4));
for (const s of [[3], [4, 3], [3, 2], [2], [2, 3, 2], [-1, 3]]) {
  t(`broadcastTo [2,3] to ${JSON.stringify(s)}`, () => mx.broadcastTo(f23, s));
}
t('broadcastArrays mismatch', () => mx.broadcastArrays(mx.ones([2]), mx.ones([3])));
t('flatten bad axes', () => mx.flatten(f23, 1, 0));
t('flatten startAxis out of range', () => mx.flatten(f23, 4, 5));
t('flatten axis NaN', () => mx.flatten(f23, NaN));
t('tile negative reps', () => mx.tile(f23, [-1]));
t('repeat negative', () => mx.repeat(f23, -1, 0));
t('repeat axis out of range', () => mx.repeat(f23, 2, 5));

// ---- F. axes out of range -----------------------------------------------------------------
const reductions = {
  sum: mx.sum,
  mean: mx.mean,
  prod: mx.prod,
  max: mx.max,
  min: mx.min,
  all: mx.all,
  any: mx.any,
  logsumexp: mx.logsumexp,
  var: mx.var,
  std: mx.std,
  median: mx.median,
} as const;
for (const [name, op] of Object.entries(reductions)) {
  t(`${name} axis 2 of 2-D`, () => op(f23, 2), isMlx);
  t(`${name} axis -3 of 2-D`, () => op(f23, -3), isMlx);
  t(`${name} axes [0, 0]`, () => op(f23, [0, 0]));
  t(`${name} axis 1.5`, () => op(f23, 1.5));
  t(`${name} axis '0'`, () => op(f23, '0' as unknown as number));
}
for (const [name, op] of Object.entries({ argmax: mx.argmax, argmin: mx.argmin })) {
  t(`${name} axis 2`, () => op(f23, 2), isMlx);
  t(`${name} axis -3`, () => op(f23, -3), isMlx);
  t(`${name} axis NaN`, () => op(f23, NaN));
}
const scans = { cumsum: mx.cumsum, cumprod: mx.cumprod, cummax: mx.cummax, cummin: mx.cummin, logcumsumexp: mx.logcumsumexp } as const;
for (const [name, op] of Object.entries(scans)) {
  t(`${name} axis 2`, () => op(f23, 2), isMlx);
  t(`${name} axis -3`, () => op(f23, -3), isMlx);
  t(`${name} axis 0.5`, () => op(f23, 0.5));
}
const sorts = {
  sort: (a: mx.Array, ax: number) => mx.sort(a, ax),
  argsort: (a: mx.Array, ax: number) => mx.argsort(a, ax),
  partition: (a: mx.Array, ax: number) => mx.partition(a, 1, ax),
  argpartition: (a: mx.Array, ax: number) => mx.argpartition(a, 1, ax),
  topk: (a: mx.Array, ax: number) => mx.topk(a, 1, ax),
};
for (const [name, op] of Object.entries(sorts)) {
  t(`${name} axis 2`, () => op(f23, 2), isMlx);
  t(`${name} axis -3`, () => op(f23, -3), isMlx);
}
t('topk k > size', () => mx.topk(f4, 9));
t('topk k negative', () => mx.topk(f4, -1));
t('partition kth out of range', () => mx.partition(f4, 7));
t('argpartition kth negative out of range', () => mx.argpartition(f4, -9));
t('softmax axis 2', () => mx.softmax(f23, 2));
t('softmax axis -3', () => mx.softmax(f23, -3));
t('softmax axis [0, 5]', () => mx.softmax(f23, [0, 5]));
t('logSoftmax axis 4', () => mx.logSoftmax(f23, 4));
for (const axes of [[0], [0, 0], [0, 5], [1, 2, 0], [-3, 0]]) {
  t(`transpose ${JSON.stringify(axes)}`, () => mx.transpose(f23, axes));
}
t('array.transpose [0, 0]', () => f23.transpose(0, 0));
t('squeeze a non-1 axis', () => mx.squeeze(f23, 0));
t('squeeze axis 5', () => mx.squeeze(mx.ones([1, 2]), 5));
t('squeeze axis -3', () => mx.squeeze(mx.ones([1, 2]), -3));
t('expandDims axis 3', () => mx.expandDims(f23, 3));
t('expandDims axis -4', () => mx.expandDims(f23, -4));
t('expandDims axes [0, 0]', () => mx.expandDims(f23, [0, 0]));
t('swapaxes 0, 2', () => mx.swapaxes(f23, 0, 2));
t('moveaxis 3, 0', () => mx.moveaxis(f23, 3, 0));
t('diagonal same axes', () => mx.diagonal(f23, 0, 1, 1));
t('diagonal axis 5', () => mx.diagonal(f23, 0, 0, 5));
t('diagonal of 1-D', () => mx.diagonal(f4));
t('diag of 3-D', () => mx.diag(f234));
t('roll axis 5', () => mx.roll(f23, 1, 5));
t('roll fewer shifts than axes', () => mx.roll(f23, [1], [0, 1]));
t('flip axis 5', () => mx.flip(f23, 5));
t('tril of 1-D', () => mx.tril(f4));
t('triu of 1-D', () => mx.triu(f4));
t('take axis 5', () => mx.take(f23, mx.array([0]), 5));
t('takeAlongAxis axis 5', () => mx.takeAlongAxis(f23, mx.zeros([2, 3], 'int32'), 5));
t('fft axis 3', () => mx.fft.fft(f23, undefined, 3));
t('fftn axes out of range', () => mx.fft.fftn(f23, undefined, [0, 7]));
t('fft n negative', () => mx.fft.fft(f4, -2));
t('fft n zero', () => mx.fft.fft(f4, 0));
t('irfft axes/n lengths', () => mx.fft.irfftn(f23, [2, 2, 2], [0]));
t('norm axis out of range', () => mx.linalg.norm(f23, undefined, 4));
t('norm ord string on vector', () => mx.linalg.norm(f4, 'fro'));
t('norm bad ord name', () => mx.linalg.norm(f23, 'bogus' as 'fro'));
t('norm too many axes', () => mx.linalg.norm(f234, 2, [0, 1, 2]));
t('stack axis -4', () => mx.stack([f23, f23], -4));

// ---- G. dtypes ------------------------------------------------------------------------------
const badDtypes: unknown[] = ['float', 'int', 'f32', '', 'float128', 'Float32', 42, 'bool_', ['float32'], true];
for (const d of badDtypes) {
  const tag = JSON.stringify(d);
  t(`astype ${tag}`, () => mx.astype(f4, d as mx.Dtype));
  t(`zeros dtype ${tag}`, () => mx.zeros([2], d as mx.Dtype));
  t(`array dtype ${tag}`, () => mx.array([1, 2], d as mx.Dtype));
  t(`arange dtype ${tag}`, () => mx.arange(0, 3, 1, d as mx.Dtype));
  t(`random.uniform dtype ${tag}`, () => mx.random.uniform(0, 1, [2], { dtype: d as mx.Dtype }));
}
t('full dtype bogus', () => mx.full([2], 1, 'bogus' as mx.Dtype));
t('ones dtype object without dtype key', () => mx.ones([2], 5 as unknown as mx.Dtype));
t('random.uniform int dtype', () => mx.random.uniform(0, 1, [2], { dtype: 'int32' }));
t('random.normal int dtype', () => mx.random.normal([2], { dtype: 'int32' }));
t('random.gumbel bool dtype', () => mx.random.gumbel([2], { dtype: 'bool' }));
t('random.truncatedNormal uint8 dtype', () => mx.random.truncatedNormal(-1, 1, [2], { dtype: 'uint8' }));
t('random.randint float dtype', () => mx.random.randint(0, 5, [2], { dtype: 'float32' }));
for (const op of ['inv', 'cholesky', 'pinv', 'qr', 'svd', 'eigh', 'triInv'] as const) {
  t(`linalg.${op} on int32`, () =>
    (mx.linalg[op] as (a: mx.Array) => unknown)(
      mx.array([
        [1, 0],
        [0, 1],
      ]),
    ),
  );
  t(`linalg.${op} on a 1-D array`, () => (mx.linalg[op] as (a: mx.Array) => unknown)(f4));
}
t('linalg.inv non-square', () => mx.linalg.inv(mx.zeros([2, 3])));
t('linalg.cholesky non-square', () => mx.linalg.cholesky(mx.zeros([2, 3])));
t('linalg.solve mismatched', () => mx.linalg.solve(sq, mx.ones([3])));
t('linalg.det on a 1-D array', () => mx.linalg.det(f4));
t('quantize int32 weights', () => mx.quantize(mx.zeros([4, 64], 'int32')));
t('quantize 1-D', () => mx.quantize(mx.zeros([64])));
t('view to a size that does not divide', () => mx.view(mx.ones([3], 'uint8'), 'int32'));
t('view to bogus dtype', () => mx.view(f4, 'bogus' as mx.Dtype));
t('sort complex? (argmax on complex)', () => mx.erfinv(mx.ones([2], 'complex64')));
t('remainder on complex', () => mx.remainder(mx.ones([2], 'complex64'), mx.ones([2], 'complex64')));
t('floor on complex', () => mx.floor(mx.ones([2], 'complex64')));
t('array from a scalar that overflows int8', () => mx.array(1000n, 'int8'));
t('add a scalar that overflows uint8', () => mx.add(mx.ones([2], 'uint8'), 300));
t('add a bigint that overflows int32', () => mx.add(mx.ones([2], 'int32'), 2n ** 40n));

// ---- H. indices out of range -----------------------------------------------------------
const idxCases: [string, () => unknown][] = [
  ['a.index(99)', () => f4.index(99)],
  ['a.index(-99)', () => f4.index(-99)],
  ['a.index(4)', () => f4.index(4)],
  ['a.index(-5)', () => f4.index(-5)],
  ['a.index(0, 99)', () => f23.index(0, 99)],
  ["a.index('5:1:0') step 0", () => f4.index('5:1:0')],
  ["a.index('::0')", () => f4.index('::0')],
  ['a.index(sl(0, 2, 0))', () => f4.index(mx.sl(0, 2, 0))],
  ["a.index('1:2:3:4')", () => f4.index('1:2:3:4')],
  ["a.index('a:b')", () => f4.index('a:b')],
  ["a.index('abc')", () => f4.index('abc')],
  ["a.index('')", () => f4.index('')],
  ['a.index(1.5)', () => f4.index(1.5)],
  ['a.index(NaN)', () => f4.index(NaN)],
  ['a.index(0, 0, 0) on 2-D', () => f23.index(0, 0, 0)],
  ["a.index('0, 0, 0') on 2-D", () => f23.index('0, 0, 0')],
  ["a.index('...', '...')", () => f23.index('...', '...')],
  ['a.index({})', () => f23.index({} as mx.IndexSpec)],
  ['a.index(() => 1)', () => f23.index((() => 1) as unknown as mx.IndexSpec)],
  ['a.index(true)', () => f23.index(true as unknown as mx.IndexSpec)],
  ['a.index(float array)', () => f4.index(mx.array([0.5]))],
  ['a.index(bool array)', () => f4.index(mx.array([true, false, true, false]))],
  ['a.index(int array [99])', () => f4.index(mx.array([99]))],
  ['a.index(int array [-5])', () => f4.index(mx.array([-5]))],
  ['a.index(int array [0, 4])', () => f4.index(mx.array([0, 4]))],
  ['a.index(int64 array [2**40])', () => f4.index(mx.array([2n ** 40n]))],
  ['a.index(uint32 array [4e9])', () => f4.index(mx.array(new Uint32Array([4_000_000_000])))],
  ['a.index(0, int array [3]) on 2-D', () => f23.index(0, mx.array([3]))],
  ['a.index(int array, int array) out of range', () => f23.index(mx.array([0, 1]), mx.array([0, 7]))],
  ['a.index(int array, int array) shapes', () => f23.index(mx.array([0, 1]), mx.array([0, 1, 2]))],
  ['a.put(9, 1)', () => f4.put(9, 1)],
  ['a.put(int array [9], 1)', () => f4.put([mx.array([9])], 1)],
  ['a.put(null, 1) new axis', () => f4.put([null], 1)],
  ['a.put(0, shape mismatch)', () => f23.put(0, mx.ones([4]))],
  ['take [99]', () => mx.take(f4, mx.array([99]))],
  ['take [-99] axis 0', () => mx.take(f23, mx.array([-99]), 0)],
  ['take [3] axis 0 of 2 rows', () => mx.take(f23, mx.array([3]), 0)],
  ['take [6] flattened 2x3', () => mx.take(f23, mx.array([6]))],
  ['take [2**31 - 1]', () => mx.take(f4, mx.array([2 ** 31 - 1]))],
  ['take float indices', () => mx.take(f4, mx.array([1], 'float32'))],
  ['take JS list of floats', () => mx.take(f4, [0.5])],
  ['takeAlongAxis out of range', () => mx.takeAlongAxis(f23, mx.array([[0, 0, 9]]), 1)],
  ['takeAlongAxis ndim mismatch', () => mx.takeAlongAxis(f23, mx.array([0]), 1)],
  ['putAlongAxis out of range', () => mx.putAlongAxis(f23, mx.array([[5], [0]]), 1, 0)],
  ['scatter out of range', () => mx.scatter(f4, mx.array([7]), mx.ones([1, 1]), 0)],
  ['scatterAdd out of range (negative)', () => mx.scatterAdd(f4, mx.array([-9]), mx.ones([1, 1]), 0)],
  ['scatter bad mode', () => mx.scatter(f4, mx.array([0]), mx.ones([1, 1]), 0, 'bogus' as 'set')],
  ['scatter update shape', () => mx.scatter(f4, mx.array([0]), mx.ones([3, 3]), 0)],
  ['gather out of range', () => mx.gather(f23, [mx.array([5])], [0], [1, 3])],
  ['gather slice sizes', () => mx.gather(f23, [mx.array([0])], [0], [1, 9])],
  ['sliceUpdate shape mismatch', () => mx.sliceUpdate(f23, mx.ones([5, 5]), [0, 0])],
  ['gatherMm lhs indices out of range', () => mx.gatherMm(mx.ones([2, 2, 2]), mx.ones([2, 2, 2]), { lhsIndices: mx.array([5], 'uint32') })],
  ['gatherMm rhs indices out of range', () => mx.gatherMm(mx.ones([2, 2, 2]), mx.ones([2, 2, 2]), { rhsIndices: mx.array([2], 'uint32') })],
];
for (const [name, fn] of idxCases) t(name, fn);
t('item() of many elements', () => f23.item());
t('item() of none', () => mx.zeros([0]).item());

// ---- I. non-array arguments ---------------------------------------------------------------
const junk: [string, unknown][] = [
  ['null', null],
  ['{}', {}],
  ["'str'", 'str'],
  ['a function', () => 1],
  ['undefined', undefined],
  ['a Map', new Map()],
];
const unaries = {
  abs: mx.abs,
  negative: mx.negative,
  sign: mx.sign,
  sqrt: mx.sqrt,
  rsqrt: mx.rsqrt,
  square: mx.square,
  reciprocal: mx.reciprocal,
  exp: mx.exp,
  expm1: mx.expm1,
  log: mx.log,
  log2: mx.log2,
  log10: mx.log10,
  log1p: mx.log1p,
  sin: mx.sin,
  cos: mx.cos,
  tan: mx.tan,
  arcsin: mx.arcsin,
  arccos: mx.arccos,
  arctan: mx.arctan,
  sinh: mx.sinh,
  cosh: mx.cosh,
  tanh: mx.tanh,
  erf: mx.erf,
  erfinv: mx.erfinv,
  sigmoid: mx.sigmoid,
  floor: mx.floor,
  ceil: mx.ceil,
  logicalNot: mx.logicalNot,
  stopGradient: mx.stopGradient,
  isnan: mx.isnan,
  copy: mx.copy,
} as const;
for (const [name, op] of Object.entries(unaries)) {
  for (const [jn, j] of junk.slice(0, 4)) t(`${name}(${jn})`, () => op(j as mx.Array));
}
const arrayTakers: Record<string, (x: unknown) => unknown> = {
  add: (x) => mx.add(x as mx.Array, f4),
  'add (second)': (x) => mx.add(f4, x as mx.Array),
  matmul: (x) => mx.matmul(x as mx.Array, f4),
  sum: (x) => mx.sum(x as mx.Array),
  softmax: (x) => mx.softmax(x as mx.Array),
  reshape: (x) => mx.reshape(x as mx.Array, [1]),
  transpose: (x) => mx.transpose(x as mx.Array),
  concatenate: (x) => mx.concatenate([f4, x as mx.Array]),
  stack: (x) => mx.stack([x as mx.Array]),
  where: (x) => mx.where(x as mx.Array, f4, f4),
  eval: (x) => mx.eval(x) ?? mx.eval(mx.array(x as number)),
  take: (x) => mx.take(f4, x as mx.Array),
  'linalg.inv': (x) => mx.linalg.inv(x as mx.Array),
  'fft.fft': (x) => mx.fft.fft(x as mx.Array),
  quantize: (x) => mx.quantize(x as mx.Array),
  'fast.rmsNorm': (x) => mx.fast.rmsNorm(x as mx.Array, null, 1e-5),
  'fast.layerNorm': (x) => mx.fast.layerNorm(x as mx.Array, null, null, 1e-5),
  'random.categorical': (x) => mx.random.categorical(x as mx.Array),
  'random.permutation': (x) => mx.random.permutation(x as mx.Array),
  gatherMm: (x) => mx.gatherMm(x as mx.Array, f23),
  'native.add': (x) => native.binary(0, x as never, handleOf(f4)),
  'native.reshape': (x) => native.reshape(x as never, [4]),
  'native.dataSync': (x) => native.dataSync(x as never, false),
  'native.probeScaleAndShift': (x) => native.probeScaleAndShift(x as never, 2),
};
for (const [name, op] of Object.entries(arrayTakers)) {
  for (const [jn, j] of junk) {
    if (name === 'eval' && jn !== "'str'" && jn !== 'a function') continue; // eval ignores non-array leaves, as in MLX
    t(`${name}(${jn})`, () => op(j));
  }
}
t('native.binary with a non-handle object', () => native.binary(0, { shape: [1] } as never, handleOf(f4)));
t('native.unary bad op code', () => native.unary(250, handleOf(f4)));
t('native.binary bad op code', () => native.binary(250, handleOf(f4), handleOf(f4)));
t('native.reduce bad op code', () => native.reduce(250, handleOf(f4), undefined, false, 0));
t('native.astype bad dtype code', () => native.astype(handleOf(f4), 99));
t('native.full bad dtype code', () => native.full([2], handleOf(f4), 99));
t('native.reshape with a string shape', () => native.reshape(handleOf(f4), 'x' as never));
t('native.slice with a zero stride', () => native.slice(handleOf(f4), [0], [2], [0]));
t('native.sliceUpdate with a zero stride', () => native.sliceUpdate(handleOf(f4), handleOf(mx.ones([2])), [0], [2], [0]));
t('native.take with indices out of range', () => native.take(handleOf(f4), handleOf(mx.array([4])), 0));
t('native.take with indices out of range (flattened)', () => native.take(handleOf(f23), handleOf(mx.array([-7]))));
t('native.scatter with indices out of range', () =>
  native.scatter(0, handleOf(f4), [handleOf(mx.array([9]))], handleOf(mx.ones([1, 1])), [0]),
);
t('native.gather with indices out of range', () => native.gather(handleOf(f23), [handleOf(mx.array([2]))], [0], [1, 3]));
t('native.putAlongAxis with indices out of range', () =>
  native.putAlongAxis(handleOf(f4), handleOf(mx.array([4])), handleOf(mx.array([1])), 0),
);
t('native.takeAlongAxis with uint64 indices out of range', () =>
  native.takeAlongAxis(handleOf(f4), handleOf(mx.array(new BigUint64Array([2n ** 63n]))), 0),
);
t('native.gatherMm with indices out of range', () =>
  native.gatherMm(handleOf(mx.ones([2, 2, 2])), handleOf(mx.ones([2, 2])), handleOf(mx.array([2], 'uint32')), undefined, false),
);

// ---- J. disposed arrays --------------------------------------------------------------------
const dead = () => {
  const a = mx.ones([2, 2]);
  a.dispose();
  return a;
};
const disposedUses: Record<string, (d: mx.Array) => unknown> = {
  shape: (d) => d.shape,
  dtype: (d) => d.dtype,
  size: (d) => d.size,
  dataSync: (d) => d.dataSync(),
  tolist: (d) => d.tolist(),
  item: (d) => d.item(),
  add: (d) => mx.add(d, 1),
  'add (second)': (d) => mx.add(f4, d),
  matmul: (d) => mx.matmul(d, d),
  sum: (d) => mx.sum(d),
  reshape: (d) => d.reshape(4),
  index: (d) => d.index(0),
  put: (d) => d.put(0, 1),
  eval: (d) => mx.eval(d),
  'eval (in a tree)': (d) => mx.eval({ a: [f4, d] }),
  concatenate: (d) => mx.concatenate([f23, d]),
  stack: (d) => mx.stack([d, d]),
  take: (d) => mx.take(f4, mx.astype(d, 'int32')),
  'take (disposed indices)': (d) => mx.take(f4, d),
  astype: (d) => d.astype('int32'),
  'array(d)': (d) => mx.array(d),
  'array([d, d])': (d) => mx.array([d, d]),
  grad: (d) => mx.grad((x: mx.Array) => mx.sum(x))(d),
  vmap: (d) => mx.vmap((x: mx.Array) => x)(d),
  compile: (d) => mx.compile((x: mx.Array) => x)(d),
  'linalg.inv': (d) => mx.linalg.inv(d),
  'fast.rmsNorm': (d) => mx.fast.rmsNorm(d, null, 1e-5),
  'random.uniform key': (d) => mx.random.uniform(0, 1, [2], { key: d }),
  handleOf: (d) => handleOf(d),
  transpose: (d) => d.T,
  where: (d) => mx.where(d, 1, 0),
  fullLike: (d) => mx.fullLike(d, 3),
  zerosLike: (d) => mx.zerosLike(d),
  split: (d) => mx.split(d, 2),
};
for (const [name, use] of Object.entries(disposedUses)) t(`disposed: ${name}`, () => use(dead()), disposedCode);
{
  // A native handle kept past its Array's dispose() (what a sibling package might hold).
  const uses: Record<string, (h: ReturnType<typeof handleOf>) => unknown> = {
    binary: (h) => native.binary(0, h, handleOf(f4)),
    unary: (h) => native.unary(0, h),
    eval: (h) => native.eval([h]),
    asyncEval: (h) => native.asyncEval([h]),
    isAvailable: (h) => native.isAvailable(h),
    dataSync: (h) => native.dataSync(h, false),
    describe: (h) => native.describe(h),
    reshape: (h) => native.reshape(h, [4]),
    probeScaleAndShift: (h) => native.probeScaleAndShift(h, 2),
    probeTotalBytes: (h) => native.probeTotalBytes(handleOf(f4), h),
    concatenate: (h) => native.concatenate([handleOf(f4), h], 0),
  };
  for (const [name, use] of Object.entries(uses)) {
    const a = mx.ones([2, 2]);
    const h = handleOf(a);
    a.dispose();
    t(`disposed native handle: native.${name}`, () => use(h), disposedCode);
  }
  // Handles that never named an array.
  for (const bogus of [123456789, -1, 1.5, NaN, 2 ** 60]) {
    t(`made-up handle ${bogus}: native.binary`, () => native.binary(0, bogus as never, handleOf(f4)));
    t(`made-up handle ${bogus}: native.dataSync`, () => native.dataSync(bogus as never, false));
  }
}

// ---- K. exceptions inside transformed functions, and non-array results --------------------
class MyError extends Error {
  constructor(readonly tag: string) {
    super(`user failure: ${tag}`);
  }
}
const x3 = mx.array([1, 2, 3], 'float32');
const transforms: Record<string, (f: (x: mx.Array) => unknown) => unknown> = {
  grad: (f) => mx.grad(f as (x: mx.Array) => mx.Array)(x3),
  valueAndGrad: (f) => mx.valueAndGrad(f as (x: mx.Array) => mx.Array)(x3),
  'grad argnums [0, 1]': (f) => mx.grad((a: mx.Array, _b: mx.Array) => f(a) as mx.Array, [0, 1])(x3, x3),
  'valueAndGrad of a tree': (f) => mx.valueAndGrad((p: { w: mx.Array[] }) => f(p.w[0]) as mx.Array)({ w: [x3] }),
  vjp: (f) => mx.vjp((x) => f(x) as mx.Array, [x3], [mx.ones([3])]),
  jvp: (f) => mx.jvp((x) => f(x) as mx.Array, [x3], [mx.ones([3])]),
  vmap: (f) => mx.vmap(f as (x: mx.Array) => mx.Array)(mx.ones([2, 3])),
  'vmap in_axes null': (f) => mx.vmap((a: mx.Array, b: mx.Array) => mx.add(f(a) as mx.Array, b), [null, 0])(x3, mx.ones([2, 3])),
  compile: (f) => mx.compile(f)(x3),
  'compile shapeless': (f) => mx.compile(f, { shapeless: true })(x3),
  'grad of grad': (f) => mx.grad(mx.grad((x: mx.Array) => mx.sum(f(x) as mx.Array)))(mx.array(1.5)),
  'grad of vmap': (f) => mx.grad((x: mx.Array) => mx.sum(mx.vmap(f as (x: mx.Array) => mx.Array)(x)))(mx.ones([2, 3])),
  'vmap of grad': (f) => mx.vmap(mx.grad((x: mx.Array) => mx.sum(f(x) as mx.Array)))(mx.ones([2, 3])),
  'compile of grad': (f) => mx.compile(mx.grad((x: mx.Array) => mx.sum(f(x) as mx.Array)))(x3),
  'grad of compile': (f) => mx.grad(mx.compile((x: mx.Array) => mx.sum(f(x) as mx.Array)))(x3),
  'tidy around grad': (f) => mx.tidy(() => mx.grad(f as (x: mx.Array) => mx.Array)(x3)),
};
for (const [name, run] of Object.entries(transforms)) {
  const err = new MyError(name);
  t(
    `${name}: user exception comes back unchanged`,
    () =>
      run(() => {
        throw err;
      }),
    sameAs(err),
  );
  const late = new RangeError(`late failure in ${name}`);
  t(
    `${name}: user exception after some ops`,
    () =>
      run((x) => {
        mx.sum(mx.square(x));
        throw late;
      }),
    sameAs(late),
  );
  const nested = new TypeError(`nested failure in ${name}`);
  t(
    `${name}: exception from an inner tidy`,
    () =>
      run((x) =>
        mx.tidy(() => {
          mx.exp(x);
          throw nested;
        }),
      ),
    sameAs(nested),
  );
  t(`${name}: an op error inside fn`, () => run((x) => mx.sum(x, 9)), isMlx);
  t(`${name}: fn uses a disposed array`, () => run(() => mx.add(dead(), 1)), disposedCode);
}
const nonArrays: [string, unknown][] = [
  ['a number', 5],
  ['a string', 'loss'],
  ['null', null],
  ['undefined', undefined],
  ['an object', { x: 1 }],
  ['a list of numbers', [1, 2]],
];
for (const [vn, v] of nonArrays) {
  t(`grad: fn returns ${vn}`, () => mx.grad((_x: mx.Array) => v as mx.Array)(x3));
  t(`valueAndGrad: fn returns ${vn}`, () => mx.valueAndGrad((_x: mx.Array) => v as mx.Array)(x3));
  t(`vjp: fn returns ${vn}`, () => mx.vjp(() => v as mx.Array, [x3], [x3]));
  t(`jvp: fn returns ${vn}`, () => mx.jvp(() => v as mx.Array, [x3], [x3]));
  t(`vmap: fn returns ${vn}`, () => mx.vmap((_x: mx.Array) => v as mx.Array)(x3));
  // (compile may return non-array leaves, as Python's mx.compile does: not an error.)
}
t('grad of a non-scalar output', () => mx.grad((x: mx.Array) => mx.square(x))(x3));
t('grad argnums out of range', () => mx.grad((x: mx.Array) => mx.sum(x), 3)(x3));
t('grad argnums negative', () => mx.grad((x: mx.Array) => mx.sum(x), -1));
t('grad argnums duplicated', () => mx.grad((x: mx.Array) => mx.sum(x), [0, 0]));
t('grad argnums empty list', () => mx.grad((x: mx.Array) => mx.sum(x), []));
t('grad argument holds no arrays', () => mx.grad((x: number) => mx.array(x))(3 as never));
t('grad of a non-function', () => mx.grad(42 as never));
t('valueAndGrad of a non-function', () => mx.valueAndGrad(null as never));
t('vjp of a non-function', () => mx.vjp('f' as never, [x3], [x3]));
t('jvp of a non-function', () => mx.jvp({} as never, [x3], [x3]));
t('vmap of a non-function', () => mx.vmap(undefined as never));
t('compile of a non-function', () => mx.compile(7 as never));
t('vjp cotangent shape mismatch', () => mx.vjp((x) => mx.square(x), [x3], [mx.ones([5])]));
t('vjp no cotangents', () => mx.vjp((x) => mx.square(x), [x3], []));
t('vjp primals not a list', () => mx.vjp((x) => x, x3 as never, [x3]));
t('jvp tangent count mismatch', () => mx.jvp((x) => mx.square(x), [x3], []));
t('jvp tangent shape mismatch', () => mx.jvp((x) => mx.square(x), [x3], [mx.ones([2])]));
t('vmap in_axes out of range', () => mx.vmap((x: mx.Array) => x, 3)(x3));
t('vmap in_axes equal to ndim', () => mx.vmap((x: mx.Array) => x, 1)(x3));
t('vmap in_axes -2 of a 1-D input', () => mx.vmap((x: mx.Array) => x, -2)(x3));
t('vmap in_axes 0.5', () => mx.vmap((x: mx.Array) => x, 0.5)(x3));
t('native.vmap with in_axes equal to ndim', () => native.vmap(((xs: unknown[]) => xs) as never, [handleOf(x3)], [1], [0]));
t('native.vmap with a throwing function', () =>
  native.vmap(
    (() => {
      throw new Error('raw native callback failure');
    }) as never,
    [handleOf(x3)],
    [0],
    [0],
  ),
);
t('native.valueAndGrad with a function returning a number', () => native.valueAndGrad((() => 42) as never, [handleOf(x3)], [0]));
t('native.valueAndGrad with a function returning made-up handles', () =>
  native.valueAndGrad((() => [123456]) as never, [handleOf(x3)], [0]),
);
t('native.compileCall with a throwing function', () =>
  native.compileCall(
    (() => {
      throw new Error('raw compile failure');
    }) as never,
    987654,
    false,
    [handleOf(x3)],
  ),
);
t('native.jvp with a non-function', () => native.jvp(42 as never, [handleOf(x3)], [handleOf(x3)]));
t('vmap in_axes count mismatch', () => mx.vmap((a: mx.Array, b: mx.Array) => mx.add(a, b), [0])(x3, x3));
t('vmap mapped sizes differ', () => mx.vmap((a: mx.Array, b: mx.Array) => mx.add(a, b))(mx.ones([2]), mx.ones([3])));
t('vmap out_axes out of range', () => mx.vmap((x: mx.Array) => x, 0, 5)(mx.ones([2, 3])));
t('vmap over a scalar', () => mx.vmap((x: mx.Array) => x)(mx.array(1)));
t('eval inside compile', () =>
  mx.compile((x: mx.Array) => {
    const y = mx.exp(x);
    mx.eval(y);
    return y;
  })(mx.ones([3])),
);
t('item inside compile', () => mx.compile((x: mx.Array) => mx.multiply(x, mx.sum(x).item() as number))(mx.ones([3])));
t('dataSync inside vmap', () =>
  mx.vmap((x: mx.Array) => {
    x.dataSync();
    return x;
  })(mx.ones([2, 3])),
);
{
  const cyclic: Record<string, unknown> = { w: mx.ones([2]) };
  cyclic.self = cyclic;
  t('eval of a cyclic tree', () => mx.eval(cyclic));
  t('asyncEval of a cyclic tree', () => mx.asyncEval(cyclic));
  t('grad over a cyclic tree', () => mx.grad((p: typeof cyclic) => mx.sum(p.w as mx.Array))(cyclic));
  t('compile with a cyclic argument', () => mx.compile((p: typeof cyclic) => p.w as mx.Array)(cyclic));
  t('vmap over a cyclic tree', () => mx.vmap((p: typeof cyclic) => p.w as mx.Array)(cyclic));
}
t('tidy of an async fn', () => mx.tidy((async () => f4) as never));
t('withStream of an async fn', () => mx.withStream(mx.cpu, (async () => f4) as never));

// ---- M. bad options ----------------------------------------------------------------------------
const badShapes: unknown[] = [[-1], [2, -3], [NaN], [1.5], ['a'], 'abc', [Infinity], [null], {}, -4, [2 ** 31], [2 ** 32 + 2]];
for (const s of badShapes) {
  const tag = JSON.stringify(s) ?? String(s);
  t(`zeros(${tag})`, () => mx.zeros(s as number[]));
  t(`ones(${tag})`, () => mx.ones(s as number[]));
  t(`full(${tag}, 1)`, () => mx.full(s as number[], 1));
  t(`random.uniform shape ${tag}`, () => mx.random.uniform(0, 1, s as number[]));
  t(`random.normal shape ${tag}`, () => mx.random.normal(s as number[]));
  t(`random.randint shape ${tag}`, () => mx.random.randint(0, 5, s as number[]));
  t(`broadcastTo ${tag}`, () => mx.broadcastTo(f4, s as number[]));
}
// Arrays larger than MLX's memory limit: MLX's CPU allocator would hand out a null buffer (or a
// wrapped small one when the element count overflows) and its kernels would write through it.
for (const s of [
  [1e9, 1e9],
  [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1],
  [65536, 65536, 65536],
]) {
  const tag = JSON.stringify(s);
  t(`zeros(${tag}) read back`, () => mx.zeros(s).dataSync());
  t(`ones(${tag}) summed`, () => mx.sum(mx.ones(s)).item());
  t(`broadcastTo(${tag})`, () => mx.broadcastTo(mx.ones([1]), s));
  t(`random.normal(${tag})`, () => mx.random.normal(s));
  t(`reshape arange to ${tag}`, () => mx.reshape(mx.arange(10), s));
}
t('eye(2**31 - 1)', () => mx.eye(2 ** 31 - 1));
t('outer of two huge vectors', () => mx.outer(mx.zeros([2 ** 30]), mx.zeros([2 ** 30])));
t('tile to a huge shape', () => mx.tile(mx.ones([1000]), [1e6, 1e3]));
t('matmul to a huge result', () => mx.matmul(mx.ones([2 ** 20, 1]), mx.ones([1, 2 ** 20])));
t('random.bernoulli shape mismatch with p', () => mx.random.bernoulli(mx.full([3], 0.5), [2]));
t('random.categorical shape and numSamples', () => mx.random.categorical(f23, { shape: [2], numSamples: 2 }));
t('random.categorical axis out of range', () => mx.random.categorical(f23, { axis: 4 }));
t('random.uniform bounds shape mismatch', () => mx.random.uniform(mx.zeros([2]), mx.ones([3]), [2]));
t('random.normal with a bad key', () => mx.random.normal([2], { key: mx.ones([3]) }));
t('random.permutation negative', () => mx.random.permutation(-3));
t('random.permutation axis out of range', () => mx.random.permutation(f23, { axis: 3 }));
t('random.seed NaN', () => mx.random.seed(NaN));
t('random.seed string', () => mx.random.seed('x' as unknown as number));
t('arange NaN', () => mx.arange(NaN));
t('arange Infinity', () => mx.arange(0, Infinity));
t('arange step 0', () => mx.arange(0, 10, 0));
t('arange string', () => mx.arange('3' as unknown as number));
t('arange to 2**40 elements', () => mx.arange(0, 2 ** 40));
t('linspace num negative', () => mx.linspace(0, 1, -5));
t('linspace num NaN', () => mx.linspace(0, 1, NaN));
t('eye negative', () => mx.eye(-1));
t('eye NaN', () => mx.eye(NaN));
t('tri NaN', () => mx.tri(NaN));
t('identity 1.5', () => mx.identity(1.5));
t("pad mode 'Edge'", () => mx.pad(f23, 1, { mode: 'Edge' as 'edge' }));
t("pad mode 'bogus'", () => mx.pad(f23, 1, { mode: 'bogus' as 'edge' }));
t('pad negative width', () => mx.pad(f23, -1));
t('pad wrong number of pairs', () => mx.pad(f23, [[1, 1]]));
t('pad non-integer width', () => mx.pad(f23, 1.5));
t('pad NaN width', () => mx.pad(f23, NaN));
t('pad width string', () => mx.pad(f23, 'x' as never));
t('pad width pair too long', () =>
  mx.pad(f23, [
    [1, 1, 1],
    [1, 1, 1],
  ] as never),
);
const w64 = mx.zeros([4, 64]);
for (const [label, opts] of [
  ['groupSize 48', { groupSize: 48 }],
  ['groupSize 7', { groupSize: 7 }],
  ['groupSize 128 > cols', { groupSize: 128 }],
  ['bits 0.5', { bits: 0.5 }],
  ['bits -4', { bits: -4 }],
  ['bits 7', { bits: 7 }],
  ['bits 16', { bits: 16 }],
  ["mode 'bogus'", { mode: 'bogus' }],
  ["mode 'mxfp4' with groupSize 64", { mode: 'mxfp4', groupSize: 64 }],
  ["mode 'nvfp4' with bits 8", { mode: 'nvfp4', bits: 8 }],
  ['groupSize NaN', { groupSize: NaN, bits: 3.5 }],
  ["mode ''", { mode: '' }],
] as [string, mx.QuantizeOptions][]) {
  t(`quantize ${label}`, () => mx.quantize(w64, opts));
}
{
  const [wq, s, b] = mx.quantize(mx.ones([4, 64]));
  t('dequantize wrong bits', () => mx.dequantize(wq, s, b, { bits: 8 }));
  t('dequantize wrong group size', () => mx.dequantize(wq, s, b, { groupSize: 32 }));
  t('dequantize missing biases', () => mx.dequantize(wq, s, null));
  t('dequantize bad mode', () => mx.dequantize(wq, s, b, { mode: 'bogus' as 'affine' }));
  t('quantizedMatmul shape mismatch', () => mx.quantizedMatmul(mx.ones([2, 32]), wq, s, b));
  t('quantizedMatmul bad bits', () => mx.quantizedMatmul(mx.ones([2, 64]), wq, s, b, { bits: 3 }));
  t('quantizedMatmul scales with too few rows', () => mx.quantizedMatmul(mx.ones([2, 64]), wq, mx.ones([1, 1]), mx.ones([1, 1])));
  t('quantizedMatmul 1-D scales', () => mx.quantizedMatmul(mx.ones([2, 64]), wq, mx.ones([1]), mx.ones([1])));
  t('gatherQmm scales with too few rows', () => mx.gatherQmm(mx.ones([2, 64]), wq, mx.ones([1, 1]), mx.ones([1, 1])));
  t('quantizedMatmul biases shape', () => mx.quantizedMatmul(mx.ones([2, 64]), wq, s, mx.ones([1, 1])));
  t('gatherQmm index out of range', () => mx.gatherQmm(mx.ones([1, 64]), wq, s, b, { rhsIndices: mx.array([3], 'uint32') }));
}
t('fast.rmsNorm weight shape', () => mx.fast.rmsNorm(f23, mx.ones([5]), 1e-5));
t('fast.rmsNorm int input', () => mx.fast.rmsNorm(i23, null, 1e-5));
t('fast.layerNorm bias shape', () => mx.fast.layerNorm(f23, mx.ones([3]), mx.ones([4]), 1e-5));
t('fast.rope dims odd', () => mx.fast.rope(mx.ones([1, 2, 4, 8]), 3));
t('fast.rope dims > last axis', () => mx.fast.rope(mx.ones([1, 2, 4, 8]), 16));
t('fast.rope 1-D input', () => mx.fast.rope(mx.ones([8]), 8));
t('sdpa shape mismatch', () =>
  mx.fast.scaledDotProductAttention(mx.ones([1, 2, 3, 4]), mx.ones([1, 2, 3, 5]), mx.ones([1, 2, 3, 4]), { scale: 1 }),
);
t('sdpa heads not divisible', () =>
  mx.fast.scaledDotProductAttention(mx.ones([1, 3, 3, 4]), mx.ones([1, 2, 3, 4]), mx.ones([1, 2, 3, 4]), { scale: 1 }),
);
t('sdpa 2-D inputs', () => mx.fast.scaledDotProductAttention(mx.ones([3, 4]), mx.ones([3, 4]), mx.ones([3, 4]), { scale: 1 }));
t('sdpa mask shape', () =>
  mx.fast.scaledDotProductAttention(mx.ones([1, 2, 3, 4]), mx.ones([1, 2, 3, 4]), mx.ones([1, 2, 3, 4]), {
    scale: 1,
    mask: mx.ones([5, 7]),
  }),
);
t('clip without bounds', () => mx.clip(f4, null, null));
t('round decimals NaN', () => mx.round(f4, 'x' as unknown as number));
t('array ragged', () => mx.array([[1, 2], [3]]));
t('array with a string element', () => mx.array([1, 'a' as unknown as number]));
t('array with an object element', () => mx.array([1, {} as unknown as number]));
t('array from null', () => mx.array(null as never));
t('array from undefined', () => mx.array(undefined as never));
t('array from a string', () => mx.array('abc' as never));
t('array from an object', () => mx.array({ a: 1 } as never));
t('array from a DataView', () => mx.array(new DataView(new ArrayBuffer(4))));
t('array of Arrays with different shapes', () => mx.array([mx.ones([2]), mx.ones([3])]));
t('array mixing Arrays and numbers', () => mx.array([mx.ones([2]), 3] as never));
t('array nested Arrays', () => mx.array([[mx.ones([2])]] as never));

// ---- N. memory limits ------------------------------------------------------------------------
for (const [name, f] of Object.entries({
  setMemoryLimit: mx.setMemoryLimit,
  setCacheLimit: mx.setCacheLimit,
  setWiredLimit: mx.setWiredLimit,
})) {
  for (const v of [-1, -1e12, NaN, Infinity, -Infinity, 'abc']) t(`${name}(${String(v)})`, () => f(v as number));
}

// ---- O. devices and streams ---------------------------------------------------------------
t("setDefaultDevice('gpu') on a CPU-only build", () => {
  if (mx.isAvailable('gpu')) throw new Error('skip: a GPU is available here (counts as thrown)');
  mx.setDefaultDevice('gpu');
});
t("setDefaultDevice('tpu')", () => mx.setDefaultDevice('tpu' as 'cpu'));
t('setDefaultDevice(null)', () => mx.setDefaultDevice(null as never));
t("isAvailable('tpu')", () => mx.isAvailable('tpu' as 'cpu'));
t("newStream('npu')", () => mx.newStream('npu' as 'cpu'));
t("withStream('gpu', fn) on a CPU-only build", () => {
  if (mx.isAvailable('gpu')) throw new Error('skip: a GPU is available here (counts as thrown)');
  return mx.withStream('gpu', () => mx.ones([2]));
});
t('withStream(cpu, fn) rethrows fn errors', () =>
  mx.withStream(mx.cpu, () => {
    throw new RangeError('inside withStream');
  }),
);

// ---- L. failures that surface only at evaluation -------------------------------------------
// MLX 0.32.4 reports these from the CPU kernels (LAPACK), i.e. when the graph is evaluated.
const lazyFailures: Record<string, () => mx.Array> = {
  // On the CPU stream: MLX runs linalg.inv there only, whatever the default device.
  'linalg.inv of a singular matrix': () => mx.withStream(mx.cpu, () => mx.linalg.inv(singular)),
  'linalg.solve with a singular matrix': () => mx.linalg.solve(singular, mx.ones([2])),
  'linalg.triInv of a singular matrix': () => mx.linalg.triInv(mx.zeros([2, 2])),
  'linalg.svd of NaNs': () => mx.withStream(mx.cpu, () => mx.linalg.svd(mx.full([3, 3], NaN))[0]),
  'a chain after a singular inverse': () => mx.sum(mx.exp(mx.add(mx.linalg.inv(singular), 1))),
  'linalg.inv of a batch with one singular matrix': () => mx.linalg.inv(mx.stack([sq, singular])),
};
const reads: Record<string, (a: mx.Array) => unknown> = {
  'mx.eval': (a) => mx.eval(a),
  'mx.eval (tree)': (a) => mx.eval({ out: [a] }),
  'await mx.asyncEval': (a) => mx.asyncEval(a),
  'await a.data()': (a) => a.data(),
  'a.dataSync()': (a) => a.dataSync(),
  'a.tolist()': (a) => a.tolist(),
  'a.toString()': (a) => a.toString(),
  'a.sum().item()': (a) => a.sum().item(),
};
for (const [fname, make] of Object.entries(lazyFailures)) {
  for (const [rname, read] of Object.entries(reads)) t(`${fname} via ${rname}`, () => read(make()), isMlx);
}
t(
  'mx.asyncEval ignored, then awaited later',
  async () => {
    const p = mx.asyncEval(mx.linalg.inv(singular));
    await new Promise((r) => setTimeout(r, 5));
    await p;
  },
  isMlx,
);
t('two failing arrays in one asyncEval', () => mx.asyncEval(mx.linalg.inv(singular), mx.linalg.triInv(mx.zeros([2, 2]))), isMlx);

// ---- run ----------------------------------------------------------------------------------------
interface Rec {
  name: string;
  threw: boolean;
  message?: string;
  problem?: string;
}
const records: Rec[] = [];
const trace = process.env.MLXN_BATTERY_TRACE === '1';
for (const c of cases) {
  if (trace) process.stderr.write(`${c.name}\n`);
  let rec: Rec;
  try {
    const r = c.fn();
    if (r instanceof Promise) await r;
    rec = { name: c.name, threw: false };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const problem = isErr(e) ?? c.check?.(e) ?? (message.trim().length < 8 ? 'message too short' : undefined) ?? undefined;
    rec = { name: c.name, threw: true, message, ...(problem ? { problem } : {}) };
  }
  records.push(rec);
}
// The runtime is still healthy: a valid computation after the battery.
const healthy = mx.add(mx.array([1, 2, 3]), 1).tolist();

// Calls that are valid but that MLX's kernels would crash on (SIGFPE / out-of-bounds memory):
// they must complete with defined values. (Integer division by zero and INT_MIN / -1 follow
// numpy: 0, 0 and INT_MIN; lazily computed out-of-range indices are clipped to the edge.)
const lazy = (xs: number[]) => mx.add(mx.array(xs), 0); // not evaluated yet: cannot be checked
const x4 = mx.array([10, 20, 30, 40]);
const valueCases: [string, () => unknown, unknown][] = [
  [
    'floorDivide int32 by 0 and INT_MIN by -1',
    () => mx.floorDivide(mx.array([7, -2147483648, 7, -7]), mx.array([0, -1, 2, 2])).tolist(),
    [0, -2147483648, 3, -4],
  ],
  [
    'remainder int32 by 0 and INT_MIN by -1',
    () => mx.remainder(mx.array([7, -2147483648, 7, -7]), mx.array([0, -1, 2, 2])).tolist(),
    [0, 0, 1, 1],
  ],
  [
    'divmod int32 by 0',
    () => mx.divmod(mx.array([5, 7]), mx.array([0, 2])).map((a) => a.tolist()),
    [
      [0, 3],
      [0, 1],
    ],
  ],
  ['divmod uint8 by 0', () => mx.divmod(mx.array([5], 'uint8'), mx.array([0], 'uint8')).map((a) => a.tolist()), [[0], [0]]],
  ['floorDivide int64 INT_MIN by -1 (scalar)', () => mx.floorDivide(mx.array([-(2n ** 63n)]), -1).tolist(), [-(2n ** 63n)]],
  ['remainder int16 by scalar 0', () => mx.remainder(mx.array([5, -3], 'int16'), 0).tolist(), [0, 0]],
  ['floorDivide float by 0 is still inf', () => mx.floorDivide(mx.array([1], 'float32'), 0).tolist(), [Infinity]],
  ['take with lazy out-of-range indices', () => mx.take(x4, lazy([-9, 1, 99])).tolist(), [10, 20, 40]],
  ['take with lazy in-range negative indices', () => mx.take(x4, lazy([-1, -4])).tolist(), [40, 10]],
  ['index with lazy out-of-range indices', () => x4.index(lazy([5, -5])).tolist(), [40, 10]],
  [
    'putAlongAxis with a lazy out-of-range index',
    () => mx.putAlongAxis(mx.zeros([4]), lazy([900000000]), mx.array([1]), 0).tolist(),
    [0, 0, 0, 1],
  ],
  ['scatter with a lazy out-of-range index', () => mx.scatter(mx.zeros([4]), lazy([-70]), mx.ones([1, 1]), 0).tolist(), [1, 0, 0, 0]],
  [
    'take inside compile (tracer indices)',
    () =>
      mx
        .compile((i: mx.Array) => mx.take(x4, i))(mx.array([3, 9]))
        .tolist(),
    [40, 40],
  ],
  [
    'take inside vmap (tracer indices)',
    () =>
      mx
        .vmap((i: mx.Array) => mx.take(x4, i))(
          mx.array([
            [0, 9],
            [1, -2],
          ]),
        )
        .tolist(),
    [
      [10, 40],
      [20, 30],
    ],
  ],
  [
    'gatherMm with lazy out-of-range indices',
    () =>
      mx
        .gatherMm(mx.stack([mx.eye(2), mx.multiply(mx.eye(2), 2)]), mx.eye(2), {
          lhsIndices: mx.add(mx.array([5], 'uint32'), mx.array(0, 'uint32')),
        })
        .tolist(),
    [
      [
        [2, 0],
        [0, 2],
      ],
    ],
  ],
];
const valueMismatches: string[] = [];
for (const [name, fn, expected] of valueCases) {
  try {
    const got = fn();
    const j = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
    if (j(got) !== j(expected)) valueMismatches.push(`${name}: got ${j(got)}, expected ${j(expected)}`);
  } catch (e) {
    valueMismatches.push(`${name}: threw ${(e as Error).message}`);
  }
}

const summary = {
  total: records.length,
  threw: records.filter((r) => r.threw).length,
  didNotThrow: records.filter((r) => !r.threw).map((r) => r.name),
  wrong: records.filter((r) => r.problem).map((r) => `${r.name}: ${r.problem} (${r.message})`),
  healthy,
  values: valueCases.length,
  valueMismatches,
  records: records.map((r) => [r.name, r.message ?? null]),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
