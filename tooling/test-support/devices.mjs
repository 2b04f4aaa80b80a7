// Which device a test file runs on. The suites run on the CPU in CI and on an NVIDIA GPU with
// tooling/gpu-suite, where MLX's default device is the GPU. Some tests are about what MLX does
// only on the CPU (float64, linear algebra's factorizations) or hold goldens that are the CPU's
// float32 results bit for bit: those files call `useCpuDevice` so they test the same thing on
// both machines, and say why where they call it.
import { afterAll, beforeAll } from 'vitest';

/** Whether `mx`'s default device is a GPU (the CUDA runtime is loaded). */
export function onGpu(mx) {
  return mx.defaultDevice().type === 'gpu';
}

/** Runs the calling file's tests with the CPU as the default device; a no-op where it already is. */
export function useCpuDevice(mx) {
  if (!onGpu(mx)) return;
  beforeAll(() => mx.setDefaultDevice('cpu'));
  afterAll(() => mx.setDefaultDevice('gpu'));
}

/**
 * Wraps a test body so it runs with the CPU as the default device on a GPU machine (as it runs
 * everywhere else). For tests that compare two training runs bit for bit: MLX's CUDA scatter-add
 * (the embedding's gradient, every gather's backward) sums in a nondeterministic order, so two
 * identical GPU runs differ in the last bits (docs/gpu.md); the CPU's is deterministic.
 */
export function onCpuDevice(mx, body) {
  return async () => {
    if (!onGpu(mx)) return body();
    mx.setDefaultDevice('cpu');
    try {
      return await body();
    } finally {
      mx.setDefaultDevice('gpu');
    }
  };
}
