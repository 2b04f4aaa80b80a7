// Packs every published @mlxn package with `pnpm pack` (which turns `workspace:` ranges into
// versions) into one folder. The platform package is packed from a temporary copy filled with
// the built binary, so the source tree never holds staged binaries.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_DIRS, PLATFORM_PACKAGE_DIRS } from './published-packages.mjs';
import { nativeTriple, stagePlatformFiles } from './stage.mjs';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The manifest a tarball carries (`package/package.json`), as the registry would serve it. */
function tarballManifest(tarball) {
  return JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
}

function pnpmPack(cwd, dest) {
  const out = execFileSync('pnpm', ['pack', '--json', '--pack-destination', dest], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // pnpm prints the JSON report last; lifecycle output (if any) comes before it.
  const report = JSON.parse(out.slice(out.indexOf('{')));
  return report.filename;
}

/**
 * Packs the platform package for this machine's binary and every package of PACKAGE_DIRS
 * into `dest`. Returns one entry per tarball: name, version, folder, tarball path, size in
 * bytes, packed manifest and the seconds packing took.
 *
 * @param {{ dest: string, nativeDir?: string }} options  `nativeDir`: the built binary with
 *   its libraries (default: packages/core/native, what `pnpm build:native` stages).
 */
export function packAll({ dest, nativeDir = join(repoRoot, 'packages/core/native') }) {
  mkdirSync(dest, { recursive: true });
  const results = [];
  const record = (dir, start, tarball) => {
    const manifest = tarballManifest(tarball);
    results.push({
      name: manifest.name,
      version: manifest.version,
      dir,
      tarball,
      bytes: statSync(tarball).size,
      manifest,
      seconds: (performance.now() - start) / 1000,
    });
  };

  const triple = nativeTriple(nativeDir);
  const platformDir = PLATFORM_PACKAGE_DIRS.find((d) => d.endsWith(`/${triple}`));
  if (!platformDir) throw new Error(`no platform package for ${triple} in PLATFORM_PACKAGE_DIRS`);
  {
    const start = performance.now();
    const staging = join(dest, '.staging', triple);
    rmSync(staging, { recursive: true, force: true });
    cpSync(join(repoRoot, platformDir), staging, { recursive: true });
    stagePlatformFiles(nativeDir, staging);
    record(platformDir, start, pnpmPack(staging, dest));
    rmSync(join(dest, '.staging'), { recursive: true, force: true });
  }

  for (const dir of PACKAGE_DIRS) {
    const start = performance.now();
    if (!existsSync(join(repoRoot, dir, 'dist'))) {
      throw new Error(`${dir} has no dist/; run \`pnpm build\` first`);
    }
    record(dir, start, pnpmPack(join(repoRoot, dir), dest));
  }
  return results;
}

/** Human-readable size. */
export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
