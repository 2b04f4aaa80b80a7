// A fresh child process that compiles a function and runs it on the CPU stream, for the tests of
// MLX's CPU kernel compiler (cpu-jit.test.ts, cpu-jit-dir.test.ts). It prints the values, the
// first PATH entry and the temporary folder it ended with, as JSON.
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { delimiter } from 'node:path';

const CHILD = `
  import { tmpdir } from 'node:os';
  import * as mx from '@mlxn/core';
  const f = mx.compile((a) => mx.exp(mx.negative(mx.add(mx.multiply(a, 2), 1))));
  const y = mx.withStream(mx.cpu, () => f(mx.array([0, 0.5, 1], 'float32')));
  console.log(JSON.stringify({ y: Array.from(y.dataSync()), path0: process.env.PATH.split(${JSON.stringify(delimiter)})[0], tmp: tmpdir() }));
`;

export interface ChildReport {
  /** exp(-(2x + 1)) for x = 0, 0.5, 1. */
  y: number[];
  path0: string;
  tmp: string;
}

/** Runs the child with `TMPDIR=temp` (MLX keeps compiled kernels under it) and `env` on the CPU runtime. */
export function runCompiledChild(temp: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: new URL('..', import.meta.url),
    // The CPU runtime: these children are about the CPU, and a fresh cache holds no CUDA runtime.
    env: { ...process.env, TMPDIR: temp, MLXN_MLX_BACKEND: 'cpu', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
}
