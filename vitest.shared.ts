import type { ViteUserConfig } from 'vitest/config';

type TestOptions = NonNullable<ViteUserConfig['test']>;

/**
 * The tests of every workspace package and of examples/; a package's vitest.config.ts passes
 * only what differs.
 */
export function packageTests(options: TestOptions = {}): ViteUserConfig {
  return {
    test: {
      include: ['test/**/*.test.ts'],
      // One MLX runtime per process: forks isolate test files without sharing native state.
      pool: 'forks',
      testTimeout: 60_000,
      hookTimeout: 60_000,
      ...options,
    },
  };
}
