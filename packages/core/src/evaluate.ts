/** Forcing evaluation: `eval` blocks until done, `asyncEval` only schedules. */
import { type Array, waitAvailable } from './array.js';
import { MlxError } from './errors.js';
import { type NativeArray, native } from './native.js';
import { treeFlatten } from './tree.js';

/** Computes every array in the arguments (arrays or trees of arrays) and waits for them. */
export function evaluate(...trees: unknown[]): void {
  const hs = treeFlatten(trees).map((a) => a.handle);
  if (hs.length > 0) native.eval(hs);
}

/**
 * Schedules computation of the arrays on MLX's stream threads and returns at once. The
 * returned promise resolves when they are ready (and rejects with MLX's error if one failed).
 */
export function asyncEval(...trees: unknown[]): Promise<void> {
  const arrays: Array[] = treeFlatten(trees);
  const hs = arrays.map((a) => a.handle); // a disposed array throws here, synchronously
  let scheduled: unknown = null;
  try {
    if (hs.length > 0) native.asyncEval(hs);
  } catch (e) {
    // An evaluation failure can surface while MLX is still scheduling (a task failed on its
    // stream thread before the graph was fully enqueued): report it like any other
    // evaluation failure, through the promise, not as a synchronous throw.
    if (!(e instanceof MlxError)) throw e;
    scheduled = e;
  }
  const done = (async () => {
    if (scheduled !== null) throw scheduled;
    for (const h of hs) await waitAvailable(h);
  })();
  // Ignoring the promise is allowed (Python's async_eval returns nothing): mark it handled so
  // a failure cannot become an unhandled rejection; awaiting it still sees the error.
  done.catch(() => {});
  return done;
}

/**
 * Whether the evaluation thread can be used: its streams were set up at load (not with
 * `MLXN_EVAL_THREAD=0`).
 */
export const evalThreadReady: boolean = native.evalThreadReady();

/**
 * Internal (`@mlxn/core/internal`): whether a decoding loop starting now hands its steps to
 * the evaluation thread (a native thread that evaluates one graph while this thread builds the
 * next). By default only on a GPU, where MLX encodes kernels on the evaluating thread; on a CPU
 * MLX already runs them on its own stream threads, and a third busy thread made a 2-core
 * machine slower. `MLXN_EVAL_THREAD=1` uses it on any device, `0` never.
 */
export function useEvalThread(): boolean {
  if (!evalThreadReady) return false;
  return process.env.MLXN_EVAL_THREAD === '1' || native.defaultDeviceType() === 1;
}

/**
 * Internal (`@mlxn/core/internal`): starts evaluating `arrays` without waiting — on the
 * evaluation thread when `threaded` (see `useEvalThread`), else with `asyncEval` on this
 * thread. `null` entries are skipped. An evaluation error surfaces at the next `readNumbers`.
 */
export function scheduleEval(arrays: readonly (Array | null)[], threaded: boolean): void {
  const hs: NativeArray[] = [];
  for (const a of arrays) if (a !== null) hs.push(a.handle);
  if (hs.length === 0) return;
  if (threaded) native.evalThreadSchedule(hs);
  else native.asyncEval(hs);
}

/** A step scheduled by `scheduleForRead`: read it once with `readScheduled`, or `forgetScheduled`. */
export type ScheduledRead = { readonly ticket: number } | { readonly arrays: readonly (Array | null)[] };

/**
 * Internal (`@mlxn/core/internal`): starts evaluating `arrays` as `scheduleEval` does and
 * returns what `readScheduled` reads them by. On the evaluation thread the read waits only for
 * the device to compute these arrays, not for the thread to finish encoding steps scheduled
 * after them (it reads copies that nothing else references): a loop can queue step n+1 and then
 * read token n while the thread encodes n+1. A step that fails on the device throws at its read
 * or, when MLX reports the failure with the next event it signals, at the read of the step
 * queued after it.
 */
export function scheduleForRead(arrays: readonly (Array | null)[], threaded: boolean): ScheduledRead {
  if (!threaded) {
    scheduleEval(arrays, false);
    return { arrays };
  }
  const hs: NativeArray[] = [];
  for (const a of arrays) if (a !== null) hs.push(a.handle);
  return { ticket: native.evalThreadScheduleRead(hs) };
}

/** Internal (`@mlxn/core/internal`): the elements of a scheduled step's arrays, in order, as numbers. */
export function readScheduled(r: ScheduledRead): Float64Array {
  return 'ticket' in r ? native.evalThreadReadTicket(r.ticket) : readNumbers(r.arrays, false);
}

/** Internal (`@mlxn/core/internal`): lets go of a scheduled step that will not be read. */
export function forgetScheduled(r: ScheduledRead): void {
  if ('ticket' in r) native.evalThreadForgetTicket(r.ticket);
}

/**
 * Internal (`@mlxn/core/internal`): the elements of `arrays`, in order and flattened, as
 * numbers, once everything scheduled before has been handed to MLX. Reading through the
 * evaluation thread (`threaded`) keeps the reads in order with the steps it evaluates, and lets
 * this thread build the next step while that thread encodes the one queued after the read.
 */
export function readNumbers(arrays: readonly (Array | null)[], threaded: boolean): Float64Array {
  const hs: NativeArray[] = [];
  for (const a of arrays) if (a !== null) hs.push(a.handle);
  if (threaded) return native.evalThreadRead(hs);
  if (hs.length > 0) native.eval(hs);
  const out: number[] = [];
  for (const a of arrays) {
    if (a === null) continue;
    if (a.dtype === 'complex64') throw new TypeError('readNumbers: complex arrays cannot be read as numbers');
    const data = a.dataSync() as ArrayLike<number | bigint>;
    for (let i = 0; i < data.length; i++) out.push(Number(data[i]));
  }
  return Float64Array.from(out);
}

/**
 * Internal (`@mlxn/core/internal`): waits until the evaluation thread has finished what was
 * queued, so that arrays it still holds are released. A loop that stops early calls it; an
 * error of a step nobody will read is dropped.
 */
export function settleEvalThread(): void {
  if (!evalThreadReady) return;
  try {
    native.evalThreadDrain();
  } catch {
    // The failed step was a look-ahead that is no longer wanted.
  }
}
