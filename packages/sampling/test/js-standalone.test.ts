// `@mlxn/sampling/js` must work without @mlxn/core or the native binary.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
/** Packages installed with @mlxn/sampling (plain JS, such as the edit distance of did-you-mean messages). */
const dependencies = Object.keys(manifest.dependencies ?? {});

/**
 * Every relative module reachable from `file`, following import/export specifiers; any other
 * specifier must name one of the package's own dependencies.
 */
function reachable(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  // Comments hold usage examples (`from '@mlxn/sampling/js'`), not imports.
  const src = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  for (const m of src.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(['"]([^'"]+)['"]\)/g)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) {
      expect(dependencies, `${file} imports ${spec}`).toContain(spec);
      continue;
    }
    const target = resolve(dirname(file), spec.replace(/\.js$/, file.endsWith('.ts') ? '.ts' : '.js'));
    reachable(target, seen);
  }
  return seen;
}

describe('@mlxn/sampling/js', () => {
  it('imports nothing outside the package but its dependencies (source)', () => {
    const files = reachable(join(pkg, 'src/js/index.ts'));
    expect(files.size).toBeGreaterThan(3);
  });

  it.runIf(existsSync(join(pkg, 'dist/js.js')))(
    'built entry imports nothing outside the package but its dependencies and runs without the binary',
    () => {
      reachable(join(pkg, 'dist/js.js'));
      const script = `
      const m = await import(${JSON.stringify(join(pkg, 'dist/js.js'))});
      const s = m.makeSampler({ temperature: 0.7, topK: 2, seed: 1 });
      const t = s(new Float32Array([-3, -0.1, -2, -9]));
      process.stdout.write(JSON.stringify({ t, loaded: Object.keys(m).length }));`;
      const out = JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', script], {
          encoding: 'utf8',
          env: { ...process.env, MLXN_NATIVE_PATH: '/nonexistent/mlxn.node' },
        }),
      );
      expect([1, 2]).toContain(out.t);
      expect(out.loaded).toBeGreaterThan(5);
    },
  );

  it('package.json makes @mlxn/core an optional peer and depends on no @mlxn package', () => {
    expect(manifest.peerDependenciesMeta['@mlxn/core'].optional).toBe(true);
    expect(dependencies.filter((name) => name.startsWith('@mlxn/'))).toEqual([]);
    expect(manifest.exports['./js'].default).toBe('./dist/js.js'); // import and require() (Node >= 20.19)
    expect(readdirSync(join(pkg, 'test/fixtures'))).toContain('sampling_golden.json');
  });
});
