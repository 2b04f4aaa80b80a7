// The reference for the cache layout is huggingface_hub itself: it downloads the same repository
// from the same mock hub into a second cache (tooling/reference/hub_reference.py), the two cache
// trees must be identical (blobs, snapshot links, refs), and each side reads the other's cache
// offline: Qwen3.load reads Python's, Python's snapshot_download / hf_hub_download read ours.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as mx from '@mlxn/core';
import { downloadHubSnapshot, selectModelFiles } from '@mlxn/io';
import { filesOfFolder, type MockHub, startHubMock } from '@mlxn/test-support/hub-mock';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubPython } from '../../../tooling/reference/hub-env.mjs';
import { Qwen3 } from '../src/index.js';
import { maxAbsDiff } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-hub-python-'));
const script = join(import.meta.dirname, '..', '..', '..', 'tooling', 'reference', 'hub_reference.py');
const MAIN = 'c0ffee0123456789abcdef0123456789abcdef01';
const V1 = 'bead0123456789abcdef0123456789abcdef0123';
const REPO = 'ref-org/tiny-chat';
let hub: MockHub;
let python: string;
let files: Record<string, Buffer>;

// The reference Python is built with pip from the package index on first use: a machine without
// network (the GPU suite's) skips this file.
const offline = process.env.MLXN_SKIP_NETWORK_TESTS === '1';

beforeAll(async () => {
  if (offline) return;
  python = hubPython();
  files = {
    ...filesOfFolder(tinyQwen3WithTokenizer()),
    'generation_config.json': Buffer.from('{"eos_token_id": [151645, 151643], "temperature": 0.6}'),
    'chat_template.jinja': Buffer.from('{% for m in messages %}{{ m.content }}{% endfor %}'),
    'README.md': Buffer.from('# not downloaded'),
  };
  delete files['.complete'];
  hub = await startHubMock({ repos: { [REPO]: { refs: { main: MAIN, v1: V1 }, commits: { [MAIN]: { files }, [V1]: { files } } } } });
});
afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the reference script without blocking this process, which serves the mock hub. */
function runPython(args: string[], env: NodeJS.ProcessEnv): Promise<{ snapshot: string; files: Record<string, string>; config?: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(python, [script, ...args], {
      env: { ...process.env, ...env, HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_DISABLE_TELEMETRY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) =>
      code === 0 ? ok(JSON.parse(stdout)) : fail(new Error(`hub_reference.py ${args.join(' ')} exited ${code}:\n${stderr}`)),
    );
  });
}

/** Starts the reference script and returns the child, to be killed mid-download. */
function startPython(args: string[], env: NodeJS.ProcessEnv) {
  return spawn(python, [script, ...args], {
    env: { ...process.env, ...env, HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_DISABLE_TELEMETRY: '1' },
    stdio: 'ignore',
  });
}

/** blobs (name → sha256 of contents), snapshot entries (→ link target), refs (→ contents). */
function cacheTree(cache: string): Record<string, string> {
  const repoDir = join(cache, `models--${REPO.replace('/', '--')}`);
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(repoDir, path);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isSymbolicLink()) out[rel] = `-> ${readlinkSync(path)}`;
      else out[rel] = rel.startsWith('refs') ? readFileSync(path, 'utf8') : createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  for (const part of ['blobs', 'snapshots', 'refs']) walk(join(repoDir, part));
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(offline)('the cache huggingface_hub writes', () => {
  it('is the one we write, and each side reads the other’s', async () => {
    const ours = join(work, 'ours');
    const theirs = join(work, 'python');
    const wanted = selectModelFiles(Object.keys(files));
    expect(wanted).toEqual([
      'chat_template.jinja',
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const env = { HF_ENDPOINT: hub.endpoint, HOME: work };
    for (const revision of ['main', 'v1']) {
      const py = await runPython(['download', REPO, revision, ...wanted], { ...env, HF_HUB_CACHE: theirs });
      const snapshot = await downloadHubSnapshot(REPO, { revision, env: { ...env, HF_HUB_CACHE: ours } });
      expect(relative(ours, snapshot)).toBe(relative(theirs, py.snapshot));
    }
    const tree = cacheTree(ours);
    expect(cacheTree(theirs)).toEqual(tree);
    // (Python also keeps its own bookkeeping, which no reader needs: .locks/ and trees/<commit>.json.)
    expect(readFileSync(join(ours, 'CACHEDIR.TAG'), 'utf8')).toBe(readFileSync(join(theirs, 'CACHEDIR.TAG'), 'utf8'));
    // The tree is what it should be, not merely the same on both sides.
    expect(tree['refs/main']).toBe(MAIN);
    expect(tree['refs/v1']).toBe(V1);
    expect(tree[`snapshots/${MAIN}/model.safetensors`]).toBe(`-> ../../blobs/${sha256(files['model.safetensors'])}`);
    expect(Object.keys(tree).filter((k) => k.startsWith('blobs/'))).toHaveLength(wanted.length);

    // Python reads our cache offline, through snapshot_download and hf_hub_download.
    const read = await runPython(['read', REPO, 'main'], { HF_HUB_CACHE: ours, HF_HUB_OFFLINE: '1', HOME: work });
    expect(read.snapshot).toBe(join(ours, `models--${REPO.replace('/', '--')}`, 'snapshots', MAIN));
    expect(read.config).toBe(join(read.snapshot, 'config.json'));
    expect(read.files).toEqual(Object.fromEntries(wanted.map((f) => [f, sha256(files[f])])));

    // And we load Python's, offline, to the same model.
    const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
    process.env.HF_HUB_OFFLINE = '1';
    try {
      process.env.HF_HUB_CACHE = theirs;
      const fromPython = await Qwen3.load(`${REPO}@v1`);
      expect(fromPython.sourceFolder).toBe(join(theirs, `models--${REPO.replace('/', '--')}`, 'snapshots', V1));
      expect(fromPython.eosTokenIds).toEqual([151645, 151643]); // generation_config.json came along
      process.env.HF_HUB_CACHE = ours;
      const fromOurs = await Qwen3.load(REPO);
      const prompt = mx.array([[1, 2, 3, 4]], 'int32');
      expect(maxAbsDiff(fromPython.forward(prompt), fromOurs.forward(prompt))).toBe(0);
    } finally {
      for (const [k, v] of [
        ['HF_HUB_CACHE', saved.cache],
        ['HF_HUB_OFFLINE', saved.offline],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }, 120_000);

  // huggingface_hub 2.x resumes only within one call: it downloads to a file of its own
  // (`<etag>.<random>.incomplete`) and deletes it on failure. So neither side resumes the other's
  // partial file; what is checked is that a partial file of one never disturbs the other.
  it("a partial file of one side does not disturb the other's download", async () => {
    const oid = sha256(files['model.safetensors']);
    const wanted = selectModelFiles(Object.keys(files));
    const storage = (from: number) =>
      hub.requests
        .slice(from)
        .filter((r) => r.path === `/storage/${oid}`)
        .map((r) => r.range);
    const blobsOf = (cache: string) => join(cache, `models--${REPO.replace('/', '--')}`, 'blobs');

    // Ours is cut off (every try drops after 10000 bytes); Python downloads the whole file beside
    // it; our next run finds the blob and removes the partial file it no longer needs.
    const first = join(work, 'partial-ours');
    const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: first, HOME: work };
    hub.dropAfter(oid, 10_000, 6);
    await expect(downloadHubSnapshot(REPO, { env })).rejects.toThrow();
    expect(statSync(join(blobsOf(first), `${oid}.incomplete`)).size).toBe(60_000);
    let from = hub.requests.length;
    const py = await runPython(['download', REPO, 'main', ...wanted], env);
    expect(storage(from)).toEqual([undefined]);
    expect(py.files['model.safetensors']).toBe(oid);
    from = hub.requests.length;
    await downloadHubSnapshot(REPO, { env });
    expect(storage(from)).toEqual([]);
    expect(readdirSync(blobsOf(first)).filter((f) => f.includes('incomplete'))).toEqual([]);

    // Python is killed mid-file and leaves its own partial file: ours downloads the file whole
    // and leaves Python's file alone (it is not ours to judge).
    const second = join(work, 'partial-python');
    hub.stallAfter(oid, 25_000);
    const pythonFrom = hub.requests.length;
    const child = startPython(['download', REPO, 'main', ...wanted], { ...env, HF_HUB_CACHE: second });
    const theirs = () =>
      existsSync(blobsOf(second)) ? readdirSync(blobsOf(second)).filter((f) => /^[0-9a-f]{64}\.[0-9a-f]{8}\.incomplete$/.test(f)) : [];
    // Killed while it waits for the rest of the file (what it received may still be in its buffers).
    for (let i = 0; i < 300 && (theirs().length === 0 || storage(pythonFrom).length === 0); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(storage(pythonFrom)).toEqual([undefined]); // the stalled request was Python's
    expect(theirs()).toHaveLength(1);
    await new Promise((r) => {
      child.on('close', r);
      child.kill('SIGKILL');
    });
    from = hub.requests.length;
    const snapshot = await downloadHubSnapshot(REPO, { env: { ...env, HF_HUB_CACHE: second } });
    expect(storage(from)).toEqual([undefined]);
    expect(readFileSync(join(snapshot, 'model.safetensors')).equals(files['model.safetensors'])).toBe(true);
    expect(theirs()).toHaveLength(1);
  }, 120_000);
});
