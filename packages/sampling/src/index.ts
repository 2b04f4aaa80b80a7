/**
 * @mlxn/sampling — samplers and logits processors with mlx-lm's semantics, on MLX arrays.
 * The same API over plain Float32Arrays (no native binary) is `@mlxn/sampling/js`.
 *
 * @packageDocumentation
 * @example
 * import * as mx from '@mlxn/core';
 * import { makeSampler, makeLogitsProcessors } from '@mlxn/sampling';
 * const sample = makeSampler({ temperature: 0.7, topP: 0.9 });
 * const token = sample(mx.logSoftmax(mx.array([[1, 2, 3, 0.5]])));
 */

export { applyTokenMask, ConstraintError, ConstraintVocabulary, checkJsonDepth, TokenConstraint } from './constraint.js';
export { applyMinP, applyTopK, applyTopP, applyXtc, categoricalSampling } from './mlx/filters.js';
export type { LogitsProcessor, Tokens } from './mlx/processors.js';
export {
  makeFrequencyPenalty,
  makeLogitBias,
  makeLogitsProcessors,
  makePresencePenalty,
  makeRepetitionPenalty,
} from './mlx/processors.js';
export type { SampleOptions, Sampler } from './mlx/sampler.js';
export { makeSampler } from './mlx/sampler.js';
export { checkProcessedLogits, checkSampledTokens } from './mlx/validate.js';
export type { SamplerOptions } from './options.js';
export { SAMPLER_OPTION_KEYS } from './options.js';
export type { LogitsProcessorOptions } from './processor-options.js';
export { LOGITS_PROCESSOR_OPTION_KEYS } from './processor-options.js';
export { checkTokenId } from './token-ids.js';
