// Mutated safetensors files (bit flips, truncations, header edits): each case ends in an error
// that names the file, or in a load whose arrays hold exactly the bytes the header points at.
// A crash would kill the worker; a hang would hit the test timeout.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { inspectSafetensors, loadSync, saveSync } from '../src/index.js';
import { tmp } from './helpers.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % Math.max(1, n);
  };
}

const EDITS: [string, string][] = [
  ['"F32"', '"F16"'],
  ['"BF16"', '"I64"'],
  ['"I32"', '"Q32"'],
  ['[0,', '[1,'],
  ['"shape":[', '"shape":[9,'],
  ['"data_offsets":[', '"data_offsets":[1e20,'],
  [']', ']]'],
  ['{', '{"z":{},'],
  ['"U8"', '"BOOL"'],
  ['"shape":[', '"shape":[-'],
  ['"k"', '"__metadata__"'],
  ['"v"', '7'],
];

describe('fuzzed safetensors files', () => {
  it('1,200 mutated files: a clear error or a correct load, never a crash', () => {
    const dir = tmp();
    const base = join(dir, 'base.safetensors');
    saveSync(
      base,
      {
        a: mx.arange(0, 12, 1, { dtype: 'float32' }).reshape([3, 4]),
        b: mx.array([1, 2, 3, 4, 5], { dtype: 'bfloat16' }),
        c: mx.array([7, -1, 3], { dtype: 'int32' }),
        d: mx.array(
          [
            [1, 2],
            [3, 4],
          ],
          { dtype: 'uint8' },
        ),
      },
      { metadata: { k: 'v' } },
    );
    const original = readFileSync(base);
    const headerLen = Number(original.readBigUInt64LE(0));
    const next = rng(12345);
    const file = join(dir, 'case.safetensors');
    let loaded = 0;
    let refused = 0;
    for (let i = 0; i < 1200; i++) {
      let bytes = Buffer.from(original);
      switch (i % 5) {
        case 0:
          for (let k = 0; k <= next(4); k++) bytes[next(bytes.length)]! ^= 1 << next(8);
          break;
        case 1:
          bytes[next(8 + headerLen)]! ^= 1 << next(8);
          break;
        case 2:
          bytes = bytes.subarray(0, next(bytes.length));
          break;
        case 3: {
          const [from, to] = EDITS[next(EDITS.length)]!;
          const json = Buffer.from(
            original
              .subarray(8, 8 + headerLen)
              .toString()
              .replace(from, to),
          );
          const len = Buffer.alloc(8);
          len.writeBigUInt64LE(BigInt(json.length));
          bytes = Buffer.concat([len, json, original.subarray(8 + headerLen)]);
          break;
        }
        default:
          bytes[next(8)] = next(256);
      }
      writeFileSync(file, bytes);
      let result: ReturnType<typeof loadSync>;
      try {
        result = loadSync(file);
      } catch (e) {
        expect((e as Error).message).toContain('case.safetensors');
        refused++;
        continue;
      }
      const header = inspectSafetensors(file);
      for (const t of header.tensors) {
        const a = result.arrays[t.name]!;
        const got = Buffer.from(a.dataSync({ rawHalf: true }).buffer.slice(0));
        const want = bytes.subarray(t.begin, t.end);
        if (t.dtype === 'bool') expect([...got].map(Boolean)).toEqual([...want].map(Boolean));
        else expect(got.equals(want)).toBe(true);
        a.dispose();
      }
      loaded++;
    }
    expect(loaded + refused).toBe(1200);
    expect(loaded).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});
