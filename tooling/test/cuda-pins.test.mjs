// The pinned CUDA runtime (pin.json), checked cheaply: no GPU, and none of its 2 GB downloaded.
// The installer verifies every SHA-256 when it downloads; tooling/mlx-runtime/check-cuda-layout.mjs
// checks an installed runtime's libraries (docs/gpu.md).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pin } from '../mlx-runtime/paths.mjs';

const cuda = pin.distributions['linux-x64-cuda13'].wheels;
const normalize = (name) => name.toLowerCase().replace(/[-_.]+/g, '_');

describe('CUDA runtime pins', () => {
  it('name mlx-cuda-13 at the pinned MLX version, and each package once', () => {
    expect(cuda.find((w) => w.package === 'mlx-cuda-13')?.version).toBe(pin.version);
    expect(new Set(cuda.map((w) => w.package)).size).toBe(cuda.length);
  });

  it.each(cuda.map((w) => [w.file, w]))('%s is a py3-none linux x86_64 wheel of its pin', (_file, w) => {
    // py3-none: the same file for every Python 3, so the machine's pip fetches exactly it.
    const m = /^([^-]+)-([^-]+)-py3-none-((?:manylinux\w*_x86_64\.?)+)\.whl$/.exec(w.file);
    expect(m, w.file).not.toBeNull();
    expect(m[1]).toBe(normalize(w.package));
    expect(m[2]).toBe(w.version);
    expect(w.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  // Reads only the index pages (pip's own configuration applies); opt out where there is no
  // network with MLXN_SKIP_NETWORK_TESTS=1.
  it.skipIf(process.env.MLXN_SKIP_NETWORK_TESTS === '1')(
    'every pinned version is still on the package index',
    async () => {
      const run = promisify(execFile);
      const results = await Promise.all(
        cuda.map(async (w) => {
          const { stdout } = await run('python3', ['-m', 'pip', 'index', 'versions', '--only-binary=:all:', w.package], {
            env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' },
          });
          const listed = /Available versions: (.*)/.exec(stdout)?.[1].split(', ') ?? [];
          return [w.package, listed.includes(w.version) ? w.version : `missing (index lists ${listed.slice(0, 3).join(', ')}…)`];
        }),
      );
      expect(Object.fromEntries(results)).toEqual(Object.fromEntries(cuda.map((w) => [w.package, w.version])));
    },
    120_000,
  );
});
