// Hugging Face hub ids → snapshot folders of the local cache (huggingface_hub's layout).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyModelSource, hubCacheDir, parseHubId, resolveHubSnapshot } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-hub-cache-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MAIN = 'a'.repeat(40);
const TAGGED = 'b'.repeat(40);

/** A cache holding Qwen/Qwen3-0.6B at main and at tag v1, files linked into blobs/ as huggingface_hub does. */
function fakeCache(name: string): string {
  const cache = join(work, name);
  const repo = join(cache, 'models--Qwen--Qwen3-0.6B');
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  mkdirSync(join(repo, 'refs'), { recursive: true });
  writeFileSync(join(repo, 'blobs', 'c0ffee'), '{"model_type":"qwen3"}');
  for (const commit of [MAIN, TAGGED]) {
    mkdirSync(join(repo, 'snapshots', commit), { recursive: true });
    symlinkSync(join('..', '..', 'blobs', 'c0ffee'), join(repo, 'snapshots', commit, 'config.json'));
  }
  writeFileSync(join(repo, 'refs', 'main'), MAIN); // huggingface_hub writes no newline
  writeFileSync(join(repo, 'refs', 'v1'), `${TAGGED}\n`);
  return cache;
}

describe('hub ids', () => {
  it('parses org/name with an optional revision, and nothing else', () => {
    expect(parseHubId('Qwen/Qwen3-0.6B')).toEqual({ repo: 'Qwen/Qwen3-0.6B' });
    expect(parseHubId('mlx-community/Qwen3-0.6B-4bit@refs/pr/3')).toEqual({ repo: 'mlx-community/Qwen3-0.6B-4bit', revision: 'refs/pr/3' });
    for (const bad of [
      'Qwen3-0.6B',
      '../x',
      'a/../b',
      'a/b/c',
      '/abs/path',
      './Qwen/x',
      'a--b/c',
      'a/b..c',
      '.a/b',
      'a/b-',
      'a/b@',
      'a/b@../main',
      'a/b@/main',
      'a/b@-x',
      'a/b@a//b',
      'a/b@x.lock',
      'a/b@.hidden',
      `a/${'x'.repeat(100)}`,
      'a/b c',
      'a\\b/c',
      'a/b@main\n',
    ]) {
      expect(parseHubId(bad), bad).toBeUndefined();
    }
  });

  it('an existing path is a folder whatever its shape; otherwise an id-shaped string is an id', () => {
    const local = join(work, 'org', 'name');
    mkdirSync(local, { recursive: true });
    expect(classifyModelSource(local)).toEqual({ kind: 'folder', path: local });
    const cwd = process.cwd();
    process.chdir(work);
    try {
      expect(classifyModelSource('org/name')).toEqual({ kind: 'folder', path: local });
      expect(classifyModelSource('org/other')).toEqual({ kind: 'hub', id: { repo: 'org/other' } });
      expect(classifyModelSource('no-such-folder')).toEqual({ kind: 'folder', path: resolve('no-such-folder') });
    } finally {
      process.chdir(cwd);
    }
  });

  it('finds the cache as huggingface_hub does', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/x/hub', HF_HOME: '/y' })).toBe('/x/hub');
    expect(hubCacheDir({ HF_HOME: '/y', XDG_CACHE_HOME: '/z' })).toBe('/y/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/z' })).toBe('/z/huggingface/hub');
    expect(hubCacheDir({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
  });

  it('resolves refs and commit hashes to snapshot folders', () => {
    const cache = fakeCache('hub');
    const snap = (c: string) => join(cache, 'models--Qwen--Qwen3-0.6B', 'snapshots', c);
    expect(resolveHubSnapshot('Qwen/Qwen3-0.6B', { cacheDir: cache })).toBe(snap(MAIN));
    expect(resolveHubSnapshot('Qwen/Qwen3-0.6B@v1', { cacheDir: cache })).toBe(snap(TAGGED));
    expect(resolveHubSnapshot('Qwen/Qwen3-0.6B', { env: { HF_HUB_CACHE: cache }, revision: TAGGED })).toBe(snap(TAGGED));
    expect(resolveHubSnapshot('Qwen/Qwen3-0.6B', { env: { HF_HOME: work } })).toBe(snap(MAIN)); // HF_HOME/hub
    expect(() => resolveHubSnapshot('Qwen/Qwen3-0.6B@v1', { cacheDir: cache, revision: 'main' })).toThrow(/given as well as @v1/);
  });

  it('a missing model, ref or snapshot is an error naming where it looked; a bad ref file is refused', () => {
    const cache = fakeCache('hub2');
    expect(() => resolveHubSnapshot('Qwen/Qwen3-8B', { cacheDir: cache, env: { HF_HUB_OFFLINE: '1' } })).toThrow(
      new RegExp(
        `Qwen/Qwen3-8B \\(revision main\\) is not in the Hugging Face cache: no folder ${cache}/models--Qwen--Qwen3-8B\\. HF_HUB_OFFLINE is set, so it is not downloaded`,
      ),
    );
    expect(() => resolveHubSnapshot('Qwen/Qwen3-0.6B@v2', { cacheDir: cache })).toThrow(/no ref file .*refs\/v2/);
    expect(() => resolveHubSnapshot('Qwen/Qwen3-0.6B', { cacheDir: cache, revision: 'c'.repeat(40) })).toThrow(
      /no snapshot folder .*snapshots\/c{40}/,
    );
    writeFileSync(join(cache, 'models--Qwen--Qwen3-0.6B', 'refs', 'evil'), '../../../../etc');
    expect(() => resolveHubSnapshot('Qwen/Qwen3-0.6B@evil', { cacheDir: cache })).toThrow(/expected a 40-character commit hash/);
    writeFileSync(join(cache, 'models--Qwen--Qwen3-0.6B', 'refs', 'big'), 'a'.repeat(10_000));
    expect(() => resolveHubSnapshot('Qwen/Qwen3-0.6B@big', { cacheDir: cache })).toThrow(/256|limit|larger/i);
    expect(() => resolveHubSnapshot('../etc/passwd', { cacheDir: cache })).toThrow(/is not a Hugging Face model id/);
    expect(() => resolveHubSnapshot('Qwen/Qwen3-0.6B', { cacheDir: cache, revision: '../../x' })).toThrow(/not a valid revision/);
  });
});
