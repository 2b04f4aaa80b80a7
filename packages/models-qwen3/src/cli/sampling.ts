/**
 * The generation flags `generate` and `chat` share, turned into `GenerateOptions`, and checked
 * with the library's own validation before the model is loaded, so a bad value fails at once
 * with the flag's name rather than after minutes of loading.
 */
import { type GenerateOptions, GenerationOptionsError, resolveGenerateOptions } from '../lm/options.js';
import { type FlagSpec, flag, type ParsedArgs, UsageError } from './args.js';

export const SAMPLING_FLAGS: Record<string, FlagSpec> = {
  'max-tokens': { kind: 'int', value: 'N', help: 'Most tokens to generate (default 256).' },
  temperature: {
    kind: 'number',
    short: 't',
    value: 'T',
    help: "Sampling temperature; 0 is greedy (default: the model's generation_config.json, else 0).",
  },
  'top-p': { kind: 'number', value: 'P', help: 'Nucleus sampling: keep the smallest set of tokens with this much probability.' },
  'top-k': { kind: 'int', value: 'K', help: 'Keep only the K most likely tokens.' },
  'min-p': { kind: 'number', value: 'P', help: 'Drop tokens less likely than P times the most likely one.' },
  'repetition-penalty': { kind: 'number', value: 'X', help: 'Penalise tokens already in the context (1 = off).' },
  'repetition-context-size': { kind: 'int', value: 'N', help: 'Tokens the repetition penalty looks back over (default 20).' },
  seed: { kind: 'int', value: 'N', help: 'Seed of the random generator (reproducible sampling).' },
  'max-kv-size': { kind: 'int', value: 'N', help: 'Bound the KV cache to N tokens (rotating cache).' },
  'kv-bits': { kind: 'int', value: 'B', help: 'Quantize the KV cache to B bits (2, 3, 4, 5, 6 or 8).' },
  'kv-group-size': { kind: 'int', value: 'N', help: 'Group size of the quantized KV cache (default 64).' },
  'quantized-kv-start': { kind: 'int', value: 'N', help: 'Quantize the KV cache once it holds N tokens (default 5000).' },
  stop: { kind: 'strings', value: 'TEXT', help: 'Stop when the output contains TEXT.' },
};

/** Flag name ↔ option name, for messages about values the library rejects. */
const OPTION_OF: Record<string, keyof GenerateOptions> = {
  'max-tokens': 'maxTokens',
  temperature: 'temperature',
  'top-p': 'topP',
  'top-k': 'topK',
  'min-p': 'minP',
  'repetition-penalty': 'repetitionPenalty',
  'repetition-context-size': 'repetitionContextSize',
  seed: 'seed',
  'max-kv-size': 'maxKvSize',
  'kv-bits': 'kvBits',
  'kv-group-size': 'kvGroupSize',
  'quantized-kv-start': 'quantizedKvStart',
  stop: 'stop',
};

/** Rewrites option names in a library message to the flags the user typed (`topK` → `--top-k`). */
function withFlagNames(message: string): string {
  let out = message.replace(/^Qwen3\.\w+: /, '').replace(/^mlxn-qwen3: /, '');
  for (const [f, o] of Object.entries(OPTION_OF)) out = out.replace(new RegExp(`\\b${o}\\b`, 'g'), `--${f}`);
  return out;
}

/** The generation options the sampling flags ask for (only the ones given). */
export function samplingOptions(args: ParsedArgs): GenerateOptions {
  const out: Record<string, unknown> = {};
  for (const [f, o] of Object.entries(OPTION_OF)) {
    const v = flag(args, f);
    if (v !== undefined) out[o] = v;
  }
  return out as GenerateOptions;
}

/**
 * Checks the options as generation will, with a vocabulary bound known only after loading left
 * open (`topK` and token ids are checked again then). Bad values are usage errors.
 */
export function checkSamplingOptions(options: GenerateOptions): void {
  try {
    resolveGenerateOptions(options, Number.MAX_SAFE_INTEGER, 'mlxn-qwen3');
  } catch (e) {
    if (e instanceof GenerationOptionsError) throw new UsageError(withFlagNames(e.message));
    throw e;
  }
}

/** Converts a rejected option met after loading into a usage error (e.g. `--top-k` over the vocabulary). */
export function asUsageError(e: unknown): unknown {
  return e instanceof GenerationOptionsError ? new UsageError(withFlagNames(e.message)) : e;
}
