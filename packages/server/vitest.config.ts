import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One MLX runtime per process: forks isolate test files without sharing native state.
    pool: 'forks',
    // The memory checks collect garbage first: arrays only a finalizer releases are not leaks.
    execArgv: ['--expose-gc'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
