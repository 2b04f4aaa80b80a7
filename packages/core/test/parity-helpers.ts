// Shared helpers for the golden-value parity tests (parity-*.test.ts): loading the fixtures that
// tooling/reference/core_golden.py writes with Python MLX, rebuilding their arrays, and comparing
// @mlxn/core's results with them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import * as mx from '../src/index.js';

/** An encoded array: row-major data; floats may be "nan" / "inf" / "-inf"; big 64-bit ints are strings. */
export interface Enc {
  dtype: mx.Dtype;
  shape: number[];
  data: unknown[];
}
export type Out = Enc | { list: Out[] } | { error: string };
/** The compact promotion-table form: `[dtype, shape, data]`, `[dtype, data]`, or null (MLX raised). */
export type Small = [mx.Dtype, number[], unknown[]] | [mx.Dtype, unknown[]] | null;

export interface Fixture {
  mlx: string;
  inputs: Record<string, Enc>;
  cases: Record<string, Out>;
}

export function loadFixture<T = Fixture>(name: string): T {
  return JSON.parse(readFileSync(join(__dirname, 'fixtures', `${name}.json`), 'utf8')) as T;
}

const num = (v: unknown): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));
const big = (v: unknown): bigint => BigInt(v as number | string);

/** Rebuilds an encoded array with its exact dtype, shape and values. */
export function decode(e: Enc): mx.Array {
  const d = e.data;
  let flat: mx.Array;
  switch (e.dtype) {
    case 'bool':
      flat = mx.array(
        Uint8Array.from(d, (b) => (b ? 1 : 0)),
        'bool',
      );
      break;
    case 'uint8':
      flat = mx.array(Uint8Array.from(d as number[]));
      break;
    case 'uint16':
      flat = mx.array(Uint16Array.from(d as number[]));
      break;
    case 'uint32':
      flat = mx.array(Uint32Array.from(d as number[]));
      break;
    case 'uint64':
      flat = mx.array(BigUint64Array.from(d, big));
      break;
    case 'int8':
      flat = mx.array(Int8Array.from(d as number[]));
      break;
    case 'int16':
      flat = mx.array(Int16Array.from(d as number[]));
      break;
    case 'int32':
      flat = mx.array(Int32Array.from(d as number[]));
      break;
    case 'int64':
      flat = mx.array(BigInt64Array.from(d, big));
      break;
    case 'float64':
      flat = mx.array(Float64Array.from(d, num), 'float64');
      break;
    case 'complex64': {
      // Interleaved (re, im) float32 pairs reinterpreted as complex64.
      const pairs = Float32Array.from((d as unknown[][]).flatMap((p) => p.map(num)));
      flat = mx.view(mx.array(pairs), 'complex64');
      break;
    }
    default:
      flat = mx.array(Float32Array.from(d, num), e.dtype); // float32, float16, bfloat16
  }
  return flat.reshape(e.shape);
}

function decodeInputs(inputs: Record<string, Enc>): Record<string, mx.Array> {
  return Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, decode(v)]));
}

export interface Tol {
  rtol?: number;
  atol?: number;
}

/** Default tolerances per dtype; integers and bools are always compared exactly. */
function defaultTol(dtype: mx.Dtype): Required<Tol> {
  switch (dtype) {
    case 'float16':
      return { rtol: 1e-3, atol: 1e-3 };
    case 'bfloat16':
      return { rtol: 8e-3, atol: 8e-3 };
    case 'float64':
      return { rtol: 1e-12, atol: 1e-14 };
    default:
      return { rtol: 1e-5, atol: 1e-6 }; // float32, complex64
  }
}

type Value = number | bigint | boolean;

/** The values of an array, flattened: numbers, bigints (64-bit ints) or booleans; complex as re, im, re, im... */
export function flatValues(a: mx.Array): Value[] {
  const data = a.dataSync();
  if (a.dtype === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  return Array.from(data as ArrayLike<number | bigint>);
}

function expectedValues(dtype: mx.Dtype, data: unknown[]): Value[] {
  if (dtype === 'bool') return data as boolean[];
  if (dtype === 'int64' || dtype === 'uint64') return data.map(big);
  if (dtype === 'complex64') return (data as unknown[][]).flatMap((p) => p.map(num));
  return data.map(num);
}

function close(a: number, e: number, tol: Required<Tol>): boolean {
  if (Number.isNaN(e)) return Number.isNaN(a);
  if (!Number.isFinite(e)) return a === e;
  return Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);
}

/** Asserts dtype, shape and values (floats within `tol`, everything else exactly). */
export function expectArray(actual: unknown, expected: Enc | Small, tol: Tol = {}, label = ''): void {
  const exp: Enc = globalThis.Array.isArray(expected)
    ? expected.length === 3
      ? { dtype: expected[0], shape: expected[1], data: expected[2] }
      : { dtype: expected[0], shape: [], data: expected[1] as unknown[] }
    : (expected as Enc);
  expect(actual, `${label}: expected an mx.Array`).toBeInstanceOf(mx.Array);
  const a = actual as mx.Array;
  expect(a.dtype, `${label}: dtype`).toBe(exp.dtype);
  if (!globalThis.Array.isArray(expected) || expected.length === 3) expect(a.shape, `${label}: shape`).toEqual(exp.shape);
  const got = flatValues(a);
  const want = expectedValues(exp.dtype, exp.data);
  expect(got.length, `${label}: size`).toBe(want.length);
  const inexact = mx.isInexact(exp.dtype);
  const t = { ...defaultTol(exp.dtype), ...tol };
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const ok = inexact ? close(got[i] as number, want[i] as number, t) : got[i] === want[i];
    if (!ok) bad.push(`[${i}] got ${String(got[i])}, want ${String(want[i])}`);
  }
  expect(bad.slice(0, 8), `${label}: ${bad.length} of ${want.length} values differ (rtol ${t.rtol}, atol ${t.atol})`).toEqual([]);
}

/** Evaluates everything an op returned, so that errors raised at evaluation surface too. */
function force(r: unknown): void {
  if (r instanceof mx.Array) r.dataSync();
  else if (globalThis.Array.isArray(r)) r.forEach(force);
}

export function expectOut(fn: () => unknown, out: Out, tol: Tol = {}, label = ''): void {
  if ('error' in out) {
    expect(() => force(fn()), `${label}: MLX raises "${out.error}"`).toThrow();
    return;
  }
  const r = fn();
  if ('list' in out) {
    expect(globalThis.Array.isArray(r), `${label}: expected a list of arrays`).toBe(true);
    const list = r as unknown[];
    expect(list.length, `${label}: number of outputs`).toBe(out.list.length);
    for (const [i, o] of out.list.entries()) expectOut(() => list[i], o, tol, `${label}[${i}]`);
    return;
  }
  expectArray(r, out, tol, label);
}

type CaseFn = (I: Record<string, mx.Array>) => unknown;
export type CaseSpec = CaseFn | { fn: CaseFn; tol?: Tol };

/**
 * One vitest test per fixture case, run through the JS implementation of the same name, plus a
 * test that the JS table and the fixture name the same cases.
 */
export function parityCases(fixture: Fixture, table: Record<string, CaseSpec>, tol: Tol = {}): void {
  const I = decodeInputs(fixture.inputs);
  it('covers exactly the fixture cases', () => {
    expect(Object.keys(table).sort()).toEqual(Object.keys(fixture.cases).sort());
  });
  for (const [name, out] of Object.entries(fixture.cases)) {
    it(name, () => {
      const spec = table[name];
      expect(spec, `no JS implementation for case ${name}`).toBeDefined();
      const fn = typeof spec === 'function' ? spec : spec.fn;
      const t = typeof spec === 'function' ? tol : { ...tol, ...spec.tol };
      mx.tidy(() => expectOut(() => fn(I), out, t, name));
    });
  }
}
