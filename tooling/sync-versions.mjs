#!/usr/bin/env node
// After `changeset version`: copies @mlxn/core's version into the Cargo workspace version, so
// the version compiled into the binary matches what @mlxn/core's loader expects.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8'));
const cargoPath = join(root, 'Cargo.toml');
const cargo = readFileSync(cargoPath, 'utf8');
const next = cargo.replace(/(\[workspace\.package\][^[]*?\nversion = ")[^"]+(")/, `$1${version}$2`);
if (next === cargo && !cargo.includes(`version = "${version}"`)) {
  console.error('sync-versions: could not find [workspace.package] version in Cargo.toml');
  process.exit(1);
}
writeFileSync(cargoPath, next);
for (const dir of ['packages/core/npm/linux-x64-gnu']) {
  const p = join(root, dir, 'package.json');
  const pkg = JSON.parse(readFileSync(p, 'utf8'));
  pkg.version = version;
  writeFileSync(p, `${JSON.stringify(pkg, null, 2)}\n`);
}
console.error(`sync-versions: crates and platform packages now at ${version}`);
