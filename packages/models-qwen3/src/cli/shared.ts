/**
 * What every @mlxn command-line tool shares, published as `@mlxn/models-qwen3/cli-args` for
 * @mlxn/grpo's `mlxn-train` and @mlxn/server's `mlxn-serve`: the flag parser, how a tool's main
 * runs and reports errors, Ctrl-C counting, `--version`, the `--revision` flag and the download
 * progress bar. An internal export, not a stable API.
 */
export * from './args.js';
export * from './interrupts.js';
export { REVISION_FLAG } from './model-folder.js';
export * from './progress-bar.js';
export * from './run-main.js';
export * from './version.js';
