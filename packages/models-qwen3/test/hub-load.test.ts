// Qwen3.load and the command line with a Hugging Face model id, from a fake cache in the layout
// huggingface_hub writes (refs/, snapshots/ linking into blobs/).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { tinyQwen3WithTokenizer } from '@mlxn/test-support/qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Qwen3 } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Expected, tinyQwen3Path } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-hub-'));
const cache = join(work, 'hub');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const OLD_COMMIT = 'f'.repeat(40);
const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE };

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

beforeAll(() => {
  addToCache(tinyQwen3Path('dense'), 'test-org/tiny-dense', COMMIT, 'main');
  addToCache(tinyQwen3Path('moe'), 'test-org/tiny-dense', OLD_COMMIT, 'v0');
  addToCache(tinyQwen3WithTokenizer(), 'test-org/tiny-chat', COMMIT, 'main');
  process.env.HF_HUB_CACHE = cache;
});
afterAll(() => {
  if (saved.HF_HUB_CACHE === undefined) delete process.env.HF_HUB_CACHE;
  else process.env.HF_HUB_CACHE = saved.HF_HUB_CACHE;
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
    const ok = spawnSync(process.execPath, [cli, 'generate', 'test-org/tiny-chat', 'hi', '--raw', '--max-tokens', '3'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const missing = spawnSync(process.execPath, [cli, 'generate', 'test-org/absent', 'hi'], { encoding: 'utf8', env: { ...env, HF_HUB_OFFLINE: '1' }, timeout: 120_000 });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/test-org\/absent \(revision main\) is not in the Hugging Face cache \(HF_HUB_OFFLINE is set\)/);
  });
});
