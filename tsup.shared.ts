import type { Options } from 'tsup';

/**
 * The build every published package shares; a package's tsup.config.ts states only its entries
 * and which of them have types. ESM for Node 20, with declarations and source maps.
 */
export function packageBuild(options: Options = {}): Options {
  return {
    entry: { index: 'src/index.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    // Code two entries of a package share goes to one chunk, so its module state (@mlxn/core's
    // loaded binary, tidy scopes and random key; @mlxn/io's crash-test step counter) exists once.
    splitting: true,
    target: 'node20',
    platform: 'node',
    // The sibling packages stay external so @mlxn/core's module state (and the native binary)
    // exists once in a process.
    external: [/^@mlxn\//],
    ...options,
  };
}
