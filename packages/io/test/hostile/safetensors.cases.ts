// Hostile safetensors files, mutated with knowledge of the format: the header JSON's structure
// (offsets, shapes, dtypes, repeated keys, metadata, nesting), and the 8-byte header length. A
// case passes when the load fails with an error naming the file, or when the mutated file is
// still valid and the load holds exactly what its header describes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostileCase, scratchDir } from '@mlxn/test-support/hostile';
import { loadSync } from '../../src/index.js';

/** The data section: a = float32 [2, 3] 0..5 (bytes 0..24), b = int32 [4] 1..4 (24..40). */
function dataSection(): Buffer {
  const b = Buffer.alloc(40);
  for (let i = 0; i < 6; i++) b.writeFloatLE(i, i * 4);
  for (let i = 0; i < 4; i++) b.writeInt32LE(i + 1, 24 + i * 4);
  return b;
}

const A = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };
const B = { dtype: 'I32', shape: [4], data_offsets: [24, 40] };

function file(headerText: string, data: Buffer = dataSection(), length?: bigint): Buffer {
  const json = Buffer.from(headerText);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(length ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

function header(a: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ __metadata__: { k: 'v' }, a, b: B, ...extra });
}

interface Loaded {
  arrays: Record<string, { shape: number[]; dtype: string; values: unknown }>;
  metadata: Record<string, string>;
}

function load(bytes: Buffer): Loaded {
  const path = join(scratchDir('st'), 'case.safetensors');
  writeFileSync(path, bytes);
  const { arrays, metadata } = loadSync(path);
  const out: Loaded['arrays'] = {};
  for (const [k, a] of Object.entries(arrays)) {
    out[k] = { shape: a.shape, dtype: a.dtype, values: a.tolist() };
    a.dispose();
  }
  return { arrays: out, metadata };
}

/** Accepts a load holding `a` with this shape, dtype and values, and the untouched `b`. */
function expectA(shape: number[], dtype: string, values: unknown) {
  return (r: Loaded): true | string => {
    const want = JSON.stringify({ shape, dtype, values });
    if (JSON.stringify(r.arrays.a) !== want) return `a = ${JSON.stringify(r.arrays.a)}, expected ${want}`;
    if (JSON.stringify(r.arrays.b?.values) !== '[1,2,3,4]') return `b = ${JSON.stringify(r.arrays.b)}`;
    return true;
  };
}

const ERROR = /case\.safetensors: /;

function mutation(name: string, bytes: () => Buffer, accept?: (r: Loaded) => true | string, regression = false): HostileCase {
  return {
    name: `safetensors ${name}`,
    class: 'safetensors.structure',
    regression,
    timeoutMs: 5_000,
    run: () => load(bytes()),
    accept: accept as HostileCase['accept'],
    error: ERROR,
  };
}

function offsetCases(): HostileCase[] {
  const values: unknown[] = [
    [-1, 24],
    [24, 0],
    [0, 23],
    [0, 25],
    [0, 40],
    [16, 40],
    [1, 25],
    [40, 64],
    [0, 1e300],
    [0, 2 ** 53],
    [0, 2 ** 31],
    [0, 2 ** 32],
    [2 ** 63, 2 ** 63 + 24],
    [0, '24'],
    [0],
    [0, 24, 48],
    [],
    null,
    [1.5, 25.5],
    [0, -0],
    { 0: 0, 1: 24 },
    [0, 24.0000001],
  ];
  const out = values.map((v) => mutation(`data_offsets ${JSON.stringify(v)}`, () => file(header({ ...A, data_offsets: v }))));
  // Numbers serde reads past 64 bits.
  out.push(mutation('data_offsets [0, 2^64]', () => file(header(A).replace('[0,24]', '[0,18446744073709551616]'))));
  out.push(mutation('data_offsets [0, 2^64 - 1]', () => file(header(A).replace('[0,24]', '[0,18446744073709551615]'))));
  return out;
}

function shapeCases(): HostileCase[] {
  const out: HostileCase[] = [
    // Still six float32 values: a different but valid reading of the same bytes.
    mutation(
      'shape [3, 2]',
      () => file(header({ ...A, shape: [3, 2] })),
      expectA([3, 2], 'float32', [
        [0, 1],
        [2, 3],
        [4, 5],
      ]),
    ),
    mutation('shape [6]', () => file(header({ ...A, shape: [6] })), expectA([6], 'float32', [0, 1, 2, 3, 4, 5])),
    mutation(
      'shape [1, 2, 3]',
      () => file(header({ ...A, shape: [1, 2, 3] })),
      expectA([1, 2, 3], 'float32', [
        [
          [0, 1, 2],
          [3, 4, 5],
        ],
      ]),
    ),
  ];
  const bad: unknown[] = [
    [-2, -3],
    [-1, -6],
    [2, -3],
    [],
    [0],
    [0, 3],
    [7],
    [2 ** 31, 1],
    [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1],
    [2 ** 32, 0],
    [2 ** 53, 0],
    [1.5, 4],
    ['2', 3],
    null,
    [[2], 3],
    [2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
    '2,3',
    { 0: 2, 1: 3 },
    [true, 3],
  ];
  for (const v of bad) out.push(mutation(`shape ${JSON.stringify(v)}`, () => file(header({ ...A, shape: v }))));
  return out;
}

function dtypeCases(): HostileCase[] {
  return [
    // The same 24 bytes read as six int32 or 24 uint8 values are valid files too.
    mutation(
      'dtype I32',
      () => file(header({ ...A, dtype: 'I32' })),
      expectA([2, 3], 'int32', [
        [0, 1065353216, 1073741824],
        [1077936128, 1082130432, 1084227584],
      ]),
    ),
    mutation(
      'dtype U8 shape [24]',
      () => file(header({ ...A, dtype: 'U8', shape: [24] })),
      (r) => (r.arrays.a?.dtype === 'uint8' && (r.arrays.a.values as number[]).length === 24 ? true : JSON.stringify(r.arrays.a)),
    ),
    ...['F64', 'F16', 'BF16', 'U8', 'C64', 'BOOL', 'f32', 'F32 ', 'Q32', 'F8_E4M3', 'I4', '', 1, null, ['F32'], { t: 'F32' }].map((d) =>
      mutation(`dtype ${JSON.stringify(d)}`, () => file(header({ ...A, dtype: d }))),
    ),
  ];
}

function structureCases(): HostileCase[] {
  const t = JSON.stringify(A);
  const b = JSON.stringify(B);
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  return [
    mutation('repeated tensor key', () => file(`{"a":${t},"a":{"dtype":"I32","shape":[6],"data_offsets":[0,24]},"b":${b}}`)),
    mutation('repeated dtype key in an entry', () =>
      file(`{"a":{"dtype":"F32","dtype":"I32","shape":[2,3],"data_offsets":[0,24]},"b":${b}}`),
    ),
    mutation('repeated __metadata__', () => file(`{"__metadata__":{"k":"v"},"__metadata__":{"k":"w"},"a":${t},"b":${b}}`)),
    mutation('repeated metadata key', () => file(`{"__metadata__":{"k":"v","k":"w"},"a":${t},"b":${b}}`)),
    mutation('extra key in an entry', () => file(header({ ...A, extra: 1 }))),
    mutation('entry is a list', () => file(header([A]))),
    mutation('entry is null', () => file(header(null))),
    mutation('header is a list', () => file(`[${t}]`)),
    mutation('header is null', () => file('null')),
    mutation('header is a string', () => file('"a"')),
    mutation('header is empty', () => file('')),
    mutation(
      'header is {} (no tensors)',
      () => file('{}', Buffer.alloc(0)),
      (r) => (Object.keys(r.arrays).length === 0 ? true : 'tensors from an empty header'),
    ),
    mutation('header nested 100000 deep', () => file(`{"a":${deep(100_000)}}`)),
    mutation('header nested 200 deep in metadata', () => file(`{"__metadata__":{"k":${deep(200)}},"a":${t},"b":${b}}`)),
    mutation('metadata value is a number', () => file(header(A).replace('"k":"v"', '"k":1'))),
    mutation('metadata value is null', () => file(header(A).replace('"k":"v"', '"k":null'))),
    mutation('metadata is a list', () => file(header(A).replace('{"k":"v"}', '["k"]'))),
    mutation('metadata is a string', () => file(header(A).replace('{"k":"v"}', '"kv"'))),
    mutation('header with trailing garbage', () => file(`${header(A)}xyz`)),
    mutation('header with a NUL byte', () => file(`${header(A)}\0`)),
    mutation(
      'header padded with spaces',
      () => file(`${header(A)}    `),
      expectA([2, 3], 'float32', [
        [0, 1, 2],
        [3, 4, 5],
      ]),
    ),
    mutation('header starting with a BOM', () => file(`\ufeff${header(A)}`)),
    mutation('header with invalid UTF-8', () =>
      Buffer.concat([file(header(A)).subarray(0, 12), Buffer.from([0xff, 0xfe]), file(header(A)).subarray(14)]),
    ),
    mutation(
      'tensor named ""',
      () => file(JSON.stringify({ '': A, b: B })),
      (r) => (JSON.stringify(r.arrays['']?.values) === '[[0,1,2],[3,4,5]]' ? true : 'wrong'),
    ),
    mutation(
      '50000 zero-sized tensors',
      () =>
        file(
          JSON.stringify(
            Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`z${i}`, { dtype: 'F32', shape: [0], data_offsets: [0, 0] }])),
          ),
        ),
      (r) => (Object.keys(r.arrays).length === 50_000 ? true : 'wrong count'),
    ),
    mutation('data section missing', () => file(header(A), Buffer.alloc(0))),
    mutation('data section one byte short', () => file(header(A), dataSection().subarray(0, 39))),
  ];
}

function lengthCases(): HostileCase[] {
  const json = header(A);
  const n = BigInt(json.length);
  const values: [string, bigint][] = [
    ['0', 0n],
    ['1', 1n],
    ['7', 7n],
    ['max - 1 (one short)', n - 1n],
    ['max + 1 (one long)', n + 1n],
    ['past the end of the file', n + 41n],
    ['2^31', 2n ** 31n],
    ['2^32', 2n ** 32n],
    ['2^62', 2n ** 62n],
    ['2^63', 2n ** 63n],
    ['2^64 - 1', 2n ** 64n - 1n],
    ['100 MiB + 1', 100n * 2n ** 20n + 1n],
  ];
  const out = values.map(([label, v]) => mutation(`header length ${label}`, () => file(json, dataSection(), v)));
  for (const k of [0, 1, 4, 7]) out.push(mutation(`file of ${k} bytes`, () => file(json).subarray(0, k)));
  return out;
}

export const cases = (): HostileCase[] => [
  mutation(
    'the valid file loads',
    () => file(header(A)),
    expectA([2, 3], 'float32', [
      [0, 1, 2],
      [3, 4, 5],
    ]),
  ),
  ...offsetCases(),
  ...shapeCases(),
  ...dtypeCases(),
  ...structureCases(),
  ...lengthCases(),
];
