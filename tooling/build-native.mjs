#!/usr/bin/env node
// Builds the one native addon (crates/mlxn-node) with @napi-rs/cli and stages it, with the
// MLX runtime libraries it links, in packages/core/native/. The generated TypeScript types of
// every crate's exports land in packages/core/src/binding.d.ts.
//
//   node tooling/build-native.mjs            fast dev profile (tests)
//   node tooling/build-native.mjs --release  LTO release profile (packaging, benchmarks, the main job)
//
// MLXN_NATIVE_PROFILE=release selects the release profile too, so that `pnpm build` (turbo runs
// this script as the build:native step) can build what gets published or benchmarked:
// `MLXN_NATIVE_PROFILE=release pnpm build`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimePrefix } from './mlx-runtime/paths.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const release = process.argv.includes('--release') || process.env.MLXN_NATIVE_PROFILE === 'release';
if (!['', undefined, 'dev', 'release'].includes(process.env.MLXN_NATIVE_PROFILE)) {
  throw new Error(`MLXN_NATIVE_PROFILE must be dev or release, got ${process.env.MLXN_NATIVE_PROFILE}`);
}
const outFlag = process.argv.indexOf('--out-dir');
// --out-dir stages elsewhere (for example a release build for benchmarks beside a dev build).
const out = outFlag > 0 ? process.argv[outFlag + 1] : join(root, 'packages/core/native');

if (!process.env.MLXN_MLX_DIR) {
  execFileSync(process.execPath, [join(root, 'tooling/mlx-runtime/fetch.mjs')], { stdio: 'inherit' });
}
const prefix = process.env.MLXN_MLX_DIR || runtimePrefix();

// Stage into a fresh folder and swap it in at the end, so processes starting meanwhile never
// see a half-written native/ folder.
const staging = `${out}.staging-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });

const napiBin = join(root, 'node_modules/@napi-rs/cli/dist/cli.js');
const args = [
  napiBin,
  'build',
  '--platform',
  '--manifest-path',
  join(root, 'crates/mlxn-node/Cargo.toml'),
  '--package-json-path',
  join(root, 'packages/core/package.json'),
  '--output-dir',
  staging,
  // napi-rs resolves --dts relative to the output folder.
  '--dts',
  relative(staging, join(root, 'packages/core/src/binding.d.ts')),
  '--no-js',
  '--features',
  'probe',
];
if (release) args.push('--release');
execFileSync(process.execPath, args, { stdio: 'inherit', cwd: root });

// napi-rs keeps each crate's type definitions in a cache folder keyed by the dependency set;
// after a crate is added, crates that did not recompile contribute nothing and binding.d.ts
// comes out truncated. Detect that (core's exports missing), force every crate to re-emit its
// types, and build once more.
const dtsFile = join(root, 'packages/core/src/binding.d.ts');
if (!readFileSync(dtsFile, 'utf8').includes('export declare function releaseMany')) {
  console.error('[build-native] binding.d.ts is incomplete; re-emitting the types of every crate');
  const now = new Date();
  for (const crate of readdirSync(join(root, 'crates'))) {
    const lib = join(root, 'crates', crate, 'src', 'lib.rs');
    if (existsSync(lib)) utimesSync(lib, now, now);
  }
  execFileSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  if (!readFileSync(dtsFile, 'utf8').includes('export declare function releaseMany')) {
    throw new Error('binding.d.ts is still missing @mlxn/core exports after a full re-emit');
  }
}

// Arrays cross the boundary as numeric handles (see crates/mlxn-core/src/js/mod.rs); give the
// generated types a branded number so a plain number is not mistaken for one.
const dtsPath = join(root, 'packages/core/src/binding.d.ts');
const dts = readFileSync(dtsPath, 'utf8');
if (!dts.includes('export type JsArray =')) {
  writeFileSync(
    dtsPath,
    `${dts.trimEnd()}\n\n/** A handle to an MLX array in the native handle table. */\nexport type JsArray = number & { readonly __mlxnArray: true }\n`,
  );
}

// The MLX runtime travels beside the .node (found through its $ORIGIN rpath).
const lib = join(prefix, 'lib');
for (const f of readdirSync(lib)) {
  if (/\.so(\.|$)|\.dylib$|\.metallib$|^MLX_VERSION$/.test(f)) copyFileSync(join(lib, f), join(staging, f));
}
if (!readdirSync(staging).some((f) => f.endsWith('.node'))) {
  throw new Error(`no .node file was produced in ${staging}`);
}
const old = `${out}.old-${process.pid}`;
if (existsSync(out)) renameSync(out, old);
renameSync(staging, out);
rmSync(old, { recursive: true, force: true });
console.error(`[build-native] staged ${readdirSync(out).join(', ')} in ${out}`);
