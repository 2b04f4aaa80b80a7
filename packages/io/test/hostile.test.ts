// The hostile-input battery for files (GGUF headers, safetensors structure, non-regular files,
// tokenizer files): each case module runs in child processes, so a crash or a hang fails one case
// instead of the test runner. CI runs every named regression and a seeded sample of the rest;
// MLXN_HOSTILE_FULL=1 runs them all.
import { join } from 'node:path';
import { runHostileBattery } from '@mlxn/test-support/hostile';
import { describe, expect, it } from 'vitest';

const packageRoot = join(import.meta.dirname, '..');

describe.each(['gguf', 'safetensors', 'nonregular', 'tokenizer'])('hostile %s files', (name) => {
  it('every case ends in a correct load or a documented error', async () => {
    const summary = await runHostileBattery(new URL(`./hostile/${name}.cases.ts`, import.meta.url), { cwd: packageRoot, sample: 12 });
    if (process.env.MLXN_HOSTILE_REPORT) process.stderr.write(`${JSON.stringify({ module: name, byClass: summary.byClass, ms: summary.ms, failed: summary.failed })}\n`);
    expect(summary.failed).toEqual([]);
    expect(summary.run).toBeGreaterThan(0);
  }, 600_000);
});
