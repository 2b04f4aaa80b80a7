// Every published package, as packed: publint, arethetypeswrong and the metadata a registry
// page and an installer rely on.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { attwTarball, publintTarball } from '../packaging/lint.mjs';
import { repoRoot } from '../packaging/pack.mjs';

const packed = inject('packed');
const version = packed.find((p) => p.name === '@mlxn/core').version;
const internal = new Set(packed.map((p) => p.name));
const isPlatform = (p) => p.manifest.os !== undefined;

describe.each(packed.map((p) => [p.name, p]))('%s', (_name, p) => {
  it('passes publint --strict', () => {
    const r = publintTarball(p.tarball);
    expect(r.ok, r.output).toBe(true);
  });

  it('passes arethetypeswrong (esm-only profile)', () => {
    const r = attwTarball(p.tarball);
    expect(r.ok, r.output).toBe(true);
  });

  it('carries complete metadata and no addresses', () => {
    const m = p.manifest;
    expect(m.version).toBe(version); // lockstep
    expect(m.license).toBe('MIT OR Apache-2.0');
    expect(m.description?.length).toBeGreaterThan(20);
    expect(m.keywords?.length).toBeGreaterThan(0);
    expect(m.engines).toEqual({ node: '>=20.19' });
    expect(m.files?.length).toBeGreaterThan(0);
    expect(m.private).toBeUndefined();
    for (const field of ['repository', 'homepage', 'bugs']) expect(m[field]).toBeUndefined();
    expect(JSON.stringify(m)).not.toMatch(/[a-z]+:\/\//i);
    if (!isPlatform(p)) {
      expect(m.type).toBe('module');
      expect(m.sideEffects).toBe(false);
      expect(m.exports['.'].types).toMatch(/\.d\.ts$/);
    }
  });

  it('pins internal dependencies to the lockstep version', () => {
    const m = p.manifest;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const [name, range] of Object.entries(m[field] ?? {})) {
        expect(range, `${field}.${name}`).not.toMatch(/^workspace:/);
        if (internal.has(name) || name.startsWith('@mlxn/')) {
          expect([version, `^${version}`], `${field}.${name}`).toContain(range);
        }
      }
    }
  });
});

describe('@mlxn/core and its platform packages', () => {
  const core = packed.find((p) => p.name === '@mlxn/core');
  const platforms = packed.filter(isPlatform);

  it('lists each platform package as an exact optional dependency (the napi-rs way)', () => {
    expect(platforms.length).toBeGreaterThan(0);
    for (const platform of platforms) {
      expect(core.manifest.optionalDependencies?.[platform.name]).toBe(version);
    }
  });

  it('ships the binary only in the platform package', () => {
    expect(core.manifest.files).not.toContain('native');
    for (const platform of platforms) {
      const triple = platform.name.replace('@mlxn/core-', '');
      expect(platform.manifest.main).toBe(`mlxn.${triple}.node`);
      // Everything the build staged beside the binary: libmlx.so and the libraries it bundles.
      const entries = execFileSync('tar', ['-tzf', platform.tarball], { encoding: 'utf8' }).split('\n');
      const staged = readdirSync(join(repoRoot, 'packages/core/native'));
      expect(staged).toContain('libmlx.so');
      for (const f of staged) expect(entries).toContain(`package/${f}`);
    }
  });
});
