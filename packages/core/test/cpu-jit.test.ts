// MLX's CPU kernel compiler and GCC 13+ (src/runtime/cpu-jit.ts). MLX's preamble declares the
// `_FloatN` types that GCC 13 has built in, so every fused CPU kernel failed to compile there.
// This machine's g++ may be older: a stand-in `g++` behaves as GCC 13 does with that preamble
// (it refuses to compile unless given -fpermissive, then runs the real compiler), and fresh
// child processes (fresh kernel cache in their own TMPDIR) compile a function on the CPU with it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gccMajor, gxxOnPath, wrapperScript } from '../src/runtime/cpu-jit.js';
import { runCompiledChild } from './cpu-jit-child.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-cpu-jit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const realGxx = gxxOnPath(process.env.PATH);

/** A folder whose `g++` acts as GCC 13 with MLX's preamble, logging each call. */
function fakeGcc13(): { bin: string; log: string } {
  const bin = mkdtempSync(join(work, 'bin-'));
  const log = join(bin, 'calls.log');
  writeFileSync(
    join(bin, 'g++'),
    [
      '#!/bin/sh',
      `echo "$*" >> '${log}'`,
      'if [ "$1" = "-dumpversion" ]; then echo 13; exit 0; fi',
      'if [ "$1" = "--version" ]; then echo "g++ (stand-in) 13.3.0"; exit 0; fi',
      `case " $* " in *" -fpermissive "*) exec '${realGxx}' "$@";; esac`,
      `echo "kernel.cpp:6009:20: error: redeclaration of C++ built-in type '_Float128' [-fpermissive]"`,
      'exit 1',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { bin, log };
}

function child(env: Record<string, string>) {
  return runCompiledChild(mkdtempSync(join(work, 'tmp-')), env); // a fresh kernel folder each time
}

describe('parsing and the wrapper', () => {
  it('reads GCC major versions and refuses anything else', () => {
    expect([gccMajor('13'), gccMajor('12.2.0\n'), gccMajor('14.1'), gccMajor('clang'), gccMajor('')]).toEqual([13, 12, 14, NaN, NaN]);
  });

  it('the wrapper passes every argument and adds the flags, whatever the compiler path holds', () => {
    const dir = mkdtempSync(join(work, "it's here-"));
    const echo = join(dir, 'echo args');
    writeFileSync(echo, '#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n', { mode: 0o755 });
    writeFileSync(join(dir, 'g++'), wrapperScript(echo), { mode: 0o755 });
    const out = execFileSync(join(dir, 'g++'), ['-O3', 'a b.cpp', '-o', "x'y.so"], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(['[-O3]', '[a b.cpp]', '[-o]', "[x'y.so]", '[-fpermissive]', '[-w]']);
  });
});

describe.skipIf(process.platform !== 'linux' || realGxx === undefined)('MLX compiling CPU kernels with GCC 13', () => {
  it("fails with MLX's own error when PATH is left alone (MLXN_CPU_JIT_GXX=system): what users of GCC 13 saw", () => {
    const { bin } = fakeGcc13();
    const r = child({
      PATH: `${bin}${delimiter}${process.env.PATH}`,
      MLXN_CACHE_DIR: mkdtempSync(join(work, 'cache-')),
      MLXN_CPU_JIT_GXX: 'system',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Failed to compile function[\s\S]*redeclaration of C\+\+ built-in type/);
  });

  it('compiles through the wrapper; a second process reuses it without asking the compiler again', () => {
    const { bin, log } = fakeGcc13();
    const cache = mkdtempSync(join(work, 'cache-'));
    const env = { PATH: `${bin}${delimiter}${process.env.PATH}`, MLXN_CACHE_DIR: cache };
    for (let run = 0; run < 2; run++) {
      const r = child(env);
      expect(r.stderr, `run ${run}`).toBe('');
      const out = JSON.parse(r.stdout) as { y: number[]; path0: string };
      for (const [i, x] of [0, 0.5, 1].entries()) expect(out.y[i]).toBeCloseTo(Math.exp(-(2 * x + 1)), 6);
      expect(out.path0.startsWith(join(cache, 'cpu-jit'))).toBe(true);
    }
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    expect(calls.filter((c) => c === '-dumpversion')).toHaveLength(1);
    // The kernel compiles went through the wrapper, with its flags.
    expect(calls.some((c) => c.includes('-shared') && c.endsWith('-fpermissive -w'))).toBe(true);
    const [key] = readdirSync(join(cache, 'cpu-jit')).filter((d) => !d.startsWith('.'));
    expect(readFileSync(join(cache, 'cpu-jit', key, '.wrapped'), 'utf8')).toContain('GCC 13');
  });

  it('leaves PATH alone for the GCC on this machine when it is older than 13', () => {
    const major = gccMajor(execFileSync(realGxx!, ['-dumpversion'], { encoding: 'utf8' }));
    const cache = mkdtempSync(join(work, 'cache-'));
    const r = child({ MLXN_CACHE_DIR: cache });
    expect(r.stderr).toBe('');
    const wrapped = JSON.parse(r.stdout).path0.startsWith(join(cache, 'cpu-jit'));
    expect(wrapped).toBe(major >= 13);
    const [key] = readdirSync(join(cache, 'cpu-jit')).filter((d) => !d.startsWith('.'));
    expect(existsSync(join(cache, 'cpu-jit', key, major >= 13 ? '.wrapped' : '.not-needed'))).toBe(true);
  });
});
