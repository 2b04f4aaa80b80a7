import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.shared.js';

// Two library entries share one chunk, so module state (the loaded binary, tidy scopes, the
// random key) exists once even when a sibling package imports `@mlxn/core/internal`.
// `mlxn-runtime` (dist/mlxn-runtime.js) is the command-line installer of the CUDA runtime: an
// executable, not an API, so it has no types; the pins it carries are inlined from pin.json.
// `mlxn-launch` (dist/mlxn-launch.js) starts the processes of a local distributed job.
export default defineConfig(
  packageBuild({
    entry: { index: 'src/index.ts', internal: 'src/internal.ts', 'mlxn-runtime': 'src/runtime/cli.ts', 'mlxn-launch': 'src/launch/cli.ts' },
    dts: { entry: { index: 'src/index.ts', internal: 'src/internal.ts' } },
  }),
);
