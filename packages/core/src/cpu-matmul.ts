/** How many threads a large matrix product on the CPU uses (MLX's float products, `mx.linear`). */
import { native } from './native.js';
import { checkCpuMatmulThreads } from './runtime/cpu-matmul-threads.js';

/**
 * Sets how many threads a large matrix product on the CPU may use: on Linux, every float32 and
 * float64 product MLX computes (in this library's GEMM, which replaces the bundled reference BLAS), and
 * `mx.linear` products that MLX runs on one thread (bfloat16, float16, quantized), which are
 * split by output columns over CPU streams. 1: one thread, as Python MLX on Linux. The default is
 * `MLXN_CPU_MATMUL_THREADS`, else on Linux the cores this process may use (at most 8), and 1
 * elsewhere. Products too small to gain stay on one thread. Functions compiled before the
 * change keep the split they were traced with.
 *
 * @example
 * mx.setCpuMatmulThreads(1); // one thread, as Python MLX
 */
export function setCpuMatmulThreads(threads: number): void {
  native.setCpuMatmulThreads(checkCpuMatmulThreads(threads, 'setCpuMatmulThreads: threads'));
}

/** How many threads a large matrix product on the CPU may use (see `setCpuMatmulThreads`). */
export function cpuMatmulThreads(): number {
  return native.cpuMatmulThreads();
}
