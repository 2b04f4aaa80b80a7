/**
 * `generation_config.json`: the sampling defaults and end-of-sequence ids a checkpoint ships.
 * transformers reads its sampling fields and, like mlx-lm, its `eos_token_id`; the file comes
 * with the download, so it is validated like config.json and a bad value fails the load naming
 * the field. The defaults apply only where the caller passes nothing (`temperature: 0` asks for
 * greedy decoding whatever the file says).
 */
import { z } from 'zod';

/** The generation options a model's `generation_config.json` sets when the caller does not. */
export interface GenerationDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
}

export interface ParsedGenerationConfig {
  eosTokenIds: number[];
  defaults: Readonly<GenerationDefaults>;
}

/** More end-of-sequence ids than any tokenizer defines is a corrupt file, not a model. */
const MAX_EOS_IDS = 1024;

const eosId = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
// transformers writes `null` for a field it leaves at its own default.
const schema = z
  .object({
    do_sample: z.boolean().nullish(),
    temperature: z.number().nonnegative().finite().nullish(),
    top_p: z.number().gt(0).lte(1).nullish(),
    top_k: z.number().int().nonnegative().nullish(),
    min_p: z.number().gte(0).lte(1).nullish(),
    repetition_penalty: z.number().positive().finite().nullish(),
    eos_token_id: z.union([eosId, z.array(eosId).max(MAX_EOS_IDS)]).nullish(),
  })
  .passthrough();

/**
 * Reads a parsed `generation_config.json` for a model of `vocabSize` tokens. With `do_sample`
 * absent or false transformers decodes greedily, so the sampling fields then set nothing; the
 * repetition penalty applies either way, as in transformers. Only what the file states is
 * taken: transformers' fallbacks for unstated fields (`top_k` 50) are not this package's
 * defaults and are not applied.
 */
export function parseGenerationConfig(raw: unknown, vocabSize: number): ParsedGenerationConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new TypeError('expected a JSON object');
  const r = schema.safeParse(raw);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; '));
  const g = r.data;
  const defaults: GenerationDefaults = {};
  if (g.do_sample === true) {
    // A stated temperature of 0 is greedy decoding here, as in the sampler options.
    if (g.temperature !== undefined && g.temperature !== null) defaults.temperature = g.temperature;
    else defaults.temperature = 1;
    if (g.top_p !== undefined && g.top_p !== null && g.top_p < 1) defaults.topP = g.top_p;
    if (g.top_k !== undefined && g.top_k !== null && g.top_k > 0) {
      if (g.top_k >= vocabSize) throw new RangeError(`top_k: ${g.top_k} is not below the vocabulary size ${vocabSize}`);
      defaults.topK = g.top_k;
    }
    if (g.min_p !== undefined && g.min_p !== null && g.min_p > 0) defaults.minP = g.min_p;
  }
  if (g.repetition_penalty !== undefined && g.repetition_penalty !== null && g.repetition_penalty !== 1) {
    defaults.repetitionPenalty = g.repetition_penalty;
  }
  const eos = g.eos_token_id;
  return {
    eosTokenIds: eos === undefined || eos === null ? [] : Array.isArray(eos) ? [...eos] : [eos],
    defaults: Object.freeze(defaults),
  };
}

const SAMPLER_DEFAULT_KEYS = ['temperature', 'topP', 'topK', 'minP'] as const;

/**
 * `options` with the model's defaults filled in where the caller left a key undefined. A
 * custom `sampler` replaces every sampler default (the two cannot be combined). Anything that
 * is not an options object is returned as it is, for the option check to report.
 */
export function withGenerationDefaults<T>(options: T, defaults: Readonly<GenerationDefaults> | undefined): T {
  if (defaults === undefined || options === null || typeof options !== 'object' || Array.isArray(options)) return options;
  const o = options as Record<string, unknown>;
  const out: Record<string, unknown> = { ...o };
  const keys: readonly (keyof GenerationDefaults)[] =
    o.sampler === undefined ? [...SAMPLER_DEFAULT_KEYS, 'repetitionPenalty'] : ['repetitionPenalty'];
  for (const k of keys) if (o[k] === undefined && defaults[k] !== undefined) out[k] = defaults[k];
  return out as T;
}
