// Installs subsets of the packed packages into empty npm projects and runs each scenario's
// programs there (tooling/install-subset/scenarios.mjs) on every tested Node major. Prints
// tarball sizes and install times.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runScenario, thisNode } from '../install-subset/harness.mjs';
import { SCENARIOS } from '../install-subset/scenarios.mjs';
import { ensureNodeRuntime, NODE_RUNTIMES } from '../node-runtimes/node-runtimes.mjs';
import { formatBytes } from '../packaging/pack.mjs';

const packed = inject('packed');
// Every program runs on the Node running the tests and on each pinned major (22, 24).
const nodes = [
  thisNode,
  ...Object.entries(NODE_RUNTIMES).map(([major, version]) => ({ label: `node v${version}`, path: ensureNodeRuntime(major) })),
];
const work = mkdtempSync(join(tmpdir(), 'mlxn-install-subset-'));
const summary = [];

afterAll(() => {
  const lines = packed.map((p) => `  ${p.name}@${p.version}: ${formatBytes(p.bytes)}`);
  lines.push(...summary);
  console.log(`install-subset\n${lines.join('\n')}`);
  rmSync(work, { recursive: true, force: true });
});

describe.each(SCENARIOS.map((s) => [s.id, s]))('%s', (_id, scenario) => {
  let result;
  beforeAll(() => {
    result = runScenario(scenario, packed, work, { nodes });
    const runs = result.programs.map((p) => `${p.program} (${p.node}) ${p.ok ? 'ok' : 'FAILED'} ${p.seconds.toFixed(1)} s`).join(', ');
    summary.push(`  ${scenario.id}: install ${result.installSeconds.toFixed(1)} s [${result.installed.join(', ')}] ${runs}`);
  });

  it(`installs exactly ${scenario.install.join(' + ')} and what it needs`, () => {
    expect(result.problems.filter((p) => !/ exited with /.test(p))).toEqual([]);
    expect(result.installed).toEqual(result.expected);
    for (const name of scenario.absent) expect(result.installed).not.toContain(name);
  });

  const runs = nodes.flatMap((node) => scenario.programs.map((program) => [program, node.label]));
  it.each(runs)('runs %s on %s', (program, node) => {
    const run = result.programs.find((p) => p.program === program && p.node === node);
    expect(run, 'the install failed before the program could run').toBeDefined();
    expect(run.ok, run.output).toBe(true);
    expect(run.output).toMatch(/^ok$/m);
  });
});
