// A distributed job on one machine for tests: ranks on 127.0.0.1 over MLX's ring backend on the
// CPU, given MLX_RANK and MLX_HOSTFILE as a launcher sets them.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * Runs `node --import tsx worker ...args` as each of `ranks` processes; each is killed after
 * `timeoutMs` (a hang fails the test, not the suite). `freePort` is `@mlxn/core`'s (passed in:
 * test-support does not depend on it); the hostfile is written at `hostfile`.
 */
export async function runRingJob({ worker, args = [], ranks = 2, timeoutMs, hostfile, freePort }) {
  const hosts = await Promise.all(Array.from({ length: ranks }, async () => [`127.0.0.1:${await freePort()}`]));
  writeFileSync(hostfile, JSON.stringify(hosts));
  return Promise.all(
    Array.from({ length: ranks }, (_, rank) => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], {
        env: { ...process.env, MLX_RANK: String(rank), MLX_HOSTFILE: hostfile, MLXN_MLX_BACKEND: 'cpu' },
        timeout: timeoutMs,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
    }),
  );
}
