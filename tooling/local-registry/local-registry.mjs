// A throwaway npm registry on 127.0.0.1 (verdaccio, pinned) for the registry round trip test:
// every @mlxn package is published into it, then installed by name and version the way a user
// installs from npm. Verdaccio is installed with npm into the cache folder (~/.cache/mlxn),
// like the Node runtimes, rather than as a workspace devDependency: its ~320 packages would
// otherwise re-resolve unrelated entries of pnpm-lock.yaml.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../mlx-runtime/paths.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const VERDACCIO_VERSION = '6.10.4';

function ensureVerdaccio() {
  const dir = join(cacheRoot(), `verdaccio-${VERDACCIO_VERSION}`);
  if (!existsSync(join(dir, 'node_modules/verdaccio/package.json'))) {
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', '--prefix', partial, `verdaccio@${VERDACCIO_VERSION}`],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`npm install verdaccio@${VERDACCIO_VERSION} failed:\n${r.stdout}${r.stderr}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  }
  return createRequire(join(dir, 'package.json')).resolve('verdaccio');
}

/**
 * Starts an empty registry on 127.0.0.1 (a free port) with its storage in a temp folder, and
 * creates a user to publish with. @mlxn/* is served only from this registry (no uplink), so an
 * install can only get what was published here. Verdaccio runs in a child process (serve.mjs)
 * so that callers may block on `spawnSync('npm', …)` against it. Returns { url, token, stop }.
 */
export async function startLocalRegistry() {
  const verdaccio = ensureVerdaccio();
  const dir = mkdtempSync(join(tmpdir(), 'mlxn-registry-'));
  const child = spawn(process.execPath, [join(here, 'serve.mjs'), verdaccio, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const m = out.match(/^listening (http:\S+)$/m);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`the local registry exited (${code}) before listening`)));
    });
    const r = await fetch(`${url}-/user/org.couchdb.user:mlxn-ci`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'mlxn-ci', password: 'local-registry-only' }),
    });
    const body = await r.json();
    if (!r.ok || !body.token) throw new Error(`creating the publish user failed: ${r.status} ${JSON.stringify(body)}`);
    return { url, token: body.token, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/**
 * Publishes the workspace into the registry as a maintainer does (docs/building.md, "Publishing
 * a release"): each platform package first with `npm publish` (its packed tarball holds the
 * binary; @mlxn/core must never be visible without it), then `changeset publish` from the
 * workspace at `repoRoot`, which publishes every other public package with `pnpm publish`
 * (`workspace:` ranges replaced by versions) and skips what the registry already has, the
 * platform packages included. No git tags. Uses a temporary npm user config holding only the
 * registry's token. Throws when a publish fails or a packed package is missing from the registry
 * afterwards; returns changesets' output.
 */
export async function publishAll(packed, { url, token }, { repoRoot }) {
  const npmrc = join(mkdtempSync(join(tmpdir(), 'mlxn-npmrc-')), '.npmrc');
  writeFileSync(npmrc, `registry=${url}\n//${new URL(url).host}/:_authToken=${token}\n`);
  const env = { ...process.env, npm_config_userconfig: npmrc, npm_config_registry: url };
  try {
    for (const p of packed.filter((p) => p.manifest.os !== undefined)) {
      const r = spawnSync('npm', ['publish', p.tarball, '--access', 'public', '--loglevel=error'], { encoding: 'utf8', env });
      if (r.status !== 0) throw new Error(`npm publish ${p.name}@${p.version} failed:\n${r.stdout}${r.stderr}`);
    }
    const changeset = join(repoRoot, 'node_modules/@changesets/cli/bin.js');
    const r = spawnSync(process.execPath, [changeset, 'publish', '--no-git-tag'], { cwd: repoRoot, encoding: 'utf8', env });
    const output = `${r.stdout}${r.stderr}`;
    if (r.status !== 0) throw new Error(`changeset publish failed:\n${output}`);
    for (const p of packed) {
      const res = await fetch(`${url}${p.name.replace('/', '%2f')}/${p.version}`);
      if (!res.ok) throw new Error(`${p.name}@${p.version} is not on the registry after publishing (${res.status}):\n${output}`);
    }
    return output;
  } finally {
    rmSync(join(npmrc, '..'), { recursive: true, force: true });
  }
}
