/**
 * Keeps MLX's compiled kernels in folders only this user can write.
 *
 * MLX writes the kernels it compiles for the CPU to `<temp>/mlx/<version>/cpu/` and loads
 * (`dlopen`s) a `lib<kernel>.so` it finds there without compiling it again, where `<temp>` is
 * the process's temporary folder (`TMPDIR`, else `/tmp`); its CUDA backend does the same with
 * the PTX it compiles, in `<temp>/mlx/<version>/ptx/` (the CUDA runtime gets a folder in the
 * user's cache instead: `MLX_PTX_CACHE_DIR`, set in native.ts). That folder is shared by every user of
 * the machine: whoever created `/tmp/mlx` first owns it, so another user's processes could not
 * write their kernels there (every compiled function on the CPU failed: "cc1plus: fatal error:
 * …cpp: No such file or directory"), and worse, they would load the kernels the owner put there,
 * which runs the owner's code in their process.
 *
 * So, before the binary loads: when `<temp>/mlx` or a folder under it down to a version's `cpu/`
 * or `ptx/` is a link, another user's, or writable by others, this process's `TMPDIR` becomes
 * `<temp>/mlxn-<uid>` (created for this user alone, mode 0700, and checked to be so), where MLX
 * then keeps this user's kernels. And when `<temp>` is on a file system mounted `noexec` (a
 * common hardening of `/tmp`), where MLX could write its kernels but not load them, `TMPDIR`
 * becomes `tmp/` in the user's cache folder (mode 0700) instead. Node's `os.tmpdir()` follows
 * `TMPDIR`, so the process's other temporary files go there too. `MLXN_CPU_JIT_TMPDIR=keep`
 * leaves `TMPDIR` as it is.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRoot } from './cache.js';

/** Why `dir` (a folder MLX would use) is not safe for this user; undefined when it is, or does not exist. */
export function unsafeBecause(dir: string, uid: number): string | undefined {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    return undefined; // MLX creates it, owned by this user
  }
  if (st.isSymbolicLink()) return `${dir} is a symbolic link`;
  if (!st.isDirectory()) return `${dir} is not a folder`;
  if (st.uid !== uid) return `${dir} belongs to user ${st.uid}`;
  // Group-writable counts too: a user's primary group may be shared (`users`). With a umask of
  // 002, MLX's own folders are group-writable, and this process moves to a private folder.
  if ((st.mode & 0o022) !== 0) return `${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** The first reason MLX's kernel folders under `temp` are unsafe for `uid`, if any. */
export function kernelFolderProblem(temp: string, uid: number): string | undefined {
  const root = join(temp, 'mlx');
  const top = unsafeBecause(root, uid);
  if (top !== undefined) return top;
  let versions: string[];
  try {
    versions = readdirSync(root);
  } catch {
    return undefined;
  }
  for (const v of versions) {
    const problem =
      unsafeBecause(join(root, v), uid) ?? unsafeBecause(join(root, v, 'cpu'), uid) ?? unsafeBecause(join(root, v, 'ptx'), uid);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * Whether `path` (absolute, links resolved) lies on a file system mounted `noexec`, from the
 * text of `/proc/self/mountinfo`: the options of the longest mount point containing it.
 */
export function mountedNoexec(path: string, mountinfo: string): boolean {
  let best = '';
  let noexec = false;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 6) continue;
    // Mount points escape spaces and the like as octal (\040).
    const point = fields[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
    const inside = path === point || path.startsWith(point === '/' ? '/' : `${point}/`);
    if (inside && point.length >= best.length) {
      best = point;
      noexec = fields[5].split(',').includes('noexec');
    }
  }
  return noexec;
}

function noexecHere(path: string): boolean {
  try {
    return mountedNoexec(realpathSync(path), readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return false; // not Linux, or no /proc: nothing to tell
  }
}

/**
 * Points `env.TMPDIR` at a private folder when MLX's kernel folders under the current one are
 * unsafe; returns that folder, or undefined when nothing changed.
 */
export function protectCpuJitFolder(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform === 'win32' || env.MLXN_CPU_JIT_TMPDIR === 'keep' || typeof process.getuid !== 'function') return undefined;
  const uid = process.getuid();
  const temp = tmpdir();
  const noexec = noexecHere(temp);
  const problem = noexec
    ? `${temp} is on a file system mounted noexec, where MLX cannot load the kernels it compiles`
    : kernelFolderProblem(temp, uid);
  if (problem === undefined) return undefined;
  const own = noexec ? join(cacheRoot(env), 'tmp') : join(temp, `mlxn-${uid}`);
  try {
    mkdirSync(own, { mode: 0o700, recursive: noexec });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return warn(problem, err as Error);
  }
  if (noexec && noexecHere(own)) return warn(problem, new Error(`${own} is on a noexec file system too`));
  // An existing folder of that name must be this user's alone too (not someone's trap).
  const mine = unsafeBecause(own, uid);
  if (mine !== undefined) return warn(problem, new Error(mine));
  try {
    chmodSync(own, 0o700);
  } catch (err) {
    return warn(problem, err as Error);
  }
  env.TMPDIR = own;
  return own;
}

function warn(problem: string, err: Error): undefined {
  process.emitWarning(
    `@mlxn/core: MLX's CPU kernel folder is not safe (${problem}), and a private one could not be made (${err.message}); ` +
      'set TMPDIR to a folder of your own (docs/security.md, "Compiled CPU kernels").',
    { code: 'MLXN_CPU_JIT_TMPDIR' },
  );
  return undefined;
}
