import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One MLX runtime per process: forks isolate test files without sharing native state.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
