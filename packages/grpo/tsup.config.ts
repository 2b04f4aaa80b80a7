import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

export default defineConfig(
  packageBuild({
    entry: { index: 'src/index.ts', cli: 'src/cli/main.ts' },
    // The command-line tool (`mlxn-train`, dist/cli.js) is an executable, not an API: no types.
    dts: { entry: { index: 'src/index.ts' } },
  }),
);
