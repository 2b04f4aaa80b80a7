import { defineConfig } from 'tsup';

// The sibling packages stay external so @mlxn/core's module state (and the native binary)
// exists once.
export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli/main.ts', 'cli-args': 'src/cli/shared.ts' },
  format: ['esm'],
  // The command-line tool (`mlxn-qwen3`, dist/cli.js) is an executable, not an API: no types.
  // cli-args is what @mlxn/grpo's `mlxn-train` shares with it (an internal export).
  dts: { entry: { index: 'src/index.ts', 'cli-args': 'src/cli/shared.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  external: [/^@mlxn\//],
});
