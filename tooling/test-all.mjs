#!/usr/bin/env node
// Runs every test the project has — `cargo test` for the crates and vitest for each package —
// and ends with one line `N passed, N failed` counting all of them. Expects the native binary
// and packages to be built (tooling/bootstrap.sh test does that first).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let passed = 0;
let failed = 0;

// ---- cargo --------------------------------------------------------------------------------
// The addon crate is left out: its test binary would need Node's symbols to link.
{
  const r = spawnSync('cargo', ['test', '--workspace', '--exclude', 'mlxn-node'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.stdout.write(r.stdout ?? '');
  let sawResult = false;
  for (const m of (r.stdout ?? '').matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    passed += Number(m[1]);
    failed += Number(m[2]);
    sawResult = true;
  }
  if (r.status !== 0 && !sawResult) failed += 1; // did not compile or crashed
}

// ---- vitest, per package ---------------------------------------------------------------
const out = mkdtempSync(join(tmpdir(), 'mlxn-vitest-'));
const vitest = join(root, 'node_modules/.bin/vitest');
// Every package, plus the examples workspace (its test runs each example script) and the
// tooling's own tests (packing, publint/attw, install-subset, changesets).
const testRoots = [...readdirSync(join(root, 'packages')).map((p) => join('packages', p)), 'examples', 'tooling'];
for (const rel of testRoots) {
  const dir = join(root, rel);
  if (!existsSync(join(dir, 'test'))) continue;
  const report = join(out, `${rel.replaceAll('/', '-')}.json`);
  const r = spawnSync(vitest, ['run', '--reporter=default', '--reporter=json', `--outputFile=${report}`], {
    cwd: dir,
    stdio: 'inherit',
  });
  if (existsSync(report)) {
    const json = JSON.parse(readFileSync(report, 'utf8'));
    passed += json.numPassedTests;
    failed += json.numFailedTests;
    // A test file that fails to load counts as a failure even though it has no tests.
    for (const file of json.testResults ?? []) {
      if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
    }
  } else if (r.status !== 0) {
    failed += 1;
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
