/** How many threads large linear-layer products on the CPU use (`mx.linear`, @mlxn/nn's layers). */
import { native } from './native.js';
import { checkCpuMatmulThreads } from './runtime/cpu-matmul-threads.js';

/**
 * Sets how many threads a large `mx.linear` product on the CPU is split over (1: never split).
 * The default is `MLXN_CPU_MATMUL_THREADS`, else on Linux the cores this process may use (at
 * most 8), and 1 elsewhere. Products too small to gain (under about 0.3 M multiply-adds per
 * thread) stay whole. Functions compiled before the change keep the split they were traced with.
 *
 * @example
 * mx.setCpuMatmulThreads(1); // one thread, as Python MLX
 */
export function setCpuMatmulThreads(threads: number): void {
  native.setCpuMatmulThreads(checkCpuMatmulThreads(threads, 'setCpuMatmulThreads: threads'));
}

/** How many threads a large `mx.linear` product on the CPU is split over (see `setCpuMatmulThreads`). */
export function cpuMatmulThreads(): number {
  return native.cpuMatmulThreads();
}
