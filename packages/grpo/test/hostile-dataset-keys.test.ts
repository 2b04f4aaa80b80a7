// Hostile dataset column names, in child processes (tooling/test-support/hostile.mjs).
import { expect, it } from 'vitest';
import { runHostileBattery } from '../../../tooling/test-support/hostile.mjs';

it('dataset column names reach reward functions as plain data', async () => {
  const summary = await runHostileBattery(new URL('./hostile/dataset-keys.cases.ts', import.meta.url), { full: true, timeoutMs: 20_000 });
  console.log(JSON.stringify({ run: summary.run, byClass: summary.byClass, ms: summary.ms }));
  expect(summary.failed).toEqual([]);
}, 120_000);
