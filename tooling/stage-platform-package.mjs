#!/usr/bin/env node
// Copies the built binary and the MLX libraries it links into the napi-rs platform package for
// this machine (packages/core/npm/<triple>/), for publishing that folder by hand. The staged
// files are git-ignored. Packing for tests and checks does not need this: it stages into a
// temporary copy (tooling/packaging/pack.mjs).
//
//   node tooling/stage-platform-package.mjs [--native-dir <folder>]   (default packages/core/native)
import { join } from 'node:path';
import { repoRoot } from './packaging/pack.mjs';
import { nativeTriple, stagePlatformFiles } from './packaging/stage.mjs';

const flag = process.argv.indexOf('--native-dir');
const nativeDir = flag > 0 ? process.argv[flag + 1] : join(repoRoot, 'packages/core/native');
try {
  const dest = join(repoRoot, 'packages/core/npm', nativeTriple(nativeDir));
  const files = stagePlatformFiles(nativeDir, dest);
  console.error(`stage-platform-package: staged ${files.length} files in ${dest}`);
} catch (err) {
  console.error(`stage-platform-package: ${err.message}`);
  process.exit(1);
}
