/**
 * Sampler options and the argument checks shared by both entry points (those of the logits
 * processors are in processor-options.ts). Plain JS: imported by `@mlxn/sampling/js`, so it must
 * never import `@mlxn/core`.
 */
import { closest, distance } from 'fastest-levenshtein';

/** Options of `makeSampler` (mlx-lm's `make_sampler`, in camelCase). */
export interface SamplerOptions {
  /** Softmax temperature; 0 (the default) samples greedily (argmax). */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose mass reaches `topP`. Off at 0 or 1. */
  topP?: number;
  /** Keep the `topK` most likely tokens. Off at 0. */
  topK?: number;
  /** Keep tokens with probability at least `minP` times the top token's. Off at 0. */
  minP?: number;
  /** Tokens that min-p never removes (the most likely ones). Default 1. */
  minTokensToKeep?: number;
  /** Probability of applying XTC ("exclude top choices") at a step. Off at 0. */
  xtcProbability?: number;
  /** XTC removes every token above this probability except the least likely of them. Default 0.1. */
  xtcThreshold?: number;
  /** Token ids XTC never removes (for example end-of-sequence). */
  xtcSpecialTokens?: readonly number[];
}

/** The validated, defaulted sampler configuration. */
export interface SamplerPlan {
  temperature: number;
  topP: number | null;
  minP: number | null;
  minTokensToKeep: number;
  xtc: { probability: number; threshold: number; specialTokens: number[] } | null;
  topK: number | null;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);

export function checkFinite(v: unknown, what: string): number {
  if (!isNum(v) || !Number.isFinite(v)) throw new TypeError(`${what} must be a finite number, got ${String(v)}`);
  return v;
}

function checkInRange(v: unknown, lo: number, hi: number, what: string, openLo = false): number {
  if (!isNum(v)) throw new TypeError(`${what} must be a number, got ${String(v)}`);
  if ((openLo ? v <= lo : v < lo) || v > hi) {
    throw new RangeError(`${what} must be in ${openLo ? '(' : '['}${lo}, ${hi}], got ${v}`);
  }
  return v;
}

export function checkPositiveInt(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new RangeError(`${what} must be a positive integer, got ${String(v)}`);
  return v as number;
}

/** `topK` as mlx-lm requires it at sampling time: an integer in (0, vocabSize). */
export function checkTopK(topK: unknown, vocabSize: number): number {
  if (!Number.isInteger(topK) || (topK as number) <= 0 || (topK as number) >= vocabSize) {
    throw new RangeError(`topK must be an integer in (0, ${vocabSize}) for a vocabulary of ${vocabSize}, got ${String(topK)}`);
  }
  return topK as number;
}

export function checkTopP(topP: unknown): number {
  return checkInRange(topP, 0, 1, 'topP', true);
}

export function checkMinP(minP: unknown, minTokensToKeep: unknown = 1): [number, number] {
  return [checkInRange(minP, 0, 1, 'minP'), checkPositiveInt(minTokensToKeep, 'minTokensToKeep')];
}

export function checkXtc(probability: unknown, threshold: unknown, specialTokens: unknown): [number, number, number[]] {
  const p = checkInRange(probability, 0, 1, 'xtcProbability');
  const t = checkInRange(threshold, 0, 0.5, 'xtcThreshold');
  if (!Array.isArray(specialTokens) || !specialTokens.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new TypeError(`xtcSpecialTokens must be a list of non-negative integer token ids, got ${JSON.stringify(specialTokens)}`);
  }
  return [p, t, [...specialTokens]];
}

export function checkTokenIds(ids: readonly number[], vocabSize: number, what: string): void {
  for (const t of ids) {
    if (t >= vocabSize) throw new RangeError(`${what}: token id ${t} is out of range for a vocabulary of ${vocabSize}`);
  }
}

export function checkTemperature(t: unknown): number {
  if (!isNum(t) || !Number.isFinite(t) || t < 0) throw new RangeError(`temperature must be a finite number >= 0, got ${String(t)}`);
  return t;
}

/** The option names `makeSampler` takes (for wrappers that pass a sampler's options through). */
export const SAMPLER_OPTION_KEYS = [
  'temperature',
  'topP',
  'topK',
  'minP',
  'minTokensToKeep',
  'xtcProbability',
  'xtcThreshold',
  'xtcSpecialTokens',
] as const satisfies readonly (keyof SamplerOptions)[];
/** The option a mistyped key most likely meant: same letters ignoring case and `_`/`-`, else the first within two edits. */
function nearestKey(key: string, allowed: readonly string[]): string | undefined {
  const plain = (k: string) => k.toLowerCase().replace(/[_-]/g, '');
  // `closest` gives the first option at the least distance (undefined when `allowed` is empty).
  const near: string | undefined = closest(key, allowed);
  return allowed.find((k) => plain(k) === plain(key)) ?? (near !== undefined && distance(key, near) < 3 ? near : undefined);
}

/**
 * Rejects keys that no option has (a typo would otherwise be ignored), naming the nearest
 * option. A key whose value is `undefined` counts as absent (unlike @mlxn/core's
 * `checkOptionKeys`, which this package cannot import: it runs without the native binary). A
 * loop over the object's own keys: cheap enough for a call that builds a sampler.
 */
export function checkDefinedOptionKeys(options: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (allowed.includes(key) || (options as Record<string, unknown>)[key] === undefined) continue;
    const near = nearestKey(key, allowed);
    throw new TypeError(
      `${what}: unknown option ${JSON.stringify(key)}${near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`}`,
    );
  }
}

/**
 * Validates sampler options once, in mlx-lm's order: top-p, min-p, XTC, top-k. `extraKeys`
 * are options the caller reads itself (the plain-JS sampler's `seed` and `random`).
 */
export function planSampler(options: SamplerOptions = {}, extraKeys: readonly string[] = []): SamplerPlan {
  if (options === null || typeof options !== 'object') throw new TypeError('makeSampler: options must be an object');
  checkDefinedOptionKeys(options, extraKeys.length === 0 ? SAMPLER_OPTION_KEYS : [...SAMPLER_OPTION_KEYS, ...extraKeys], 'makeSampler');
  const temperature = checkTemperature(options.temperature ?? 0);
  const topP = checkInRange(options.topP ?? 0, 0, 1, 'topP');
  const minP = checkInRange(options.minP ?? 0, 0, 1, 'minP');
  const minTokensToKeep = checkPositiveInt(options.minTokensToKeep ?? 1, 'minTokensToKeep');
  const topK = options.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`topK must be a non-negative integer (0 = off), got ${String(topK)}`);
  const [xp, xt, xs] = checkXtc(options.xtcProbability ?? 0, options.xtcThreshold ?? 0.1, options.xtcSpecialTokens ?? []);
  return {
    temperature,
    topP: topP > 0 && topP < 1 ? topP : null,
    minP: minP !== 0 ? minP : null,
    minTokensToKeep,
    xtc: xp > 0 ? { probability: xp, threshold: xt, specialTokens: xs } : null,
    topK: topK > 0 ? topK : null,
  };
}
