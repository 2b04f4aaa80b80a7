#!/usr/bin/env node
/**
 * `mlxn-launch -n N [--backend ring|nccl] <script.js | command …>`: starts N local processes of
 * a distributed job (mx.distributed) with the environment MLX's backends read
 * (environments.ts), forwards Ctrl-C and SIGTERM to them, and fails fast: when one process
 * fails, the others are stopped and the launcher exits with the failed process's status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type LaunchBackend, type LaunchPlan, rankEnvironment, ringHostfile } from './environments.js';
import { freePort } from './free-port.js';

const USAGE = `usage: mlxn-launch -n N [--backend ring|nccl] <script.js | command [args…]>

Starts N processes of a distributed job on this machine (docs/distributed.md).
  -n, --processes N   number of processes (ranks), at least 1
  --backend B         ring (default: TCP on 127.0.0.1, CPU) or nccl (one GPU per rank)
  --grace-ms MS       after a failure, how long the others get to exit before SIGKILL (5000)
A first argument ending in .js, .mjs or .cjs runs with this Node; anything else is a command.`;

function fail(message: string): never {
  process.stderr.write(`mlxn-launch: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      strict: true,
      options: {
        processes: { type: 'string', short: 'n' },
        backend: { type: 'string', default: 'ring' },
        'grace-ms': { type: 'string', default: '5000' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    fail((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const n = Number(values.processes);
  if (values.processes === undefined || !Number.isInteger(n) || n < 1 || n > 1024) fail('-n needs a whole number of processes (1 to 1024)');
  const backend = values.backend as LaunchBackend;
  if (backend !== 'ring' && backend !== 'nccl') fail(`--backend must be ring or nccl, got ${values.backend}`);
  const grace = Number(values['grace-ms']);
  if (!Number.isFinite(grace) || grace < 0) fail('--grace-ms needs a non-negative number');
  if (positionals.length === 0) fail('missing the script or command to run');

  const [first, ...rest] = positionals;
  const [command, args] = /\.(c|m)?js$/.test(first) ? [process.execPath, [first, ...rest]] : [first, rest];

  const scratch = mkdtempSync(join(tmpdir(), 'mlxn-launch-'));
  const plan: LaunchPlan = { n, backend };
  if (backend === 'ring') {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) ports.push(await freePort());
    plan.hostfile = join(scratch, 'hosts.json');
    writeFileSync(plan.hostfile, ringHostfile(ports));
  } else {
    plan.ncclPort = await freePort();
  }

  const children: ChildProcess[] = [];
  let firstFailure: number | undefined;
  const stopOthers = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, grace).unref();
  };
  const forward = (signal: NodeJS.Signals) => () => {
    firstFailure ??= signal === 'SIGINT' ? 130 : 143;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));

  const exits = Array.from({ length: n }, (_, rank) => {
    const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, ...rankEnvironment(plan, rank) } });
    children.push(child);
    return new Promise<void>((resolve) => {
      const done = (status: number) => {
        if (status !== 0 && firstFailure === undefined) {
          firstFailure = status;
          process.stderr.write(`mlxn-launch: rank ${rank} failed (${status}); stopping the others\n`);
          stopOthers();
        }
        resolve();
      };
      child.on('error', (e) => {
        process.stderr.write(`mlxn-launch: rank ${rank} could not start: ${e.message}\n`);
        done(127);
      });
      child.on('exit', (code, signal) => done(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
    });
  });
  await Promise.all(exits);
  rmSync(scratch, { recursive: true, force: true });
  return firstFailure ?? 0;
}

main().then((code) => process.exit(code));
