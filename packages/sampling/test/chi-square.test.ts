// Sampling frequencies over many draws match the filtered distribution, on both paths.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { makeSampler } from '../src/index.js';
import * as js from '../src/js/index.js';
import { CHI2_999, chiSquare, softmax } from './golden.js';

// A row with a known filtered distribution: top-k 5 then top-p 0.9 (in mlx-lm's order: top-p
// first, then top-k), at temperature 0.8.
const row = [-1.2, -0.4, -3.5, -2.0, -0.9, -6.0, -2.6, -1.7];
const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
const logprobs = row.map((v) => v - lse);
const options = { temperature: 0.8, topP: 0.9, topK: 5 };
const N = 20000;

function expected(): number[] {
  const filtered = js.applyTopK(js.applyTopP(Float32Array.from(logprobs), options.topP), options.topK);
  return softmax(Array.from(filtered), options.temperature);
}

function check(counts: number[]) {
  const probs = expected();
  const support = probs.filter((p) => p > 0).length;
  expect(support).toBe(5); // top-p 0.9 keeps 5 of 8, top-k 5 keeps them all
  probs.forEach((p, i) => {
    if (p === 0) expect(counts[i]).toBe(0);
  });
  const stat = chiSquare(counts, probs, N);
  expect(stat).toBeLessThan(CHI2_999[support - 1]);
}

describe('chi-square goodness of fit', () => {
  it('MLX path (global seed, one batched call)', () => {
    mx.random.seed(1);
    const sample = makeSampler(options);
    const tokens = sample(mx.broadcastTo(mx.array([logprobs], { dtype: 'float32' }), [N, row.length])).tolist() as number[];
    const counts = new Array(row.length).fill(0);
    for (const t of tokens) counts[t]++;
    check(counts);
  });

  it('MLX path (explicit key)', () => {
    const sample = makeSampler(options);
    const tokens = sample(mx.broadcastTo(mx.array([logprobs], { dtype: 'float32' }), [N, row.length]), {
      key: mx.random.key(77),
    }).tolist() as number[];
    const counts = new Array(row.length).fill(0);
    for (const t of tokens) counts[t]++;
    check(counts);
  });

  it('JS path (seeded)', () => {
    const sample = js.makeSampler({ ...options, seed: 2024 });
    const x = Float32Array.from(logprobs);
    const counts = new Array(row.length).fill(0);
    for (let i = 0; i < N; i++) counts[sample(x)]++;
    check(counts);
  });

  it('XTC applies with its probability on both paths', () => {
    // Threshold 0.2 removes the top tokens above it except the least likely of them.
    const probs = softmax(logprobs);
    const above = probs
      .map((p, i) => [p, i] as const)
      .filter(([p]) => p > 0.2)
      .sort((a, b) => b[0] - a[0]);
    expect(above.length).toBeGreaterThan(1);
    const top = above[0][1];
    const opts = { temperature: 1, xtcProbability: 0.4, xtcThreshold: 0.2 };
    // P(top token) = (1 - 0.4) * p_top; binomial z-test at 4 sigma.
    const pTop = 0.6 * probs[top];
    const sd = Math.sqrt(N * pTop * (1 - pTop));
    const jsSample = js.makeSampler({ ...opts, seed: 5 });
    let jsTop = 0;
    for (let i = 0; i < N; i++) if (jsSample(Float32Array.from(logprobs)) === top) jsTop++;
    expect(Math.abs(jsTop - N * pTop)).toBeLessThan(4 * sd);
    mx.random.seed(5);
    const mxSample = makeSampler(opts);
    const x = mx.array([logprobs], { dtype: 'float32' });
    let mxTop = 0;
    const draws = 4000; // one XTC coin per call (shared by the batch), so draw row by row
    for (let i = 0; i < draws; i++) if ((mxSample(x).tolist() as number[])[0] === top) mxTop++;
    const sd2 = Math.sqrt(draws * pTop * (1 - pTop));
    expect(Math.abs(mxTop - draws * pTop)).toBeLessThan(4 * sd2);
  });
});
