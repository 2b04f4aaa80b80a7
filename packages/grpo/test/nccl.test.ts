// MLX's NCCL backend at world size 1 on a GPU machine (tooling/gpu-suite): mlxn-launch -n 1
// --backend nccl starts one rank that initialises NCCL, all-reduces a GPU array and runs one
// GRPO step on the NCCL group. Skipped on a machine without a GPU (CI): NCCL needs one.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import { onGpu } from '../../../tooling/test-support/devices.mjs';

describe('NCCL at world size 1', () => {
  it.skipIf(!onGpu(mx))(
    'initialises, all-reduces and trains one GRPO step',
    () => {
      const launch = join(dirname(createRequire(import.meta.url).resolve('@mlxn/core/package.json')), 'dist', 'mlxn-launch.js');
      const worker = join(import.meta.dirname, 'fixtures-dp/nccl-worker.ts');
      const r = spawnSync(process.execPath, [launch, '-n', '1', '--backend', 'nccl', '--', process.execPath, '--import', 'tsx', worker], {
        encoding: 'utf8',
        timeout: 240_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out).toMatchObject({ rank: 0, size: 1, device: 'gpu', allSum: [1, 2, 3, 4], changed: true, finite: true });
      expect(Number.isFinite(out.loss)).toBe(true);
    },
    300_000,
  );
});
