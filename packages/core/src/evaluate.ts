/** Forcing evaluation: `eval` blocks until done, `asyncEval` only schedules. */
import { Array, waitAvailable } from './array.js';
import { MlxError } from './errors.js';
import { native } from './native.js';
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
