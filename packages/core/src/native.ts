/**
 * Loads the one native binary of @mlxn (every crate's exports, one MLX runtime) and checks it.
 *
 * Where the binary is looked for:
 * 1. `MLXN_NATIVE_PATH` (a `.node` file), for custom builds; when set, nothing else is tried,
 *    so a mistyped path is an error rather than a silent fallback to another binary;
 * 2. `native/mlxn.<platform>.node` inside this package: a source checkout after
 *    `pnpm build:native`. Never packed, so an installed @mlxn/core goes on to 3; checked before
 *    3 so that a fresh dev build wins over binaries staged into the platform package folder;
 * 3. the platform package `@mlxn/core-<platform>` (the napi-rs layout: an optional dependency
 *    holding the `.node` with libmlx.so and its libraries beside it), resolved from this
 *    package, which is what an install from the registry or from tarballs provides.
 *
 * The binary of 2. or 3. then runs on one of two MLX runtimes (src/runtime/backend.ts): the CPU
 * one beside it, or the CUDA runtime that `mlxn-runtime install cuda` put into the per-user
 * cache folder, chosen by `MLXN_MLX_BACKEND=cuda` or by default where an NVIDIA driver is
 * present. For CUDA a copy of the binary is loaded from beside the CUDA libmlx.so
 * (src/runtime/place-binary.ts). `MLXN_NATIVE_PATH` is always loaded as it is.
 *
 * Loading is synchronous and this module has no top-level await, so CommonJS code can
 * `require('@mlxn/core')` on Node >= 20.19.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Binding from './binding.js';
import { chooseBackend } from './runtime/backend.js';
import { completeStamp, cudaLibDir, cudaPtxCacheDir, cudaRuntimeDir } from './runtime/cache.js';
import { prepareCpuJit } from './runtime/cpu-jit.js';
import { protectCpuJitFolder } from './runtime/cpu-jit-dir.js';
import { defaultCpuMatmulThreads } from './runtime/cpu-matmul-threads.js';
import { placeBinary } from './runtime/place-binary.js';

export type NativeBinding = typeof Binding;
/** A handle to an array in the native handle table (a branded number). */
export type NativeArray = Binding.JsArray;

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = join(here, '..');
const require = createRequire(import.meta.url);

function platformTriple(): string {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl';
    return `linux-${arch}-${libc}`;
  }
  return `${platform}-${arch}`;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function load(): NativeBinding {
  // MLX's CPU kernels: GCC 13+ (runtime/cpu-jit.ts) and a kernel folder of this user's own
  // (runtime/cpu-jit-dir.ts), both settled in the environment before MLX first compiles.
  prepareCpuJit();
  protectCpuJitFolder();
  const triple = platformTriple();
  const override = process.env.MLXN_NATIVE_PATH;
  if (override) {
    if (!existsSync(override)) {
      throw new Error(`@mlxn/core: MLXN_NATIVE_PATH names ${override}, which does not exist. Unset it to use the installed binary.`);
    }
    return require(override) as NativeBinding;
  }
  const devBinary = join(packageRoot, 'native', `mlxn.${triple}.node`);
  if (existsSync(devBinary)) return require(withRuntime(devBinary)) as NativeBinding;
  let binary: string;
  try {
    binary = require.resolve(`@mlxn/core-${triple}`);
  } catch (err) {
    throw new Error(
      `@mlxn/core: no native binary for ${triple}. Looked in ${devBinary} and the ` +
        `package @mlxn/core-${triple}. In a source checkout run \`pnpm build:native\`; otherwise ` +
        `install @mlxn/core on a supported platform (linux-x64-gnu; macOS arm64 and linux-arm64 ` +
        `are best-effort). Cause: ${(err as Error).message}`,
    );
  }
  const chosen = withRuntime(binary);
  try {
    return require(chosen) as NativeBinding;
  } catch (err) {
    // Found but not loadable (for example a library beside it missing, or a too old glibc).
    throw new Error(`@mlxn/core: the binary of @mlxn/core-${triple} (${chosen}) failed to load: ${(err as Error).message}`);
  }
}

/** The path to load `binary` from: itself on the CPU runtime, its copy in the CUDA runtime. */
function withRuntime(binary: string): string {
  const choice = chooseBackend();
  if (choice.backend === 'cpu') return binary;
  // The MLX version the binary was built against, staged beside it by the build.
  const mlxVersion = readFileSync(join(dirname(binary), 'MLX_VERSION'), 'utf8').trim();
  const runtime = cudaRuntimeDir(mlxVersion);
  if (!existsSync(completeStamp(runtime))) {
    const install = 'Install it with `npx mlxn-runtime install cuda` (about 2 GB, see docs/gpu.md)';
    if (choice.explicit) {
      throw new Error(`@mlxn/core: MLXN_MLX_BACKEND=cuda, but the CUDA runtime of MLX ${mlxVersion} is not in ${runtime}. ${install}.`);
    }
    process.emitWarning(
      `An NVIDIA driver is present, but the CUDA runtime of MLX ${mlxVersion} is not installed (${runtime}); ` +
        `running on the CPU. ${install}, or set MLXN_MLX_BACKEND=cpu to keep the CPU without this warning.`,
      { code: 'MLXN_NO_CUDA_RUNTIME' },
    );
    return binary;
  }
  // MLX keeps the PTX it compiles in <temp>/mlx/<version>/ptx unless told otherwise: a folder
  // in this user's cache instead survives reboots (a first compile of a kernel can take seconds)
  // and is no one else's (runtime/cpu-jit-dir.ts says why that matters).
  process.env.MLX_PTX_CACHE_DIR ??= cudaPtxCacheDir(mlxVersion);
  return placeBinary(binary, cudaLibDir(runtime));
}

// A second copy of @mlxn/core (another path) would bring its own module state (tidy scopes,
// random key, compile ids) while sharing the one native runtime: refuse it loudly.
const GUARD = Symbol.for('@mlxn/core/loaded-from');
const globalState = globalThis as unknown as Record<symbol, string | undefined>;
const loadedFrom = globalState[GUARD];
if (loadedFrom !== undefined && loadedFrom !== packageRoot) {
  throw new Error(
    `@mlxn/core was loaded twice in one process (from ${loadedFrom} and from ${packageRoot}). ` +
      'Deduplicate it (for example `pnpm dedupe`) so every @mlxn package shares one copy.',
  );
}
globalState[GUARD] = packageRoot;

/** The loaded binary: internal API for @mlxn packages (see `@mlxn/core/internal`). */
export const native: NativeBinding = load();

export const VERSION = packageVersion();
const bindingVersion = native.bindingVersion();
if (bindingVersion !== VERSION) {
  throw new Error(
    `@mlxn/core ${VERSION} found a native binary of version ${bindingVersion}; they must match. ` +
      'Rebuild with `pnpm build:native` or reinstall @mlxn/core.',
  );
}
native.registerEnv();
// Before anything is built: the decoding loops of @mlxn packages evaluate each step on a
// native thread while the next one is built (MLXN_EVAL_THREAD=0 keeps everything on this one).
if (process.env.MLXN_EVAL_THREAD !== '0') native.useSharedStreams();
// Large CPU products of linear layers use this many threads (`setCpuMatmulThreads`).
native.setCpuMatmulThreads(defaultCpuMatmulThreads());
