import { defineConfig } from 'tsup';

// @mlxn/core stays external so its module state (and the native binary) exists once.
export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  external: ['@mlxn/core', '@mlxn/core/internal', '@mlxn/io'],
});
