// Reads the golden fixtures of tooling/reference/nn_train_golden.py (Python MLX).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import * as nn from '../src/index.js';

export interface Enc {
  dtype: mx.Dtype;
  shape: number[];
  data: (number | string)[];
}

export const fixture = <T>(name: string): T => JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8'));

const num = (v: number | string): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v));

export function decode(e: Enc): mx.Array {
  const vals = e.data.map(num);
  if (e.dtype === 'uint64') return mx.reshape(mx.array(vals, { dtype: 'uint64' }), e.shape);
  const flat = mx.array(vals, { dtype: e.dtype === 'bfloat16' || e.dtype === 'float16' ? 'float32' : e.dtype });
  return mx.astype(mx.reshape(flat, e.shape), e.dtype);
}

/** Throws with the first mismatch when `actual` differs from `expected` beyond a relative tolerance. */
export function expectClose(actual: mx.Array, expected: Enc, what: string, rtol = 1e-5, atol = 1e-6): void {
  if (actual.dtype !== expected.dtype) throw new Error(`${what}: dtype ${actual.dtype}, expected ${expected.dtype}`);
  if (actual.shape.join(',') !== expected.shape.join(','))
    throw new Error(`${what}: shape [${actual.shape}], expected [${expected.shape}]`);
  const a = Array.from(mx.astype(actual, actual.dtype === 'uint64' ? 'float64' : 'float32').dataSync() as ArrayLike<number>, Number);
  const e = expected.data.map(num);
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]) && Number.isNaN(a[i])) continue;
    if (!(Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]))) throw new Error(`${what}[${i}]: ${a[i]}, expected ${e[i]}`);
  }
}

export interface Spec {
  fn: string;
  args?: number[];
  schedules?: Spec[];
  boundaries?: number[];
}

export function makeSchedule(spec: Spec): nn.Schedule {
  const a = spec.args ?? [];
  switch (spec.fn) {
    case 'exponentialDecay':
      return nn.exponentialDecay(a[0], a[1]);
    case 'stepDecay':
      return nn.stepDecay(a[0], a[1], a[2]);
    case 'cosineDecay':
      return nn.cosineDecay(a[0], a[1], a[2]);
    case 'linearSchedule':
      return nn.linearSchedule(a[0], a[1], a[2]);
    case 'joinSchedules':
      return nn.joinSchedules(spec.schedules!.map(makeSchedule), spec.boundaries!);
    default:
      throw new Error(`unknown schedule ${spec.fn}`);
  }
}
