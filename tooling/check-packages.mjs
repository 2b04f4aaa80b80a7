#!/usr/bin/env node
// Packs every published @mlxn package (tooling/packaging/published-packages.mjs) and runs
// publint and arethetypeswrong on each tarball, and checks the platform package against the
// size budget of its build profile (tooling/packaging/size-budget.mjs). Expects
// `pnpm build:native` and `pnpm build`.
//
//   node tooling/check-packages.mjs [--native-dir <folder with the .node>] [--keep <folder>]
//
// --native-dir packs the platform package from another build (for example a release build in
// /tmp/mlxn-release); --keep leaves the tarballs in <folder> instead of a deleted temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attwTarball, publintTarball } from './packaging/lint.mjs';
import { formatBytes, packAll } from './packaging/pack.mjs';
import { budgetProblems, describeEntries, measurePlatformPackage } from './packaging/size-budget.mjs';

const flag = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const keep = flag('--keep');
const nativeDir = flag('--native-dir');
const dest = keep ?? mkdtempSync(join(tmpdir(), 'mlxn-pack-'));

let failures = 0;
try {
  const packed = packAll({ dest, ...(nativeDir ? { nativeDir } : {}) });
  for (const p of packed) {
    const publint = publintTarball(p.tarball);
    const attw = attwTarball(p.tarball);
    const verdict = (r) => (r.ok ? 'ok' : 'FAILED');
    console.log(`${p.name}@${p.version}  ${formatBytes(p.bytes)}  publint ${verdict(publint)}  attw ${verdict(attw)}`);
    if (p.manifest.os !== undefined) {
      const measured = measurePlatformPackage(p);
      const problems = budgetProblems(measured);
      console.log(
        `  ${measured.profile} build, unpacked ${formatBytes(measured.unpacked)}; size budget ${problems.length ? 'EXCEEDED' : 'ok'}`,
      );
      console.log(describeEntries(measured.entries, 6).join('\n'));
      for (const problem of problems) console.log(`  ${problem}`);
      failures += problems.length;
    }
    for (const [tool, r] of [
      ['publint', publint],
      ['attw', attw],
    ]) {
      if (!r.ok) {
        failures += 1;
        console.log(`--- ${tool} on ${p.name}\n${r.output}\n`);
      }
    }
  }
  if (keep) console.log(`tarballs in ${dest}`);
} finally {
  if (!keep) rmSync(dest, { recursive: true, force: true });
}
console.log(failures === 0 ? 'check-packages: all packages pass' : `check-packages: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
