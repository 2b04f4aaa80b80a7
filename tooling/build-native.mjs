#!/usr/bin/env node
// Builds the one native addon (crates/mlxn-node) with @napi-rs/cli and stages it, with the
// MLX runtime libraries it links, in packages/core/native/. The generated TypeScript types of
// every crate's exports land in packages/core/src/binding.d.ts.
//
//   node tooling/build-native.mjs            fast dev profile (tests)
//   node tooling/build-native.mjs --release  LTO release profile (packaging, benchmarks)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimePrefix } from './mlx-runtime/paths.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const release = process.argv.includes('--release');
const out = join(root, 'packages/core/native');

if (!process.env.MLXN_MLX_DIR) {
  execFileSync(process.execPath, [join(root, 'tooling/mlx-runtime/fetch.mjs')], { stdio: 'inherit' });
}
const prefix = process.env.MLXN_MLX_DIR || runtimePrefix();

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const napiBin = join(root, 'node_modules/@napi-rs/cli/dist/cli.js');
const args = [
  napiBin, 'build',
  '--platform',
  '--manifest-path', join(root, 'crates/mlxn-node/Cargo.toml'),
  '--package-json-path', join(root, 'packages/core/package.json'),
  '--output-dir', out,
  '--dts', '../src/binding.d.ts',
  '--no-js',
  '--features', 'probe',
];
if (release) args.push('--release');
execFileSync(process.execPath, args, { stdio: 'inherit', cwd: root });

// The MLX runtime travels beside the .node (found through its $ORIGIN rpath).
const lib = join(prefix, 'lib');
for (const f of readdirSync(lib)) {
  if (/\.so(\.|$)|\.dylib$|\.metallib$|^MLX_VERSION$/.test(f)) copyFileSync(join(lib, f), join(out, f));
}
if (!readdirSync(out).some((f) => f.endsWith('.node'))) {
  throw new Error(`no .node file was produced in ${out}`);
}
console.error(`[build-native] staged ${readdirSync(out).join(', ')} in ${out}`);
