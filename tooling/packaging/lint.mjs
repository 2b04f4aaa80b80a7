// Runs publint and arethetypeswrong on one packed tarball: what the registry would serve.
//
// attw runs with the `esm-only` profile: the packages are ESM only, and Node >= 20.19 (our
// engines floor) can require() an ESM module without top-level await, so CommonJS callers are
// served by the same files. attw cannot express that (its node16-from-CJS column assumes
// require(esm) fails), so that column is ignored here and the install-subset test proves the
// require() path by running it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './pack.mjs';

const bin = (name) => join(repoRoot, 'node_modules/.bin', name);

function run(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** `publint --strict` (warnings fail too). */
export function publintTarball(tarball) {
  return run(bin('publint'), ['run', '--strict', tarball]);
}

/** `attw --profile esm-only`. */
export function attwTarball(tarball) {
  return run(bin('attw'), ['--profile', 'esm-only', '--no-emoji', '--no-color', tarball]);
}
