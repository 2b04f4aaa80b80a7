import { defineConfig } from 'tsup';

// @mlxn/core stays external so its module state (and the native binary) exists once.
export default defineConfig({
  entry: { index: 'src/index.ts', internal: 'src/internal.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  // One chunk for both entries: the crash-test step counter and in-flight set exist once.
  splitting: true,
  target: 'node20',
  platform: 'node',
  external: ['@mlxn/core', '@mlxn/core/internal'],
});
