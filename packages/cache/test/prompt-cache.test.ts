import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BatchKVCache,
  type Cache,
  canTrimPromptCache,
  KVCache,
  loadPromptCache,
  makePromptCache,
  promptCacheTokens,
  QuantizedKVCache,
  RotatingKVCache,
  savePromptCache,
  setPromptCacheTokens,
  trimPromptCache,
} from '../src/index.js';
import { inputs, sampleCaches } from './sample-caches.js';

const dir = mkdtempSync(join(tmpdir(), 'mlxn-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = join(import.meta.dirname, 'fixtures/mlx_lm_prompt_cache.safetensors');
const eq = (a: mx.Array, b: mx.Array) => a.shape.join() === b.shape.join() && (mx.arrayEqual(a, b).item() as boolean);

describe('makePromptCache', () => {
  it('chooses the cache per layer', () => {
    expect(makePromptCache({ numLayers: 3 }).map((c) => c.className)).toEqual(['KVCache', 'KVCache', 'KVCache']);
    expect(makePromptCache({ layers: [1, 2] }).length).toBe(2);
    const rot = makePromptCache({ numLayers: 2 }, { maxKvSize: 128 }) as RotatingKVCache[];
    expect(rot.map((c) => [c.className, c.maxSize, c.keep])).toEqual([
      ['RotatingKVCache', 128, 4],
      ['RotatingKVCache', 128, 4],
    ]);
    const q = makePromptCache({ numLayers: 1 }, { kvBits: 4 }) as QuantizedKVCache[];
    expect([q[0].className, q[0].bits, q[0].groupSize]).toEqual(['QuantizedKVCache', 4, 64]);
    const own = [new RotatingKVCache({ maxSize: 8 }), new KVCache()];
    expect(makePromptCache({ numLayers: 2, makeCache: () => own })).toBe(own);
  });

  it('rejects what it cannot build', () => {
    expect(() => makePromptCache({} as never)).toThrow(/layers`, `numLayers` or `makeCache/);
    expect(() => makePromptCache({ numLayers: 1 }, { maxKvSize: 8, kvBits: 4 })).toThrow(/cannot be combined/);
    expect(() => makePromptCache({ numLayers: 1 }, { kvBits: 7 })).toThrow(/bits must be one of/);
  });
});

describe('trimPromptCache', () => {
  it('trims every layer when all are trimmable (mlx-lm semantics)', () => {
    mx.tidy(() => {
      const cache = makePromptCache({ numLayers: 2 });
      for (const c of cache as KVCache[]) c.updateAndFetch(mx.zeros([1, 1, 5, 2]), mx.zeros([1, 1, 5, 2]));
      expect(canTrimPromptCache(cache)).toBe(true);
      expect(trimPromptCache(cache, 3)).toBe(3);
      expect((cache as KVCache[]).map((c) => c.offset)).toEqual([2, 2]);
      const rot = new RotatingKVCache({ maxSize: 4 });
      rot.updateAndFetch(mx.zeros([1, 1, 6, 2]), mx.zeros([1, 1, 6, 2]));
      const mixed: Cache[] = [...cache, rot];
      expect(canTrimPromptCache(mixed)).toBe(false);
      expect(trimPromptCache(mixed, 1)).toBe(0);
      expect(trimPromptCache([], 1)).toBe(0);
      expect(() => trimPromptCache(cache, -1)).toThrow(/non-negative integer/);
    });
  });
});

describe('prompt-cache files', () => {
  it('round-trips every cache class; a loaded cache continues exactly like the original', async () => {
    const path = join(dir, 'round.safetensors');
    const caches = sampleCaches();
    await savePromptCache(path, caches, { model: 'tiny', note: 'ü' });
    const { cache, metadata } = await loadPromptCache(path);
    expect(metadata).toEqual({ model: 'tiny', note: 'ü' });
    expect(cache.map((c) => c.className)).toEqual(['KVCache', 'RotatingKVCache', 'QuantizedKVCache', 'BatchKVCache']);
    mx.tidy(() => {
      const [k1, k2] = [caches[0], cache[0]].map((c) => (c as KVCache).updateAndFetch(inputs([1, 2, 1, 4], 3), inputs([1, 2, 1, 4], 4))[0]);
      expect(eq(k1, k2)).toBe(true);
      const [r1, r2] = [caches[1], cache[1]].map(
        (c) => (c as RotatingKVCache).updateAndFetch(inputs([1, 2, 2, 4], 5), inputs([1, 2, 2, 4], 6))[0],
      );
      expect(eq(r1, r2)).toBe(true);
      const [q1, q2] = [caches[2], cache[2]].map(
        (c) => (c as QuantizedKVCache).updateAndFetch(inputs([1, 1, 1, 32], 7), inputs([1, 1, 1, 32], 8))[0],
      );
      for (const [i, a] of q1.entries()) expect(eq(a, q2[i])).toBe(true);
      const [b1, b2] = [caches[3], cache[3]] as BatchKVCache[];
      expect(b2.offset.tolist()).toEqual(b1.offset.tolist());
      expect(eq(b1.makeMask(1) as mx.Array, b2.makeMask(1) as mx.Array)).toBe(true);
    });
  });

  it('a loaded cache does not depend on its file: continue and save over the same path', async () => {
    const path = join(dir, 'same.safetensors');
    await savePromptCache(path, sampleCaches().slice(0, 1));
    const { cache } = await loadPromptCache(path);
    rmSync(path);
    writeFileSync(path, 'replaced');
    mx.tidy(() => {
      const [k] = (cache[0] as KVCache).keysAndValues();
      expect(eq(k, inputs([1, 2, 7, 4], 1))).toBe(true);
      (cache[0] as KVCache).updateAndFetch(inputs([1, 2, 1, 4], 5), inputs([1, 2, 1, 4], 6));
    });
    await savePromptCache(path, cache, { turn: '2' });
    const again = await loadPromptCache(path);
    expect([(again.cache[0] as KVCache).offset, again.metadata]).toEqual([8, { turn: '2' }]);
  });

  it('loads a file written by mlx-lm', async () => {
    const { cache, metadata } = await loadPromptCache(fixture);
    expect(metadata).toEqual({ model: 'tiny', tokens: '5' });
    expect(cache.map((c) => c.className)).toEqual(['KVCache', 'RotatingKVCache', 'QuantizedKVCache', 'BatchKVCache']);
    mx.tidy(() => {
      const kv = cache[0] as KVCache;
      expect(kv.offset).toBe(5);
      const [k, v] = kv.keysAndValues();
      expect(k.dtype).toBe('float16');
      expect(eq(k, inputs([1, 2, 5, 4], 1).astype('float16'))).toBe(true);
      expect(eq(v, inputs([1, 2, 5, 4], 2).astype('float16'))).toBe(true);
      // The rotating cache equals one driven the same way here, and keeps rotating the same.
      const ref = new RotatingKVCache({ maxSize: 4, keep: 1 });
      for (let s = 0; s < 6; s++) ref.updateAndFetch(inputs([1, 2, 1, 4], 10 + s), inputs([1, 2, 1, 4], 20 + s));
      const rot = cache[1] as RotatingKVCache;
      expect([rot.offset, rot.idx, rot.keep, rot.maxSize]).toEqual([ref.offset, ref.idx, 1, 4]);
      const a = rot.updateAndFetch(inputs([1, 2, 1, 4], 99), inputs([1, 2, 1, 4], 98))[0];
      const b = ref.updateAndFetch(inputs([1, 2, 1, 4], 99), inputs([1, 2, 1, 4], 98))[0];
      expect(eq(a, b)).toBe(true);
      const q = cache[2] as QuantizedKVCache;
      expect([q.offset, q.groupSize, q.bits]).toEqual([3, 32, 8]);
      const want = mx.quantize(inputs([1, 1, 3, 32], 30), { groupSize: 32, bits: 8 });
      expect(eq(q.keysAndValues()[0][0], want[0])).toBe(true);
      const batch = cache[3] as BatchKVCache;
      expect([batch.idx, batch.offset.tolist(), batch.leftPadding.tolist()]).toEqual([3, [1, 3], [2, 0]]);
      expect(eq(batch.keysAndValues()[0], inputs([2, 1, 3, 4], 40))).toBe(true);
    });
  });

  it('loads empty caches written by mlx-lm, and saves empty caches mlx-lm style', async () => {
    const { cache, metadata } = await loadPromptCache(join(import.meta.dirname, 'fixtures/mlx_lm_empty_cache.safetensors'));
    expect(metadata).toEqual({});
    expect(cache.map((c) => [c.className, c.empty()])).toEqual([
      ['KVCache', true],
      ['QuantizedKVCache', true],
    ]);
    expect([(cache[1] as QuantizedKVCache).bits, (cache[1] as QuantizedKVCache).groupSize]).toEqual([4, 64]);
    const path = join(dir, 'empty.safetensors');
    await savePromptCache(path, [new KVCache(), new QuantizedKVCache({ bits: 4 }), new BatchKVCache({ leftPadding: [2, 1] })]);
    const back = await loadPromptCache(path);
    expect(back.cache.map((c) => c.empty())).toEqual([true, true, true]);
    expect((back.cache[2] as BatchKVCache).offset.tolist()).toEqual([-2, -1]);
  });

  it('writes atomically: replaces an existing file, leaves no temporary files, and a failed save keeps the old file', async () => {
    const path = join(dir, 'atomic.safetensors');
    await savePromptCache(path, sampleCaches().slice(0, 1), { v: '1' });
    const before = readFileSync(path);
    await expect(savePromptCache(path, [{ className: 'Nope' } as never])).rejects.toThrow(/not a cache of @mlxn\/cache/);
    await expect(savePromptCache(path, sampleCaches(), { 'a.b': 'x' })).rejects.toThrow(/contain no '\.'/);
    await expect(savePromptCache(join(dir, 'no-extension'), sampleCaches())).rejects.toThrow(/must end in \.safetensors/);
    expect(readFileSync(path).equals(before)).toBe(true);
    await savePromptCache(path, sampleCaches().slice(0, 2), { v: '2' });
    expect((await loadPromptCache(path)).metadata).toEqual({ v: '2' });
    await expect(savePromptCache(join(dir, 'missing-dir', 'x.safetensors'), sampleCaches())).rejects.toThrow(
      /^savePromptCache: .*x\.safetensors: write failed: No such file or directory/,
    );
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('carries the token ids a cache holds, so a loaded cache can be reused by prefix', async () => {
    const cache = makePromptCache({ numLayers: 2 }) as KVCache[];
    mx.tidy(() => {
      for (const c of cache) c.updateAndFetch(mx.ones([1, 1, 3, 2]), mx.ones([1, 1, 3, 2]));
    });
    const path = join(dir, 'tokens.safetensors');
    // Unknown tokens: nothing is written, nothing is recorded on load.
    await savePromptCache(path, cache);
    expect(promptCacheTokens((await loadPromptCache(path)).cache)).toBeUndefined();
    // A list that does not describe the cache (stale after a trim, say) is not written either.
    setPromptCacheTokens(cache, [5, 6]);
    await savePromptCache(path, cache);
    expect(promptCacheTokens((await loadPromptCache(path)).cache)).toBeUndefined();
    setPromptCacheTokens(cache, [5, 6, 70000]);
    await savePromptCache(path, cache, { note: 'x' });
    const loaded = await loadPromptCache(path);
    expect(promptCacheTokens(loaded.cache)).toEqual([5, 6, 70000]);
    expect(loaded.metadata).toEqual({ note: 'x' }); // the reserved key is not user metadata
    await expect(savePromptCache(path, cache, { mlxn_tokens: '1' })).rejects.toThrow(/"mlxn_tokens" is reserved/);
    expect(() => setPromptCacheTokens(cache, [1, -2])).toThrow(/token 1 must be a non-negative 32-bit integer/);
    // A file whose list is corrupt: a clear error naming the file.
    const bytes = readFileSync(path);
    const corrupt = (from: string, to: string) => {
      const p = join(dir, `corrupt-${to.length}.safetensors`);
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const json = bytes
        .subarray(8, 8 + headerLength)
        .toString()
        .replace(from, to);
      const n = Buffer.alloc(8);
      n.writeBigUInt64LE(BigInt(json.length));
      writeFileSync(p, Buffer.concat([n, Buffer.from(json), bytes.subarray(8 + headerLength)]));
      return p;
    };
    await expect(loadPromptCache(corrupt('"5,6,70000"', '"5,6"'))).rejects.toThrow(
      /corrupt-5\.safetensors: mlxn_tokens lists 2 tokens, but the cache holds 3/,
    );
    await expect(loadPromptCache(corrupt('"5,6,70000"', '"5,x,1"'))).rejects.toThrow(/mlxn_tokens: token 1 is not a token id/);
    await expect(loadPromptCache(corrupt('"5,6,70000"', `"${'9'.repeat(40)}"`))).rejects.toThrow(
      /mlxn_tokens is longer than 3 token ids can be/,
    );
    for (const c of cache) c.dispose();
  });

  it('gives clear errors for corrupt, truncated and foreign files', async () => {
    const bad = (name: string, bytes: Buffer | Uint8Array) => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const good = readFileSync(fixture);
    await expect(loadPromptCache(join(dir, 'nope.safetensors'))).rejects.toThrow(
      /^loadPromptCache: .*nope\.safetensors is not a valid prompt-cache file: cannot open: No such file/,
    );
    await expect(loadPromptCache(bad('short', Buffer.from([1, 2, 3])))).rejects.toThrow(
      /short is not a valid prompt-cache file: truncated: 3 bytes, shorter than the 8-byte header length/,
    );
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(1n << 40n);
    await expect(loadPromptCache(bad('huge', huge))).rejects.toThrow(/header length 1099511627776 exceeds the limit/);
    await expect(loadPromptCache(bad('trunc', good.subarray(0, good.length - 100)))).rejects.toThrow(
      /tensor '2\.1\.0': data_offsets .* go past the end of the data/,
    );
    const junk = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]);
    await expect(loadPromptCache(bad('junk', junk))).rejects.toThrow(/not valid JSON/);
    const header = (h: object) => {
      const s = Buffer.from(JSON.stringify(h));
      const n = Buffer.alloc(8);
      n.writeBigUInt64LE(BigInt(s.length));
      return Buffer.concat([n, s, Buffer.alloc(16)]);
    };
    const weights = header({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, __metadata__: { format: 'pt' } });
    await expect(loadPromptCache(bad('weights', weights))).rejects.toThrow(/not part of a prompt-cache file/);
    const mamba = header({ '0.0': { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, __metadata__: { '1.0': 'MambaCache' } });
    await expect(loadPromptCache(bad('mamba', mamba))).rejects.toThrow(/unsupported cache class "MambaCache"/);
    const missing = header({ '0.0': { dtype: 'F32', shape: [1, 1, 1, 1], data_offsets: [0, 4] }, __metadata__: { '1.0': 'KVCache' } });
    await expect(loadPromptCache(bad('missing', missing))).rejects.toThrow(/state entry "0.1" is missing/);
    const inconsistent = header({
      '0.0': { dtype: 'F32', shape: [1, 1, 1, 1], data_offsets: [0, 4] },
      '0.1': { dtype: 'F32', shape: [1, 1, 1, 1], data_offsets: [4, 8] },
      '0.2': { dtype: 'I32', shape: [], data_offsets: [8, 12] },
      __metadata__: { '1.0': 'KVCache', '2.0': '', '2.1.0': '0.2', '2.1.1': 'scalar' },
    });
    const p = bad('inconsistent', inconsistent);
    const buf = readFileSync(p);
    buf.writeInt32LE(9, buf.length - 16 + 8); // offset 9 > 1 stored token
    writeFileSync(p, buf);
    await expect(loadPromptCache(p)).rejects.toThrow(/layer 0 \(KVCache\): KVCache.state: offset 9 is outside the stored 1 tokens/);
    // The fixture itself is untouched by all this and still loads.
    copyFileSync(fixture, join(dir, 'copy.safetensors'));
    expect((await loadPromptCache(join(dir, 'copy.safetensors'))).cache.length).toBe(4);
  });
});
