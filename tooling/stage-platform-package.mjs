#!/usr/bin/env node
// Copies the built binary and the MLX libraries it links from packages/core/native/ into the
// napi-rs platform package for this machine (packages/core/npm/<triple>/), ready to pack.
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'packages/core/native');
const node = existsSync(native) ? readdirSync(native).find((f) => f.endsWith('.node')) : undefined;
if (!node) {
  console.error('stage-platform-package: no .node in packages/core/native; run `pnpm build:native:release` first');
  process.exit(1);
}
const triple = node.replace(/^mlxn\./, '').replace(/\.node$/, '');
const dest = join(root, 'packages/core/npm', triple);
if (!existsSync(dest)) {
  console.error(`stage-platform-package: no platform package folder ${dest}`);
  process.exit(1);
}
for (const f of readdirSync(native)) copyFileSync(join(native, f), join(dest, f));
console.error(`stage-platform-package: staged ${readdirSync(native).length} files in ${dest}`);
