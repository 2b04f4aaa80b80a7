import { defineConfig } from 'tsup';

// The sibling packages stay external so @mlxn/core's module state (and the native binary)
// exists once. The command-line tool (`mlxn-serve`, dist/cli.js) is an executable: no types.
export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  external: [/^@mlxn\//],
});
