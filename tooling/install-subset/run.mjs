#!/usr/bin/env node
// Packs every published @mlxn package once, then installs each scenario's subset into an
// empty npm project and runs its programs; prints tarball sizes and install times.
//
//   node tooling/install-subset/run.mjs [--keep] [--native-dir <folder>] [scenario id...]
//
// Expects `pnpm build:native` and `pnpm build`. --keep leaves the temp folder for inspection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes, packAll } from '../packaging/pack.mjs';
import { runScenario } from './harness.mjs';
import { SCENARIOS } from './scenarios.mjs';

const args = process.argv.slice(2);
const keep = args.includes('--keep');
const nativeFlag = args.indexOf('--native-dir');
const nativeDir = nativeFlag >= 0 ? args[nativeFlag + 1] : undefined;
const ids = args.filter((a, i) => !a.startsWith('--') && (nativeFlag < 0 || i !== nativeFlag + 1));
const chosen = ids.length ? SCENARIOS.filter((s) => ids.includes(s.id)) : SCENARIOS;
if (ids.length && chosen.length !== ids.length) {
  console.error(`unknown scenario; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'mlxn-install-subset-'));
let failed = 0;
try {
  const packStart = performance.now();
  const packed = packAll({ dest: join(work, 'tarballs'), ...(nativeDir ? { nativeDir } : {}) });
  console.log(`packed ${packed.length} packages in ${((performance.now() - packStart) / 1000).toFixed(1)} s`);
  for (const p of packed) console.log(`  ${p.name}@${p.version}  ${formatBytes(p.bytes)}`);
  for (const scenario of chosen) {
    const r = runScenario(scenario, packed, join(work, 'projects'));
    const runs = r.programs.map((p) => `${p.program} (${p.node}) ${p.ok ? 'ok' : 'FAILED'} ${p.seconds.toFixed(1)} s`).join(', ');
    console.log(
      `${r.problems.length ? 'FAIL' : 'pass'}  ${r.id}: install ${r.installSeconds.toFixed(1)} s (${r.installed.join(', ')}); ${runs}`,
    );
    for (const problem of r.problems) console.log(`  ${problem.replace(/\n/g, '\n  ')}`);
    if (r.problems.length) failed += 1;
  }
} finally {
  if (keep) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
console.log(`${chosen.length - failed} scenario(s) passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
