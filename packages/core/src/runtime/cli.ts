#!/usr/bin/env node
// `mlxn-runtime`: installs and reports the MLX runtime @mlxn/core loads (docs/gpu.md).
import { existsSync } from 'node:fs';
import { chooseBackend, nvidiaDriverPresent } from './backend.js';
import { cudaLibDir, cudaRuntimeDir } from './cache.js';
import { installWheels, isInstalled } from './install.js';
import { CUDA_WHEELS, MLX_VERSION } from './pins.js';

const USAGE = `usage: mlxn-runtime <command>

  install cuda   download MLX ${MLX_VERSION}'s CUDA runtime (Apple's mlx-cuda-13 wheel and the NVIDIA
                 libraries it needs, about 2 GB, pinned by SHA-256) with pip into the cache folder
  install auto   the same, only where MLXN_MLX_BACKEND and the machine choose CUDA
  status         which runtime @mlxn/core would load now, and why
  path cuda      print the CUDA runtime's folder

The cache folder is $MLXN_CACHE_DIR, else $XDG_CACHE_HOME/mlxn, else ~/.cache/mlxn.`;

// What the loader needs and MLX's own lookups need (docs/gpu.md explains each).
const CUDA_LAYOUT = ['mlx/lib/libmlx.so', 'mlx/include/mlx/mlx.h', 'mlx/include/cccl', 'nvidia/cu13/include/cuda_runtime.h'];

const log = (line: string) => process.stderr.write(`[mlxn-runtime] ${line}\n`);

function installCuda(): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the CUDA runtime is pinned for linux-x64 only (this is ${process.platform}-${process.arch})`);
  }
  const dir = cudaRuntimeDir(MLX_VERSION);
  const result = installWheels({ wheels: CUDA_WHEELS, runtimeDir: dir, expect: CUDA_LAYOUT, log });
  log(result === 'present' ? `MLX ${MLX_VERSION} CUDA runtime already in ${dir}` : `MLX ${MLX_VERSION} CUDA runtime ready in ${dir}`);
  if (!nvidiaDriverPresent()) log('note: no NVIDIA driver was found on this machine; @mlxn/core keeps using the CPU here');
}

function status(): void {
  const dir = cudaRuntimeDir(MLX_VERSION);
  const installed = isInstalled(dir, CUDA_WHEELS);
  const choice = chooseBackend();
  const why = choice.explicit ? 'MLXN_MLX_BACKEND' : nvidiaDriverPresent() ? 'an NVIDIA driver is present' : 'no NVIDIA driver';
  const loads = choice.backend === 'cuda' && !installed ? 'cpu (CUDA runtime not installed)' : choice.backend;
  console.log(
    JSON.stringify(
      {
        backend: loads,
        requested: choice.backend,
        reason: why,
        cudaRuntime: dir,
        cudaInstalled: installed,
        libDir: existsSync(cudaLibDir(dir)) ? cudaLibDir(dir) : null,
      },
      null,
      2,
    ),
  );
}

function main(args: string[]): number {
  const [cmd, what] = args;
  if (cmd === 'install' && what === 'cuda') installCuda();
  else if (cmd === 'install' && what === 'auto') {
    if (chooseBackend().backend === 'cuda') installCuda();
    else log('CPU chosen (no NVIDIA driver, or MLXN_MLX_BACKEND=cpu); nothing to install');
  } else if (cmd === 'status') status();
  else if (cmd === 'path' && what === 'cuda') console.log(cudaRuntimeDir(MLX_VERSION));
  else if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') console.log(USAGE);
  else {
    console.error(USAGE);
    return 2;
  }
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  log(`error: ${(err as Error).message}`);
  process.exitCode = 1;
}
