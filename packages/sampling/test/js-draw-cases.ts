/**
 * Inputs and options for the draw-for-draw tests of `@mlxn/sampling/js`: rows built from a
 * seeded generator (nothing stored but the drawn tokens), covering Qwen3's vocabulary size, flat
 * and peaked distributions, ties, -inf entries, unnormalised logits and batches.
 */
import { type JsSamplerOptions, seededRandom } from '../src/js/index.js';

export const QWEN3_VOCAB = 151936;

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function logSoftmax(x: Float64Array): Float32Array {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of x) if (v > m) m = v;
  let s = 0;
  for (const v of x) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  return Float32Array.from(x, (v) => v - lse);
}

export interface RowSpec {
  vocab: number;
  /** Standard deviation of the Gaussian logits. */
  sd: number;
  /** Round logits to multiples of this (creates ties). */
  step?: number;
  /** Fraction of entries set to -inf. */
  masked?: number;
  /** Leave the logits unnormalised (no log-softmax). */
  raw?: boolean;
  /** Add this to one entry (a peaked distribution). */
  spike?: number;
}

export function makeRow(spec: RowSpec, seed: number): Float32Array {
  const random = seededRandom(seed);
  const x = new Float64Array(spec.vocab);
  for (let i = 0; i < x.length; i++) {
    let v = spec.sd * gaussian(random);
    if (spec.step !== undefined) v = Math.round(v / spec.step) * spec.step;
    x[i] = v;
  }
  if (spec.spike !== undefined) x[Math.floor(random() * x.length)] += spec.spike;
  if (spec.masked !== undefined) for (let i = 0; i < x.length; i++) if (random() < spec.masked) x[i] = Number.NEGATIVE_INFINITY;
  return spec.raw ? Float32Array.from(x) : logSoftmax(x);
}

export const rowSpecs: Record<string, RowSpec> = {
  qwen3_sd3: { vocab: QWEN3_VOCAB, sd: 3 },
  qwen3_sd1_flat: { vocab: QWEN3_VOCAB, sd: 1 },
  qwen3_peaked: { vocab: QWEN3_VOCAB, sd: 2, spike: 14 },
  v1000_ties: { vocab: 1000, sd: 2, step: 0.5 },
  v64_masked: { vocab: 64, sd: 1.5, masked: 0.3 },
  v500_raw: { vocab: 500, sd: 4, raw: true },
  v300_coarse_ties: { vocab: 300, sd: 1, step: 1 },
};

export const samplerOptions: Record<string, Omit<JsSamplerOptions, 'seed' | 'random'>> = {
  issue: { temperature: 0.7, topP: 0.9, topK: 40 },
  top_p: { temperature: 1, topP: 0.95 },
  top_p_low: { temperature: 0.9, topP: 0.3 },
  top_k: { temperature: 0.5, topK: 5 },
  top_k1_top_p: { temperature: 1.3, topP: 0.5, topK: 1 },
  min_p: { temperature: 1.2, minP: 0.05 },
  min_p_keep: { temperature: 0.8, minP: 0.3, minTokensToKeep: 3 },
  every_filter: {
    temperature: 0.8,
    topP: 0.95,
    minP: 0.05,
    topK: 50,
    xtcProbability: 0.5,
    xtcThreshold: 0.1,
    xtcSpecialTokens: [3, 7],
  },
  xtc_always: { temperature: 1, xtcProbability: 1, xtcThreshold: 0.02 },
  xtc_top_k: { temperature: 0.7, xtcProbability: 0.7, xtcThreshold: 0.05, topK: 20, xtcSpecialTokens: [0] },
  plain: { temperature: 0.6 },
  greedy: { temperature: 0 },
};

/** Row specs to use with an option set (top-k must stay below the vocabulary). */
export const rowsFor = (opts: (typeof samplerOptions)[string]): string[] =>
  Object.keys(rowSpecs).filter((r) => (opts.topK ?? 0) < rowSpecs[r].vocab);

export const SEEDS = [0, 1, 2];
/** Draws per sampler (the generator's state carries over between draws). */
export const DRAWS = 4;
/** Batch cases: these rows drawn together in one call. */
export const batchCases: Record<string, { rows: [string, number][] }> = {
  mixed_small: {
    rows: [
      ['v1000_ties', 11],
      ['v1000_ties', 12],
      ['v1000_ties', 13],
    ],
  },
  qwen3_pair: {
    rows: [
      ['qwen3_sd3', 21],
      ['qwen3_peaked', 22],
    ],
  },
};
