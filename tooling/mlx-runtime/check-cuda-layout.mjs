#!/usr/bin/env node
// The full check of an installed CUDA runtime, runnable without a GPU (opt-in: it needs the
// 2 GB runtime, `mlxn-runtime install cuda`, so CI does not run it):
//  1. every shared library in the runtime resolves all it needs (`ldd`), except libcuda.so.1,
//     which only the NVIDIA driver provides;
//  2. the CUDA libmlx.so defines every MLX symbol the `.node` takes from the CPU libmlx.so it
//     was built against, so the one binary runs on either runtime.
//
//   node tooling/mlx-runtime/check-cuda-layout.mjs [runtime-dir] [--node path/to/mlxn.node]
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pin, runtimePrefix } from './paths.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const nodeFlag = args.indexOf('--node');
const node = nodeFlag >= 0 ? args.splice(nodeFlag, 2)[1] : join(root, 'packages/core/native/mlxn.linux-x64-gnu.node');
const runtime = args[0] ?? `${runtimePrefix()}-cuda13`;
const DRIVER_ONLY = new Set(['libcuda.so.1']);

function* sharedLibraries(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) yield* sharedLibraries(path);
    else if (/\.so(\.\d+)*$/.test(name)) yield path;
  }
}

let problems = 0;
let checked = 0;
const driverOnly = new Set();
for (const lib of sharedLibraries(runtime)) {
  checked += 1;
  const out = execFileSync('ldd', [lib], { encoding: 'utf8' });
  for (const m of out.matchAll(/^\s*(\S+) => not found$/gm)) {
    if (DRIVER_ONLY.has(m[1])) driverOnly.add(relative(runtime, lib));
    else {
      problems += 1;
      console.error(`unresolved: ${relative(runtime, lib)} needs ${m[1]}`);
    }
  }
}
console.log(`ldd: ${checked} shared libraries under ${runtime}; unresolved apart from libcuda.so.1: ${problems}`);
console.log(`  need libcuda.so.1 (from the driver): ${[...driverOnly].sort().join(', ')}`);

const symbols = (file, flag) =>
  new Set(
    execFileSync('nm', ['-D', flag, file], { encoding: 'utf8', maxBuffer: 1 << 28 })
      .split('\n')
      .map((l) => l.trim().split(/\s+/).pop())
      .filter(Boolean),
  );
const cpuLib = join(runtimePrefix(), 'lib/libmlx.so');
const cpu = symbols(cpuLib, '--defined-only');
const wanted = [...symbols(node, '--undefined-only')].filter((s) => cpu.has(s));
const cuda = symbols(join(runtime, 'mlx/lib/libmlx.so'), '--defined-only');
const absent = wanted.filter((s) => !cuda.has(s));
for (const s of absent) console.error(`missing in the CUDA libmlx.so: ${s}`);
console.log(`symbols: the .node takes ${wanted.length} from libmlx.so (MLX ${pin.version}); missing in the CUDA one: ${absent.length}`);
process.exitCode = problems + absent.length > 0 ? 1 : 0;
