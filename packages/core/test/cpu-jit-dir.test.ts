// MLX's compiled CPU kernels live in <temp>/mlx/<version>/cpu, shared by every user of a
// machine, and MLX loads a kernel library it finds there without compiling it again
// (src/runtime/cpu-jit-dir.ts). Here a kernel folder belonging to another user holds a planted
// library under the name of the kernel a child process needs: left as it is
// (MLXN_CPU_JIT_TMPDIR=keep) the child runs the planted code; by default it moves its temporary
// folder to a private one and computes the right values.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gxxOnPath } from '../src/runtime/cpu-jit.js';
import { kernelFolderProblem, mountedNoexec, unsafeBecause } from '../src/runtime/cpu-jit-dir.js';
import { runCompiledChild } from './cpu-jit-child.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-cpu-jit-dir-'));
const uid = process.getuid?.() ?? -1;
const OTHER = 65534; // nobody

const child = runCompiledChild;

describe('which kernel folders are unsafe', () => {
  it("accepts a missing folder or one of this user's own; refuses links and folders others can write", () => {
    const base = mkdtempSync(join(work, 'kinds-'));
    expect(unsafeBecause(join(base, 'missing'), uid)).toBeUndefined();
    const mine = join(base, 'mine');
    mkdirSync(mine, { mode: 0o755 });
    chmodSync(mine, 0o755);
    expect(unsafeBecause(mine, uid)).toBeUndefined();
    chmodSync(mine, 0o777);
    expect(unsafeBecause(mine, uid)).toMatch(/writable by other users \(mode 777\)/);
    symlinkSync(mine, join(base, 'link'));
    expect(unsafeBecause(join(base, 'link'), uid)).toMatch(/symbolic link/);
    expect(unsafeBecause(mine, uid + 1)).toMatch(/belongs to user/);
    // Down to a version's cpu/ folder.
    const temp = mkdtempSync(join(work, 'temp-'));
    mkdirSync(join(temp, 'mlx', '0.0.1', 'cpu'), { recursive: true, mode: 0o755 });
    expect(kernelFolderProblem(temp, uid)).toBeUndefined();
    chmodSync(join(temp, 'mlx', '0.0.1', 'cpu'), 0o777);
    expect(kernelFolderProblem(temp, uid)).toMatch(/cpu is writable by other users/);
  });
});

describe('noexec mounts, where MLX could write kernels but not load them', () => {
  const mountinfo = [
    '22 27 0:21 / /proc rw,relatime - proc proc rw',
    '27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
    '30 27 0:30 / /tmp rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw',
    '31 30 0:31 / /tmp/exec\\040ok rw,relatime - tmpfs tmpfs rw',
    '32 27 0:32 / /tmpdata rw,noexec - tmpfs tmpfs rw',
  ].join('\n');
  it('takes the options of the longest mount point that holds the path', () => {
    expect(mountedNoexec('/tmp', mountinfo)).toBe(true);
    expect(mountedNoexec('/tmp/mlx/0.32.4/cpu', mountinfo)).toBe(true);
    expect(mountedNoexec('/tmp/exec ok/mlx', mountinfo)).toBe(false);
    expect(mountedNoexec('/home/me/.cache', mountinfo)).toBe(false);
    expect(mountedNoexec('/tmpx', mountinfo)).toBe(false); // not inside /tmp
    expect(mountedNoexec('/tmpdata/x', mountinfo)).toBe(true);
    expect(mountedNoexec('/', '')).toBe(false);
  });
});

// A real noexec mount where this machine lets root make one (a tmpfs under a temporary folder).
const noexecMount = (() => {
  if (process.platform !== 'linux' || uid !== 0 || gxxOnPath(process.env.PATH) === undefined) return undefined;
  const dir = mkdtempSync(join(work, 'noexec-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'noexec,size=64m', 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? dir : undefined;
})();
afterAll(() => {
  if (noexecMount !== undefined) spawnSync('umount', [noexecMount]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(noexecMount === undefined)('a temporary folder mounted noexec', () => {
  it('MLX cannot load its kernels there (MLXN_CPU_JIT_TMPDIR=keep); by default they go to the cache folder', () => {
    const cache = mkdtempSync(join(work, 'cache-'));
    const kept = child(noexecMount!, { MLXN_CPU_JIT_TMPDIR: 'keep', MLXN_CACHE_DIR: cache });
    expect(kept.stderr).toMatch(/failed to map segment from shared object/);
    const safe = child(noexecMount!, { MLXN_CACHE_DIR: cache });
    expect(safe.stderr).toBe('');
    const out = JSON.parse(safe.stdout) as { y: number[]; tmp: string };
    for (const [i, x] of [0, 0.5, 1].entries()) expect(out.y[i]).toBeCloseTo(Math.exp(-(2 * x + 1)), 6);
    expect(out.tmp).toBe(join(cache, 'tmp'));
  });
});

// Root can hand a folder to another user; the kernels need a C++ compiler.
describe.skipIf(process.platform !== 'linux' || uid !== 0 || gxxOnPath(process.env.PATH) === undefined)(
  'a kernel folder of another user',
  () => {
    it('is not used: a planted kernel runs only with MLXN_CPU_JIT_TMPDIR=keep', () => {
      // The names of the kernels the child compiles, from a run in a folder of its own.
      const clean = mkdtempSync(join(work, 'clean-'));
      const first = child(clean);
      expect(first.stderr).toBe('');
      const [version] = readdirSync(join(clean, 'mlx'));
      const names = readdirSync(join(clean, 'mlx', version, 'cpu'))
        .filter((f) => f.startsWith('lib') && f.endsWith('.so'))
        .map((f) => f.slice(3, -3));
      expect(names.length).toBeGreaterThan(0);

      // Another user's folder with a library of each of those names that only leaves a mark.
      const shared = mkdtempSync(join(work, 'shared-'));
      chmodSync(shared, 0o755);
      const cpu = join(shared, 'mlx', version, 'cpu');
      mkdirSync(cpu, { recursive: true });
      const marker = join(work, 'planted-code-ran');
      for (const name of names) {
        const src = join(work, `${name}.cpp`);
        writeFileSync(
          src,
          `#include <cstdio>\n#include <cstdint>\nextern "C" void ${name}(int*, int64_t**, void**) { std::FILE* f = std::fopen("${marker}", "w"); if (f) std::fclose(f); }\n`,
        );
        execFileSync('g++', ['-shared', '-fPIC', '-o', join(cpu, `lib${name}.so`), src]);
      }
      for (const d of [join(shared, 'mlx'), join(shared, 'mlx', version), cpu]) chownSync(d, OTHER, OTHER);

      const kept = child(shared, { MLXN_CPU_JIT_TMPDIR: 'keep' });
      expect(kept.stderr).toBe('');
      expect(existsSync(marker), 'the planted kernel ran').toBe(true);
      rmSync(marker);

      const safe = child(shared);
      expect(safe.stderr).toBe('');
      const out = JSON.parse(safe.stdout) as { y: number[]; tmp: string };
      for (const [i, x] of [0, 0.5, 1].entries()) expect(out.y[i]).toBeCloseTo(Math.exp(-(2 * x + 1)), 6);
      expect(existsSync(marker)).toBe(false);
      expect(out.tmp).toBe(join(shared, `mlxn-${uid}`));
      expect(readdirSync(join(out.tmp, 'mlx', version, 'cpu')).some((f) => f.endsWith('.so'))).toBe(true);
    });
  },
);
