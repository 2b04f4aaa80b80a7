// Checks of what a resume reads, made before anything is applied: a checkpoint is a file from
// disk (possibly damaged, edited or from another run), and an impossible value accepted silently
// shows up later as a run that ends at once, trains from a wrong position or diverges.
import * as mx from '@mlxn/core';
import type { TrainerState } from './checkpoint.js';

/** What the resuming trainer expects of a checkpoint's trainer state. */
export interface TrainerStateExpectation {
  /** The resuming trainer's class name (`GRPOTrainer`, `SFTTrainer`). */
  trainer: string;
  /** The run's total optimizer steps (`maxSteps`, or from the epochs). */
  totalSteps: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Throws one Error naming the file and the field when the trainer state holds a value no run
 * could have written, or one this run cannot continue from.
 */
export function checkTrainerState(st: TrainerState, path: string, expect: TrainerStateExpectation): void {
  const bad = (field: string, why: string) => new Error(`${path}: invalid trainer state: ${field} ${why}`);
  if (!isCount(st.globalStep)) throw bad('globalStep', `must be a non-negative integer, got ${String(st.globalStep)}`);
  if (st.globalStep > expect.totalSteps) {
    throw bad(
      'globalStep',
      `is ${st.globalStep}, past this run's ${expect.totalSteps} total steps (maxSteps / numTrainEpochs): the file is damaged or from another run`,
    );
  }
  if (!isCount(st.microStep)) throw bad('microStep', `must be a non-negative integer, got ${String(st.microStep)}`);
  if (st.microStep < st.globalStep)
    throw bad('microStep', `is ${st.microStep}, fewer than the ${st.globalStep} optimizer steps (each takes at least one micro-step)`);
  if (typeof st.epoch !== 'number' || !Number.isFinite(st.epoch) || st.epoch < 0)
    throw bad('epoch', `must be a finite non-negative number, got ${String(st.epoch)}`);
  if (!isCount(st.numInputTokensSeen))
    throw bad('numInputTokensSeen', `must be a non-negative integer, got ${String(st.numInputTokensSeen)}`);
  if (st.trainer !== expect.trainer) throw bad('trainer', `is ${JSON.stringify(st.trainer)}, but ${expect.trainer} is resuming`);
  const rng = st.rng as unknown;
  if (rng === null || typeof rng !== 'object') throw bad('rng', 'must be an object with seed and counter');
  const { seed, counter } = rng as { seed: unknown; counter: unknown };
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw bad('rng.seed', `must be an integer, got ${String(seed)}`);
  if (!isCount(counter)) throw bad('rng.counter', `must be a non-negative integer, got ${String(counter)}`);
  const extra = st.extra as unknown;
  if (extra !== undefined && (extra === null || typeof extra !== 'object' || Array.isArray(extra))) throw bad('extra', 'must be an object');
  const { skippedSteps, lossSum, numProcesses } = (extra ?? {}) as { skippedSteps?: unknown; lossSum?: unknown; numProcesses?: unknown };
  if (numProcesses !== undefined && (!isCount(numProcesses) || numProcesses < 1))
    throw bad('extra.numProcesses', `must be a positive integer, got ${String(numProcesses)}`);
  if (skippedSteps !== undefined && (!isCount(skippedSteps) || skippedSteps > st.globalStep)) {
    throw bad('extra.skippedSteps', `must be an integer from 0 to globalStep (${st.globalStep}), got ${String(skippedSteps)}`);
  }
  if (lossSum !== undefined && (typeof lossSum !== 'number' || !Number.isFinite(lossSum)))
    throw bad('extra.lossSum', `must be a finite number, got ${String(lossSum)}`);
}

/** One tensor a checkpoint must provide: its name and the array it replaces. */
export type Slot = readonly [string, mx.Array];

/**
 * Checks `given` (lazy arrays read from `path`) against the arrays they will replace: the same
 * shape and dtype, finite values, and (with `complete`) every slot present and nothing else.
 */
export function checkArrays(
  path: string,
  what: string,
  slots: readonly Slot[],
  given: Record<string, mx.Array>,
  options: { complete: boolean; optional?: (name: string) => boolean },
): void {
  const bad = (name: string, why: string) => new Error(`${path}: ${what} '${name}' ${why}`);
  const byName = new Map(slots);
  for (const [name, want] of slots) {
    const got = given[name];
    if (got === undefined) {
      if (options.optional?.(name)) continue;
      throw bad(name, 'is missing');
    }
    if (got.dtype !== want.dtype) throw bad(name, `has dtype ${got.dtype}, the model's is ${want.dtype}`);
    if (got.shape.length !== want.shape.length || got.shape.some((d, i) => d !== want.shape[i])) {
      throw bad(name, `has shape [${got.shape.join(', ')}], the model's is [${want.shape.join(', ')}]`);
    }
  }
  if (options.complete) {
    for (const name of Object.keys(given)) if (!byName.has(name)) throw bad(name, 'is not a tensor of the model');
  }
  const inexact = slots.flatMap(([n]) => {
    const a = given[n];
    return a !== undefined && mx.isInexact(a.dtype) ? [{ n, a }] : [];
  });
  const finite = inexact.map(({ a }) => mx.all(mx.isfinite(a)));
  try {
    mx.eval(...finite);
    inexact.forEach(({ n }, i) => {
      if (!finite[i].item()) throw bad(n, 'holds NaN or infinite values');
    });
  } finally {
    mx.dispose(finite);
  }
}
