// Bundles the generation, breakdown, attention, fused-kernel parity, server, scheduler and GRPO-against-TRL benchmarks into single ESM files for the GPU machine, where there is
// no node_modules: `node tooling/bench/gpu/bundle.mjs <out dir>`. The native binary is loaded
// at run time from MLXN_NATIVE_PATH; @mlxn/core reads its version from <out dir>/../package.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');
const out = process.argv[2] && resolve(process.argv[2]);
if (!out) throw new Error('usage: node tooling/bench/gpu/bundle.mjs <out dir>');
// esbuild comes with tsup, the packages' bundler.
const esbuild = createRequire(createRequire(join(root, 'packages/core/package.json')).resolve('tsup'))('esbuild');
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: {
    generate: join(root, 'tooling/bench/generate.ts'),
    'decode-breakdown': join(root, 'tooling/bench/decode-breakdown.ts'),
    attention: join(root, 'tooling/bench/attention.ts'),
    'fused-parity': join(root, 'tooling/bench/fused-parity.ts'),
    server: join(root, 'tooling/bench/server.ts'),
    'serve-model': join(root, 'tooling/bench/serve-model.ts'),
    scheduler: join(root, 'tooling/bench/scheduler.ts'),
    'grpo-trl': join(root, 'tooling/bench/grpo-trl.ts'),
  },
  absWorkingDir: join(root, 'tooling'),
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  banner: {
    js: "import { createRequire as __mlxnCreateRequire } from 'node:module'; const require = __mlxnCreateRequire(import.meta.url);",
  },
});
const core = JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8'));
writeFileSync(
  join(dirname(out), 'package.json'),
  JSON.stringify({ name: '@mlxn/gpu-bench', private: true, version: core.version, type: 'module' }),
);
