#!/usr/bin/env node
// Runs every test the project has — `cargo test` for the crates and vitest for each package,
// then the core and models-qwen3 suites again on Node 22 and 24 (tooling/node-runtimes/), then
// the static checks (tooling/static-checks.mjs: Biome, tsc, knip, rustfmt, clippy) — and
// ends with one line `N passed, N failed` counting all of them. Expects the native binary
// and packages to be built (tooling/bootstrap.sh test does that first).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureNodeRuntime, NODE_RUNTIMES } from './node-runtimes/node-runtimes.mjs';
import { runStaticChecks } from './static-checks.mjs';

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
const vitest = join(root, 'node_modules/vitest/vitest.mjs');

/** Runs one folder's vitest suite with the given `node` binary and counts its results. */
function runVitest(rel, node, reportName) {
  const report = join(out, `${reportName}.json`);
  const r = spawnSync(node, [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile=${report}`], {
    cwd: join(root, rel),
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

// Every package, plus the examples workspace (its test runs each example script) and the
// tooling's own tests (packing, publint/attw, install-subset, changesets).
const testRoots = [...readdirSync(join(root, 'packages')).map((p) => join('packages', p)), 'examples', 'tooling'];
for (const rel of testRoots) {
  if (!existsSync(join(root, rel, 'test'))) continue;
  runVitest(rel, process.execPath, rel.replaceAll('/', '-'));
}

// ---- the other Node majors -------------------------------------------------------------
// The binary is N-API, so one build must load and behave the same on every supported Node:
// the core and models-qwen3 suites run again on each pinned major (the install-subset
// scenarios do so inside the tooling suite). Vitest's workers inherit the Node that started it.
for (const major of Object.keys(NODE_RUNTIMES)) {
  let node;
  try {
    node = ensureNodeRuntime(major);
  } catch (error) {
    console.error(error.message);
    failed += 1;
    continue;
  }
  for (const rel of ['packages/core', 'packages/models-qwen3']) {
    console.log(`---- ${rel} on Node ${NODE_RUNTIMES[major]}`);
    runVitest(rel, node, `${rel.replaceAll('/', '-')}-node${major}`);
  }
}

// ---- static checks -----------------------------------------------------------------------
// Format, lint, types, dead exports, rustfmt, clippy and the suppression budget: one test each.
{
  const checks = runStaticChecks();
  passed += checks.passed;
  failed += checks.failed;
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
