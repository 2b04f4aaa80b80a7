/**
 * The 14 MLX dtypes. The order is the numeric code shared with the native binary
 * (`crates/mlxn-core/src/dtype.rs` and the C++ shim's `kDtypes`).
 */
export const DTYPES = [
  'bool',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'int8',
  'int16',
  'int32',
  'int64',
  'float16',
  'bfloat16',
  'float32',
  'float64',
  'complex64',
] as const;

/** An MLX dtype as a string literal. */
export type Dtype = (typeof DTYPES)[number];

const CODES = new Map<string, number>(DTYPES.map((d, i) => [d, i]));

const ITEMSIZE: Record<Dtype, number> = {
  bool: 1,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  bfloat16: 2,
  float32: 4,
  float64: 8,
  complex64: 8,
};

/** The numeric code of a dtype; a clear error for anything that is not one. */
export function dtypeCode(d: unknown): number {
  const code = typeof d === 'string' ? CODES.get(d) : undefined;
  if (code === undefined) {
    throw new TypeError(`Unknown dtype ${JSON.stringify(d)}; expected one of ${DTYPES.join(', ')}`);
  }
  return code;
}

export function dtypeFromCode(code: number): Dtype {
  const d = DTYPES[code];
  if (d === undefined) throw new TypeError(`Unknown dtype code ${code}`);
  return d;
}

export function itemsize(d: Dtype): number {
  return ITEMSIZE[d];
}

export const isFloating = (d: Dtype) => d === 'float16' || d === 'bfloat16' || d === 'float32' || d === 'float64';
export const isComplex = (d: Dtype) => d === 'complex64';
export const isInexact = (d: Dtype) => isFloating(d) || isComplex(d);
export const isUnsigned = (d: Dtype) => d === 'uint8' || d === 'uint16' || d === 'uint32' || d === 'uint64';
export const isInteger = (d: Dtype) => isUnsigned(d) || d === 'int8' || d === 'int16' || d === 'int32' || d === 'int64';

const INT_RANGE: Partial<Record<Dtype, [bigint, bigint]>> = {
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, 18446744073709551615n],
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-9223372036854775808n, 9223372036854775807n],
};

/** Throws (as MLX's Python API does) when an integer scalar does not fit an integer dtype. */
export function checkIntFits(value: number | bigint, d: Dtype): void {
  const range = INT_RANGE[d];
  if (!range) return;
  const v = typeof value === 'bigint' ? value : BigInt(value);
  if (v < range[0] || v > range[1]) {
    throw new RangeError(`Converting ${value} to ${d} would result in overflow.`);
  }
}

/**
 * Whether `v` is an integer that fits the native side's int32 parameters. Numbers cross the
 * FFI as int32 with JS ToInt32 semantics (NaN → 0, 2**32 + 2 → 2), so anything else must be
 * refused before it gets there or it silently becomes a different, valid-looking value.
 */
export function isInt32(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= -2147483648 && (v as number) <= 2147483647;
}

/** `v` as an int32 argument, or a TypeError naming `what`. */
export function int32(v: unknown, what: string): number {
  if (!isInt32(v))
    throw new TypeError(`${what} must be an integer (int32), got ${typeof v === 'number' ? v : (JSON.stringify(v) ?? String(v))}`);
  return v;
}

/**
 * The dtype a JS scalar takes next to an array of dtype `other`: scalars are weakly typed, as
 * in MLX's Python API. Integer-valued numbers act like Python ints, other numbers like floats.
 */
export function weakScalarDtype(value: number | boolean | bigint, other: Dtype): Dtype {
  if (typeof value === 'boolean') return 'bool';
  const integral = typeof value === 'bigint' || Number.isInteger(value);
  if (integral) {
    if (other === 'bool') return 'int32';
    if (isInteger(other)) {
      // MLX's Python API range-checks only integer types narrower than 64 bits; int64/uint64
      // take the value modulo 2^64 (uint64 array + -1 wraps), and so do we.
      if (itemsize(other) < 8) checkIntFits(value as number | bigint, other);
      return other;
    }
    return other;
  }
  return isInexact(other) ? other : 'float32';
}
