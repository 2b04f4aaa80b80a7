// The hostile-input battery for the trainers' files: non-regular files wherever a dataset,
// metrics, trainer state or command-line file is read, each case in a child process (a hang
// fails one case, not the runner). MLXN_HOSTILE_FULL=1 runs every case; CI runs the
// regressions and a seeded sample.
import { join } from 'node:path';
import { runHostileBattery } from '@mlxn/test-support/hostile';
import { describe, expect, it } from 'vitest';

describe('hostile trainer files', () => {
  it('every case ends in a documented error', async () => {
    const summary = await runHostileBattery(new URL('./hostile/files.cases.ts', import.meta.url), { cwd: join(import.meta.dirname, '..'), sample: 6 });
    if (process.env.MLXN_HOSTILE_REPORT) process.stderr.write(`${JSON.stringify({ module: 'grpo-files', byClass: summary.byClass, ms: summary.ms, failed: summary.failed })}\n`);
    expect(summary.failed).toEqual([]);
    expect(summary.run).toBeGreaterThan(0);
  }, 600_000);
});
