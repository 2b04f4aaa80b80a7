// Decoding through the evaluation thread (generate.ts, batch.ts) gives what decoding on the
// JS thread alone gives, and user code may evaluate its own arrays between tokens.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { evalThreadReady, useEvalThread } from '@mlxn/core/internal';
import { describe, expect, it } from 'vitest';
import { tinyQwen3 } from './generate-helpers.js';

const root = join(import.meta.dirname, '../../..');
const tsx = join(root, 'node_modules/.bin/tsx');
const run = (env: Record<string, string>) =>
  JSON.parse(execFileSync(tsx, [join(import.meta.dirname, 'eval-thread-child.ts')], { env: { ...process.env, ...env }, encoding: 'utf8' }));

describe('decoding with the evaluation thread', () => {
  it('gives the same tokens and log-probabilities as decoding on the JS thread alone', () => {
    expect(evalThreadReady).toBe(true);
    const threaded = run({ MLXN_EVAL_THREAD: '1' });
    const alone = run({ MLXN_EVAL_THREAD: '0' });
    expect(threaded.single[0]).toHaveLength(24);
    expect(threaded.batch.map((r: number[][]) => r[0].length)).toEqual([12, 12, 12]);
    expect(threaded.ragged.map((r: number[][]) => r[0].length)).toEqual([3, 9, 5, 14]);
    expect(threaded).toEqual(alone);
  });

  it('lets the consumer of a stream evaluate its own arrays between tokens', async () => {
    const model = tinyQwen3(4);
    const expected = (await model.generate('Once upon a time', { maxTokens: 16 })).tokens;
    const tokens: number[] = [];
    let acc = mx.keep(mx.zeros([32, 32]));
    const saved = process.env.MLXN_EVAL_THREAD;
    process.env.MLXN_EVAL_THREAD = '1'; // the thread on any device, for this stream
    try {
      expect(useEvalThread()).toBe(true);
      for await (const c of model.stream('Once upon a time', { maxTokens: 16 })) {
        tokens.push(c.token!);
        const next = mx.keep(mx.add(mx.matmul(acc, mx.ones([32, 32])), 1));
        expect(Number(mx.sum(next).item())).toBeGreaterThan(0); // evaluates while the next step is queued
        acc.dispose();
        acc = next;
      }
    } finally {
      if (saved === undefined) delete process.env.MLXN_EVAL_THREAD;
      else process.env.MLXN_EVAL_THREAD = saved;
      acc.dispose();
    }
    expect(tokens).toEqual(expected);
  });
});
