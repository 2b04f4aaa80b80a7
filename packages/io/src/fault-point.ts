/**
 * Crash-test hook (internal, not a user feature): the kill test counts every step of every
 * save, replace and rotate sequence and stops the process with SIGKILL at one of them, to prove
 * that the newest complete state survives a kill at each step. Off unless the environment of the
 * process arms it, and then one integer comparison per step.
 *
 *   MLXN_INTERNAL_KILL_AT=k        SIGKILL at the k-th step (1-based)
 *   MLXN_INTERNAL_FAULT_TRACE=file  append `k label` for every step passed (to count the steps)
 */
import { appendFileSync } from 'node:fs';

const killAt = Number.parseInt(process.env.MLXN_INTERNAL_KILL_AT ?? '', 10);
const trace = process.env.MLXN_INTERNAL_FAULT_TRACE;
const armed = Number.isInteger(killAt) || (trace !== undefined && trace !== '');
let passed = 0;

/** Marks one step of a save sequence (the state on disk after it must be recoverable). */
export function faultPoint(label: string): void {
  if (!armed) return;
  passed += 1;
  if (trace) appendFileSync(trace, `${passed} ${label}\n`);
  if (passed === killAt) process.kill(process.pid, 'SIGKILL');
}
