#!/usr/bin/env node
// The checks that read the code without running it: Biome (format and lint of every TypeScript
// and JavaScript file), tsc over tests and scripts, knip (unused files, exports and
// dependencies), rustfmt, clippy with warnings as errors, and the suppression budget. Each check counts as one test in CI's
// `N passed, N failed` (tooling/test-all.mjs); `pnpm check` runs them alone.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);

export const STATIC_CHECKS = [
  { name: 'biome (format + lint)', command: bin('biome'), args: ['ci', '--error-on-warnings', '--reporter=summary', '.'] },
  { name: 'knip (unused files, exports, dependencies)', command: bin('knip'), args: [] },
  // tsup type-checks each package's sources as it builds them; this adds their tests and the
  // benchmark and reference scripts (vitest and tsx run them without checking types).
  {
    name: 'typecheck (tsc: every package with its tests, the bench scripts)',
    command: bin('turbo'),
    args: ['run', 'typecheck', '--output-logs=errors-only'],
  },
  { name: 'suppressions (reasons and budget)', command: process.execPath, args: [join(root, 'tooling/count-suppressions.mjs')] },
  { name: 'rustfmt', command: 'cargo', args: ['fmt', '--all', '--check'] },
  // Clippy twice: every crate with its tests, without the napi exports (as `cargo test` builds
  // them), then the addon as it is built, which compiles every crate's napi exports.
  {
    name: 'clippy, crates and tests (warnings are errors)',
    command: 'cargo',
    args: ['clippy', '--workspace', '--exclude', 'mlxn-node', '--all-targets', '--', '-D', 'warnings'],
  },
  {
    name: 'clippy, the addon with every napi export (warnings are errors)',
    command: 'cargo',
    args: ['clippy', '-p', 'mlxn-node', '--features', 'probe', '--', '-D', 'warnings'],
  },
];

/** Runs every check, printing each one's output; returns how many passed and failed. */
export function runStaticChecks() {
  let passed = 0;
  let failed = 0;
  for (const check of STATIC_CHECKS) {
    const started = Date.now();
    console.log(`---- ${check.name}`);
    const r = spawnSync(check.command, check.args, { cwd: root, stdio: 'inherit' });
    const ok = r.status === 0;
    if (ok) passed += 1;
    else failed += 1;
    console.log(`---- ${check.name}: ${ok ? 'ok' : 'FAILED'} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  return { passed, failed };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { passed, failed } = runStaticChecks();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
