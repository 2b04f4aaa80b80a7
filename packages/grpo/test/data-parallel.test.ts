// Data-parallel GRPOTrainer and SFTTrainer on the CPU: two processes on 127.0.0.1 over MLX's
// ring backend (MLX_RANK and MLX_HOSTFILE, as mlxn-launch sets them), against one process on
// the combined batch. The scenarios are in fixtures-dp/worker.ts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '@mlxn/core/internal';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { type RankResult, runRingJob } from '@mlxn/test-support/ring-job';
import { afterAll, describe, expect, it } from 'vitest';

const scratch = mkdtempSync(join(tmpdir(), 'mlxn-grpo-dp-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `scenario` as a job of two ranks; each is killed after `timeoutMs` (a hang fails the test). */
function runJob(scenario: string, timeoutMs: number, ...args: string[]): Promise<RankResult[]> {
  const worker = join(import.meta.dirname, 'fixtures-dp/worker.ts');
  return runRingJob({ worker, args: [scenario, ...args], timeoutMs, hostfile: join(scratch, `${scenario}-hosts.json`), freePort });
}

const lines = (r: RankResult) => {
  expect(r.signal, r.stderr).toBe(null);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};

describe('data-parallel training over two processes', () => {
  it('one GRPO step (every loss type × gradient accumulation 1, 2; prompt groups straddling the ranks) and one SFT step equal one process on the combined batch; weights equal on both ranks', async () => {
    const [r0, r1] = await runJob('equivalence', 240_000, join(scratch, 'equivalence'));
    const a = lines(r0);
    const b = lines(r1);
    const names = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo', 'luspo', 'vespo']
      .flatMap((t) => [`grpo ${t} ga1`, `grpo ${t} ga2`])
      .concat(['grpo straddling group', 'grpo straddling batch', 'sft ga1', 'sft ga2']);
    expect(a.map((r) => r.name)).toEqual(names);
    expect(b.map((r) => r.name)).toEqual(names);
    a.forEach((x, i) => {
      const y = b[i];
      const what = String(x.name);
      // The ranks take turns running the lone step: its numbers are on one of the two lines.
      const alone = i % 2 === 0 ? x : y;
      // The same averaged gradient and the same update on both ranks: bit-identical weights.
      expect(y.hash, what).toBe(x.hash);
      expect(y.gradNorm, what).toBe(x.gradNorm);
      expect(y.loss, what).toBe(x.loss);
      // Against one process on the combined batch: the same numbers up to float32 summation order.
      expect(x.gradNorm as number, what).toBeGreaterThan(0);
      expect(Math.abs((x.gradNorm as number) - (alone.aloneGradNorm as number)) / (alone.aloneGradNorm as number), what).toBeLessThan(1e-5);
      expect(Math.abs((x.loss as number) - (alone.aloneLoss as number)), what).toBeLessThan(
        1e-5 * Math.max(1, Math.abs(alone.aloneLoss as number)),
      );
      expect(alone.updateDistance as number, what).toBeLessThan(1e-4);
      if (what.startsWith('grpo')) expect(x.reward, what).toBe(alone.aloneReward);
    });
  }, 300_000);

  it("checkpoints: rank 0 writes them, each rank's rollout buffer goes in; resuming with the same ranks ends where the uninterrupted run ended", async () => {
    const dir = join(scratch, 'resume');
    const [a, b] = (await runJob('resume', 240_000, dir)).map((r) => lines(r)[0]);
    expect(b.full).toBe(a.full);
    expect(a.resumed).toBe(a.full);
    expect(b.resumed).toBe(b.full);
    expect((a.losses as number[]).length).toBe(2);
    const trainerFiles = readdirSync(join(dir, 'full/checkpoint-1/trainer')).sort();
    expect(trainerFiles).toEqual(['optimizer.safetensors', 'rollouts-rank-1.safetensors', 'rollouts.safetensors']);
    // Nothing staged is left behind, and one metrics line per step (rank 0's file).
    expect(readdirSync(join(dir, 'full')).sort()).toEqual(['checkpoint-1', 'checkpoint-2', 'metrics.jsonl']);
    expect(readFileSync(join(dir, 'full/metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(a.aloneError).toMatch(/written by a job of 2 process\(es\); resume it with the same number \(this run has 1\)/);
  }, 300_000);

  it('a stop requested on one rank stops every rank after the same step, and they save one checkpoint together', async () => {
    const dir = join(scratch, 'stop');
    const [a, b] = (await runJob('stop', 240_000, dir)).map((r) => lines(r)[0]);
    // Rank 0 asked after step 1; the request travelled with step 2's gradients.
    expect([a.step, b.step]).toEqual([2, 2]);
    expect(a.error).toBe('Error: stop requested on rank 0');
    expect(b.error).toBe('AbortError: another rank of the job stopped the run between two steps');
    expect(b.weights).toBe(a.weights);
    expect(b.saved).toBe(a.saved);
    expect(readdirSync(join(dir, 'checkpoint-2'))).toContain('trainer_state.json');
  }, 300_000);

  it('a rank that dies makes the other fail with a clear error instead of waiting', async () => {
    const [r0, r1] = await runJob('die', 120_000, join(scratch, 'die'));
    expect(r1.code).toBe(3);
    const [a] = lines(r0);
    expect(a.error).toMatch(
      /^DataParallelError: GRPOTrainer \(rank 0 of 2\): combining the rewards of step 1 across ranks failed: .*connection to a peer was lost/,
    );
  }, 150_000);

  it('mlxn-train under mlxn-launch -n 2: one job, one metrics file, checkpoints by rank 0, one report', () => {
    const work = join(scratch, 'cli');
    const prompts = ['What is 1+1?', 'What is 2+3?', 'What is 4+4?', 'What is 3+3?'].map((prompt) => JSON.stringify({ prompt }));
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'prompts.jsonl'), `${prompts.join('\n')}\n`);
    writeFileSync(
      join(work, 'rewards.mjs'),
      'export function short({ completions }) {\n  return completions.map((c) => -c.length / 100);\n}\n',
    );
    const config = join(work, 'grpo.json');
    const model = tinyQwen3WithTokenizer();
    writeFileSync(
      config,
      JSON.stringify({
        model,
        dataset: 'prompts.jsonl',
        rewards: ['./rewards.mjs'],
        numGenerations: 2,
        perDeviceTrainBatchSize: 2,
        maxCompletionLength: 4,
        maxSteps: 2,
        bf16: false,
        outputDir: 'runs/dp',
      }),
    );
    const core = dirname(createRequire(import.meta.url).resolve('@mlxn/core/package.json'));
    const launch = join(core, 'dist', 'mlxn-launch.js');
    const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
    const r = spawnSync(process.execPath, [launch, '-n', '2', '--', process.execPath, cli, 'grpo', config, '--no-progress'], {
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, MLXN_MLX_BACKEND: 'cpu' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(/Trained 2 steps/g), r.stderr).toHaveLength(1);
    const out = join(work, 'runs/dp');
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    const state = JSON.parse(readFileSync(join(out, 'checkpoint-2', 'trainer_state.json'), 'utf8'));
    expect(state.extra.numProcesses).toBe(2);
    // TRL's generation batch spans the ranks: 2 per device × 2 processes.
    expect(state.config.generationBatchSize).toBe(4);
  }, 300_000);

  it('Ctrl-C to mlxn-launch reaches every rank of mlxn-train: they stop after the same step, save one checkpoint, and --resume continues', async () => {
    const work = join(scratch, 'cli-int');
    mkdirSync(work, { recursive: true });
    const records = ['1+1=', '2+3=', '4+4=', '3+3='].map((prompt, i) => JSON.stringify({ prompt, completion: ` ${i}` }));
    writeFileSync(join(work, 'sft.jsonl'), `${records.join('\n')}\n`);
    const config = join(work, 'sft.json');
    writeFileSync(
      config,
      JSON.stringify({
        model: tinyQwen3WithTokenizer(),
        dataset: 'sft.jsonl',
        perDeviceTrainBatchSize: 1,
        maxSteps: 1000,
        saveSteps: 1000,
        lrSchedulerType: 'constant',
        bf16: false,
        outputDir: 'runs/int',
      }),
    );
    const out = join(work, 'runs/int');
    const launcher = [
      join(dirname(createRequire(import.meta.url).resolve('@mlxn/core/package.json')), 'dist', 'mlxn-launch.js'),
      '-n',
      '2',
      '--',
      process.execPath,
      join(import.meta.dirname, '..', 'dist', 'cli.js'),
      'sft',
      config,
      '--no-progress',
    ];
    const child = spawn(process.execPath, launcher, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MLXN_MLX_BACKEND: 'cpu' },
      timeout: 240_000,
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setInterval(() => {
      const metrics = join(out, 'metrics.jsonl');
      if (existsSync(metrics) && readFileSync(metrics, 'utf8').trim() !== '') {
        clearInterval(timer);
        child.kill('SIGINT');
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearInterval(timer);
    expect(code, stderr).toBe(130);
    expect(stderr.match(/Interrupted after step \d+: saved /g), stderr).toHaveLength(1);
    const saved = readdirSync(out).filter((f) => f.startsWith('checkpoint-'));
    expect(saved, stderr).toHaveLength(1);
    const n = Number(saved[0].slice('checkpoint-'.length));
    expect(JSON.parse(readFileSync(join(out, saved[0], 'trainer_state.json'), 'utf8')).globalStep).toBe(n);
    const resumed = spawnSync(process.execPath, [...launcher, '--resume', '--max-steps', String(n + 1)], {
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, MLXN_MLX_BACKEND: 'cpu' },
    });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`Trained ${n + 1} steps`);
  }, 300_000);
});
