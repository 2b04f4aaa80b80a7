// Summarises the suites run by tooling/gpu-suite/run.sh: `node summarize.mjs <out dir>` reads
// vitest-*.json (vitest's JSON reporter) and cargo.log (libtest's output), and prints the counts
// per suite, each failed test with the start of its error, each suite that did not report, and
// a last line `N passed, N failed` counted the way tooling/test-all.mjs counts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) throw new Error('usage: node summarize.mjs <out dir>');
let passed = 0;
let failed = 0;
const failures = [];
const rows = [];

for (const file of readdirSync(out)
  .filter((f) => /^vitest-.*\.log$/.test(f))
  .sort()) {
  const name = file.slice('vitest-'.length, -'.log'.length);
  const report = join(out, `vitest-${name}.json`);
  if (!existsSync(report)) {
    // Stopped by the time limit or crashed before reporting: the log's tail says which.
    failed += 1;
    const tail = readFileSync(join(out, file), 'utf8').trim().split('\n').slice(-3).join(' | ');
    rows.push(`${name}: no report (${tail.slice(0, 300)})`);
    continue;
  }
  const json = JSON.parse(readFileSync(report, 'utf8'));
  let loadFailures = 0;
  for (const suite of json.testResults ?? []) {
    const rel = suite.name.replace(/^.*?\/(packages|examples)\//, '$1/');
    if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) {
      loadFailures += 1;
      failures.push(
        `${rel}: failed to load: ${String(suite.message ?? '')
          .split('\n')[0]
          .slice(0, 300)}`,
      );
    }
    for (const t of suite.assertionResults ?? []) {
      if (t.status !== 'failed') continue;
      const why = String(t.failureMessages?.[0] ?? '')
        .split('\n')
        .slice(0, 2)
        .join(' ')
        .slice(0, 300);
      failures.push(`${rel} > ${t.fullName}: ${why}`);
    }
  }
  passed += json.numPassedTests;
  failed += json.numFailedTests + loadFailures;
  rows.push(
    `${name}: ${json.numPassedTests} passed, ${json.numFailedTests + loadFailures} failed, ${json.numPendingTests + (json.numTodoTests ?? 0)} skipped`,
  );
}

const cargoLog = join(out, 'cargo.log');
if (existsSync(cargoLog)) {
  const text = readFileSync(cargoLog, 'utf8');
  let cp = 0;
  let cf = 0;
  for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed/g)) {
    cp += Number(m[1]);
    cf += Number(m[2]);
  }
  // A binary that crashed or was stopped prints no result line.
  const crashed = [...text.matchAll(/^== (\S+): (\S+)\n(?:(?!== |test result)[^\n]*\n)*? {3}exit status (\d+)/gm)];
  for (const m of text.matchAll(/^test (\S+) \.\.\. FAILED$/gm)) failures.push(`cargo > ${m[1]}`);
  const unreported = (text.match(/^== /gm) ?? []).length - (text.match(/test result:/g) ?? []).length;
  passed += cp;
  failed += cf + Math.max(0, unreported);
  rows.push(`cargo: ${cp} passed, ${cf} failed${unreported > 0 ? `, ${unreported} binaries without a result` : ''}`);
  for (const m of crashed) if (!/test result/.test(m[0])) failures.push(`cargo binary ${m[2]} (${m[1]}) exited with ${m[3]}`);
}

console.log(rows.join('\n'));
if (failures.length > 0) console.log(`failed:\n  ${failures.join('\n  ')}`);
console.log(`${passed} passed, ${failed} failed`);
