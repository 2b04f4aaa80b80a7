// The CUDA runtime's building blocks without a GPU or a network: the backend choice, the cache
// paths (which must agree with the checkout's tooling), copying the binary beside a libmlx.so,
// and the wheel installer, driven by a stand-in `pip` over small wheels made here.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseBackend, nvidiaDriverPresent } from '../src/runtime/backend.js';
import { cudaPtxCacheDir, cudaRuntimeDir } from '../src/runtime/cache.js';
import { installWheels, isInstalled } from '../src/runtime/install.js';
import { CUDA_WHEELS, MLX_VERSION } from '../src/runtime/pins.js';
import { placeBinary } from '../src/runtime/place-binary.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-runtime-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('backend choice', () => {
  const yes = () => true;
  const no = () => false;
  it('MLXN_MLX_BACKEND decides when set, whatever the driver', () => {
    expect(chooseBackend({ MLXN_MLX_BACKEND: 'cpu' }, yes)).toEqual({ backend: 'cpu', explicit: true });
    expect(chooseBackend({ MLXN_MLX_BACKEND: 'CUDA' }, no)).toEqual({ backend: 'cuda', explicit: true });
    expect(() => chooseBackend({ MLXN_MLX_BACKEND: 'metal' }, no)).toThrow(/must be cpu, cuda or auto/);
  });
  it('unset or auto follows the driver on linux-x64', () => {
    const cuda = process.platform === 'linux' && process.arch === 'x64' ? 'cuda' : 'cpu';
    expect(chooseBackend({}, yes)).toEqual({ backend: cuda, explicit: false });
    expect(chooseBackend({ MLXN_MLX_BACKEND: 'auto' }, no)).toEqual({ backend: 'cpu', explicit: false });
  });
  it('sees a driver through /proc or the loader cache', () => {
    const proc = join(work, 'proc-version');
    const cache = join(work, 'ld.so.cache');
    writeFileSync(cache, Buffer.from('\0libc.so.6\0/lib/x86_64-linux-gnu/libc.so.6\0'));
    expect(nvidiaDriverPresent({ procVersion: proc, ldCache: cache })).toBe(false);
    writeFileSync(cache, Buffer.from('\0libcuda.so.1\0/usr/lib/x86_64-linux-gnu/libcuda.so.1\0'));
    expect(nvidiaDriverPresent({ procVersion: proc, ldCache: cache })).toBe(process.platform === 'linux');
    writeFileSync(proc, 'NVRM version: NVIDIA UNIX x86_64 Kernel Module\n');
    expect(nvidiaDriverPresent({ procVersion: proc, ldCache: join(work, 'absent') })).toBe(process.platform === 'linux');
  });
});

describe('cache paths', () => {
  it('agree with the checkout tooling (one cache for source builds and npm installs)', async () => {
    const tooling = await import('../../../tooling/mlx-runtime/paths.mjs');
    const saved = process.env.MLXN_CACHE_DIR;
    process.env.MLXN_CACHE_DIR = join(work, 'cache');
    try {
      expect(cudaRuntimeDir(MLX_VERSION)).toBe(`${tooling.runtimePrefix()}-cuda13`);
    } finally {
      if (saved === undefined) delete process.env.MLXN_CACHE_DIR;
      else process.env.MLXN_CACHE_DIR = saved;
    }
    expect(cudaRuntimeDir('0.32.4', { XDG_CACHE_HOME: '/x' })).toBe('/x/mlxn/mlx-0.32.4-linux-x64-cuda13');
    // MLX's compiled PTX, per user and MLX version (MLX_PTX_CACHE_DIR, set when CUDA loads).
    expect(cudaPtxCacheDir('0.32.4', { XDG_CACHE_HOME: '/x' })).toBe('/x/mlxn/ptx/0.32.4');
  });
  it('pins the mlx-cuda-13 wheel of the pinned MLX', () => {
    expect(CUDA_WHEELS.find((w) => w.package === 'mlx-cuda-13')?.version).toBe(MLX_VERSION);
  });
});

describe('placeBinary', () => {
  it('copies once, reuses the copy, and replaces it when the source changes', () => {
    const src = join(work, 'src.node');
    const lib = join(work, 'lib');
    mkdirSync(lib);
    writeFileSync(src, 'one');
    const placed = placeBinary(src, lib);
    expect(placed.startsWith(lib)).toBe(true);
    expect(readFileSync(placed, 'utf8')).toBe('one');
    utimesSync(placed, new Date(0), new Date(0));
    expect(placeBinary(src, lib)).toBe(placed);
    expect(readFileSync(placed, 'utf8')).toBe('one');
    writeFileSync(src, 'two, longer');
    expect(placeBinary(src, lib)).toBe(placed);
    expect(readFileSync(placed, 'utf8')).toBe('two, longer');
  });
});

describe('installWheels', () => {
  // Two tiny wheels shaped like mlx-cuda-13 and an NVIDIA wheel, and a `pip` that copies the
  // requested ones into --dest, recording each call.
  const index = join(work, 'index');
  mkdirSync(join(index, 'src/a/mlx/lib'), { recursive: true });
  mkdirSync(join(index, 'src/b/nvidia/cu13/lib'), { recursive: true });
  writeFileSync(join(index, 'src/a/mlx/lib/libmlx.so'), 'mlx');
  writeFileSync(join(index, 'src/b/nvidia/cu13/lib/libcublas.so.13'), 'cublas');
  const zip = (name: string, dir: string) => {
    const file = join(index, name);
    execFileSync('python3', [
      '-m',
      'zipfile',
      '-c',
      file,
      ...['mlx', 'nvidia'].filter((d) => existsSync(join(dir, d))).map((d) => join(dir, d)),
    ]);
    return { file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
  };
  const a = zip('fake_mlx-1.0-py3-none-any.whl', join(index, 'src/a'));
  const b = zip('fake_nv-2.0-py3-none-any.whl', join(index, 'src/b'));
  const wheels = [
    { package: 'fake-mlx', version: '1.0', file: 'fake_mlx-1.0-py3-none-any.whl', sha256: a.sha256 },
    { package: 'fake-nv', version: '2.0', file: 'fake_nv-2.0-py3-none-any.whl', sha256: b.sha256 },
  ];
  const calls = join(work, 'pip-calls');
  const pip = join(work, 'pip');
  writeFileSync(
    pip,
    `#!/bin/sh
echo "$@" >> ${calls}
while [ "$1" != "--dest" ]; do shift; done; dest=$2
cp ${index}/*.whl "$dest"/
`,
  );
  chmodSync(pip, 0o755);
  const expect_ = ['mlx/lib/libmlx.so', 'nvidia/cu13/lib/libcublas.so.13'];

  it('downloads with pip --no-deps, verifies, and unpacks into one site-packages-like folder', () => {
    const dir = join(work, 'rt1');
    expect(installWheels({ wheels, runtimeDir: dir, expect: expect_, pip: [pip] })).toBe('installed');
    expect(readFileSync(join(dir, 'mlx/lib/libmlx.so'), 'utf8')).toBe('mlx');
    expect(readFileSync(join(dir, 'nvidia/cu13/lib/libcublas.so.13'), 'utf8')).toBe('cublas');
    expect(isInstalled(dir, wheels)).toBe(true);
    expect(existsSync(`${dir}.wheels`)).toBe(false);
    expect(existsSync(`${dir}.partial`)).toBe(false);
    expect(readFileSync(calls, 'utf8')).toMatch(/^download --no-deps --only-binary=:all: --dest \S+ fake-mlx==1\.0 fake-nv==2\.0$/m);
    // Complete with the same pins: nothing is downloaded again.
    const before = readFileSync(calls, 'utf8');
    expect(installWheels({ wheels, runtimeDir: dir, expect: expect_, pip: [pip] })).toBe('present');
    expect(readFileSync(calls, 'utf8')).toBe(before);
    // Other pins (a new MLX): the runtime is not taken for complete.
    expect(isInstalled(dir, [wheels[0]])).toBe(false);
  });

  it('refuses a wheel whose SHA-256 differs from the pin and lays nothing out', () => {
    const dir = join(work, 'rt2');
    const bad = [wheels[0], { ...wheels[1], sha256: '0'.repeat(64) }];
    expect(() => installWheels({ wheels: bad, runtimeDir: dir, expect: expect_, pip: [pip] })).toThrow(/SHA-256 mismatch for fake_nv-2\.0/);
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses when pip picks another file, or the layout lacks what the loader needs', () => {
    const renamed = [wheels[0], { ...wheels[1], file: 'fake_nv-2.0-py3-none-manylinux_2_35_x86_64.whl' }];
    expect(() => installWheels({ wheels: renamed, runtimeDir: join(work, 'rt3'), expect: expect_, pip: [pip] })).toThrow(
      /pip did not produce fake_nv-2\.0-py3-none-manylinux/,
    );
    const dir = join(work, 'rt4');
    expect(() => installWheels({ wheels, runtimeDir: dir, expect: [...expect_, 'mlx/include/mlx/mlx.h'], pip: [pip] })).toThrow(
      /lack mlx\/include\/mlx\/mlx\.h/,
    );
    expect(existsSync(dir)).toBe(false);
  });
});
