// Caches filled with the reference scripts' integer-made inputs, shared by the tests and
// tooling/reference/cache_write_mlxn.ts (which writes them for mlx-lm to load); no vitest here.
import * as mx from '@mlxn/core';
import { BatchKVCache, type Cache, KVCache, QuantizedKVCache, RotatingKVCache } from '../src/index.js';

/** The reference script's inputs: ((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5, float32. */
export function inputs(shape: number[], seed: number): mx.Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5;
  return mx.reshape(mx.array(out), shape);
}

/**
 * One cache of each class with content: KVCache (7 tokens), RotatingKVCache (maxSize 4, keep 1,
 * 6 steps), QuantizedKVCache (4 bits, 3 tokens), BatchKVCache (left padding [1, 0], 2 steps).
 */
export function sampleCaches(): Cache[] {
  const kv = new KVCache();
  kv.updateAndFetch(inputs([1, 2, 7, 4], 1), inputs([1, 2, 7, 4], 2));
  const rot = new RotatingKVCache({ maxSize: 4, keep: 1 });
  for (let s = 0; s < 6; s++) rot.updateAndFetch(inputs([1, 2, 1, 4], 10 + s), inputs([1, 2, 1, 4], 20 + s));
  const q = new QuantizedKVCache({ groupSize: 32, bits: 4 });
  q.updateAndFetch(inputs([1, 1, 3, 32], 30), inputs([1, 1, 3, 32], 31));
  const b = new BatchKVCache({ leftPadding: [1, 0] });
  b.updateAndFetch(inputs([2, 1, 1, 4], 40), inputs([2, 1, 1, 4], 41));
  b.updateAndFetch(inputs([2, 1, 1, 4], 42), inputs([2, 1, 1, 4], 43));
  return [kv, rot, q, b];
}
