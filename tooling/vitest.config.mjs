import { defineConfig } from 'vitest/config';

// Tests of the repository's tooling: packaging (publint, attw, install-subset) and releases.
export default defineConfig({
  test: {
    include: ['test/**/*.test.mjs'],
    // Pack every published package once for all test files (tarballs are shared read-only).
    globalSetup: ['test/pack-once.mjs'],
    pool: 'forks',
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
