// Kill tests: run a child process that saves, replacing and rotating folders, and stop it with
// SIGKILL right after each file-system change it makes (see kill-preload.mjs), then check in a
// fresh process that the newest complete state loads. `killPoints` says which steps to try:
// every one with MLXN_HOSTILE_FULL=1, else a small seeded subset that rotates daily (the seed
// is MLXN_HOSTILE_SEED when set, and is part of every failure message).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const KILL_PRELOAD = fileURLToPath(new URL('./kill-preload.mjs', import.meta.url));

/**
 * Runs `script` (TypeScript through tsx) in a child process with the kill preload. `killAfter`
 * (1-based) kills it right after that change under `root`; `trace` receives one line per change.
 */
export function runKillChild(script, args, { root, killAfter, trace, env = {}, timeoutMs = 120_000, cwd } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--import', KILL_PRELOAD, script, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: {
      ...process.env,
      ...env,
      MLXN_TEST_KILL_ROOT: root ?? '',
      MLXN_TEST_KILL_AFTER: killAfter === undefined ? '' : String(killAfter),
      MLXN_TEST_FS_TRACE: trace ?? '',
    },
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** The changes a traced run made: `{ index, op, path }` in order. */
export function readTrace(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [index, op, ...rest] = line.split(' ');
      return { index: Number(index), op, path: rest.join(' ') };
    });
}

/** The seed of this run's subset. */
export function killSeed() {
  const s = Number.parseInt(process.env.MLXN_HOSTILE_SEED ?? '', 10);
  return Number.isInteger(s) ? s : Math.floor(Date.now() / 86_400_000);
}

/** Whether every kill point is tried (MLXN_HOSTILE_FULL=1). */
export const killFull = process.env.MLXN_HOSTILE_FULL === '1';

/**
 * The steps (1..total) to kill at: all with MLXN_HOSTILE_FULL=1, else `subset` of them picked by
 * the seed (always including `always`, e.g. the steps between two renames).
 */
export function killPoints(total, { subset = 3, always = [] } = {}) {
  const all = Array.from({ length: total }, (_, i) => i + 1);
  if (killFull) return all;
  let s = (killSeed() ^ 0x9e3779b9) >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const picked = new Set(always.filter((k) => k >= 1 && k <= total));
  const pool = all.filter((k) => !picked.has(k));
  while (picked.size < Math.min(total, always.length + subset) && pool.length > 0) {
    picked.add(pool.splice(Math.floor(rand() * pool.length), 1)[0]);
  }
  return [...picked].sort((a, b) => a - b);
}
