// The loader refuses what would silently break: a second copy of @mlxn/core in one process
// (its own module state over the one native runtime), a native binary of another version, and
// a missing binary. Each case runs in a child process with a copy of the package in a temp dir.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const packageRoot = join(__dirname, '..');
const realIndex = join(packageRoot, 'src/index.ts');
const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
const temps: string[] = [];

afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A copy of the package (src + package.json) in a temp dir; `native` linked or left out. */
function copyPackage(options: { version?: string; native: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlxn-core-copy-'));
  temps.push(dir);
  cpSync(join(packageRoot, 'src'), join(dir, 'src'), { recursive: true });
  const json = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
  if (options.version) json.version = options.version;
  delete json.optionalDependencies; // nothing to resolve from the temp dir
  writeFileSync(join(dir, 'package.json'), JSON.stringify(json, null, 2));
  if (options.native) symlinkSync(join(packageRoot, 'native'), join(dir, 'native'), 'dir');
  // The package's own dependencies, as an install would put them beside it (not its optional
  // native packages: where the binary comes from is what these tests choose).
  for (const dep of Object.keys((json.dependencies ?? {}) as Record<string, string>)) {
    const link = join(dir, 'node_modules', dep);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(packageRoot, 'node_modules', dep), link, 'dir');
  }
  return dir;
}

/** Runs an ESM TypeScript script in a child Node (through tsx); returns its outcome. */
function runChild(dir: string, script: string, env: Record<string, string | undefined> = {}) {
  const file = join(dir, 'child.mts');
  writeFileSync(file, script);
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: packageRoot, // where tsx resolves
    encoding: 'utf8',
    env: childEnv as NodeJS.ProcessEnv,
    timeout: 30_000,
  });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(line) as Record<string, unknown>;
  } catch {
    // left empty: the assertions below report stdout/stderr
  }
  return { ...r, out };
}

const report = (expr: string) => `
let outcome;
try {
  ${expr}
} catch (e) {
  outcome = { threw: true, name: e?.name, message: String(e?.message ?? e) };
}
console.log(JSON.stringify(outcome));
`;

describe('loader', () => {
  it('a second copy of @mlxn/core from another path fails loudly; the first keeps working', () => {
    const copy = copyPackage({ native: true });
    const r = runChild(
      copy,
      `
const first = await import(${JSON.stringify(realIndex)});
const before = first.add(first.array([1, 2]), 1).tolist();
let second;
try {
  await import(${JSON.stringify(join(copy, 'src/index.ts'))});
  second = { threw: false };
} catch (e) {
  second = { threw: true, message: String(e?.message ?? e) };
}
const after = first.multiply(first.array([3]), 3).tolist();
console.log(JSON.stringify({ before, second, after }));
`,
      { MLXN_NATIVE_PATH: undefined },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.out.before).toEqual([2, 3]);
    const second = r.out.second as { threw: boolean; message: string };
    expect(second.threw).toBe(true);
    expect(second.message).toMatch(/@mlxn\/core was loaded twice in one process/);
    expect(second.message).toContain(packageRoot);
    expect(second.message).toContain(copy);
    expect(r.out.after).toEqual([9]);
  });

  it('the same copy imported twice (same path) is one module: no error', () => {
    const copy = copyPackage({ native: true });
    const r = runChild(
      copy,
      report(`
const a = await import(${JSON.stringify(realIndex)});
const b = await import(${JSON.stringify(realIndex)});
outcome = { same: a === b, value: b.sum(a.array([1, 2, 3])).item() };
`),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toEqual({ same: true, value: 6 });
  });

  it('a native binary whose version differs from package.json is refused', () => {
    const copy = copyPackage({ version: '9.9.9', native: false });
    const binary = join(packageRoot, 'native/mlxn.linux-x64-gnu.node');
    const r = runChild(copy, report(`await import(${JSON.stringify(join(copy, 'src/index.ts'))}); outcome = { threw: false };`), {
      MLXN_NATIVE_PATH: binary,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.threw).toBe(true);
    expect(r.out.message).toBe(
      `@mlxn/core 9.9.9 found a native binary of version ${pkg.version}; they must match. ` +
        'Rebuild with `pnpm build:native` or reinstall @mlxn/core.',
    );
  });

  it('the same binary through MLXN_NATIVE_PATH, with a matching version, loads', () => {
    const copy = copyPackage({ native: false });
    const binary = join(packageRoot, 'native/mlxn.linux-x64-gnu.node');
    const r = runChild(
      copy,
      report(
        `const m = await import(${JSON.stringify(join(copy, 'src/index.ts'))}); outcome = { version: m.version, v: m.add(m.array([1]), 41).item() };`,
      ),
      { MLXN_NATIVE_PATH: binary },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.out).toEqual({ version: pkg.version, v: 42 });
  });

  it('no binary anywhere: a clear error naming the places it looked', () => {
    const copy = copyPackage({ native: false });
    const r = runChild(copy, report(`await import(${JSON.stringify(join(copy, 'src/index.ts'))}); outcome = { threw: false };`), {
      MLXN_NATIVE_PATH: undefined,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.threw).toBe(true);
    expect(r.out.message).toMatch(/@mlxn\/core: no native binary for linux-x64-gnu/);
    expect(r.out.message).toContain(join(copy, 'native'));
    expect(r.out.message).toMatch(/pnpm build:native/);
  });

  it('MLXN_NATIVE_PATH naming a missing file fails loudly instead of falling back', () => {
    const copy = copyPackage({ native: true });
    const missing = join(copy, 'nowhere/mlxn.linux-x64-gnu.node');
    const r = runChild(copy, report(`await import(${JSON.stringify(join(copy, 'src/index.ts'))}); outcome = { threw: false };`), {
      MLXN_NATIVE_PATH: missing,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.threw).toBe(true);
    expect(r.out.message).toBe(
      `@mlxn/core: MLXN_NATIVE_PATH names ${missing}, which does not exist. Unset it to use the installed binary.`,
    );
  });

  it('MLXN_NATIVE_PATH naming a file that is not a Node addon fails loudly', () => {
    const copy = copyPackage({ native: false });
    const bogus = join(copy, 'bogus.node');
    writeFileSync(bogus, 'not an ELF file');
    const r = runChild(copy, report(`await import(${JSON.stringify(join(copy, 'src/index.ts'))}); outcome = { threw: false };`), {
      MLXN_NATIVE_PATH: bogus,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.threw).toBe(true);
    expect(String(r.out.message)).toContain(bogus);
  });
});
