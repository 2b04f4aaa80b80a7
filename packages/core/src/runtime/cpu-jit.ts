/**
 * Lets MLX's CPU kernel compiler work with GCC 13 and later.
 *
 * MLX fuses the element-wise parts of compiled functions on the CPU into kernels it compiles at
 * run time, by running `g++` from PATH on a source whose preamble was preprocessed when MLX was
 * built. The pinned MLX was built with a GCC older than 13, so that preamble declares
 * `_Float32`, `_Float64`, `_Float128`, … with typedefs, and GCC 13 and later, where those are
 * built-in C++ types, reject every such kernel ("redeclaration of C++ built-in type
 * '_Float128' [-fpermissive]"; MLX issues #2281 and #3430). Ubuntu 24.04's default g++ 13.3 is
 * one of them: on such a machine every compiled function on a CPU stream failed, which on the CPU
 * is generation and training themselves. `-fpermissive` turns those errors into warnings, and
 * the kernels compile as they do with GCC 12 (checked on Ubuntu 24.04 with g++ 13.3).
 *
 * So, before the binary loads: when the `g++` MLX would run is GCC 13 or later, a folder whose
 * `g++` runs that same compiler with `-fpermissive -w` added goes in front of this process's
 * PATH (child processes inherit it). MLX runs `g++` through the shell at each compile, so
 * nothing else can reach it. `MLXN_CPU_JIT_GXX=system` leaves PATH as it is.
 *
 * The answer is kept per compiler (its path, size and modification time) in the cache folder,
 * so a process asks `g++ -dumpversion` only when the compiler is new or has changed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { cacheRoot } from './cache.js';

/** The first GCC major version whose C++ has the `_FloatN` types built in. */
const FIRST_GCC_WITH_BUILTIN_FLOATN = 13;

/** Written in a compiler's folder when it needs the wrapper (the wrapper is beside it). */
const WRAPPED = '.wrapped';
/** Written when it does not (an older GCC, or not GCC). */
const NOT_NEEDED = '.not-needed';

/** The first executable `g++` on PATH, as MLX's shell finds it; undefined when there is none. */
export function gxxOnPath(path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'g++');
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here: the shell goes on to the next folder too.
    }
  }
  return undefined;
}

/** GCC's major version from `g++ -dumpversion` ("13", "13.3.0"); NaN for anything else. */
export function gccMajor(dumpversion: string): number {
  const m = /^(\d+)(\.\d+)*$/.exec(dumpversion.trim());
  return m ? Number(m[1]) : Number.NaN;
}

/** The shell script that runs `gxx` with the flags MLX's preamble needs. */
export function wrapperScript(gxx: string): string {
  const quoted = `'${gxx.replaceAll("'", `'\\''`)}'`;
  return [
    '#!/bin/sh',
    "# Written by @mlxn/core (src/runtime/cpu-jit.ts): MLX's CPU kernel preamble needs",
    '# -fpermissive with GCC 13 and later (MLX issues #2281, #3430).',
    `exec ${quoted} "$@" -fpermissive -w`,
    '',
  ].join('\n');
}

/**
 * Puts the wrapper folder in front of `env.PATH` when the `g++` on it needs one; returns the
 * folder it added, or undefined. Never throws: without the wrapper MLX reports its own error.
 */
export function prepareCpuJit(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform !== 'linux' || env.MLXN_CPU_JIT_GXX === 'system') return undefined;
  const found = gxxOnPath(env.PATH);
  if (found === undefined) return undefined; // MLX then evaluates compiled functions op by op
  const root = join(cacheRoot(env), 'cpu-jit');
  // A child of a process that added the wrapper inherits its PATH: nothing more to do.
  if (dirname(dirname(found)) === root) return undefined;
  let gxx = found;
  try {
    gxx = realpathSync(found);
    const st = statSync(gxx);
    const key = createHash('sha256').update(`${gxx}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
    const dir = join(root, key);
    if (existsSync(join(dir, NOT_NEEDED))) return undefined;
    if (!existsSync(join(dir, WRAPPED))) {
      const major = gccMajor(
        execFileSync(gxx, ['-dumpversion'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }),
      );
      const needed = major >= FIRST_GCC_WITH_BUILTIN_FLOATN;
      if (!publish(root, dir, gxx, major, needed)) {
        // A read-only cache folder: a wrapper of this process's own, or nothing to do.
        return needed ? usePath(env, writeWrapper(mkdtempSync(join(tmpdir(), 'mlxn-cpu-jit-')), gxx, major)) : undefined;
      }
      if (!needed) return undefined;
    }
    return usePath(env, dir);
  } catch (err) {
    process.emitWarning(
      `@mlxn/core: could not check or wrap ${gxx} for MLX's CPU kernel compiler (${(err as Error).message}); ` +
        'compiled functions on the CPU may fail with GCC 13 or later (docs/getting-started.md, "GCC 13 and later").',
      { code: 'MLXN_CPU_JIT' },
    );
    return undefined;
  }
}

function usePath(env: NodeJS.ProcessEnv, dir: string): string {
  env.PATH = `${dir}${delimiter}${env.PATH ?? ''}`;
  return dir;
}

function writeWrapper(dir: string, gxx: string, major: number): string {
  writeFileSync(join(dir, 'g++'), wrapperScript(gxx), { mode: 0o755 });
  writeFileSync(join(dir, WRAPPED), `${gxx}\nGCC ${major}\n`);
  return dir;
}

/**
 * Records the answer for `gxx` in `dir`: built in a folder of its own and renamed into place, so
 * a process racing this one sees nothing or the whole folder. False when the cache is not writable.
 */
function publish(root: string, dir: string, gxx: string, major: number, needed: boolean): boolean {
  let tmp: string;
  try {
    mkdirSync(root, { recursive: true });
    tmp = mkdtempSync(join(root, '.tmp-'));
  } catch {
    return false;
  }
  if (needed) writeWrapper(tmp, gxx, major);
  else writeFileSync(join(tmp, NOT_NEEDED), `${gxx}\n${Number.isNaN(major) ? 'not GCC' : `GCC ${major}`}\n`);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process was first: its folder says the same
  }
  return true;
}
