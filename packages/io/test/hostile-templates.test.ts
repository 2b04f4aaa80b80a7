// The hostile battery for chat templates, shapes and object keys from files, in child
// processes (see tooling/test-support/hostile.mjs). MLXN_HOSTILE_FULL=1 runs every case.
import { expect, it } from 'vitest';
import { runHostileBattery } from '../../../tooling/test-support/hostile.mjs';

it('templates, shapes and file keys give clear errors or correct results', async () => {
  const summary = await runHostileBattery(new URL('./hostile/templates-shapes-keys.cases.ts', import.meta.url), {
    full: process.env.MLXN_HOSTILE_FULL === '1',
    seed: process.env.MLXN_HOSTILE_SEED ? Number(process.env.MLXN_HOSTILE_SEED) : undefined,
    sample: 30,
    timeoutMs: 20_000,
    maxRssMb: 2_000,
  });
  console.log(JSON.stringify({ seed: summary.seed, run: summary.run, byClass: summary.byClass, ms: summary.ms }));
  expect(summary.failed).toEqual([]);
}, 600_000);
