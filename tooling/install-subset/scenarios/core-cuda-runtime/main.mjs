// @mlxn/core from tarballs with the CUDA runtime's lookup, on a machine without a GPU: the
// `mlxn-runtime` command is installed and agrees with the loader on the cache folder, and
// MLXN_MLX_BACKEND=cuda loads the binary from beside the libmlx.so laid out there. The stand-in
// runtime holds the platform package's CPU libraries where the CUDA wheels put libmlx.so
// (mlx/lib/); the real one is checked by tooling/mlx-runtime/check-cuda-layout.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const platformDir = realpathSync('node_modules/@mlxn/core-linux-x64-gnu');
const mlxVersion = readFileSync(join(platformDir, 'MLX_VERSION'), 'utf8').trim();
const cache = realpathSync(mkdtempSync(join(tmpdir(), 'mlxn-cuda-cache-')));
const runtime = join(cache, `mlx-${mlxVersion}-linux-x64-cuda13`);
const env = (backend) => ({ ...process.env, MLXN_CACHE_DIR: cache, MLXN_MLX_BACKEND: backend });
const run = (cmd, args, backend) => spawnSync(cmd, args, { env: env(backend), encoding: 'utf8' });

// The command a user runs (`npx mlxn-runtime …` runs this same file).
const bin = 'node_modules/.bin/mlxn-runtime';
const path = run(bin, ['path', 'cuda'], 'cuda');
assert.equal(path.status, 0, path.stderr);
assert.equal(path.stdout.trim(), runtime);
const before = JSON.parse(run(bin, ['status'], 'cuda').stdout);
assert.equal(before.cudaInstalled, false);
assert.equal(before.backend, 'cpu (CUDA runtime not installed)');

// Asked for CUDA without the runtime: a loud error that says how to install it.
const missing = run(process.execPath, ['child.mjs'], 'cuda');
assert.notEqual(missing.status, 0);
assert.match(missing.stderr, /MLXN_MLX_BACKEND=cuda, but the CUDA runtime of MLX [\d.]+ is not in .*npx mlxn-runtime install cuda/s);

const lib = join(runtime, 'mlx', 'lib');
mkdirSync(lib, { recursive: true });
for (const f of readdirSync(platformDir)) if (/\.so(\.|$)/.test(f)) copyFileSync(join(platformDir, f), join(lib, f));
writeFileSync(join(runtime, '.complete'), 'stand-in\n');

const cuda = run(process.execPath, ['child.mjs'], 'cuda');
assert.equal(cuda.status, 0, cuda.stderr);
const loaded = JSON.parse(cuda.stdout);
assert.equal(loaded.sum, 10);
assert.match(loaded.node, new RegExp(`^${lib}/mlxn-[0-9a-f]{16}\\.node$`));
assert.equal(loaded.libmlx, join(lib, 'libmlx.so'));

const cpu = run(process.execPath, ['child.mjs'], 'cpu');
assert.equal(cpu.status, 0, cpu.stderr);
assert.equal(JSON.parse(cpu.stdout).libmlx, join(platformDir, 'libmlx.so'));
console.log('ok');
