import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { expect } from 'vitest';

/** The reference script's inputs: ((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5, float32. */
export function inputs(shape: number[], seed: number): mx.Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5;
  return mx.reshape(mx.array(out), shape);
}

export interface Enc {
  dtype: string;
  shape: number[];
  data: (number | boolean)[];
}

export function golden(): { scenarios: Record<string, unknown>[] } {
  return JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/cache_golden.json'), 'utf8'));
}

/** Exact comparison with a fixture array. */
export function expectEnc(a: mx.Array, e: Enc, what = ''): void {
  expect(a.shape, `${what} shape`).toEqual(e.shape);
  const got = Array.from(a.dtype === 'bool' ? a.astype('int32').dataSync() : a.dataSync(), Number);
  const want = e.data.map(Number);
  expect(got, what).toEqual(e.dtype === 'float32' ? Array.from(Float32Array.from(want)) : want);
}

export function maxAbsDiff(a: mx.Array, b: mx.Array): number {
  return mx.max(mx.abs(mx.subtract(a.astype('float32'), b.astype('float32')))).item() as number;
}
