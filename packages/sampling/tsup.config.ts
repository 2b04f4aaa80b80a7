import { defineConfig } from 'tsup';

// Two entries, no shared chunk with @mlxn/core: `js` must never import the native binary,
// and @mlxn/core stays external so its module state exists once.
export default defineConfig({
  entry: { index: 'src/index.ts', js: 'src/js/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: 'node20',
  platform: 'node',
  external: ['@mlxn/core', '@mlxn/core/internal'],
});
