// The first publish, rehearsed: the workspace is published into a local registry on 127.0.0.1
// (tooling/local-registry/) as docs/building.md tells a maintainer to, the platform package with
// npm first and everything else with `changeset publish`, then each install-subset scenario
// installs by name and version from it, so @mlxn/core's platform package must arrive through its
// optionalDependencies as it would from npm. Without the platform package, importing @mlxn/core
// fails with one clear error.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, runScenario } from '../install-subset/harness.mjs';
import { SCENARIOS } from '../install-subset/scenarios.mjs';
import { publishAll, startLocalRegistry } from '../local-registry/local-registry.mjs';

const packed = inject('packed');
const core = packed.find((p) => p.name === '@mlxn/core');
const platform = packed.find((p) => p.manifest.os !== undefined);
const work = mkdtempSync(join(tmpdir(), 'mlxn-registry-round-trip-'));
const repoRoot = join(import.meta.dirname, '..', '..');
let registry;
let publishOutput;

beforeAll(async () => {
  registry = await startLocalRegistry();
  publishOutput = await publishAll(packed, registry, { repoRoot });
}, 300_000);

afterAll(() => {
  registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('publishing', () => {
  it('publishes every package: the platform package with npm first, then the rest with changesets', async () => {
    // changesets found the platform package's version already there and published the others.
    expect(publishOutput).toMatch(/already published|is not being published/i);
    const times = {};
    for (const p of packed) {
      const r = await fetch(`${registry.url}${p.name.replace('/', '%2f')}`);
      expect(r.status, p.name).toBe(200);
      times[p.name] = Date.parse((await r.json()).time[p.version]);
    }
    expect(times[platform.name]).toBeLessThan(times[core.name]);
  });

  it('serves @mlxn/core in lockstep with its platform package as an optional dependency', async () => {
    const r = await fetch(`${registry.url}${core.name.replace('/', '%2f')}/${core.version}`);
    expect(r.status).toBe(200);
    const manifest = await r.json();
    expect(manifest.optionalDependencies).toEqual({ [platform.name]: core.version });
  });
});

describe.each(SCENARIOS.map((s) => [s.id, s]))('%s from the registry', (_id, scenario) => {
  let result;
  beforeAll(() => {
    result = runScenario(scenario, packed, join(work, 'scenarios'), { registry: registry.url });
  });

  it(`installs exactly ${scenario.install.join(' + ')} and what it needs`, () => {
    expect(result.problems.filter((p) => !/ exited with /.test(p))).toEqual([]);
    expect(result.installed).toEqual(result.expected);
  });

  it.each(scenario.programs)('runs %s', (program) => {
    const run = result.programs.find((p) => p.program === program);
    expect(run, 'the install failed before the program could run').toBeDefined();
    expect(run.ok, run.output).toBe(true);
  });
});

describe('@mlxn/core without its platform package', () => {
  it('fails at load with one error that names the missing package', () => {
    const dir = join(work, 'no-platform-package');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.npmrc'), `@mlxn:registry=${registry.url}\n`);
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'no-platform', version: '0.0.0', private: true, dependencies: { [core.name]: core.version } }),
    );
    const env = cleanEnv();
    // --omit=optional: what a user gets on an unsupported platform, or with optional
    // dependencies turned off.
    const install = spawnSync('npm', ['install', '--omit=optional', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: dir,
      env,
      encoding: 'utf8',
    });
    expect(install.status, `${install.stdout}${install.stderr}`).toBe(0);
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('@mlxn/core')"], {
      cwd: dir,
      env,
      encoding: 'utf8',
    });
    expect(run.status).not.toBe(0);
    const errors = run.stderr.split('\n').filter((l) => /Error:/.test(l));
    expect(errors, run.stderr).toHaveLength(1);
    expect(errors[0]).toMatch(/@mlxn\/core: no native binary for linux-x64-gnu/);
    expect(errors[0]).toContain(platform.name);
  });
});
