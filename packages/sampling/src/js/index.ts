/**
 * `@mlxn/sampling/js` — the samplers and logits processors of `@mlxn/sampling` over plain
 * `Float32Array` logits and `number[]` token histories. It never loads `@mlxn/core` or the
 * native binary, so any inference engine can use it.
 *
 * @example
 * import { makeSampler, makeLogitsProcessors } from '@mlxn/sampling/js';
 * const sample = makeSampler({ temperature: 0.7, topP: 0.9, topK: 40, seed: 1 });
 * const [bias] = makeLogitsProcessors({ logitBias: { 2: -5 } });
 * const token = sample(bias([], new Float32Array([-1, -2, -0.5, -3])));
 */

export type { SamplerOptions } from '../options.js';
export { SAMPLER_OPTION_KEYS } from '../options.js';
export type { LogitsProcessorOptions } from '../processor-options.js';
export { LOGITS_PROCESSOR_OPTION_KEYS } from '../processor-options.js';
export { checkTokenId } from '../token-ids.js';
export type { RandomOptions } from './filters.js';
export { applyMinP, applyTopK, applyTopP, applyXtc } from './filters.js';
export type { JsLogitsProcessor, TokenHistory } from './processors.js';
export { makeFrequencyPenalty, makeLogitBias, makeLogitsProcessors, makePresencePenalty, makeRepetitionPenalty } from './processors.js';
export type { Logits } from './rows.js';
export type { JsSampler, JsSamplerOptions } from './sampler.js';
export { categoricalSampling, greedySampling, makeSampler, seededRandom } from './sampler.js';
export { checkProcessedLogits, checkSampledTokens } from './validate.js';
