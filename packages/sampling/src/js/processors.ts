/** mlx-lm's logits processors over Float32Array rows and number[] token histories. */
import { checkTokenIds } from '../options.js';
import { checkPenaltyArgs, type LogitsProcessorOptions, makeProcessors, normalizeBias, type PenaltyKind } from '../processor-options.js';
import { type Logits, rowsOf, sameForm } from './rows.js';

const f = Math.fround;

/** One history shared by every row (as mlx-lm's generate), or one history per row. */
export type TokenHistory = readonly number[] | readonly (readonly number[])[];

/** `(tokens, logits) => logits`; returns new arrays, the input is not modified. */
export interface JsLogitsProcessor {
  (tokens: TokenHistory, logits: Float32Array): Float32Array;
  (tokens: TokenHistory, logits: readonly Float32Array[]): Float32Array[];
}

function historiesFor(tokens: TokenHistory, rows: number, what: string): readonly (readonly number[])[] {
  if (!Array.isArray(tokens)) throw new TypeError(`${what}: tokens must be a number[] or one number[] per row`);
  const perRow = tokens.length > 0 && Array.isArray(tokens[0]);
  const hs = perRow ? (tokens as readonly (readonly number[])[]) : Array.from({ length: rows }, () => tokens as readonly number[]);
  if (hs.length !== rows) throw new RangeError(`${what}: got ${hs.length} token histories for a batch of ${rows} rows`);
  for (const h of hs) {
    if (!Array.isArray(h) || !h.every((t) => Number.isInteger(t) && t >= 0)) {
      throw new TypeError(`${what}: token histories must hold non-negative integer ids`);
    }
  }
  return hs;
}

function penaltyRow(kind: PenaltyKind, row: Float32Array, window: readonly number[], penalty: number): Float32Array {
  const out = Float32Array.from(row);
  const p = f(penalty);
  if (kind === 'frequency') {
    for (const t of window) out[t] = f(out[t] - p);
    return out;
  }
  for (const t of new Set(window)) {
    const v = row[t];
    out[t] = kind === 'presence' ? f(v - p) : v < 0 ? f(v * p) : f(v / p);
  }
  return out;
}

function makePenalty(kind: PenaltyKind, penalty: number, contextSize: number): JsLogitsProcessor {
  const { penalty: p, contextSize: ctx } = checkPenaltyArgs(kind, penalty, contextSize);
  const name = `${kind}Penalty`;
  const proc = (tokens: TokenHistory, logits: Logits) => {
    const rows = rowsOf(logits, name);
    const hs = historiesFor(tokens, rows.length, name);
    return sameForm(
      logits,
      rows.map((r, i) => {
        const window = hs[i].slice(-ctx);
        checkTokenIds(window, r.length, name);
        return penaltyRow(kind, r, window, p);
      }),
    );
  };
  return proc as JsLogitsProcessor;
}

/** Sign-aware multiplicative penalty on each token seen in the last `contextSize` tokens. */
export const makeRepetitionPenalty = (penalty: number, contextSize = 20) => makePenalty('repetition', penalty, contextSize);
/** Subtracts `penalty` once from each token seen in the last `contextSize` tokens. */
export const makePresencePenalty = (penalty: number, contextSize = 20) => makePenalty('presence', penalty, contextSize);
/** Subtracts `penalty` per occurrence in the last `contextSize` tokens. */
export const makeFrequencyPenalty = (penalty: number, contextSize = 20) => makePenalty('frequency', penalty, contextSize);

/** Adds a fixed bias to the given token ids in every row. */
export function makeLogitBias(bias: NonNullable<LogitsProcessorOptions['logitBias']>): JsLogitsProcessor {
  const { ids, values } = normalizeBias(bias);
  const proc = (_tokens: TokenHistory, logits: Logits) => {
    const rows = rowsOf(logits, 'logitBias');
    checkTokenIds(ids, rows[0].length, 'logitBias');
    return sameForm(
      logits,
      rows.map((r) => {
        const out = Float32Array.from(r);
        ids.forEach((id, j) => {
          out[id] = f(out[id] + f(values[j]));
        });
        return out;
      }),
    );
  };
  return proc as JsLogitsProcessor;
}

/** mlx-lm's `make_logits_processors`: bias, then repetition, presence and frequency penalties. */
export function makeLogitsProcessors(options: LogitsProcessorOptions = {}): JsLogitsProcessor[] {
  return makeProcessors(options, { logitBias: makeLogitBias, penalty: makePenalty });
}
