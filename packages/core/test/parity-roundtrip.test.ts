// Host data in and out: every TypedArray kind, raw float16/bfloat16 bits, every dtype through
// astype, and dtype inference for nested JS lists. (Python MLX's astype table and list
// inference are checked against golden values in parity-promotion.test.ts; these are the
// JS-specific paths, checked against hand-computed values.)
import { describe, expect, it } from 'vitest';
import { useCpuDevice } from '../../../tooling/test-support/devices.mjs';
import * as mx from '../src/index.js';

// float64 round trips: MLX computes float64 on the CPU only, so the file runs there.
useCpuDevice(mx);

/** A read-back TypedArray as a plain list. */
const list = (t: unknown): (number | bigint)[] => Array.from(t as ArrayLike<number | bigint>);

type Ctor = { new (xs: ArrayLike<number>): ArrayLike<number> } | { new (xs: ArrayLike<bigint>): ArrayLike<bigint> };
const CASES: [string, Ctor, mx.Dtype, (number | bigint)[]][] = [
  ['Int8Array', Int8Array, 'int8', [-128, -1, 0, 1, 127]],
  ['Uint8Array', Uint8Array, 'uint8', [0, 1, 128, 254, 255]],
  ['Int16Array', Int16Array, 'int16', [-32768, -2, 0, 300, 32767]],
  ['Uint16Array', Uint16Array, 'uint16', [0, 1, 256, 40000, 65535]],
  ['Int32Array', Int32Array, 'int32', [-2147483648, -5, 0, 65536, 2147483647]],
  ['Uint32Array', Uint32Array, 'uint32', [0, 7, 65536, 3000000000, 4294967295]],
  ['Float32Array', Float32Array, 'float32', [-1.5, 0, 0.1, 3.4e38, -Infinity]],
  ['BigInt64Array', BigInt64Array, 'int64', [-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]],
  ['BigUint64Array', BigUint64Array, 'uint64', [0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]],
];

describe('TypedArray round trips', () => {
  it.each(CASES)('%s keeps its dtype and values', (_name, C, dtype, values) => {
    const ta = new (C as new (xs: unknown[]) => ArrayLike<number | bigint>)(values);
    const a = mx.array(ta as unknown as mx.ArrayLike);
    expect(a.dtype).toBe(dtype);
    expect(a.shape).toEqual([values.length]);
    const back = a.dataSync();
    expect(back.constructor).toBe(C);
    expect(list(back)).toEqual(list(ta));
  });

  it('Uint8ClampedArray is uint8', () => {
    const a = mx.array(new Uint8ClampedArray([0, 9, 255]));
    expect(a.dtype).toBe('uint8');
    expect(list(a.dataSync())).toEqual([0, 9, 255]);
  });

  it('Float64Array defaults to float32 (MLX does so for float64 host data); float64 on request', () => {
    const v = [0.1, -2.5, 1e300, 1 / 3];
    const f32 = mx.array(Float64Array.from(v));
    expect(f32.dtype).toBe('float32');
    expect(list(f32.dataSync())).toEqual(v.map(Math.fround));
    const f64 = mx.array(Float64Array.from(v), 'float64');
    expect(f64.dtype).toBe('float64');
    const back = f64.dataSync();
    expect(back).toBeInstanceOf(Float64Array);
    expect(list(back)).toEqual(v);
  });

  it('a TypedArray with another dtype is converted', () => {
    const a = mx.array(Int32Array.from([1, -2, 3]), { dtype: 'float16' });
    expect(a.dtype).toBe('float16');
    expect(list(a.dataSync())).toEqual([1, -2, 3]);
    const b = mx.array(Float32Array.from([1.7, -2.7]), 'int32');
    expect(list(b.dataSync())).toEqual([1, -2]);
  });

  it('a subarray view reads only its own elements', () => {
    const buf = Int16Array.from([9, 1, 2, 3, 9]);
    const a = mx.array(buf.subarray(1, 4));
    expect(list(a.dataSync())).toEqual([1, 2, 3]);
  });
});

describe('raw half-precision bits', () => {
  // Hand-computed IEEE half and bfloat16 patterns.
  const F16: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3800, 0.5],
    [0x7bff, 65504],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0001, 2 ** -24],
    [0x3555, 0.333251953125],
    [0x8000, -0],
  ];
  const BF16: [number, number][] = [
    [0x3f80, 1],
    [0xc000, -2],
    [0x3f00, 0.5],
    [0x4049, 3.140625],
    [0x7f80, Infinity],
    [0x0080, 2 ** -126],
    [0xc2f7, -123.5],
    [0x8000, -0],
  ];

  it.each([
    ['float16', F16],
    ['bfloat16', BF16],
  ] as const)('%s: Uint16Array bits in, bits and values out', (dtype, table) => {
    const bits = Uint16Array.from(table.map(([b]) => b));
    const a = mx.array(bits, { dtype });
    expect(a.dtype).toBe(dtype);
    const raw = a.dataSync({ rawHalf: true });
    expect(raw).toBeInstanceOf(Uint16Array);
    expect(list(raw)).toEqual(list(bits));
    const vals = a.dataSync();
    expect(vals).toBeInstanceOf(Float32Array);
    expect(list(vals)).toEqual(table.map(([, v]) => v));
    expect(a.tolist()).toEqual(table.map(([, v]) => v));
  });

  it('NaN bits stay NaN', () => {
    const a = mx.array(Uint16Array.from([0x7e00]), 'float16');
    expect(Number.isNaN(a.dataSync()[0])).toBe(true);
    expect((a.dataSync({ rawHalf: true })[0] as number) & 0x7c00).toBe(0x7c00);
  });

  it('float32 values rounded to half give the expected bits', () => {
    const a = mx.array(Float32Array.from([1, 0.1, -65504, 70000]), 'float16');
    expect(list(a.dataSync({ rawHalf: true }))).toEqual([0x3c00, 0x2e66, 0xfbff, 0x7c00]);
    const b = mx.array(Float32Array.from([1, 0.1, 1.00390625]), 'bfloat16');
    // 0.1f = 0x3DCCCCCD -> 0x3DCD; 1.00390625 = 0x3F808000 is a tie -> even 0x3F80.
    expect(list(b.dataSync({ rawHalf: true }))).toEqual([0x3f80, 0x3dcd, 0x3f80]);
  });
});

describe('every dtype through astype', () => {
  const READ: Record<mx.Dtype, unknown> = {
    bool: Uint8Array,
    uint8: Uint8Array,
    uint16: Uint16Array,
    uint32: Uint32Array,
    uint64: BigUint64Array,
    int8: Int8Array,
    int16: Int16Array,
    int32: Int32Array,
    int64: BigInt64Array,
    float16: Float32Array,
    bfloat16: Float32Array,
    float32: Float32Array,
    float64: Float64Array,
    complex64: Float32Array,
  };
  it.each([...mx.DTYPES])('int32 -> %s -> int32 keeps small values', (d) => {
    const src = mx.array([0, 1, 2, 7, 100]);
    const a = src.astype(d);
    expect(a.dtype).toBe(d);
    expect(a.itemsize).toBe(mx.itemsize(d));
    const raw = a.dataSync();
    expect(raw.constructor).toBe(READ[d]);
    if (d === 'bool') {
      expect(list(raw)).toEqual([0, 1, 1, 1, 1]);
      return;
    }
    if (d === 'complex64') expect(list(raw)).toEqual([0, 0, 1, 0, 2, 0, 7, 0, 100, 0]);
    else if (d === 'int64' || d === 'uint64') expect(list(raw)).toEqual([0n, 1n, 2n, 7n, 100n]);
    else expect(list(raw)).toEqual([0, 1, 2, 7, 100]);
    const back = d === 'complex64' ? mx.real(a).astype('int32') : a.astype('int32');
    expect(list(back.dataSync())).toEqual([0, 1, 2, 7, 100]);
  });

  it('tolist and item: 64-bit ints as bigint, bool as boolean, complex as {re, im}', () => {
    expect(mx.array([1, 2], 'int64').tolist()).toEqual([1n, 2n]);
    expect(mx.array([3], 'uint64').item()).toBe(3n);
    expect(mx.array([true, false]).tolist()).toEqual([true, false]);
    expect(mx.array([1.5], 'complex64').item()).toEqual({ re: 1.5, im: 0 });
    expect(
      mx
        .array(
          [
            [1, 2],
            [3, 4],
          ],
          'uint8',
        )
        .tolist(),
    ).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('nested JS list inference', () => {
  const cases: [string, mx.ArrayLike, mx.Dtype, number[], unknown][] = [
    [
      'ints',
      [
        [1, 2],
        [3, -4],
      ],
      'int32',
      [2, 2],
      [
        [1, 2],
        [3, -4],
      ],
    ],
    ['floats', [1.5, -2, 3], 'float32', [3], [1.5, -2, 3]],
    ['booleans', [[true], [false]], 'bool', [2, 1], [[true], [false]]],
    ['bigints', [1n, -2n], 'int64', [2], [1n, -2n]],
    ['ints beyond int32', [1, 2 ** 40], 'int64', [2], [1n, 2n ** 40n]],
    ['int32 bounds', [-(2 ** 31), 2 ** 31 - 1], 'int32', [2], [-(2 ** 31), 2 ** 31 - 1]],
    ['just past int32', [2 ** 31], 'int64', [1], [2n ** 31n]],
    ['bool and int', [true, 2], 'int32', [2], [1, 2]],
    ['bool and float', [true, 2.5], 'float32', [2], [1, 2.5]],
    ['bigint and number', [1n, 2], 'int64', [2], [1n, 2n]],
    ['empty', [], 'float32', [0], []],
    ['scalar int', 7, 'int32', [], 7],
    ['scalar float', 2.5, 'float32', [], 2.5],
    ['scalar bool', true, 'bool', [], true],
    ['scalar bigint', 5n, 'int64', [], 5n],
    ['scalar big int', 2 ** 40, 'int64', [], 2n ** 40n],
  ];
  it.each(cases)('%s', (_name, value, dtype, shape, list) => {
    const a = mx.array(value);
    expect(a.dtype).toBe(dtype);
    expect(a.shape).toEqual(shape);
    expect(a.tolist()).toEqual(list);
  });

  it('an explicit dtype wins over inference', () => {
    expect(mx.array([1, 2], 'float64').dtype).toBe('float64');
    expect(list(mx.array([1.5, 2.25], 'float64').dataSync())).toEqual([1.5, 2.25]);
    expect(mx.array([1, 0], { dtype: 'bool' }).tolist()).toEqual([true, false]);
    expect(mx.array([[1, 2]], 'complex64').tolist()).toEqual([
      [
        { re: 1, im: 0 },
        { re: 2, im: 0 },
      ],
    ]);
    expect(mx.array([2n ** 62n], 'int64').tolist()).toEqual([2n ** 62n]);
  });

  it('ragged lists are refused', () => {
    expect(() => mx.array([[1, 2], [3]])).toThrow(TypeError);
    expect(() => mx.array([[1], 2])).toThrow(TypeError);
  });
});
