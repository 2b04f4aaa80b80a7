import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

export default defineConfig(
  packageBuild({
    entry: { index: 'src/index.ts', cli: 'src/cli/main.ts', 'cli-args': 'src/cli/shared.ts' },
    // The command-line tool (`mlxn-qwen3`, dist/cli.js) is an executable, not an API: no types.
    // cli-args is what @mlxn/grpo's `mlxn-train` shares with it (an internal export).
    dts: { entry: { index: 'src/index.ts', 'cli-args': 'src/cli/shared.ts' } },
  }),
);
