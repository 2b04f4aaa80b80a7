// The hostile battery for optimizer-state files with keys that would reach Object.prototype,
// in child processes (see tooling/test-support/hostile.mjs).
import { expect, it } from 'vitest';
import { runHostileBattery } from '../../../tooling/test-support/hostile.mjs';

it('optimizer-state keys never reach Object.prototype', async () => {
  const summary = await runHostileBattery(new URL('./hostile/state-keys.cases.ts', import.meta.url), {
    full: process.env.MLXN_HOSTILE_FULL === '1',
    seed: process.env.MLXN_HOSTILE_SEED ? Number(process.env.MLXN_HOSTILE_SEED) : undefined,
    sample: 6,
    timeoutMs: 20_000,
  });
  console.log(JSON.stringify({ seed: summary.seed, run: summary.run, byClass: summary.byClass, ms: summary.ms }));
  expect(summary.failed).toEqual([]);
}, 300_000);
