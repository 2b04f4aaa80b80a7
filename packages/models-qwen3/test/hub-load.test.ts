// Qwen3.load and the command line with a Hugging Face model id, from a fake cache in the layout
// huggingface_hub writes (refs/, snapshots/ linking into blobs/).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { filesOfFolder, type MockHub, startHubMock } from '@mlxn/test-support/hub-mock';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Qwen3 } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Expected, tinyQwen3Path } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-hub-'));
const cache = join(work, 'hub');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const OLD_COMMIT = 'f'.repeat(40);
const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE, HF_ENDPOINT: process.env.HF_ENDPOINT };
let hub: MockHub;

/** Runs a command without blocking this process (which serves the mock hub). */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => ok({ status, stdout, stderr }));
  });
}

/** Puts `folder` into the cache as `org/name` at `commit`, with `ref` pointing at it. */
function addToCache(folder: string, repo: string, commit: string, ref?: string): void {
  const repoDir = join(cache, `models--${repo.replace('/', '--')}`);
  const snap = join(repoDir, 'snapshots', commit);
  mkdirSync(join(repoDir, 'blobs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  mkdirSync(join(repoDir, 'refs'), { recursive: true });
  for (const f of readdirSync(folder)) {
    const blob = `${commit.slice(0, 8)}-${f}`;
    copyFileSync(join(folder, f), join(repoDir, 'blobs', blob));
    symlinkSync(join('..', '..', 'blobs', blob), join(snap, f));
  }
  if (ref) writeFileSync(join(repoDir, 'refs', ref), commit);
}

beforeAll(async () => {
  addToCache(tinyQwen3Path('dense'), 'test-org/tiny-dense', COMMIT, 'main');
  addToCache(tinyQwen3Path('moe'), 'test-org/tiny-dense', OLD_COMMIT, 'v0');
  addToCache(tinyQwen3WithTokenizer(), 'test-org/tiny-chat', COMMIT, 'main');
  process.env.HF_HUB_CACHE = cache;
  // What is not in the cache is never fetched from the real hub: offline, or from the mock.
  process.env.HF_HUB_OFFLINE = '1';
  hub = await startHubMock({
    repos: {
      'remote-org/tiny-dense': { refs: { main: COMMIT }, commits: { [COMMIT]: { files: filesOfFolder(tinyQwen3Path('dense')) } } },
      'remote-org/tiny-chat': { refs: { main: COMMIT }, commits: { [COMMIT]: { files: filesOfFolder(tinyQwen3WithTokenizer()) } } },
    },
  });
  process.env.HF_ENDPOINT = hub.endpoint;
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

describe('Qwen3.load with a Hugging Face model id', () => {
  it('loads the snapshot the ref names, or the revision asked for', async () => {
    const prompt = mx.array([tinyQwen3Expected('dense').prompt], 'int32');
    const local = await Qwen3.load(tinyQwen3Path('dense'));
    const byId = await Qwen3.load('test-org/tiny-dense');
    expect(byId.sourceFolder).toBe(join(cache, 'models--test-org--tiny-dense', 'snapshots', COMMIT));
    expect(maxAbsDiff(byId.forward(prompt), local.forward(prompt))).toBe(0);
    expect((await Qwen3.load('test-org/tiny-dense@v0')).config.modelType).toBe('qwen3_moe');
    expect((await Qwen3.load('test-org/tiny-dense', { revision: OLD_COMMIT })).config.modelType).toBe('qwen3_moe');
  });

  it('a model not in the cache is an error naming the cache folder; a revision for a local folder is refused', async () => {
    await expect(Qwen3.load('test-org/absent')).rejects.toThrow(
      `test-org/absent (revision main) is not in the Hugging Face cache: no folder ${join(cache, 'models--test-org--absent')}`,
    );
    await expect(Qwen3.load('test-org/tiny-dense@nope')).rejects.toThrow(/no ref file/);
    await expect(Qwen3.load(tinyQwen3Path('dense'), { revision: 'main' })).rejects.toThrow(/revision applies to Hugging Face model ids/);
    await expect(Qwen3.load('test-org/tiny-dense', { revision: '../x' })).rejects.toThrow(/revision must be a branch, tag or commit hash/);
  });

  it('mlxn-qwen3 takes a model id where it takes a folder', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
    const env = { ...process.env, HF_HUB_CACHE: cache, NO_COLOR: '1' };
    const ok = spawnSync(process.execPath, [cli, 'generate', 'test-org/tiny-chat', 'hi', '--raw', '--max-tokens', '3'], {
      encoding: 'utf8',
      env,
      timeout: 120_000,
    });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const missing = spawnSync(process.execPath, [cli, 'generate', 'test-org/absent', 'hi'], {
      encoding: 'utf8',
      env: { ...env, HF_HUB_OFFLINE: '1' },
      timeout: 120_000,
    });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(
      /test-org\/absent \(revision main\) is not in the Hugging Face cache: .*HF_HUB_OFFLINE is set, so it is not downloaded/,
    );
  });
});

describe('a model id not in the cache is downloaded into it', () => {
  it('Qwen3.load downloads it (progress in bytes), then loads it from the cache with no request', async () => {
    const dlCache = join(work, 'download-cache');
    const env = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE };
    process.env.HF_HUB_CACHE = dlCache;
    delete process.env.HF_HUB_OFFLINE;
    try {
      const events: { phase: string; done: number; total: number; file?: string }[] = [];
      const model = await Qwen3.load('remote-org/tiny-dense', { onProgress: (e) => events.push(e) });
      expect(model.sourceFolder).toBe(join(dlCache, 'models--remote-org--tiny-dense', 'snapshots', COMMIT));
      const downloads = events.filter((e) => e.phase === 'download');
      const total = Object.values(filesOfFolder(tinyQwen3Path('dense'))).reduce((s, b) => s + b.length, 0);
      expect(downloads.at(-1)).toEqual({ phase: 'download', done: total, total, file: 'model.safetensors' });
      expect(events.findIndex((e) => e.phase === 'config')).toBeGreaterThan(events.findIndex((e) => e.phase === 'download'));
      const prompt = mx.array([tinyQwen3Expected('dense').prompt], 'int32');
      const local = await Qwen3.load(tinyQwen3Path('dense'));
      expect(maxAbsDiff(model.forward(prompt), local.forward(prompt))).toBe(0);
      const before = hub.requests.length;
      await Qwen3.load('remote-org/tiny-dense');
      expect(hub.requests.length).toBe(before);
      // An abort before anything arrived: rejected with the signal's reason.
      await expect(Qwen3.load('remote-org/tiny-chat', { signal: AbortSignal.abort(new Error('no thanks')) })).rejects.toThrow('no thanks');
    } finally {
      process.env.HF_HUB_CACHE = env.HF_HUB_CACHE;
      process.env.HF_HUB_OFFLINE = env.HF_HUB_OFFLINE;
    }
  });

  // The mock hub runs in this process: the command runs asynchronously so that it can answer.
  it('mlxn-qwen3 download, cache, and generate with an id that is not cached yet', async () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
    const dlCache = join(work, 'cli-cache');
    const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_CACHE: dlCache, HF_ENDPOINT: hub.endpoint, NO_COLOR: '1' };
    delete env.HF_HUB_OFFLINE;
    const dl = await run([cli, 'download', 'remote-org/tiny-dense', '--revision', 'main'], env);
    expect(dl.status).toBe(0);
    expect(dl.stdout).toBe(`${join(dlCache, 'models--remote-org--tiny-dense', 'snapshots', COMMIT)}\n`);
    // Not a terminal: one plain line per file, no carriage returns.
    expect(dl.stderr).toMatch(
      /^downloaded config\.json \(\d+ B\), 1\/2 files, .*\ndownloaded model\.safetensors \(.* kB\), 2\/2 files, (.*) of \1\n$/,
    );
    const gen = await run([cli, 'generate', 'remote-org/tiny-chat', 'hi', '--raw', '--max-tokens', '3'], env);
    expect(gen.status).toBe(0);
    expect(gen.stderr).toMatch(/downloaded tokenizer\.json/);
    const list = await run([cli, 'cache', '--json'], env);
    expect(list.status).toBe(0);
    const listed = JSON.parse(list.stdout) as { cache: string; repos: { repo: string; revisions: { commit: string; refs: string[] }[] }[] };
    expect(listed.cache).toBe(dlCache);
    expect(listed.repos.map((r) => [r.repo, r.revisions.map((v) => [v.commit, v.refs])])).toEqual([
      ['remote-org/tiny-chat', [[COMMIT, ['main']]]],
      ['remote-org/tiny-dense', [[COMMIT, ['main']]]],
    ]);
    const plain = await run([cli, 'cache'], env);
    expect(plain.stdout).toMatch(
      new RegExp(`^${dlCache}: 2 models\\nremote-org/tiny-chat  [\\d.]+ MB\\n  ${COMMIT.slice(0, 12)}  main +  \\d+ files  [\\d.]+ MB\\n`),
    );
    const bad = await run([cli, 'generate', tinyQwen3Path('dense'), 'hi', '--revision', 'main'], env);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--revision applies to Hugging Face model ids/);
  });

  it('mlxn-qwen3 download stops on Ctrl-C (exit 130), keeping what arrived for the next run', async () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'cli.js');
    const dlCache = join(work, 'cli-interrupt-cache');
    const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_CACHE: dlCache, HF_ENDPOINT: hub.endpoint };
    delete env.HF_HUB_OFFLINE;
    const weights = filesOfFolder(tinyQwen3Path('dense'))['model.safetensors'];
    hub.stallAfter(hub.sha256(weights), 4096);
    const child = spawn(process.execPath, [cli, 'download', 'remote-org/tiny-dense'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const partial = join(dlCache, 'models--remote-org--tiny-dense', 'blobs', `${hub.sha256(weights)}.incomplete`);
    const closed = new Promise<number | null>((ok) => child.on('close', ok));
    child.stderr.on('data', (d) => (stderr += d));
    // config.json comes first (one line), then the weights stall after 4096 bytes.
    for (let i = 0; i < 200 && !(stderr.includes('downloaded config.json') && existsSync(partial) && statSync(partial).size === 4096); i++)
      await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(stderr).toMatch(/mlxn-qwen3 download: interrupted; run it again to resume\n$/);
    expect(statSync(partial).size).toBe(4096);
    const again = await run([cli, 'download', 'remote-org/tiny-dense'], env);
    expect(again.status).toBe(0);
    expect(hub.requests.filter((r) => r.path === `/storage/${hub.sha256(weights)}`).at(-1)?.range).toBe('bytes=4096-');
  });
});
