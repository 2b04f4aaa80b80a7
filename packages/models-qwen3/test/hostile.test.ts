// The hostile-input battery for config.json: fields × absurd values, each load in a child
// process (a crash or a runaway allocation fails one case, not the runner). CI runs every named
// regression and a seeded sample of the rest; MLXN_HOSTILE_FULL=1 runs them all.
import { join } from 'node:path';
import { runHostileBattery } from '@mlxn/test-support/hostile';
import { describe, expect, it } from 'vitest';

describe('hostile config.json', () => {
  it('every case ends in a correct load or a documented error', async () => {
    const summary = await runHostileBattery(new URL('./hostile/config.cases.ts', import.meta.url), { cwd: join(import.meta.dirname, '..'), sample: 12 });
    if (process.env.MLXN_HOSTILE_REPORT) process.stderr.write(`${JSON.stringify({ module: 'config', byClass: summary.byClass, ms: summary.ms, failed: summary.failed })}\n`);
    expect(summary.failed).toEqual([]);
    expect(summary.run).toBeGreaterThan(0);
  }, 600_000);
});
