// Reward functions that never settle: an abort must end training at once with an error naming
// the function, and a process left with nothing but such a promise must fail loudly instead of
// exiting with code 0 and no message.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GRPOTrainer, RewardFunctionError } from '../src/index.js';
import { arithmeticRecords, cleanup, tempDir, tinyModel } from './trainer-fixture.js';

afterAll(cleanup);

const config = {
  numGenerations: 2,
  perDeviceTrainBatchSize: 2,
  maxCompletionLength: 2,
  maxSteps: 2,
  bf16: false,
  gradientCheckpointing: false,
  seed: 3,
};

describe('a reward function that never settles', () => {
  it('regression: aborting train({ signal }) rejects with a RewardFunctionError naming it, and the step is not counted', async () => {
    const controller = new AbortController();
    let calls = 0;
    const neverSettles = () => {
      calls += 1;
      controller.abort(new Error('stop now'));
      return new Promise<number[]>(() => {});
    };
    const trainer = new GRPOTrainer({
      model: await tinyModel(),
      rewardFuncs: [() => [1, 0], neverSettles],
      trainDataset: arithmeticRecords(4),
      config: { ...config, outputDir: tempDir() },
    });
    const err = await trainer.train({ signal: controller.signal }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RewardFunctionError);
    expect((err as RewardFunctionError).rewardFunction).toBe('neverSettles');
    expect((err as Error).message).toBe('reward function "neverSettles" had not settled when training was aborted at step 0');
    expect(((err as Error).cause as Error).message).toBe('stop now');
    expect(calls).toBe(1);
    expect(trainer.state).toMatchObject({ globalStep: 0, microStep: 0, numInputTokensSeen: 0 });
    // The sampler is back where it was: the step can be checkpointed and redone exactly.
    await expect(trainer.saveCheckpoint()).resolves.toMatch(/checkpoint-0$/);
  }, 60_000);

  it('regression: a process with nothing left but the pending reward exits non-zero with a message naming it', () => {
    // The child never reaches the fixture's cleanup: its temporary folders go into one removed here.
    const childTmp = mkdtempSync(join(tmpdir(), 'mlxn-reward-settle-'));
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'reward-settle-child.ts')], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, MLXN_TEST_TMP: childTmp },
    });
    rmSync(childTmp, { recursive: true, force: true });
    expect(r.stdout).not.toContain('training finished');
    expect(r.status).not.toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stderr).toContain('RewardFunctionError: reward function "stuck" returned a promise that can never settle at step 0');
  }, 150_000);
});
