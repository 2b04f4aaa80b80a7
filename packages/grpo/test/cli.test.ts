// The `mlxn-train` command as a user runs it (node dist/cli.js …) on the tiny Qwen3 with the real
// tokenizer: help, usage and config errors, GRPO and SFT runs of two steps, and Ctrl-C saving a
// checkpoint that --resume continues from (exactly, for SFT with a constant learning rate).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { Qwen3 } from '@mlxn/models-qwen3';
import { loadAdapters } from '@mlxn/nn';
import { filesOfFolder, startHubMock } from '@mlxn/test-support/hub-mock';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'mlxn-train-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let model: string;

function writeJson(name: string, value: unknown): string {
  const path = join(work, name);
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
  return path;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`pnpm --filter @mlxn/grpo build\` first`);
  model = tinyQwen3WithTokenizer();
  const prompts = [
    { prompt: 'What is 1+1?', answer: '2' },
    { prompt: 'What is 2+3?', answer: '5' },
    { prompt: 'What is 4+4?', answer: '8' },
    { prompt: 'What is 3+3?', answer: '6' },
  ];
  writeFileSync(join(work, 'prompts.jsonl'), `${prompts.map((p) => JSON.stringify(p)).join('\n')}\n`);
  const sft = prompts.map((p) => ({ prompt: p.prompt, completion: ` ${p.answer}` }));
  writeFileSync(join(work, 'sft.jsonl'), `${sft.map((p) => JSON.stringify(p)).join('\n')}\n`);
  writeFileSync(
    join(work, 'rewards.mjs'),
    'export function short({ completions }) {\n  return completions.map((c) => -c.length / 100);\n}\n',
  );
  writeFileSync(
    join(work, 'typed-rewards.ts'),
    'export function lengthPenalty({ completionIds }: { completionIds: number[][] }): number[] {\n  return completionIds.map((ids) => -ids.length / 10);\n}\nexport const notAReward: number = 1;\n',
  );
  writeFileSync(join(work, 'broken-rewards.mjs'), "export function exploding() {\n  throw new Error('kaboom');\n}\n");
  // What `timeout`, `npm exec` and process managers do: run the command as a child in their own
  // process group and relay a SIGINT they receive to it.
  writeFileSync(
    join(work, 'relay.mjs'),
    [
      "import { spawn } from 'node:child_process';",
      "const child = spawn(process.execPath, process.argv.slice(2), { stdio: 'inherit' });",
      "process.on('SIGINT', () => child.kill('SIGINT'));",
      "child.on('exit', (code) => process.exit(code ?? 1));",
      '',
    ].join('\n'),
  );
});

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The smallest GRPO run: 2 prompts × 2 generations of 4 tokens per step. */
function grpoConfig(name: string, extra: Record<string, unknown> = {}): string {
  return writeJson(`${name}.json`, {
    model,
    dataset: 'prompts.jsonl',
    rewards: [
      'accuracy',
      './rewards.mjs',
      { module: './typed-rewards.ts', export: 'lengthPenalty' },
      { builtin: 'length', options: { softPunishCache: 2 } },
    ],
    numGenerations: 2,
    perDeviceTrainBatchSize: 4,
    maxCompletionLength: 4,
    learningRate: 1e-3,
    maxSteps: 2,
    outputDir: `runs/${name}`,
    bf16: false,
    ...extra,
  });
}

function sftConfig(name: string, extra: Record<string, unknown> = {}): string {
  return writeJson(`${name}.json`, {
    model,
    dataset: 'sft.jsonl',
    perDeviceTrainBatchSize: 2,
    learningRate: 1e-3,
    maxSteps: 2,
    outputDir: `runs/${name}`,
    bf16: false,
    ...extra,
  });
}

const metrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);

const checkpoints = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /^checkpoint-\d+$/.test(f))
    .sort();

function expectConfigError(r: ReturnType<typeof run>, message: RegExp, usageHint = false): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines).toHaveLength(usageHint ? 2 : 1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('help', () => {
  it('describes the commands, their options and the config file', () => {
    const top = run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^ {2}grpo /m);
    expect(top.stdout).toMatch(/^ {2}sft /m);
    expect(run([]).code).toBe(2);
    for (const c of ['grpo', 'sft']) {
      const r = run([c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: mlxn-train ${c} <config.json>`));
      for (const f of ['--resume[=CHECKPOINT]', '--output-dir', '--max-steps', '--no-progress', '--help', '--verbose'])
        expect(r.stdout).toContain(f);
      expect(r.stdout).toContain('"model"');
      expect(r.stdout).toContain('Ctrl-C');
    }
    expect(run(['grpo', '--help']).stdout).toContain('Built-in rewards: accuracy, format, length, toolCall, jsonSchema');
  });

  it('--version prints the package version, alone or after a command', () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['grpo', '--version'], ['sft', 'any.json', '--version']]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toBe(`mlxn-train ${version} (@mlxn/grpo, Node ${process.version})\n`);
    }
  });
});

describe('errors', () => {
  it('bad flags and config files exit with 2 and one line', () => {
    const ok = grpoConfig('errors');
    expectConfigError(
      run(['grpo', ok, '--max-step', '3']),
      /^mlxn-train grpo: unknown option --max-step \(did you mean --max-steps\?\)$/,
      true,
    );
    expectConfigError(run(['grpo', ok, '--max-steps']), /--max-steps needs a value/, true);
    expectConfigError(run(['grpo', ok, '--max-steps', '0']), /--max-steps must be at least 1/, true);
    expectConfigError(run(['grpo', ok, '--resume', 'runs/x/checkpoint-1']), /unexpected argument 'runs\/x\/checkpoint-1'/, true);
    expectConfigError(run(['grpo']), /missing the config file/, true);
    expectConfigError(run(['dpo', ok]), /unknown command 'dpo' \(grpo or sft\)/, true);
    expectConfigError(run(['grpo', join(work, 'nope.json')]), /config file .*nope\.json does not exist/);
    writeFileSync(join(work, 'bad.json'), '{ "model": ');
    expectConfigError(run(['grpo', join(work, 'bad.json')]), /bad\.json: .*JSON/);
    // Config-file keys get a did-you-mean as flags do, the file's own keys (model, dataset) included.
    expectConfigError(
      run(['grpo', grpoConfig('typo', { numGeneration: 2 })]),
      /typo\.json: unknown key "numGeneration" \(did you mean "numGenerations"\?\)$/,
    );
    const typos = writeJson('typos.json', { modle: model, dataset: 'sft.jsonl', learning_rate: 1e-3, lora: { rnak: 4 } });
    expectConfigError(
      run(['sft', typos]),
      /typos\.json: unknown keys "modle" \(did you mean "model"\?\), "learning_rate" \(did you mean "learningRate"\?\)$/,
    );
    const nested = writeJson('nested.json', { model, dataset: 'sft.jsonl', lora: { rnak: 4 } });
    expectConfigError(run(['sft', nested]), /nested\.json: unknown key "lora\.rnak" \(did you mean "lora\.rank"\?\)$/);
    expectConfigError(run(['grpo', grpoConfig('noreward', { rewards: ['accurcy'] })]), /rewards\[0\]: unknown built-in reward 'accurcy'/);
    expectConfigError(
      run(['grpo', grpoConfig('noexport', { rewards: [{ module: './rewards.mjs', export: 'long' }] })]),
      /has no exported function 'long'/,
    );
    expectConfigError(run(['grpo', grpoConfig('nolength', { rewards: ['length'] })]), /length reward needs options\.softPunishCache/);
    expectConfigError(run(['sft', sftConfig('nomodel', { model: './missing-model' })]), /model folder .*missing-model does not exist/);
    expectConfigError(
      run(['sft', sftConfig('badrev', { model: 'org/name', revision: '../x' })]),
      /"revision" must be a branch, tag or commit hash, got "\.\.\/x"/,
    );
    expectConfigError(
      run(['sft', sftConfig('revlocal', { revision: 'main' })]),
      /is a local folder; a revision applies to Hugging Face model ids/,
    );
    expectConfigError(
      run(['sft', sftConfig('twice'), '--model', 'org/name@v1', '--revision', 'v2']),
      /--model: revision v2 given as well as @v1/,
    );
    // A checkpoint named explicitly must exist (found before the model is loaded).
    expectConfigError(
      run(['grpo', ok, `--resume=${join(work, 'runs', 'none', 'checkpoint-3')}`]),
      /none[\\/]checkpoint-3 is not a folder/,
      true,
    );
  });

  it('a Hugging Face model id (config or --model) is downloaded into the cache, with progress', async () => {
    const commit = 'a'.repeat(40);
    const hub = await startHubMock({
      repos: { 'hub-org/tiny': { refs: { main: commit }, commits: { [commit]: { files: filesOfFolder(model) } } } },
    });
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_CACHE: join(work, 'hf-cache'), HF_ENDPOINT: hub.endpoint };
      delete env.HF_HUB_OFFLINE;
      // The mock hub answers from this process: the command runs without blocking it.
      const r = await new Promise<{ code: number | null; stderr: string }>((ok) => {
        const child = spawn(
          process.execPath,
          [CLI, 'sft', sftConfig('hub'), '--model', 'hub-org/tiny', '--revision', 'main', '--max-steps', '1', '--no-progress'],
          { env, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        child.stderr!.on('data', (d) => (stderr += d));
        child.on('close', (code) => ok({ code, stderr }));
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^downloaded model\.safetensors \(.*\), \d\/\d files/m);
      expect(existsSync(join(work, 'hf-cache', 'models--hub-org--tiny', 'snapshots', commit, 'model.safetensors'))).toBe(true);
      expect(checkpoints(join(work, 'runs', 'hub'))).toEqual(['checkpoint-1']);
    } finally {
      await hub.close();
    }
  });

  it('--resume with nothing to resume starts a new run, with a note', () => {
    const config = sftConfig('fresh');
    const r = run(['sft', config, '--resume', '--max-steps', '1', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^No checkpoint in .*runs[\\/]fresh to resume from: starting a new run$/m);
    expect(r.stderr).not.toMatch(/Resuming from/);
    expect(checkpoints(join(work, 'runs', 'fresh'))).toEqual(['checkpoint-1']);
    // Now there is one: the same command continues it.
    const again = run(['sft', config, '--resume', '--max-steps', '2', '--no-progress']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Resuming from .*checkpoint-1/);
    expect(metrics(join(work, 'runs', 'fresh')).map((m) => m.step)).toEqual([1, 2]);
  });

  it('a reward function that throws stops the run with exit code 1, naming it', () => {
    const r = run(['grpo', grpoConfig('throws', { rewards: ['./broken-rewards.mjs'] }), '--no-progress']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/exploding/);
    expect(r.stderr).toMatch(/kaboom/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const verbose = run(['grpo', grpoConfig('throws', { rewards: ['./broken-rewards.mjs'] }), '--no-progress', '--verbose']);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });
});

describe('training', () => {
  it('grpo: two steps with built-in, JavaScript and TypeScript rewards, a progress bar and a checkpoint Qwen3.load reads', async () => {
    const r = run(['grpo', grpoConfig('grpo')]);
    expect(r.code, r.stderr).toBe(0);
    const out = join(work, 'runs', 'grpo');
    expect(checkpoints(out)).toEqual(['checkpoint-2']);
    const records = metrics(out);
    expect(records.map((m) => m.step)).toEqual([1, 2]);
    for (const name of ['accuracy', 'short', 'lengthPenalty', 'length']) expect(records[0], name).toHaveProperty(`rewards/${name}/mean`);
    // lengthPenalty is −(completion tokens)/10 and every completion has 1 to 4 tokens.
    expect(records[0]['rewards/lengthPenalty/mean']).toBeLessThan(0);
    expect(records[0]['rewards/lengthPenalty/mean']).toBeGreaterThanOrEqual(-0.4);
    // Plain progress lines (stderr is not a terminal) with reward, loss, tokens/s and elapsed<ETA.
    expect(r.stderr).toMatch(/^GRPO step 2\/2 \(100%\) \d+s<\d+s reward -?[\d.e-]+ loss -?[\d.e-]+ tok\/s \d+ len [\d.]+$/m);
    expect(r.stderr).toMatch(/Trained 2 steps .*checkpoint-2/);
    const trained = await Qwen3.load(join(out, 'checkpoint-2'));
    expect(trained.config.vocabSize).toBe(151936);
  });

  it('sft: two steps training LoRA adapters, which mlxn-qwen3 convert fuses into a model', async () => {
    const r = run(['sft', sftConfig('sft', { lora: { rank: 4, alpha: 8 } }), '--output-dir', join(work, 'runs', 'sft-here')]);
    expect(r.code, r.stderr).toBe(0);
    const out = join(work, 'runs', 'sft-here');
    expect(checkpoints(out)).toEqual(['checkpoint-2']);
    expect(existsSync(join(out, 'checkpoint-2', 'adapters.safetensors'))).toBe(true);
    expect(metrics(out).map((m) => m.step)).toEqual([1, 2]);
    expect(r.stderr).toMatch(/^SFT step 2\/2 \(100%\) \d+s<\d+s loss [\d.e-]+ tok\/s \d+$/m);

    // The checkpoint's adapters, fused by @mlxn/models-qwen3's command (found through its `bin`).
    const qwen3Dir = join(import.meta.dirname, '..', 'node_modules', '@mlxn', 'models-qwen3');
    const bin = join(qwen3Dir, JSON.parse(readFileSync(join(qwen3Dir, 'package.json'), 'utf8')).bin['mlxn-qwen3']);
    const fusedDir = join(work, 'fused');
    const fuse = spawnSync(process.execPath, [bin, 'convert', model, '--adapters', join(out, 'checkpoint-2'), '--out', fusedDir], {
      encoding: 'utf8',
    });
    expect(fuse.status, fuse.stderr).toBe(0);
    const tokens = mx.array([[9707, 11, 1879, 0, 220]], 'int32');
    const withAdapters = loadAdapters(await Qwen3.load(model), join(out, 'checkpoint-2', 'adapters.safetensors'));
    const fused = await Qwen3.load(fusedDir);
    const base = await Qwen3.load(model);
    const diff = (a: mx.Array, b: mx.Array) => mx.max(mx.abs(mx.subtract(a, b))).item() as number;
    const expected = withAdapters.forward(tokens);
    expect(diff(fused.forward(tokens), expected)).toBeLessThan(1e-4);
    expect(diff(base.forward(tokens), expected)).toBeGreaterThan(1e-4);
  });
});

/**
 * Starts a run and sends Ctrl-C once its first step is in metrics.jsonl; resolves with the exit
 * code and stderr. `group`: the run goes through relay.mjs in a process group of its own, and the
 * SIGINT goes to the whole group, as a terminal, `timeout` or a process manager sends it.
 */
function interruptAfterFirstStep(args: string[], outputDir: string, group = false): Promise<{ code: number | null; stderr: string }> {
  const child: ChildProcess = group
    ? spawn(process.execPath, [join(work, 'relay.mjs'), CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    : spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setInterval(() => {
    if (existsSync(join(outputDir, 'metrics.jsonl')) && readFileSync(join(outputDir, 'metrics.jsonl'), 'utf8').trim() !== '') {
      clearInterval(timer);
      if (group) process.kill(-child.pid!, 'SIGINT');
      else child.kill('SIGINT');
    }
  }, 20);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stderr });
    });
  });
}

describe('Ctrl-C and --resume', () => {
  it('sft: saves a checkpoint at a step boundary and resumes exactly where it stopped', async () => {
    const extra = { lrSchedulerType: 'constant', saveSteps: 1000 };
    const config = sftConfig('sft-int', extra);
    const out = join(work, 'runs', 'sft-int');
    const stopped = await interruptAfterFirstStep(['sft', config, '--max-steps', '1000'], out);
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(/Interrupted after step \d+: saved .*checkpoint-\d+\. Continue with: mlxn-train sft .* --resume/);
    const saved = checkpoints(out);
    expect(saved).toHaveLength(1);
    const n = Number(saved[0].slice('checkpoint-'.length));
    expect(n).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(readFileSync(join(out, saved[0], 'trainer_state.json'), 'utf8')).globalStep).toBe(n);

    const resumed = run(['sft', config, '--resume', '--max-steps', String(n + 2)]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`Resuming from .*checkpoint-${n}`));
    expect(checkpoints(out)).toEqual([`checkpoint-${n + 2}`, `checkpoint-${n}`].sort());
    const after = metrics(out);
    expect(after.map((m) => m.step)).toEqual(Array.from({ length: n + 2 }, (_, i) => i + 1));

    // The same run without interruption logs the same losses (constant learning rate: the
    // schedule does not depend on the planned length).
    const full = run(['sft', sftConfig('sft-full', extra), '--max-steps', String(n + 2), '--no-progress']);
    expect(full.code, full.stderr).toBe(0);
    const reference = metrics(join(work, 'runs', 'sft-full'));
    for (let s = 0; s < n + 2; s++) expect(after[s].loss, `step ${s + 1}`).toBeCloseTo(reference[s].loss, 5);
  });

  it('one SIGINT to the process group is one Ctrl-C, and the printed command continues the same run', async () => {
    const config = sftConfig('sft-group', { saveSteps: 1000 });
    // Not the config's outputDir, and a path the shell must quote.
    const out = join(work, 'runs', "it's elsewhere");
    const args = ['sft', config, '--output-dir', out, '--max-steps', '1000', '--no-progress'];
    const stopped = await interruptAfterFirstStep(args, out, true);
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).not.toMatch(/without saving\n/);
    const saved = checkpoints(out);
    expect(saved).toHaveLength(1);
    const printed = /Continue with: (.*)\n/.exec(stopped.stderr)?.[1];
    const quoted = `'${out.replace(/'/g, "'\\''")}'`;
    expect(printed).toBe(`mlxn-train sft ${config} --output-dir ${quoted} --max-steps 1000 --no-progress --resume`);
    // Pasted into a shell (with a smaller --max-steps added), it resumes that run.
    const n = Number(saved[0].slice('checkpoint-'.length));
    const shell = spawnSync('sh', ['-c', `${printed!.replace(/^mlxn-train /, `'${process.execPath}' '${CLI}' `)} --max-steps ${n + 1}`], {
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(shell.status, shell.stderr).toBe(0);
    expect(shell.stderr).toContain(`Resuming from ${join(out, saved[0])}`);
    expect(checkpoints(out)).toContain(`checkpoint-${n + 1}`);
    expect(existsSync(join(work, 'runs', 'sft-group'))).toBe(false);
  });

  it('grpo: Ctrl-C saves a checkpoint and --resume=PATH continues from it', async () => {
    const config = grpoConfig('grpo-int', { saveSteps: 1000 });
    const out = join(work, 'runs', 'grpo-int');
    const stopped = await interruptAfterFirstStep(['grpo', config, '--max-steps', '1000'], out);
    expect(stopped.code, stopped.stderr).toBe(130);
    const saved = checkpoints(out);
    expect(saved).toHaveLength(1);
    const n = Number(saved[0].slice('checkpoint-'.length));
    const resumed = run(['grpo', config, `--resume=${join(out, saved[0])}`, '--max-steps', String(n + 1), '--no-progress']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(checkpoints(out)).toContain(`checkpoint-${n + 1}`);
    expect(metrics(out).map((m) => m.step)).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
  });
});
