/**
 * From an OpenAI request to the generation plans of its choices: OpenAI's snake_case fields
 * become @mlxn/models-qwen3's options, the model's generation_config.json fills what the request
 * leaves out (as the library does), and `resolveGenerateOptions` validates and builds each
 * choice's sampler and logits processors. Choice `i` of a seeded request draws with seed
 * `seed + i`, so `n` choices differ and each is reproducible.
 */
import {
  type GenerateOptions,
  type GenerationModel,
  type GenerationPlan,
  resolveGenerateOptions,
  withGenerationDefaults,
} from '@mlxn/models-qwen3';
import { badRequest, unprocessable } from './errors.js';
import type { ChatRequest, CompletionRequest } from './requests.js';

/** Server-wide bounds on what one request may ask for. */
export interface GenerationLimits {
  /** Largest `max_tokens` a request may ask for. */
  maxTokensCeiling: number;
  /** `max_tokens` when the request gives none (clamped to the context left after the prompt). */
  defaultMaxTokens: number;
}

type SamplingFields = Pick<
  ChatRequest & CompletionRequest,
  | 'temperature'
  | 'top_p'
  | 'top_k'
  | 'min_p'
  | 'presence_penalty'
  | 'frequency_penalty'
  | 'repetition_penalty'
  | 'logit_bias'
  | 'seed'
  | 'stop'
  | 'n'
  | 'max_tokens'
>;

/** The completion budget: the request's (checked against the ceiling and the context) or the default. */
export function completionBudget(
  requested: number | null | undefined,
  promptTokens: number,
  model: GenerationModel,
  limits: GenerationLimits,
  param: string,
): number {
  const ctx = model.config.maxPositionEmbeddings;
  if (promptTokens >= ctx) {
    throw unprocessable(
      `the prompt has ${promptTokens} tokens; this model's context is ${ctx} tokens`,
      'messages',
      'context_length_exceeded',
    );
  }
  const room = ctx - promptTokens;
  if (requested === null || requested === undefined) return Math.min(limits.defaultMaxTokens, limits.maxTokensCeiling, room);
  if (requested > limits.maxTokensCeiling)
    throw badRequest(`${param} is ${requested}; this server allows at most ${limits.maxTokensCeiling}`, param, 'invalid_value');
  if (requested > room) {
    throw unprocessable(
      `the prompt (${promptTokens} tokens) plus ${param} (${requested}) exceeds this model's context of ${ctx} tokens`,
      param,
      'context_length_exceeded',
    );
  }
  return requested;
}

/**
 * The plans of a request's `n` choices. `logprobs`: report the sampled token's log-probability.
 * A value the library refuses (a penalty it cannot apply, a token id outside the vocabulary)
 * becomes a 400 with the library's message.
 */
export function planChoices(
  model: GenerationModel,
  r: SamplingFields,
  maxTokens: number,
  logprobs: boolean,
  extra: Partial<GenerateOptions> = {},
): GenerationPlan[] {
  const options: GenerateOptions = { maxTokens, logprobs, ...extra };
  if (r.temperature != null) options.temperature = r.temperature;
  if (r.top_p != null && r.top_p < 1) options.topP = r.top_p;
  if (r.top_k != null && r.top_k > 0) options.topK = r.top_k;
  if (r.min_p != null && r.min_p > 0) options.minP = r.min_p;
  if (r.presence_penalty != null && r.presence_penalty !== 0) options.presencePenalty = r.presence_penalty;
  if (r.frequency_penalty != null && r.frequency_penalty !== 0) options.frequencyPenalty = r.frequency_penalty;
  if (r.repetition_penalty != null && r.repetition_penalty !== 1) options.repetitionPenalty = r.repetition_penalty;
  if (r.logit_bias != null) {
    const vocab = model.config.vocabSize;
    const bias: Record<number, number> = {};
    for (const [k, v] of Object.entries(r.logit_bias)) {
      const id = Number(k);
      if (!Number.isSafeInteger(id) || id >= vocab)
        throw badRequest(`logit_bias: token id ${k} is not in this model's vocabulary of ${vocab}`, 'logit_bias', 'invalid_value');
      bias[id] = v;
    }
    options.logitBias = bias;
  }
  if (r.stop != null) options.stop = r.stop;
  const n = r.n ?? 1;
  const plans: GenerationPlan[] = [];
  for (let i = 0; i < n; i++) {
    const o = r.seed != null ? { ...options, seed: r.seed + i } : options;
    try {
      plans.push(resolveGenerateOptions(withGenerationDefaults(o, model.generationDefaults), model.config.vocabSize, 'request'));
    } catch (e) {
      throw badRequest((e as Error).message.replace(/^request: /, ''), null, 'invalid_value');
    }
  }
  return plans;
}
