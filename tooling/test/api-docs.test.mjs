// The API reference in docs/api is generated from the packages' TSDoc by typedoc. It must build
// without warnings (broken {@link}s, unknown tags) and match what is committed, so it never
// drifts from the code: regenerate with `pnpm docs:api`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../packaging/pack.mjs';

const typedoc = join(repoRoot, 'node_modules/.bin/typedoc');
const out = mkdtempSync(join(tmpdir(), 'mlxn-api-docs-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function files(dir) {
  const all = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else all.push(relative(dir, p));
    }
  };
  walk(dir);
  return all.sort();
}

describe('API reference (typedoc)', () => {
  it('builds without warnings and matches docs/api', () => {
    execFileSync(typedoc, ['--treatWarningsAsErrors', '--out', out], { cwd: repoRoot, stdio: 'pipe' });
    const committed = join(repoRoot, 'docs/api');
    const want = files(out);
    expect(files(committed), 'docs/api is stale: run `pnpm docs:api`').toEqual(want);
    const stale = want.filter((f) => readFileSync(join(out, f), 'utf8') !== readFileSync(join(committed, f), 'utf8'));
    expect(stale, 'docs/api is stale: run `pnpm docs:api`').toEqual([]);
  });
});
