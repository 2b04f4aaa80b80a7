// Fills a napi-rs platform package folder with the built binary and the MLX libraries it links
// (libmlx.so and the BLAS/LAPACK/gfortran libraries the MLX wheel bundles, found through the
// binary's $ORIGIN rpath), so the folder packs into what users install.
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The target triple of the `.node` in `nativeDir` (`mlxn.<triple>.node`). */
export function nativeTriple(nativeDir) {
  const node = existsSync(nativeDir) ? readdirSync(nativeDir).find((f) => /^mlxn\..+\.node$/.test(f)) : undefined;
  if (!node) {
    throw new Error(`no mlxn.<triple>.node in ${nativeDir}; run \`pnpm build:native\` (or build:native:release) first`);
  }
  return node.replace(/^mlxn\./, '').replace(/\.node$/, '');
}

/** Copies every file of `nativeDir` into `dest`; returns the copied names. */
export function stagePlatformFiles(nativeDir, dest) {
  if (!existsSync(join(dest, 'package.json'))) throw new Error(`${dest} is not a platform package folder`);
  const files = readdirSync(nativeDir);
  for (const f of files) copyFileSync(join(nativeDir, f), join(dest, f));
  return files;
}
