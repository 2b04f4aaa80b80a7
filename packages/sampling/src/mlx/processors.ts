/**
 * mlx-lm's logits processors on MLX arrays. Each processor reads only the last `contextSize`
 * tokens of each row's history; the updates are gathers and scatters on the device.
 */
import * as mx from '@mlxn/core';
import { native, wrap } from '@mlxn/core/internal';
import { checkTokenIds } from '../options.js';
import { checkPenaltyArgs, type LogitsProcessorOptions, makeProcessors, normalizeBias, type PenaltyKind } from '../processor-options.js';

/**
 * A token history: an `mx.Array` of ids (`[T]` shared by every row, as in mlx-lm's generate,
 * or `[B, T]` one row each), a `number[]` shared by every row, or one `number[]` per row (the
 * lists may differ in length). Lists are checked against the vocabulary; the ids of an
 * `mx.Array` history are not, since that would read the array back to the host every step.
 */
export type Tokens = mx.Array | readonly number[] | readonly (readonly number[])[];

/** `(tokens, logits) => logits` on `[B, V]` (or `[V]`) logits. */
export type LogitsProcessor = (tokens: Tokens, logits: mx.Array) => mx.Array;

interface Window {
  /** `[B, C]` token ids. */
  index: mx.Array;
  /** `[B, C]` 1 for a real entry, 0 for padding (null: no padding). */
  weight: mx.Array | null;
}

function checkProcLogits(logits: unknown, what: string): mx.Array {
  if (!(logits instanceof mx.Array)) throw new TypeError(`${what}: expected an mx.Array of logits`);
  if (logits.ndim !== 2) throw new RangeError(`${what}: logits must have shape [B, V], got [${logits.shape.join(', ')}]`);
  if (!mx.isFloating(logits.dtype)) throw new TypeError(`${what}: logits must be floating point, got ${logits.dtype}`);
  return logits;
}

/** The last `ctx` tokens of each row as a `[B, C]` index (null when there are none). */
function windowOf(tokens: Tokens, rows: number, vocab: number, ctx: number, what: string): Window | null {
  if (tokens instanceof mx.Array) {
    if (!mx.isInteger(tokens.dtype)) throw new TypeError(`${what}: tokens must have an integer dtype, got ${tokens.dtype}`);
    if (tokens.ndim === 1) {
      const t = tokens.shape[0];
      if (t === 0) return null;
      const w = mx.index(tokens, mx.sl(Math.max(0, t - ctx)));
      return { index: mx.broadcastTo(mx.expandDims(w, 0), [rows, w.shape[0]]), weight: null };
    }
    if (tokens.ndim !== 2) throw new RangeError(`${what}: tokens must have shape [T] or [B, T], got [${tokens.shape.join(', ')}]`);
    if (tokens.shape[0] !== rows) throw new RangeError(`${what}: tokens has ${tokens.shape[0]} rows but logits has ${rows}`);
    const t = tokens.shape[1];
    if (t === 0) return null;
    return { index: mx.index(tokens, mx.sl(), mx.sl(Math.max(0, t - ctx))), weight: null };
  }
  if (!Array.isArray(tokens)) throw new TypeError(`${what}: tokens must be an mx.Array, a number[] or one number[] per row`);
  const perRow = tokens.length > 0 && Array.isArray(tokens[0]);
  if (perRow && tokens.length !== rows) throw new RangeError(`${what}: got ${tokens.length} token histories for a batch of ${rows} rows`);
  const lists = (perRow ? tokens : [tokens]) as number[][];
  let packed: mx.Array;
  try {
    // Cut, check and pack on the Rust side (crates/mlxn-sampling): int32 [2, B, C].
    packed = wrap(native.samplingHistoryWindows(lists, ctx, vocab));
  } catch (e) {
    throw new RangeError(`${what}: ${(e as Error).message}`);
  }
  const width = packed.shape[2];
  if (width === 0) return null;
  const index = mx.index(packed, 0);
  const weight = mx.index(packed, 1);
  if (!perRow) return { index: mx.broadcastTo(index, [rows, width]), weight: null };
  return { index, weight };
}

function withRows(logits: mx.Array, fn: (x: mx.Array) => mx.Array): mx.Array {
  return logits.ndim === 1 ? mx.squeeze(fn(mx.expandDims(logits, 0)), 0) : fn(logits);
}

function penaltyGraph(kind: PenaltyKind, logits: mx.Array, w: Window, penalty: number): mx.Array {
  if (kind === 'frequency') {
    // Scatter-add accumulates repeated ids: each occurrence subtracts once.
    const [b, c] = w.index.shape;
    const rowIds = mx.broadcastTo(mx.expandDims(mx.arange(b), 1), [b, c]);
    let upd = mx.full([b, c], -penalty, logits.dtype);
    if (w.weight !== null) upd = mx.multiply(upd, mx.astype(w.weight, logits.dtype));
    return mx.scatterAdd(logits, [rowIds, w.index], mx.reshape(upd, [b, c, 1, 1]), [0, 1]);
  }
  const sel = mx.takeAlongAxis(logits, w.index, -1);
  let upd = kind === 'presence' ? mx.subtract(sel, penalty) : mx.where(mx.less(sel, 0), mx.multiply(sel, penalty), mx.divide(sel, penalty));
  // Padding repeats a row's own token, so set-style updates are unaffected; an empty row's
  // padding (id 0, weight 0) writes the original value back.
  if (w.weight !== null) upd = mx.where(mx.greater(mx.max(w.weight, -1, true), 0), upd, sel);
  return mx.putAlongAxis(logits, w.index, upd, -1);
}

function makePenalty(kind: PenaltyKind, penalty: number, contextSize: number): LogitsProcessor {
  const { penalty: p, contextSize: ctx } = checkPenaltyArgs(kind, penalty, contextSize);
  const what = `${kind}Penalty`;
  return (tokens, logits) => {
    const x = logits instanceof mx.Array && logits.ndim === 1 ? logits : checkProcLogits(logits, what);
    if (!mx.isFloating(x.dtype)) throw new TypeError(`${what}: logits must be floating point, got ${x.dtype}`);
    return withRows(x, (l) =>
      mx.tidy(() => {
        const w = windowOf(tokens, l.shape[0], l.shape[1], ctx, what);
        return w === null ? mx.copy(l) : penaltyGraph(kind, l, w, p);
      }),
    );
  };
}

/** Sign-aware multiplicative penalty (> 0) on each token seen in the last `contextSize` tokens. */
export const makeRepetitionPenalty = (penalty: number, contextSize = 20): LogitsProcessor =>
  makePenalty('repetition', penalty, contextSize);
/** Subtracts `penalty` once from each token seen in the last `contextSize` tokens. */
export const makePresencePenalty = (penalty: number, contextSize = 20): LogitsProcessor => makePenalty('presence', penalty, contextSize);
/** Subtracts `penalty` per occurrence in the last `contextSize` tokens. */
export const makeFrequencyPenalty = (penalty: number, contextSize = 20): LogitsProcessor => makePenalty('frequency', penalty, contextSize);

/** Adds a fixed bias to the given token ids in every row. */
export function makeLogitBias(bias: NonNullable<LogitsProcessorOptions['logitBias']>): LogitsProcessor {
  const { ids, values } = normalizeBias(bias);
  const idArr = mx.keep(mx.array(Int32Array.from(ids)));
  const valArr = mx.keep(mx.array(Float32Array.from(values)));
  return (_tokens, logits) => {
    const x = logits instanceof mx.Array && logits.ndim === 1 ? logits : checkProcLogits(logits, 'logitBias');
    checkTokenIds(ids, x.shape[x.ndim - 1], 'logitBias');
    if (ids.length === 0) return mx.copy(x);
    return withRows(x, (l) =>
      mx.tidy(() => {
        const idx = mx.broadcastTo(mx.expandDims(idArr, 0), [l.shape[0], ids.length]);
        const sel = mx.takeAlongAxis(l, idx, -1);
        return mx.putAlongAxis(l, idx, mx.add(sel, mx.astype(valArr, l.dtype)), -1);
      }),
    );
  };
}

/**
 * mlx-lm's `make_logits_processors`: a logit bias, then repetition, presence and frequency
 * penalties (absent or 0 adds none). Apply them in order before sampling.
 *
 * @example
 * const procs = makeLogitsProcessors({ repetitionPenalty: 1.1, frequencyPenalty: 0.2 });
 * for (const p of procs) logits = p(history, logits);
 */
export function makeLogitsProcessors(options: LogitsProcessorOptions = {}): LogitsProcessor[] {
  return makeProcessors(options, { logitBias: makeLogitBias, penalty: makePenalty });
}
