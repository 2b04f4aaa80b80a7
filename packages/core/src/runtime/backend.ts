// Decides which MLX runtime the binary is loaded with: `MLXN_MLX_BACKEND=cpu|cuda`, or, when
// unset, CUDA where an NVIDIA driver is present and the CUDA runtime is installed.
import { existsSync, readFileSync } from 'node:fs';

type Backend = 'cpu' | 'cuda';

export interface BackendChoice {
  backend: Backend;
  /** True when the variable asked for it (a missing CUDA runtime is then an error). */
  explicit: boolean;
}

function requestedBackend(env: NodeJS.ProcessEnv = process.env): Backend | 'auto' {
  const value = (env.MLXN_MLX_BACKEND ?? '').trim().toLowerCase();
  if (value === '' || value === 'auto') return 'auto';
  if (value === 'cpu' || value === 'cuda') return value;
  throw new Error(`MLXN_MLX_BACKEND must be cpu, cuda or auto (got ${JSON.stringify(env.MLXN_MLX_BACKEND)})`);
}

/**
 * Whether this Linux machine has an NVIDIA driver. The kernel module publishes
 * /proc/driver/nvidia/version; where /proc hides it (some containers), the driver's user-space
 * library libcuda.so.1 is still listed in the loader's cache. Both are file reads, cheap enough
 * for every process start, and neither loads anything.
 */
export function nvidiaDriverPresent(
  files: { procVersion: string; ldCache: string } = { procVersion: '/proc/driver/nvidia/version', ldCache: '/etc/ld.so.cache' },
): boolean {
  if (process.platform !== 'linux') return false;
  if (existsSync(files.procVersion)) return true;
  try {
    return readFileSync(files.ldCache).includes('libcuda.so.1');
  } catch {
    return false;
  }
}

/** `auto` resolves to CUDA only on linux-x64 with a driver: the only CUDA runtime pinned. */
export function chooseBackend(env: NodeJS.ProcessEnv = process.env, driverPresent = nvidiaDriverPresent): BackendChoice {
  const requested = requestedBackend(env);
  if (requested !== 'auto') return { backend: requested, explicit: true };
  const cudaPlatform = process.platform === 'linux' && process.arch === 'x64';
  return { backend: cudaPlatform && driverPresent() ? 'cuda' : 'cpu', explicit: false };
}
