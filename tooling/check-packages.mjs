#!/usr/bin/env node
// Packs every published @mlxn package (tooling/packaging/published-packages.mjs) and runs
// publint and arethetypeswrong on each tarball. Expects `pnpm build:native` and `pnpm build`.
//
//   node tooling/check-packages.mjs [--native-dir <folder with the .node>] [--keep <folder>]
//
// --native-dir packs the platform package from another build (for example a release build in
// /tmp/mlxn-release); --keep leaves the tarballs in <folder> instead of a deleted temp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes, packAll } from './packaging/pack.mjs';
import { attwTarball, publintTarball } from './packaging/lint.mjs';

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
    for (const [tool, r] of [['publint', publint], ['attw', attw]]) {
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
