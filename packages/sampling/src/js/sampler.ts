import { checkDefinedOptionKeys, checkTemperature, checkTokenIds, checkTopK, planSampler, type SamplerOptions } from '../options.js';
import { RANDOM_OPTIONS, type RandomOptions } from './filters.js';
import { checkedMax, drawKept, everyEntry, type Kept, minPKept, topKKept, topPKept, xtcKept } from './kept.js';
import { type Logits, rowsOf, sameForm } from './rows.js';
import { topPTopKKept } from './top-p-top-k.js';

const f = Math.fround;

/** A small seeded generator of uniform numbers in [0, 1) (mulberry32), for reproducible draws. */
export function seededRandom(seed: number): () => number {
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

/** The most likely token of each row (temperature 0). */
export function greedySampling(logprobs: Float32Array): number;
export function greedySampling(logprobs: readonly Float32Array[]): number[];
export function greedySampling(logprobs: Logits): number | number[] {
  return sameForm(logprobs, rowsOf(logprobs, 'greedySampling').map(argmaxRow));
}

/** Draws a token from `softmax(logits / temperature)` for each row. */
export function categoricalSampling(logits: Float32Array, temperature: number, options?: RandomOptions): number;
export function categoricalSampling(logits: readonly Float32Array[], temperature: number, options?: RandomOptions): number[];
export function categoricalSampling(logits: Logits, temperature: number, options: RandomOptions = {}): number | number[] {
  const rows = rowsOf(logits, 'categoricalSampling');
  checkDefinedOptionKeys(options, RANDOM_OPTIONS, 'categoricalSampling');
  const t = checkTemperature(temperature);
  if (t === 0) throw new RangeError('categoricalSampling: temperature must be > 0 (use greedySampling for 0)');
  const random = options.random ?? Math.random;
  const scale = f(1 / t);
  return sameForm(
    logits,
    rows.map((r) => {
      checkedMax(r, 'categoricalSampling');
      return drawKept(r, everyEntry(r), scale, random);
    }),
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

/** Options of the plain-JS sampler beyond those of `makeSampler` on MLX arrays. */
const JS_ONLY_KEYS: readonly string[] = ['seed', 'random'] satisfies (keyof JsSamplerOptions)[];

/**
 * mlx-lm's `make_sampler` over Float32Array rows: top-p, min-p, XTC, top-k (in that order),
 * then a categorical draw at `temperature`; temperature 0 is argmax. The filters narrow a set
 * of kept indices (partial selection: no filter sorts the vocabulary), and the draw runs over
 * that set; the draws are those of applying the dense filters one after another.
 */
export function makeSampler(options: JsSamplerOptions = {}): JsSampler {
  const plan = planSampler(options, JS_ONLY_KEYS);
  const random = options.random ?? (options.seed === undefined ? Math.random : seededRandom(options.seed));
  const scale = f(1 / plan.temperature);
  const sampler = (logprobs: Logits): number | number[] => {
    const rows = rowsOf(logprobs, 'sampler');
    if (plan.temperature === 0) return sameForm(logprobs, rows.map(argmaxRow));
    const v = rows[0].length;
    if (plan.topK !== null) checkTopK(plan.topK, v);
    if (plan.xtc !== null) checkTokenIds(plan.xtc.specialTokens, v, 'xtcSpecialTokens');
    // Top-p then top-k alone (the usual filters) usually needs only the k largest entries.
    const topKDone = rows.map(() => false);
    const kept = rows.map((r, i): Kept => {
      if (plan.topP !== null && plan.topK !== null && plan.minP === null && plan.xtc === null) {
        const both = topPTopKKept(r, plan.topP, plan.topK, 'sampler');
        if (both !== undefined) {
          topKDone[i] = true;
          return both.kept;
        }
      }
      // Top-p finds the maximum (and checks the row) in its own first pass.
      const { kept: fromTopP, max } =
        plan.topP !== null ? topPKept(r, plan.topP, 'sampler') : { kept: everyEntry(r), max: checkedMax(r, 'sampler') };
      let k = fromTopP;
      if (plan.minP !== null) k = minPKept(r, k, plan.minP, plan.minTokensToKeep, max);
      return k;
    });
    // One XTC coin per call, shared by the batch (as mlx-lm), drawn before any token.
    if (plan.xtc !== null && random() <= plan.xtc.probability) {
      const { threshold, specialTokens } = plan.xtc;
      for (let i = 0; i < rows.length; i++) kept[i] = xtcKept(rows[i], kept[i], threshold, specialTokens);
    }
    if (plan.topK !== null) for (let i = 0; i < rows.length; i++) if (!topKDone[i]) kept[i] = topKKept(rows[i], kept[i], plan.topK);
    return sameForm(
      logprobs,
      rows.map((r, i) => drawKept(r, kept[i], scale, random)),
    );
  };
  return sampler as JsSampler;
}
