// The evaluation thread (crates/mlxn-sys/src/shim/eval_thread.cc): steps queued on it are
// evaluated in order, reads return their values, errors reach the next read, and the JS thread
// may keep building graphs on arrays the thread is evaluating, and evaluate its own, meanwhile.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as mx from '../src/index.js';
import {
  evalThreadReady,
  forgetScheduled,
  native,
  readNumbers,
  readScheduled,
  scheduleEval,
  scheduleForRead,
  settleEvalThread,
  useEvalThread,
} from '../src/internal.js';

describe('the evaluation thread', () => {
  it('is ready by default, used by decoding loops on a GPU, and on any device with MLXN_EVAL_THREAD=1', () => {
    expect(evalThreadReady).toBe(true);
    expect(native.evalThreadReady()).toBe(true);
    const saved = process.env.MLXN_EVAL_THREAD;
    try {
      delete process.env.MLXN_EVAL_THREAD;
      expect(useEvalThread()).toBe(mx.defaultDevice().type === 'gpu');
      process.env.MLXN_EVAL_THREAD = '1';
      expect(useEvalThread()).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.MLXN_EVAL_THREAD;
      else process.env.MLXN_EVAL_THREAD = saved;
    }
  });

  it('reads every dtype as numbers, in order, after what was queued before', () => {
    const a = mx.add(mx.array([1, 2, 3], 'int32'), 1);
    const b = mx.multiply(mx.array([0.5, -1.5], 'bfloat16'), 2);
    const c = mx.array([true, false]);
    const d = mx.transpose(mx.reshape(mx.array([0, 1, 2, 3, 4, 5], 'float32'), [2, 3])); // not row-contiguous
    scheduleEval([a, null, b], true);
    expect([...readNumbers([a, null, b, c, d], true)]).toEqual([2, 3, 4, 1, -3, 1, 0, 0, 3, 1, 4, 2, 5]);
    expect([...readNumbers([mx.array([2n ** 40n], 'int64'), mx.array([7], 'uint8')], true)]).toEqual([2 ** 40, 7]);
  });

  it('carries a decoding-style chain: each step built from the lazy result of the last', () => {
    // step n+1 is built before step n is read, and queued after the read (as generate does).
    let x = mx.keep(mx.array([1], 'float32'));
    scheduleEval([x], true);
    const seen: number[] = [];
    for (let n = 0; n < 200; n++) {
      const next = mx.keep(mx.add(mx.multiply(x, 1), 1));
      seen.push(readNumbers([x], true)[0]);
      scheduleEval([next], true);
      x.dispose();
      x = next;
    }
    seen.push(readNumbers([x], true)[0]);
    x.dispose();
    expect(seen).toEqual(Array.from({ length: 201 }, (_, i) => i + 1));
  });

  it('reads a scheduled step by ticket while later steps are queued behind it', () => {
    // As generate does now: step n+1 is queued (with its read ticket) before token n is read.
    let x = mx.keep(mx.array([1, 10], 'int32'));
    let pending = scheduleForRead([x, null], true);
    expect('ticket' in pending).toBe(true);
    const seen: number[][] = [];
    for (let n = 0; n < 200; n++) {
      const next = mx.keep(mx.add(x, 1));
      const nextPending = scheduleForRead([next], true);
      seen.push([...readScheduled(pending)]);
      x.dispose();
      x = next;
      pending = nextPending;
    }
    seen.push([...readScheduled(pending)]);
    x.dispose();
    expect(seen).toEqual(Array.from({ length: 201 }, (_, i) => [i + 1, i + 10]));
    // A ticket is read once; a forgotten one is gone, and forgetting twice is harmless.
    expect(() => readScheduled(pending)).toThrow(/unknown or already read ticket/);
    const unread = scheduleForRead([mx.array([3])], true);
    forgetScheduled(unread);
    forgetScheduled(unread);
    expect(() => readScheduled(unread)).toThrow(/unknown or already read ticket/);
    // Without the thread the same calls evaluate on this thread.
    const plain = scheduleForRead([mx.array([4, 5], 'float32')], false);
    expect([...readScheduled(plain)]).toEqual([4, 5]);
  });

  it('reports a failed ticketed step at its read or the next one, and keeps working after it', () => {
    for (let i = 0; i < 20; i++) {
      // linalg.inv runs on the CPU only (MLX), whatever the default device.
      const bad = mx.withStream(mx.cpu, () =>
        mx.linalg.inv(
          mx.array(
            [
              [1, 2],
              [2, 4],
            ],
            'float32',
          ),
        ),
      );
      const t = scheduleForRead([bad], true);
      const after = scheduleForRead([mx.add(mx.array([1, 2]), 1)], true);
      // MLX hands a failure in an asynchronously running kernel to the next event it signals,
      // which can belong to the step queued behind: the error then comes with that read.
      const errors: string[] = [];
      for (const r of [t, after]) {
        try {
          readScheduled(r);
        } catch (e) {
          errors.push(String(e));
        }
      }
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/LU factorization failed/);
      expect([...readScheduled(scheduleForRead([mx.add(mx.array([1, 2]), 1)], true))]).toEqual([2, 3]);
    }
    expect(() => settleEvalThread()).not.toThrow();
  });

  it('lets the JS thread evaluate its own arrays while steps are queued', () => {
    let x = mx.keep(mx.zeros([256, 256]));
    for (let n = 0; n < 50; n++) {
      const next = mx.keep(mx.add(mx.matmul(x, mx.zeros([256, 256])), 1));
      scheduleEval([next], true);
      // Evaluations on this thread wait for the evaluation thread's current task.
      expect(mx.sum(mx.array([n, 1])).item()).toBe(n + 1);
      expect(next.shape).toEqual([256, 256]);
      x.dispose();
      x = next;
    }
    expect(readNumbers([mx.sum(x)], true)[0]).toBe(256 * 256);
    x.dispose();
  });

  it('reports an evaluation error at the read that needs it, and keeps working after it', () => {
    const singular = () =>
      mx.withStream(mx.cpu, () =>
        mx.linalg.inv(
          mx.array(
            [
              [1, 2],
              [2, 4],
            ],
            'float32',
          ),
        ),
      );
    const bad = singular();
    scheduleEval([bad], true);
    // The read's own op stays on the CPU stream too: on a GPU machine MLX does not carry a CPU
    // task's failure into a GPU op that consumes its output (the GPU op reads garbage instead).
    expect(() => readNumbers([mx.withStream(mx.cpu, () => mx.multiply(bad, 2))], true)).toThrow(/LU factorization failed/);
    expect([...readNumbers([mx.add(mx.array([1, 2]), 1)], true)]).toEqual([2, 3]);
    // A failed step nobody reads (a look-ahead past the end) is dropped when a loop settles.
    scheduleEval([singular()], true);
    expect(() => settleEvalThread()).not.toThrow();
    expect(readNumbers([mx.array([5])], true)[0]).toBe(5);
  });

  it('is off with MLXN_EVAL_THREAD=0, and the same calls then run on the JS thread', () => {
    const script = `
      import * as mx from '@mlxn/core';
      import { evalThreadReady, readNumbers, scheduleEval, useEvalThread } from '@mlxn/core/internal';
      const a = mx.add(mx.array([1, 2], 'int32'), 1);
      scheduleEval([a], useEvalThread());
      console.log(JSON.stringify([evalThreadReady, useEvalThread(), [...readNumbers([a, mx.array([0.5])], false)]]));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, MLXN_EVAL_THREAD: '0' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([false, false, [2, 3, 0.5]]);
  });
});
