import { defineConfig } from 'tsup';

// Two entries share one chunk, so module state (the loaded binary, tidy scopes, the random
// key) exists once even when a sibling package imports `@mlxn/core/internal`.
export default defineConfig({
  entry: { index: 'src/index.ts', internal: 'src/internal.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: 'node20',
  platform: 'node',
});
