/**
 * How many threads a large matrix product on the CPU may use by default (see
 * `setCpuMatmulThreads`), settled before the first array is built.
 *
 * On Linux @mlxn computes MLX's float CPU products on several threads (crates/mlxn-sys's
 * cpu_gemm.rs replaces the `mlx-cpu` wheel's single-threaded reference BLAS) and splits the
 * linear products MLX runs on one thread over CPU streams. macOS's Accelerate already uses every
 * core, so there the default is 1.
 */
import { availableParallelism } from 'node:os';

/** The most threads the default takes (more helps only very large products). */
const DEFAULT_CAP = 8;
const MAX_CPU_MATMUL_THREADS = 64;

/** Checks a thread count, naming where it came from in the error. */
export function checkCpuMatmulThreads(n: unknown, source: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CPU_MATMUL_THREADS) {
    throw new RangeError(
      `${source} must be an integer from 1 to ${MAX_CPU_MATMUL_THREADS}, got ${typeof n === 'string' ? JSON.stringify(n) : String(n)}`,
    );
  }
  return n;
}

/** `MLXN_CPU_MATMUL_THREADS` when set, else the cores this process may use (at most 8) on Linux, 1 elsewhere. */
export function defaultCpuMatmulThreads(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): number {
  const raw = env.MLXN_CPU_MATMUL_THREADS;
  if (raw !== undefined && raw !== '') {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    return checkCpuMatmulThreads(n, 'MLXN_CPU_MATMUL_THREADS');
  }
  return platform === 'linux' ? Math.min(availableParallelism(), DEFAULT_CAP) : 1;
}
