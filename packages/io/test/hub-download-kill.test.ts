// A download killed (SIGKILL) right after any of its file-system changes leaves a cache that
// loads: `main` resolves either to nothing (download again) or to a complete snapshot, no blob
// holds bytes other than its id says, and the next download completes and tidies up.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MockHub, startHubMock } from '@mlxn/test-support/hub-mock';
import { KILL_PRELOAD, killPoints, killSeed, readTrace } from '@mlxn/test-support/kill-points';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadHubSnapshot, resolveHubSnapshot } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-hub-kill-'));
const child = join(import.meta.dirname, 'kill-hub-download-child.ts');
const COMMIT = '3'.repeat(40);
const files: Record<string, Buffer> = {
  'config.json': Buffer.from('{"model_type":"qwen3"}'),
  'tokenizer.json': Buffer.from('{"model":{}}'),
  'model.safetensors': Buffer.alloc(50_000, 7),
};
let hub: MockHub;
beforeAll(async () => {
  hub = await startHubMock({ repos: { 'org/model': { refs: { main: COMMIT }, commits: { [COMMIT]: { files } } } } });
});
afterAll(async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

/** The child, asynchronously (the mock hub answers from this process). */
function runChild(cache: string, env: Record<string, string>): Promise<{ status: number | null; signal: string | null; stderr: string }> {
  return new Promise((ok) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--import', KILL_PRELOAD, child, 'org/model', hub.endpoint, cache], {
      env: { ...process.env, MLXN_TEST_KILL_ROOT: cache, MLXN_TEST_KILL_AFTER: '', MLXN_TEST_FS_TRACE: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status, signal) => ok({ status, signal, stderr }));
  });
}

/** Every blob's bytes match its name (sha256 or git blob id); partial files may be anything. */
function checkBlobs(cache: string): void {
  const blobs = join(cache, 'models--org--model', 'blobs');
  if (!existsSync(blobs)) return;
  for (const name of readdirSync(blobs)) {
    if (name.endsWith('.incomplete')) continue;
    const bytes = readFileSync(join(blobs, name));
    const id =
      name.length === 64
        ? createHash('sha256').update(bytes).digest('hex')
        : createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
    expect(id, name).toBe(name);
  }
}

/** `main` resolves to nothing or to a snapshot with every file, whole. */
function checkLoadable(cache: string): boolean {
  let snapshot: string;
  try {
    snapshot = resolveHubSnapshot('org/model', { cacheDir: cache });
  } catch (e) {
    expect((e as Error).message).toMatch(/is not in the Hugging Face cache/);
    return false;
  }
  for (const [name, bytes] of Object.entries(files)) expect(readFileSync(join(snapshot, name)).equals(bytes), name).toBe(true);
  return true;
}

describe('a download killed at any step', () => {
  it('leaves a cache that loads, and the next download completes it', async () => {
    const traced = join(work, 'traced');
    const traceFile = join(work, 'trace.txt');
    const full = await runChild(traced, { MLXN_TEST_FS_TRACE: traceFile });
    expect(full.status, full.stderr).toBe(0);
    const trace = readTrace(traceFile);
    expect(trace.length).toBeGreaterThan(8);
    // Always: the step after the blob's rename, after the snapshot's rename, and the last one.
    const at = (re: RegExp) => trace.findIndex((t) => re.test(`${t.op} ${t.path}`)) + 1;
    const always = [at(/renameSync .*\.incomplete -> /), at(/renameSync .*\.mlxn-partial-/), trace.length];
    for (const k of killPoints(trace.length, { subset: 4, always })) {
      const cache = join(work, `kill-${k}`);
      const killed = await runChild(cache, { MLXN_TEST_KILL_AFTER: String(k) });
      const where = `killed after step ${k} (${trace[k - 1]?.op} ${trace[k - 1]?.path}; seed ${killSeed()})`;
      expect(killed.signal, where).toBe('SIGKILL');
      checkBlobs(cache);
      const loadable = checkLoadable(cache);
      if (k === trace.length) expect(loadable, where).toBe(true);
      const snapshot = await downloadHubSnapshot('org/model', { env: { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint, HOME: work } });
      expect(checkLoadable(cache), where).toBe(true);
      checkBlobs(cache);
      // Nothing half made is left behind.
      const repoDir = join(cache, 'models--org--model');
      const leftovers = [
        cache,
        join(repoDir, 'refs'),
        join(repoDir, 'snapshots'),
        snapshot,
        join(repoDir, 'blobs'),
        join(cache, '.locks', 'models--org--model'),
      ].flatMap((d) => readdirSync(d).filter((n) => /\.tmp-\d+-[0-9a-f]+$|^\.mlxn-partial-|\.incomplete$|\.mlxn-lock$/.test(n)));
      expect(leftovers, where).toEqual([]);
    }
  }, 120_000);
});
