// Loads the mlx-lm golden vectors (tooling/reference/sampling_golden.py); -inf is stored as null.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Row = (number | null)[];
export interface Golden {
  logits: number[][];
  logprobs: number[][];
  histories: number[][];
  filters: { filter: 'topK' | 'topP' | 'minP' | 'xtc'; params: Record<string, number & number[]>; output: Row[] }[];
  processors: { params: Record<string, unknown>; sharedHistory: Row[]; perRow: Row[] }[];
  samples: { params: Record<string, unknown>; seed: number; tokens: number[][] }[];
}

export const golden: Golden = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/sampling_golden.json'), 'utf8'));

/** One implementation's filters (the MLX ones or the plain-JS ones), on its own logits type. */
export interface Filters<T> {
  topK(x: T, topK: number): T;
  topP(x: T, topP: number): T;
  minP(x: T, minP: number, minTokensToKeep?: number): T;
  xtc(x: T, probability: number, threshold: number, specialTokens: number[]): T;
}

/** Applies the filter a golden case names, with its parameters, to `input`. */
export function applyFilterCase<T>(c: Golden['filters'][number], input: T, filters: Filters<T>): T {
  const p = c.params;
  if (c.filter === 'topK') return filters.topK(input, p.topK);
  if (c.filter === 'topP') return filters.topP(input, p.topP);
  if (c.filter === 'minP') return filters.minP(input, p.minP, p.minTokensToKeep);
  return filters.xtc(input, p.xtcProbability, p.xtcThreshold, p.xtcSpecialTokens);
}

const decode = (rows: Row[]): number[][] => rows.map((r) => r.map((v) => (v === null ? Number.NEGATIVE_INFINITY : v)));

/** Same kept set (finite entries) and values within float32 rounding. */
export function expectRowsClose(
  actual: readonly ArrayLike<number>[],
  expected: Row[],
  expect: (v: unknown) => { toBe: (x: unknown) => void; toEqual: (x: unknown) => void },
) {
  const exp = decode(expected);
  expect(actual.length).toBe(exp.length);
  for (let i = 0; i < exp.length; i++) {
    const a = Array.from(actual[i]);
    expect(a.map(Number.isFinite)).toEqual(exp[i].map(Number.isFinite));
    for (let j = 0; j < a.length; j++) {
      if (!Number.isFinite(exp[i][j])) continue;
      const tol = 1e-6 * Math.max(1, Math.abs(exp[i][j]));
      if (Math.abs(a[j] - exp[i][j]) > tol) expect(`row ${i} col ${j}: ${a[j]}`).toBe(`row ${i} col ${j}: ${exp[i][j]}`);
    }
  }
}

/** Pearson's chi-square statistic of observed counts against expected probabilities. */
export function chiSquare(counts: number[], probs: number[], n: number): number {
  let s = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    const e = probs[i] * n;
    s += (counts[i] - e) ** 2 / e;
  }
  return s;
}

/** Upper 0.1% critical values of chi-square by degrees of freedom. */
export const CHI2_999: Record<number, number> = { 1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32 };

export function softmax(row: number[], temperature = 1): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => (Number.isFinite(v) ? Math.exp((v - m) / temperature) : 0));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
