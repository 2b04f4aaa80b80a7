// The workspace folders that publish to the registry. A package joins packing, the publint and
// arethetypeswrong checks, the changesets test and the install-subset test by adding its folder
// here (after its internal dependencies, so a failure points at the lowest broken package
// first), and `"<name>": "workspace:*"` to tooling/package.json's dependencies (so `turbo run
// test` builds it before the tooling tests pack it).
export const PACKAGE_DIRS = [
  'packages/core',
  'packages/io',
  'packages/sampling',
  'packages/nn',
  'packages/cache',
  'packages/models-qwen3',
  'packages/grpo',
  'packages/server',
];

// napi-rs platform packages of @mlxn/core, one per target triple. Only the one matching the
// binary built on this machine is filled and packed (it holds that machine's .node).
export const PLATFORM_PACKAGE_DIRS = ['packages/core/npm/linux-x64-gnu'];
