/**
 * Ctrl-C for the command-line tools, counted per stop request rather than per signal.
 *
 * One press of Ctrl-C on a terminal is one SIGINT to every process of the foreground group. But
 * `timeout`, `npm exec`/`pnpm exec`, `tsx` and process managers relay the signal to their child
 * *and* the terminal or the manager also sends it to the whole process group, so one request
 * often arrives as two or three SIGINTs a few microseconds apart. Counting them as presses turns
 * "stop after this step and save" into "quit now without saving".
 *
 * A SIGINT therefore counts only once the event loop has been free for `coalesceMs` after the
 * last counted one: a timer arms the next count, and the arming itself waits for the `check`
 * phase (a setImmediate), which runs after the poll phase that delivers signals queued while a
 * long synchronous step blocked the loop. A duplicate that arrived during such a step is
 * delivered, and ignored, before the next count is armed.
 */
import { checkOptionKeys } from '@mlxn/core/internal';

/** How long after a counted SIGINT further ones are the same request (ms). */
export const SIGINT_COALESCE_MS = 1000;

export interface InterruptOptions {
  /** Signals within this many ms of the last counted one (while the loop runs) are the same request. */
  coalesceMs?: number;
}

/**
 * Calls `handler(n)` for the n-th stop request (SIGINT) until the returned function is called.
 * While a listener is installed, a SIGINT never kills the process by Node's default action.
 *
 * @example
 * const stop = onInterrupt((n) => (n === 1 ? controller.abort() : process.exit(130)));
 * try { await work(controller.signal); } finally { stop(); }
 */
export function onInterrupt(handler: (count: number) => void, options: InterruptOptions = {}): () => void {
  checkOptionKeys(options, ['coalesceMs'] satisfies (keyof InterruptOptions)[], 'onInterrupt');
  const coalesceMs = options.coalesceMs ?? SIGINT_COALESCE_MS;
  let count = 0;
  let armed = true;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const listener = () => {
    if (!armed) return;
    armed = false;
    count++;
    timer = setTimeout(() => {
      immediate = setImmediate(() => {
        armed = true;
      });
    }, coalesceMs);
    // The arming timer never keeps a finished command alive.
    timer.unref();
    handler(count);
  };
  process.on('SIGINT', listener);
  return () => {
    process.off('SIGINT', listener);
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}
