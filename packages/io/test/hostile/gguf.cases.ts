// Hostile GGUF files: every header field × boundary values, and truncations. A case passes when
// the load fails with an error that names the file (and the field), or when the file is still
// valid and MLX returns exactly what an independent reading of the file finds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostileCase, scratchDir } from '@mlxn/test-support/hostile';
import { loadSync } from '../../src/index.js';
import { f32, GGUF_TYPE, GgufWriter } from '../support/gguf-bytes.js';
import { nest, referenceGguf } from '../support/gguf-reference.js';

/** Every field of the header the battery varies, with the valid file's value. */
interface GgufFields {
  version: number;
  tensorCount: bigint;
  kvCount: bigint;
  alignment: number;
  keyLength?: bigint; // of 'general.name'
  valueType: number; // of 'general.name'
  stringLength?: bigint; // of the value of 'general.name'
  arrayType: number; // element type of 'ids'
  arrayLength: bigint; // of 'ids'
  nameLength?: bigint; // of tensor 'a'
  nDims: number; // of tensor 'a'
  dim0: bigint; // of tensor 'a' (GGUF order)
  dim1: bigint;
  tensorType: number; // of tensor 'a'
  offsetB: bigint; // of tensor 'b'
  truncate?: number;
}

const VALID: GgufFields = {
  version: 3,
  tensorCount: 2n,
  kvCount: 4n,
  alignment: 32,
  valueType: GGUF_TYPE.string,
  arrayType: GGUF_TYPE.int32,
  arrayLength: 3n,
  nDims: 2,
  dim0: 3n,
  dim1: 2n,
  tensorType: 0,
  offsetB: 32n,
};

/**
 * The file: general.alignment, general.name = "tiny", ids = [1, 2, 3] (int32), flag = true;
 * tensor a: float32 [2, 3] = 0..5 at offset 0; tensor b: float32 [4] = 1..4 at offset 32.
 */
export function buildGguf(f: GgufFields): Buffer {
  const w = new GgufWriter().header(f.version, f.tensorCount, f.kvCount);
  w.str('general.alignment').u32(GGUF_TYPE.uint32).u32(f.alignment);
  w.str('general.name', f.keyLength).u32(f.valueType).str('tiny', f.stringLength);
  w.str('ids').u32(GGUF_TYPE.array).u32(f.arrayType).u64(f.arrayLength).u32(1).u32(2).u32(3);
  w.str('flag').u32(GGUF_TYPE.bool).u8(1);
  const dims = [f.dim0, f.dim1, ...Array<bigint>(Math.max(0, Math.min(f.nDims, 9) - 2)).fill(1n)];
  w.str('a', f.nameLength).u32(f.nDims);
  for (const d of dims) w.u64(d);
  w.u32(f.tensorType).u64(0);
  w.tensor('b', [4], 0, f.offsetB);
  const align = f.alignment > 0 && f.alignment <= 4096 && (f.alignment & (f.alignment - 1)) === 0 ? f.alignment : 32;
  w.data(align, Buffer.concat([f32([0, 1, 2, 3, 4, 5]), Buffer.alloc(8), f32([1, 2, 3, 4])]));
  const bytes = w.bytes();
  return f.truncate === undefined ? bytes : bytes.subarray(0, f.truncate);
}

const VALID_LENGTH = buildGguf(VALID).length;

interface Loaded {
  bytes: Buffer;
  arrays: Record<string, { shape: number[]; dtype: string; values: unknown }>;
  metadata: Record<string, string>;
}

function load(bytes: Buffer): Loaded {
  const file = join(scratchDir('gguf'), 'case.gguf');
  writeFileSync(file, bytes);
  const { arrays, metadata } = loadSync(file);
  const out: Loaded['arrays'] = {};
  for (const [k, a] of Object.entries(arrays)) {
    out[k] = { shape: a.shape, dtype: a.dtype, values: a.size <= 4096 ? a.tolist() : null };
    a.dispose();
  }
  return { bytes, arrays: out, metadata };
}

/** A load is correct when it holds exactly what the reference reading of the file finds. */
function sameAsReference(r: Loaded): true | string {
  const ref = referenceGguf(r.bytes);
  if (ref === null) return `loaded a file the reference reader refuses: ${JSON.stringify(Object.keys(r.arrays))}`;
  const names = Object.keys(r.arrays).sort();
  const want = Object.keys(ref.tensors).sort();
  if (JSON.stringify(names) !== JSON.stringify(want)) return `tensors ${JSON.stringify(names)}, expected ${JSON.stringify(want)}`;
  for (const n of names) {
    const got = r.arrays[n]!;
    const t = ref.tensors[n]!;
    if (JSON.stringify(got.shape) !== JSON.stringify(t.shape) || got.dtype !== t.dtype) {
      return `${n}: ${got.dtype} ${JSON.stringify(got.shape)}, expected ${t.dtype} ${JSON.stringify(t.shape)}`;
    }
    if (JSON.stringify(got.values) !== JSON.stringify(nest(t.values, t.shape))) return `${n}: wrong values`;
  }
  for (const [k, v] of Object.entries(ref.strings)) if (r.metadata[k] !== v) return `metadata ${k}: ${r.metadata[k]}, expected ${v}`;
  return true;
}

const U32 = [0, 1, 2, 3, 4, 5, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1];
const PAST_END = -1n; // stands for the length of the valid file
const U64 = [0n, 1n, 2n, 3n, 2n ** 31n, 2n ** 32n, 2n ** 62n, 2n ** 63n, 2n ** 64n - 2n, 2n ** 64n - 1n, PAST_END];

/** Which (field, value) pairs are the named regressions of issue 15, and what main did. */
const REGRESSIONS: Record<string, string> = {
  'alignment=0': 'SIGFPE',
  'tensorCount=4611686018427387904': 'SIGSEGV',
  'keyLength=9223372036854775808': 'SIGSEGV',
  'nDims=5': 'a 5-D tensor',
  'nDims=9': 'SIGABRT',
  'tensorType=31': 'the tensor silently missing',
  'tensorType=4': 'SIGFPE',
};

const FIELDS: [keyof GgufFields, readonly (number | bigint)[]][] = [
  ['version', [...U32, 6]],
  ['tensorCount', U64],
  ['kvCount', U64],
  ['keyLength', U64],
  ['valueType', [...Array.from({ length: 14 }, (_, i) => i), 100, 2 ** 31, 2 ** 32 - 1]],
  ['stringLength', U64],
  ['arrayType', [...Array.from({ length: 14 }, (_, i) => i), 2 ** 31, 2 ** 32 - 1]],
  ['arrayLength', U64],
  ['alignment', [0, 1, 2, 3, 16, 31, 33, 64, 4096, 2 ** 20, 2 ** 20 + 1, 2 ** 21, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]],
  ['nameLength', U64],
  ['nDims', [0, 1, 3, 4, 5, 8, 9, 2 ** 31, 2 ** 32 - 1]],
  ['dim0', U64],
  ['dim1', U64],
  ['tensorType', [...Array.from({ length: 32 }, (_, i) => i), 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]],
  ['offsetB', [...U64, 16n, 24n, 31n, 48n, 64n]],
];

function fieldCases(): HostileCase[] {
  const out: HostileCase[] = [];
  for (const [field, values] of FIELDS) {
    for (const raw of values) {
      const value = raw === PAST_END ? BigInt(VALID_LENGTH) : raw;
      const key = `${field}=${value}`;
      const isBig = typeof VALID[field] === 'bigint' || field.endsWith('Length');
      const fields = { ...VALID, [field]: isBig ? BigInt(value) : Number(value) } as GgufFields;
      out.push({
        name: `gguf ${key}${raw === PAST_END ? ' (past the end of the file)' : ''}`,
        class: 'gguf.header',
        regression: key in REGRESSIONS,
        timeoutMs: 5_000,
        run: () => load(buildGguf(fields)),
        accept: sameAsReference,
        error: /case\.gguf: /,
      });
    }
  }
  return out;
}

function truncationCases(): HostileCase[] {
  const ends = new Set([0, 1, 3, 4, 8, 16, 23, 24, 25, 31, 32]);
  for (let n = 40; n < VALID_LENGTH; n += 9) ends.add(n);
  for (let k = 1; k <= 8; k++) ends.add(VALID_LENGTH - k);
  return [...ends]
    .sort((a, b) => a - b)
    .map((n) => ({
      name: `gguf truncated to ${n} of ${VALID_LENGTH} bytes`,
      class: 'gguf.header',
      timeoutMs: 5_000,
      run: () => load(buildGguf({ ...VALID, truncate: n })),
      accept: sameAsReference,
      error: /case\.gguf: /,
    }));
}

/** A small seeded generator (xorshift32), so each case rebuilds the same file in any child. */
function seeded(seed: number): (n: number) => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

/** Where the valid file's data section (its last 48 bytes) begins: header and padding before it. */
const HEADER_END = VALID_LENGTH - 48;

/**
 * Combinations the per-field cases do not reach: 1 to 4 header bytes set to random values, or
 * a random 8-byte window set to a boundary value, at seeded positions.
 */
function randomHeaderCases(count: number): HostileCase[] {
  const boundary = [0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 62n, 2n ** 63n, 2n ** 64n - 1n];
  return Array.from({ length: count }, (_, i) => ({
    name: `gguf random header mutation #${i}`,
    class: 'gguf.header',
    timeoutMs: 5_000,
    run() {
      const next = seeded(i + 1);
      const bytes = Buffer.from(buildGguf(VALID));
      if (i % 2 === 0) {
        for (let k = 0; k <= next(4); k++) bytes[next(HEADER_END)] = next(256);
      } else {
        bytes.writeBigUInt64LE(boundary[next(boundary.length)]!, next(HEADER_END - 8));
      }
      return load(bytes);
    },
    accept: sameAsReference,
    error: /case\.gguf: /,
  }));
}

export const cases = (): HostileCase[] => [
  {
    name: 'gguf the valid file loads',
    class: 'gguf.header',
    run: () => load(buildGguf(VALID)),
    accept: (r: Loaded) => {
      const same = sameAsReference(r);
      if (same !== true) return same;
      const value = (r.arrays.a?.values as number[][] | undefined)?.[1]?.[2];
      return value === 5 || `a[1][2] is ${value}, expected 5`;
    },
  },
  ...fieldCases(),
  ...truncationCases(),
  ...randomHeaderCases(200),
];
