// The hostile-input battery for model folders: config.json fields × absurd values, and
// non-regular files where the folder's files are expected. Each load runs in a child process (a
// crash or a runaway allocation fails one case, not the runner). CI runs every named regression
// and a seeded sample of the rest; MLXN_HOSTILE_FULL=1 runs them all.
import { join } from 'node:path';
import { runHostileBattery } from '@mlxn/test-support/hostile';
import { describe, expect, it } from 'vitest';

describe.each(['config', 'files'])('hostile model folders: %s', (name) => {
  it('every case ends in a correct load or a documented error', async () => {
    const summary = await runHostileBattery(new URL(`./hostile/${name}.cases.ts`, import.meta.url), { cwd: join(import.meta.dirname, '..'), sample: 12 });
    if (process.env.MLXN_HOSTILE_REPORT) process.stderr.write(`${JSON.stringify({ module: name, byClass: summary.byClass, ms: summary.ms, failed: summary.failed })}\n`);
    expect(summary.failed).toEqual([]);
    expect(summary.run).toBeGreaterThan(0);
  }, 600_000);
});
