/**
 * Options of the logits processors and their checks, shared by both entry points: each
 * implementation (MLX arrays, plain JS) supplies only the makers of its processors. Plain JS:
 * imported by `@mlxn/sampling/js`, so it must never import `@mlxn/core`.
 */
import { checkDefinedOptionKeys, checkFinite, checkPositiveInt } from './options.js';

/** Options of `makeLogitsProcessors` (mlx-lm's `make_logits_processors`, in camelCase). */
export interface LogitsProcessorOptions {
  /** Added to the logits of the given token ids: `{ [tokenId]: bias }` or a Map. */
  logitBias?: Readonly<Record<number, number>> | ReadonlyMap<number, number>;
  /** Multiplicative, sign-aware penalty (> 0; 1 is neutral) on tokens seen in the context. */
  repetitionPenalty?: number;
  /** Tokens of history the repetition penalty looks at. Default 20. */
  repetitionContextSize?: number;
  /** Subtracted once from every token seen in the context. */
  presencePenalty?: number;
  /** Default 20. */
  presenceContextSize?: number;
  /** Subtracted once per occurrence of a token in the context. */
  frequencyPenalty?: number;
  /** Default 20. */
  frequencyContextSize?: number;
}

/** The option names `makeLogitsProcessors` takes. */
export const LOGITS_PROCESSOR_OPTION_KEYS = [
  'logitBias',
  'repetitionPenalty',
  'repetitionContextSize',
  'presencePenalty',
  'presenceContextSize',
  'frequencyPenalty',
  'frequencyContextSize',
] as const satisfies readonly (keyof LogitsProcessorOptions)[];

export type PenaltyKind = 'repetition' | 'presence' | 'frequency';

/** How one implementation (the MLX one or the plain-JS one) makes each kind of processor. */
export interface ProcessorMakers<P> {
  logitBias(bias: Map<number, number>): P;
  penalty(kind: PenaltyKind, penalty: number, contextSize: number): P;
}

function checkPenalty(kind: PenaltyKind, penalty: unknown): number {
  const p = checkFinite(penalty, `${kind}Penalty`);
  if (kind === 'repetition' && p <= 0) {
    throw new RangeError(`repetitionPenalty must be > 0 (1 is neutral, 0 turns it off in makeLogitsProcessors), got ${p}`);
  }
  return p;
}

/** The arguments of one penalty processor (`makeRepetitionPenalty` and the like), checked. */
export function checkPenaltyArgs(kind: PenaltyKind, penalty: unknown, contextSize: unknown): { penalty: number; contextSize: number } {
  return { penalty: checkPenalty(kind, penalty), contextSize: checkPositiveInt(contextSize, `${kind}ContextSize`) };
}

export function normalizeBias(bias: LogitsProcessorOptions['logitBias']): { ids: number[]; values: number[] } {
  const entries: [unknown, unknown][] = bias instanceof Map ? [...bias.entries()] : Object.entries(bias ?? {});
  const ids: number[] = [];
  const values: number[] = [];
  for (const [k, v] of entries) {
    const id = typeof k === 'string' ? Number(k) : k;
    if (!Number.isInteger(id) || (id as number) < 0)
      throw new TypeError(`logitBias: key ${String(k)} is not a non-negative integer token id`);
    ids.push(id as number);
    values.push(checkFinite(v, `logitBias[${String(k)}]`));
  }
  return { ids, values };
}

/**
 * mlx-lm's `make_logits_processors` with one implementation's makers: validates the options once
 * and makes the processors in mlx-lm's order (bias, repetition, presence, frequency).
 */
export function makeProcessors<P>(options: LogitsProcessorOptions, make: ProcessorMakers<P>): P[] {
  if (options === null || typeof options !== 'object') throw new TypeError('makeLogitsProcessors: options must be an object');
  checkDefinedOptionKeys(options, LOGITS_PROCESSOR_OPTION_KEYS, 'makeLogitsProcessors');
  const bias = options.logitBias === undefined ? null : normalizeBias(options.logitBias);
  const penalties: { kind: PenaltyKind; penalty: number; contextSize: number }[] = [];
  const specs: [PenaltyKind, number | undefined, number | undefined][] = [
    ['repetition', options.repetitionPenalty, options.repetitionContextSize],
    ['presence', options.presencePenalty, options.presenceContextSize],
    ['frequency', options.frequencyPenalty, options.frequencyContextSize],
  ];
  for (const [kind, penalty, ctx] of specs) {
    const contextSize = checkPositiveInt(ctx ?? 20, `${kind}ContextSize`);
    // As in mlx-lm, an absent or zero penalty adds no processor.
    if (penalty === undefined || penalty === null || penalty === 0) continue;
    penalties.push({ kind, penalty: checkPenalty(kind, penalty), contextSize });
  }
  const out: P[] = [];
  if (bias && bias.ids.length > 0) out.push(make.logitBias(new Map(bias.ids.map((id, i) => [id, bias.values[i]]))));
  for (const { kind, penalty, contextSize } of penalties) out.push(make.penalty(kind, penalty, contextSize));
  return out;
}
