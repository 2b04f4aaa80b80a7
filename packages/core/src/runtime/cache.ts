// Where fetched MLX runtimes live: a per-user cache folder, never the package's own folder
// (which may be read-only). The same rule as tooling/mlx-runtime/paths.mjs and mlxn-sys's
// build.rs, so a source checkout and an npm install share one CUDA runtime.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MLXN_CACHE_DIR) return env.MLXN_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mlxn');
}

/**
 * The CUDA runtime of one MLX version. Inside, the wheels are unpacked as pip would unpack
 * them into site-packages: `mlx/lib/libmlx.so` finds the NVIDIA libraries through its own
 * RPATH (`$ORIGIN/../../nvidia/...`), and MLX's JIT finds `mlx/include` and
 * `nvidia/cu13/include` relative to the folder libmlx.so was loaded from.
 */
export function cudaRuntimeDir(mlxVersion: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), `mlx-${mlxVersion}-linux-x64-cuda13`);
}

/** The folder holding libmlx.so; the binary is loaded from a copy placed here. */
export function cudaLibDir(runtimeDir: string): string {
  return join(runtimeDir, 'mlx', 'lib');
}

/** Written last by the installer: its presence means the runtime is complete and verified. */
export function completeStamp(runtimeDir: string): string {
  return join(runtimeDir, '.complete');
}

/** Where MLX's CUDA backend keeps the PTX it compiles (`MLX_PTX_CACHE_DIR`), per MLX version. */
export function cudaPtxCacheDir(mlxVersion: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), 'ptx', mlxVersion);
}
