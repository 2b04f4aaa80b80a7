// Release flow without touching the repository: every published package has a changeset, and
// `changeset version` (run in a temporary copy of the manifests and .changeset/) moves every
// published @mlxn package to the same next version, keeps internal ranges on the workspace
// protocol (so `pnpm pack` writes that version into them) and, through sync-versions.mjs,
// carries the version into Cargo.toml.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../packaging/pack.mjs';
import { PACKAGE_DIRS, PLATFORM_PACKAGE_DIRS } from '../packaging/published-packages.mjs';

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const published = [...PLATFORM_PACKAGE_DIRS, ...PACKAGE_DIRS];
const nameOf = (dir, root = repoRoot) => readJson(join(root, dir, 'package.json')).name;

// The changesets in .changeset/: { file, releases: { name: bump } }.
function readChangesets() {
  const dir = join(repoRoot, '.changeset');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .map((file) => {
      const front = readFileSync(join(dir, file), 'utf8').match(/^---\n([\s\S]*?)\n---/);
      const releases = {};
      for (const m of (front?.[1] ?? '').matchAll(/^["']?([^"':]+)["']?\s*:\s*(major|minor|patch)\s*$/gm)) {
        releases[m[1]] = m[2];
      }
      return { file, releases };
    });
}

// Workspace folders from pnpm-workspace.yaml (plain entries and one trailing `*`).
function workspaceDirs() {
  const yaml = readFileSync(join(repoRoot, 'pnpm-workspace.yaml'), 'utf8');
  const dirs = [];
  for (const m of yaml.matchAll(/^\s*-\s*['"]?([^'"\n]+?)['"]?\s*$/gm)) {
    const pattern = m[1];
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      for (const d of readdirSync(join(repoRoot, parent))) dirs.push(`${parent}/${d}`);
    } else {
      dirs.push(pattern);
    }
  }
  return dirs.filter((d) => existsSync(join(repoRoot, d, 'package.json')));
}

function bump(version, type) {
  const [major, minor, patch] = version.split('.').map(Number);
  if (type === 'major') return `${major + 1}.0.0`;
  if (type === 'minor') return `${major}.${minor + 1}.0`;
  return `${major}.${minor}.${patch + 1}`;
}

const changesets = readChangesets();

describe('changesets', () => {
  it('has a changeset for every published package (platform packages follow the fixed group)', () => {
    const mentioned = new Set(changesets.flatMap((c) => Object.keys(c.releases)));
    for (const dir of PACKAGE_DIRS) expect([...mentioned], dir).toContain(nameOf(dir));
  });

  describe('`changeset version` in a temporary copy', () => {
    let copy;
    const before = new Map(published.map((d) => [d, readJson(join(repoRoot, d, 'package.json'))]));

    beforeAll(() => {
      copy = mkdtempSync(join(tmpdir(), 'mlxn-changesets-'));
      for (const f of ['package.json', 'pnpm-workspace.yaml', 'Cargo.toml', 'tooling/sync-versions.mjs']) {
        mkdirSync(dirname(join(copy, f)), { recursive: true });
        cpSync(join(repoRoot, f), join(copy, f));
      }
      cpSync(join(repoRoot, '.changeset'), join(copy, '.changeset'), { recursive: true });
      for (const dir of workspaceDirs()) {
        mkdirSync(join(copy, dir), { recursive: true });
        cpSync(join(repoRoot, dir, 'package.json'), join(copy, dir, 'package.json'));
      }
      execFileSync(join(repoRoot, 'node_modules/.bin/changeset'), ['version'], { cwd: copy, stdio: 'pipe' });
      execFileSync(process.execPath, [join(copy, 'tooling/sync-versions.mjs')], { cwd: copy, stdio: 'pipe' });
    });
    afterAll(() => rmSync(copy, { recursive: true, force: true }));

    it('starts from one version for every published package', () => {
      expect(new Set([...before.values()].map((m) => m.version)).size).toBe(1);
    });

    it('moves every published package to the same next version', () => {
      const order = ['patch', 'minor', 'major'];
      const highest = changesets
        .flatMap((c) => Object.values(c.releases))
        .reduce((a, b) => (order.indexOf(b) > order.indexOf(a) ? b : a), 'patch');
      const expected = bump(before.get('packages/core').version, highest);
      for (const dir of published) {
        expect(readJson(join(copy, dir, 'package.json')).version, dir).toBe(expected);
      }
    });

    it('keeps internal ranges on the workspace protocol and writes changelogs', () => {
      for (const dir of published) {
        const m = readJson(join(copy, dir, 'package.json'));
        for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
          for (const [name, range] of Object.entries(m[field] ?? {})) {
            if (name.startsWith('@mlxn/')) expect(range, `${dir} ${field}.${name}`).toMatch(/^workspace:[\^*]$/);
          }
        }
        expect(existsSync(join(copy, dir, 'CHANGELOG.md')), dir).toBe(true);
      }
      const core = readJson(join(copy, 'packages/core/package.json'));
      for (const dir of PLATFORM_PACKAGE_DIRS) {
        expect(core.optionalDependencies[nameOf(dir, copy)]).toBe('workspace:*');
      }
    });

    it('consumes the changesets and carries the version into Cargo.toml', () => {
      const left = readdirSync(join(copy, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md');
      expect(left).toEqual([]);
      const version = readJson(join(copy, 'packages/core/package.json')).version;
      const cargo = readFileSync(join(copy, 'Cargo.toml'), 'utf8');
      expect(cargo).toMatch(new RegExp(`\\[workspace\\.package\\][^[]*\\nversion = "${version.replace(/\./g, '\\.')}"`));
    });
  });
});
