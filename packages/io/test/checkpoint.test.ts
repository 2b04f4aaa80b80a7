import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { inspectSafetensors, load, loadSync, parseSize, save, saveSync } from '../src/index.js';
import { fixture, safetensorsBytes, tmp } from './helpers.js';

function sample(dtype: mx.Dtype): mx.Array {
  if (dtype === 'bool')
    return mx.array([
      [true, false, true],
      [false, false, true],
    ]);
  if (dtype === 'complex64')
    return mx.add(
      mx.array(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        { dtype: 'complex64' },
      ),
      0,
    );
  const signed = dtype.startsWith('int') || dtype.startsWith('float') || dtype === 'bfloat16';
  return mx.array(
    signed
      ? [
          [-1.5, 2, 3.25],
          [4, -5, 6],
        ]
      : [
          [1, 2, 3],
          [4, 5, 6],
        ],
    { dtype },
  );
}

const bytesOf = (a: mx.Array) => Buffer.from(a.dataSync({ rawHalf: true }).buffer.slice(0));

describe('safetensors files', () => {
  it('round-trips every dtype and string metadata', async () => {
    const file = join(tmp(), 'all.safetensors');
    const arrays = Object.fromEntries(mx.DTYPES.map((d) => [d, sample(d)]));
    const written = await save(file, arrays, { metadata: { format: 'mlx', note: 'héllo 😀' } });
    expect(written).toEqual([file]);
    const { arrays: back, metadata } = await load(file);
    expect(metadata).toEqual({ format: 'mlx', note: 'héllo 😀' });
    expect(Object.keys(back).sort()).toEqual([...mx.DTYPES].sort());
    for (const d of mx.DTYPES) {
      expect(back[d]!.dtype).toBe(d);
      expect(back[d]!.shape).toEqual([2, 3]);
      expect(bytesOf(back[d]!)).toEqual(bytesOf(arrays[d]!));
    }
  });

  it('writes the standard layout: length prefix, JSON header, aligned data', () => {
    const file = join(tmp(), 'w.safetensors');
    saveSync(file, { w: mx.array([1, 2], { dtype: 'bfloat16' }) });
    const buf = readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    expect(JSON.parse(buf.subarray(8, 8 + n).toString())).toEqual({ w: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } });
    expect([...buf.subarray(8 + n)]).toEqual([0x80, 0x3f, 0x00, 0x40]);
  });

  it('loads lazily and filters by names, RegExp or predicate', () => {
    const file = join(tmp(), 'f.safetensors');
    saveSync(file, { 'a.weight': mx.ones([2]), 'a.bias': mx.zeros([2]), 'b.weight': mx.full([3], 7) });
    expect(Object.keys(loadSync(file, { filter: ['b.weight'] }).arrays)).toEqual(['b.weight']);
    expect(Object.keys(loadSync(file, { filter: /^a\./ }).arrays).sort()).toEqual(['a.bias', 'a.weight']);
    expect(Object.keys(loadSync(file, { filter: (n) => n.endsWith('weight') }).arrays).sort()).toEqual(['a.weight', 'b.weight']);
    expect(loadSync(file).arrays['b.weight']!.tolist()).toEqual([7, 7, 7]);
    const h = inspectSafetensors(file);
    expect(h.tensors.find((t) => t.name === 'b.weight')).toMatchObject({ dtype: 'int32', shape: [3] });
  });

  it('reads files written by Python MLX (null __metadata__)', () => {
    const file = join(tmp(), 'py.safetensors');
    const data = new Uint8Array(new Float32Array([1, 2]).buffer);
    writeFileSync(file, safetensorsBytes({ __metadata__: null, x: { data_offsets: [0, 8], dtype: 'F32', shape: [2] } }, data));
    expect(loadSync(file).arrays.x!.tolist()).toEqual([1, 2]);
  });

  it('replaces files atomically and leaves no temporary files', () => {
    const dir = tmp();
    const file = join(dir, 'm.safetensors');
    saveSync(file, { a: mx.ones([4]) });
    const before = readFileSync(file);
    expect(() => saveSync(file, { a: mx.ones([4]) }, { metadata: { bad: 1 as unknown as string } })).toThrow(/must be a string/);
    expect(() => saveSync(join(dir, 'missing-dir', 'x.safetensors'), { a: mx.ones([1]) })).toThrow(/x\.safetensors.*write failed/);
    expect(readFileSync(file)).toEqual(before);
    expect(readdirSync(dir)).toEqual(['m.safetensors']);
  });
});

describe('bad safetensors files', () => {
  const data = new Uint8Array(16);
  const cases: [string, Buffer, RegExp][] = [
    ['truncated length', Buffer.from([1, 2, 3]), /truncated/],
    [
      'header longer than file',
      (() => {
        const b = safetensorsBytes({}, 0);
        b.writeBigUInt64LE(1000n);
        return b;
      })(),
      /larger than the file/,
    ],
    [
      'huge header length',
      (() => {
        const b = safetensorsBytes({}, 0);
        b.writeBigUInt64LE(1n << 40n);
        return b;
      })(),
      /exceeds the limit/,
    ],
    ['offsets past the end', safetensorsBytes({ x: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data), /past the end/],
    [
      'overlap',
      safetensorsBytes(
        { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
        data,
      ),
      /overlap/,
    ],
    ['unknown dtype', safetensorsBytes({ x: { dtype: 'F8_E9', shape: [2], data_offsets: [0, 2] } }, data), /unknown dtype 'F8_E9'/],
    ['shape vs bytes', safetensorsBytes({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data), /needs 12 bytes/],
    ['not JSON', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]), /not valid JSON/],
  ];
  for (const [name, bytes, re] of cases) {
    it(`refuses ${name}, naming the file`, () => {
      const file = join(tmp(), 'bad.safetensors');
      writeFileSync(file, bytes);
      expect(() => loadSync(file)).toThrow(re);
      expect(() => loadSync(file)).toThrow(/bad\.safetensors/);
    });
  }
  it('refuses a missing file and a missing tensor', () => {
    expect(() => loadSync(join(tmp(), 'nope.safetensors'))).toThrow(/no such file/);
    const file = join(tmp(), 'one.safetensors');
    saveSync(file, { a: mx.ones([1]) });
    expect(() => loadSync(file, { filter: ['a', 'zzz'] })).toThrow(/one\.safetensors: no tensor named 'zzz'/);
  });
  it('GGUF: loads a file written by Python MLX', () => {
    const { arrays, metadata } = loadSync(fixture('tiny.gguf'));
    expect(arrays.w!.tolist()).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(arrays.h!.dtype).toBe('float16');
    expect(arrays.h!.tolist()).toEqual([1.5, -2]);
    expect(metadata['general.name']).toBe('tiny');
    expect(Object.keys(loadSync(fixture('tiny.gguf'), { filter: ['h'] }).arrays)).toEqual(['h']);
  });
  it('GGUF: a clear error for a bad or unsupported file', () => {
    const file = join(tmp(), 'x.gguf');
    writeFileSync(file, 'not gguf');
    expect(() => loadSync(file)).toThrow(/x\.gguf/);
  });
});

describe('sharded folders', () => {
  const weights = () => ({
    'layers.0.w': mx.ones([64], { dtype: 'float32' }), // 256 bytes
    'layers.0.b': mx.zeros([32], { dtype: 'bfloat16' }), // 64 bytes
    'layers.1.w': mx.full([64], 2, { dtype: 'float32' }), // 256 bytes
    embed: mx.arange(0, 100, 1, { dtype: 'int32' }), // 400 bytes
  });

  it('writes shards and the index in the Hugging Face layout and loads them back', () => {
    const dir = join(tmp(), 'model');
    const files = saveSync(dir, weights(), { maxShardSize: 400, metadata: { format: 'pt' } });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata).toEqual({ total_size: 976 });
    expect(index.weight_map).toEqual({
      embed: 'model-00003-of-00003.safetensors',
      'layers.0.b': 'model-00001-of-00003.safetensors',
      'layers.0.w': 'model-00001-of-00003.safetensors',
      'layers.1.w': 'model-00002-of-00003.safetensors',
    });
    const { arrays, metadata } = loadSync(dir);
    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(arrays).sort()).toEqual(['embed', 'layers.0.b', 'layers.0.w', 'layers.1.w']);
    expect(arrays.embed!.tolist()).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Object.keys(loadSync(dir, { filter: /^layers\.1/ }).arrays)).toEqual(['layers.1.w']);
  });

  it('writes one model.safetensors when everything fits, and parses sizes', () => {
    const dir = join(tmp(), 'small');
    expect(saveSync(dir, weights()).map((f) => f.slice(dir.length + 1))).toEqual(['model.safetensors']);
    expect(Object.keys(loadSync(dir).arrays)).toHaveLength(4);
    expect(parseSize('5GB')).toBe(5e9);
    expect(parseSize('2GiB')).toBe(2 ** 31);
    expect(parseSize(123)).toBe(123);
    expect(() => parseSize('lots')).toThrow(/cannot parse/);
    expect(() => parseSize(-1)).toThrow(RangeError);
  });

  it('replaces an earlier save in the same folder (no stale index or shards)', () => {
    const dir = join(tmp(), 'again');
    saveSync(dir, weights(), { maxShardSize: 400 });
    writeFileSync(join(dir, 'config.json'), '{}');
    saveSync(dir, { only: mx.ones([2]) });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(Object.keys(loadSync(dir).arrays)).toEqual(['only']);
    saveSync(dir, weights(), { maxShardSize: 600 });
    expect(readdirSync(dir).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
  });

  it('lazy arrays survive their file being replaced (atomic rename keeps the old bytes)', () => {
    const file = join(tmp(), 'same.safetensors');
    saveSync(file, { w: mx.array([1, 2, 3]) });
    const lazy = loadSync(file).arrays;
    saveSync(file, { w: mx.array([9, 9, 9]) });
    expect(lazy.w!.tolist()).toEqual([1, 2, 3]);
    const again = loadSync(file).arrays;
    saveSync(file, { w: mx.multiply(again.w!, 2) });
    expect(loadSync(file).arrays.w!.tolist()).toEqual([18, 18, 18]);
  });

  it('refuses a missing shard and shard names that leave the folder', () => {
    const dir = join(tmp(), 'm');
    saveSync(dir, weights(), { maxShardSize: 400 });
    const indexFile = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.weight_map.embed = 'model-00009-of-00009.safetensors';
    writeFileSync(indexFile, JSON.stringify(index));
    expect(() => loadSync(dir)).toThrow(/model-00009-of-00009\.safetensors.*does not exist/);
    for (const evil of ['../x.safetensors', '/etc/passwd', 'sub/x.safetensors']) {
      index.weight_map.embed = evil;
      writeFileSync(indexFile, JSON.stringify(index));
      expect(() => loadSync(dir)).toThrow(/not a plain file name/);
    }
    writeFileSync(indexFile, '{"weight_map": 3}');
    expect(() => loadSync(dir)).toThrow(/index\.json.*weight_map/);
  });

  it('loads a folder of safetensors files without an index', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'x'));
    saveSync(join(dir, 'x', 'a.safetensors'), { a: mx.ones([1]) });
    saveSync(join(dir, 'x', 'b.safetensors'), { b: mx.zeros([1]) });
    expect(Object.keys(loadSync(join(dir, 'x')).arrays).sort()).toEqual(['a', 'b']);
    expect(existsSync(join(dir, 'x', 'model.safetensors.index.json'))).toBe(false);
  });
});
