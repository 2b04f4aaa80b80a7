import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { expect } from 'vitest';

export { inputs } from './sample-caches.js';

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
