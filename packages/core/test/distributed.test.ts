// mx.distributed on the CPU: two processes on 127.0.0.1 over MLX's ring backend (MLX_RANK and
// MLX_HOSTFILE, as mlx.launch sets them), and a process alone.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type RankResult, runRingJob } from '../../../tooling/test-support/ring-job.mjs';
import * as mx from '../src/index.js';
import { rankEnvironment, ringHostfile } from '../src/launch/environments.js';
import { freePort } from '../src/launch/free-port.js';

const scratch = mkdtempSync(join(tmpdir(), 'mlxn-dist-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `scenario` as a job of `n` ranks; each rank is killed after `timeoutMs`. */
function runJob(scenario: string, n: number, timeoutMs: number): Promise<RankResult[]> {
  const worker = join(import.meta.dirname, 'fixtures-distributed/worker.ts');
  return runRingJob({ worker, args: [scenario], ranks: n, timeoutMs, hostfile: join(scratch, `${scenario}-hosts.json`), freePort });
}

const parse = (r: RankResult) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
};

describe('mx.distributed', () => {
  it('a process without a job is a group of size 1, on which collectives are the identity', () => {
    const g = mx.distributed.init();
    expect([g.rank, g.size]).toEqual([0, 1]);
    expect(mx.distributed.init()).toBe(g);
    expect(mx.distributed.allSum(mx.array([1, 2])).tolist()).toEqual([1, 2]);
    expect(mx.distributed.allGather(mx.array([[3, 4]])).tolist()).toEqual([[3, 4]]);
    expect(mx.distributed.isAvailable('ring')).toBe(true);
    expect(() => mx.distributed.init({ backend: 'tcp' as 'ring' })).toThrow(/backend must be/);
    expect(() => mx.distributed.send(mx.array([1]), 0.5)).toThrow(/32-bit integer/);
  });

  it('two ranks over the ring backend: allSum, allMax, allMin, allGather, send/recv; clear errors where ring lacks an op', async () => {
    const [a, b] = (await runJob('collectives', 2, 60_000)).map(parse);
    expect([a.rank, a.size, b.rank, b.size]).toEqual([0, 2, 1, 2]);
    for (const r of [a, b]) {
      expect(r.allSum).toEqual([3, 30]);
      expect(r.allMax).toEqual([2, 20]);
      expect(r.allMin).toEqual([1, 10]);
      expect(r.allGather).toEqual([
        [1, 10],
        [2, 20],
      ]);
      expect(r.int32Sum).toEqual([1, 14]);
    }
    for (const r of [a, b]) expect(r.sumScatter).toBe('MlxError: [ring] sum_scatter not supported.');
    expect(b.recv).toEqual([
      [1.5, -2],
      [3, 4],
    ]);
    expect(b.recvLike).toEqual([0, 1, 2, 3, 4]);
    for (const r of [a, b]) {
      expect(r.split).toBe('MlxError: [ring] Group split not supported.');
      expect(r.afterSplit).toEqual([3]);
    }
  }, 90_000);

  it('a rank that leaves makes the other fail with a clear error, well within the bound', async () => {
    const started = Date.now();
    const [a] = await runJob('peer-dies', 2, 20_000);
    expect(Date.now() - started).toBeLessThan(40_000);
    // MLX's ring backend notices the closed socket and fails the pending collective.
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout.trim().split('\n').at(-1)!).error).toMatch(/\[ring\] connection to a peer was lost/);
  }, 60_000);

  it('init({ timeoutMs }) ends a rank whose peer never joins, with a message, instead of waiting forever', async () => {
    // Without the bound, rank 0 would wait in MLX's ring init forever (it has no timeout there).
    const [a] = await runJob('peer-never-joins', 2, 20_000);
    expect(a.signal).toBe('SIGKILL');
    expect(a.stdout).not.toContain('joined');
    expect(a.stderr).toContain("MlxError: mx.distributed.init (backend 'ring', MLX_RANK 0) did not finish within 2000 ms");
    expect(() => mx.distributed.init({ timeoutMs: -1 })).toThrow(TypeError);
  }, 60_000);

  describe('mlxn-launch', () => {
    const launcher = join(import.meta.dirname, '../src/launch/cli.ts');
    const worker = join(import.meta.dirname, 'fixtures-distributed/worker.ts');
    const launch = (args: string[], timeout: number) =>
      spawnSync(process.execPath, ['--import', 'tsx', launcher, ...args], {
        encoding: 'utf8',
        timeout,
        env: { ...process.env, MLXN_MLX_BACKEND: 'cpu' },
      });

    it('starts N ranks with the ring environment; each sees the job', () => {
      const r = launch(['-n', '3', '--', process.execPath, '--import', 'tsx', worker, 'sum'], 60_000);
      expect(r.status, r.stderr).toBe(0);
      const ranks = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .sort((a, b) => Number(a.rank) - Number(b.rank));
      expect(ranks.map((x) => [x.rank, x.size])).toEqual([
        [0, 3],
        [1, 3],
        [2, 3],
      ]);
      for (const x of ranks) expect(x.allSum).toEqual([6, 60]);
    }, 90_000);

    it('fails fast: one rank failing stops the others and gives its status', () => {
      const started = Date.now();
      const r = launch(['-n', '2', '--grace-ms', '1000', '--', process.execPath, '--import', 'tsx', worker, 'one-fails'], 50_000);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/rank 1 failed \(3\); stopping the others/);
      expect(r.stdout).not.toMatch(/was not stopped/);
      expect(Date.now() - started).toBeLessThan(30_000);
    }, 60_000);

    it('gives each backend the variables MLX reads (NCCL: world size, rendezvous, one GPU per rank)', () => {
      expect(ringHostfile([5001, 5002])).toBe('[["127.0.0.1:5001"],["127.0.0.1:5002"]]');
      expect(rankEnvironment({ n: 2, backend: 'ring', hostfile: '/tmp/h.json' }, 1)).toEqual({
        MLX_RANK: '1',
        MLX_HOSTFILE: '/tmp/h.json',
      });
      expect(rankEnvironment({ n: 4, backend: 'nccl', ncclPort: 6000 }, 3)).toEqual({
        MLX_RANK: '3',
        MLX_WORLD_SIZE: '4',
        NCCL_HOST_IP: '127.0.0.1',
        NCCL_PORT: '6000',
        CUDA_VISIBLE_DEVICES: '3',
      });
    });

    it('refuses bad arguments with usage', () => {
      for (const args of [[], ['-n', '0', 'x.js'], ['-n', '2', '--backend', 'tcp', 'x.js'], ['-n', '2']]) {
        const r = launch(args, 20_000);
        expect(r.status, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(/^mlxn-launch: .*\nusage: mlxn-launch/);
      }
    });
  });
});
