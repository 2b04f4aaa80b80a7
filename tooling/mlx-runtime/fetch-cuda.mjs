#!/usr/bin/env node
// Installs the pinned CUDA runtime of MLX into the cache folder where this machine would run on
// it (an NVIDIA driver present, or MLXN_MLX_BACKEND=cuda); elsewhere it does nothing. The
// work is @mlxn/core's own installer (`mlxn-runtime install auto`), run from source with tsx
// because the bootstrap calls this before the packages are built.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
execFileSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'packages/core/src/runtime/cli.ts'), 'install', 'auto'], {
  stdio: 'inherit',
});
