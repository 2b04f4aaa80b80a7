// The hostile-resume battery (test/hostile/resume-cases.ts) in child processes: damaged or
// edited checkpoint files must give one error naming the file and the field, leaving the model
// and trainer untouched. CI runs every named regression plus a seeded sample of the rest;
// MLXN_HOSTILE_FULL=1 runs all.
import { runHostileBattery } from '@mlxn/test-support/hostile';
import { describe, expect, it } from 'vitest';

describe('hostile resume inputs', () => {
  it('every damaged checkpoint gives a clear error and leaves the trainer as it was', async () => {
    const summary = await runHostileBattery(new URL('./hostile/resume-cases.ts', import.meta.url), {
      cwd: import.meta.dirname,
      // The first case in each child trains the checkpoint the others damage.
      timeoutMs: 90_000,
      sample: 2,
    });
    expect(summary.failed, `seed ${summary.seed}: ${JSON.stringify(summary.byClass)}`).toEqual([]);
    expect(summary.run).toBeGreaterThan(0);
  }, 600_000);
});
