import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { loadSync } from '@mlxn/io';
import { expect } from 'vitest';

/** Tensors written by tooling/reference/nn_golden.py (Python mlx.nn / mlx-lm). */
const golden: Record<string, mx.Array> = loadSync(join(import.meta.dirname, 'fixtures/nn_golden.safetensors')).arrays;

export function g(name: string): mx.Array {
  const a = golden[name];
  if (!a) throw new Error(`no golden tensor '${name}'`);
  return a;
}

/** Asserts same shape and values within `atol + rtol·|expected|`. */
export function close(actual: mx.Array, expected: mx.Array, atol = 1e-5, rtol = 1e-5): void {
  expect(actual.shape).toEqual(expected.shape);
  const a = mx.astype(actual, 'float32').dataSync() as Float32Array;
  const e = mx.astype(expected, 'float32').dataSync() as Float32Array;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i] - e[i]) - rtol * Math.abs(e[i]);
    if (!(err <= atol) && (err > worst || Number.isNaN(err))) {
      worst = err;
      at = i;
    }
  }
  expect(at, at < 0 ? '' : `element ${at}: got ${a[at]}, expected ${e[at]}`).toBe(-1);
}

export function equal(actual: mx.Array, expected: mx.Array): void {
  expect(actual.shape).toEqual(expected.shape);
  expect(actual.dtype).toBe(expected.dtype);
  expect(Array.from(actual.dataSync() as ArrayLike<number>)).toEqual(Array.from(expected.dataSync() as ArrayLike<number>));
}
