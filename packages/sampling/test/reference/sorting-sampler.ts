// Today's (pre-partial-selection) plain-JS sampler, verbatim but for imports and its unused
// greedySampling (see sorting-filters.ts).

import { type Logits, rowsOf, sameForm } from '../../src/js/rows.js';
import { checkTemperature, checkTokenIds, checkTopK, planSampler, type SamplerOptions } from '../../src/options.js';
import { applyMinP, applyTopK, applyTopP, applyXtc, type RandomOptions } from './sorting-filters.js';

const f = Math.fround;

/** A small seeded generator of uniform numbers in [0, 1) (mulberry32), for reproducible draws. */
function seededRandom(seed: number): () => number {
  if (!Number.isInteger(seed)) throw new TypeError(`seededRandom: seed must be an integer, got ${seed}`);
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function argmaxRow(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

function categoricalRow(row: Float32Array, scale: number, random: () => number): number {
  let m = Number.NEGATIVE_INFINITY;
  const scaled = row.map((v) => f(v * scale));
  for (const v of scaled) if (v > m) m = v;
  if (m === Number.NEGATIVE_INFINITY) throw new RangeError('categoricalSampling: every token has been filtered out');
  const w = Float64Array.from(scaled, (v) => Math.exp(v - m));
  let total = 0;
  for (const v of w) total += v;
  let u = random() * total;
  let last = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 0) continue;
    last = i;
    u -= w[i];
    if (u < 0) return i;
  }
  return last;
}

/** Draws a token from `softmax(logits / temperature)` for each row. */
export function categoricalSampling(logits: Float32Array, temperature: number, options?: RandomOptions): number;
export function categoricalSampling(logits: readonly Float32Array[], temperature: number, options?: RandomOptions): number[];
export function categoricalSampling(logits: Logits, temperature: number, options: RandomOptions = {}): number | number[] {
  const rows = rowsOf(logits, 'categoricalSampling');
  const t = checkTemperature(temperature);
  if (t === 0) throw new RangeError('categoricalSampling: temperature must be > 0 (use greedySampling for 0)');
  const random = options.random ?? Math.random;
  const scale = f(1 / t);
  return sameForm(
    logits,
    rows.map((r) => categoricalRow(r, scale, random)),
  );
}

export interface JsSamplerOptions extends SamplerOptions {
  /** Seeds the sampler's own generator (`seededRandom`), for reproducible draws. */
  seed?: number;
  /** Uniform numbers in [0, 1); overrides `seed`. Default `Math.random`. */
  random?: () => number;
}

/** A sampler: log-probabilities in (one row or a batch), token ids out. */
export interface JsSampler {
  (logprobs: Float32Array): number;
  (logprobs: readonly Float32Array[]): number[];
}

/**
 * mlx-lm's `make_sampler` over Float32Array rows: top-p, min-p, XTC, top-k (in that order),
 * then a categorical draw at `temperature`; temperature 0 is argmax.
 */
export function makeSampler(options: JsSamplerOptions = {}): JsSampler {
  const plan = planSampler(options, ['seed', 'random']);
  const random = options.random ?? (options.seed === undefined ? Math.random : seededRandom(options.seed));
  const sampler = (logprobs: Logits): number | number[] => {
    const rows = rowsOf(logprobs, 'sampler');
    if (plan.temperature === 0) return sameForm(logprobs, rows.map(argmaxRow));
    const v = rows[0].length;
    if (plan.topK !== null) checkTopK(plan.topK, v);
    if (plan.xtc !== null) checkTokenIds(plan.xtc.specialTokens, v, 'xtcSpecialTokens');
    let x: Float32Array[] = rows;
    if (plan.topP !== null) x = applyTopP(x, plan.topP);
    if (plan.minP !== null) x = applyMinP(x, plan.minP, plan.minTokensToKeep);
    if (plan.xtc !== null) x = applyXtc(x, plan.xtc.probability, plan.xtc.threshold, plan.xtc.specialTokens, { random });
    if (plan.topK !== null) x = applyTopK(x, plan.topK);
    return sameForm(logprobs, categoricalSampling(x, plan.temperature, { random }));
  };
  return sampler as JsSampler;
}
