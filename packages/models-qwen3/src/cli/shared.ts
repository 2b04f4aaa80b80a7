/**
 * What every @mlxn command-line tool shares, published as `@mlxn/models-qwen3/cli-args` for
 * @mlxn/grpo's `mlxn-train`: the flag parser, Ctrl-C counting, `--version` and the download
 * progress bar. An internal export, not a stable API.
 */
export * from './args.js';
export * from './interrupts.js';
export * from './progress-bar.js';
export * from './version.js';
