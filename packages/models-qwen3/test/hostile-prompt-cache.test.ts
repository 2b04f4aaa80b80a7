// The hostile battery for prompt-cache files, in child processes (tooling/test-support/hostile.mjs).
import { expect, it } from 'vitest';
import { runHostileBattery } from '../../../tooling/test-support/hostile.mjs';

it('hostile prompt-cache files load correctly or fail naming the file', async () => {
  const summary = await runHostileBattery(new URL('./hostile/prompt-cache.cases.ts', import.meta.url), {
    full: process.env.MLXN_HOSTILE_FULL === '1',
    seed: process.env.MLXN_HOSTILE_SEED ? Number(process.env.MLXN_HOSTILE_SEED) : undefined,
    sample: 8,
    timeoutMs: 20_000,
  });
  console.log(JSON.stringify({ seed: summary.seed, run: summary.run, byClass: summary.byClass, ms: summary.ms }));
  expect(summary.failed).toEqual([]);
}, 300_000);
