// The hostile-input battery: runs cases (crafted files, templates, API misuse) in child
// processes, so that a crash or a hang is one failed case instead of a dead test runner.
//
// A case module (TypeScript is fine: children run under tsx) exports `cases`, an array — or a
// function returning one — of
//   { name, class, regression?, run(), accept?(result), error?, timeoutMs? }
// - `name` is unique and stable; `class` groups cases in the report (e.g. 'gguf.header').
// - `regression: true` marks the named regressions: CI runs all of them every time.
// - `run()` does the hostile thing (may be async). It must build its inputs itself (the list is
//   evaluated in every child, so building it must be cheap and deterministic).
// - The case passes when `run()` returns and `accept(result)` returns true (a mutation that
//   stays valid must give the correct result; without `accept`, returning is a failure), or
//   when it throws an Error whose `name: message` is at least 8 characters long, is not an
//   accident of the runtime (stack overflow, allocation failure, a Rust panic), and matches
//   `error` (a RegExp, or a function of the Error returning true) when given. `accept` may
//   return a string instead of false to say what was wrong.
// Each case gets `timeoutMs` (default: the battery's) of wall time; the child's peak resident
// memory must stay under the battery's `maxRssMb`. A crash, a hang or an overrun fails the case
// and the next case runs in a fresh child.
//
// Which cases run: every case with MLXN_HOSTILE_FULL=1; otherwise every regression plus a
// seeded sample of the rest (`sample` cases) that rotates daily; MLXN_HOSTILE_SEED=N repeats
// one sample. The summary names the seed.
//
// Helpers for case modules (they run inside the children):
// - `caseDir(label)`: a fresh empty folder per call, under one scratch root per child
//   (`<tmp>/mlxn-hostile-<label>-*`) that is removed when the child exits; `scratchDir(label)` is
//   that root itself, for cases that overwrite one file.
// - `makeNonRegular(path, kind)`: makes `path` a FIFO, a folder or an endless device
//   (`/dev/zero`); `listenOnSocket(path)` makes it a listening Unix socket.
// The vitest wrapper that runs one battery as one test is `hostileBatteryTest`
// (`@mlxn/test-support/hostile-test`); it is kept apart so the children never load vitest.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CHILD = fileURLToPath(new URL('./hostile-child.mjs', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** A day number, so that CI's sample changes every day but stays the same within one. */
function dailySeed() {
  return Math.floor(Date.now() / 86_400_000);
}

/** A small seeded generator (xorshift32) so a sample can be repeated from its seed alone. */
function seeded(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

/** Indices of the cases to run: all, or every regression plus `sample` others drawn by seed. */
export function selectCases(meta, { full, seed, sample }) {
  if (full) return meta.map((_, i) => i);
  const chosen = meta.flatMap((m, i) => (m.regression ? [i] : []));
  const rest = meta.flatMap((m, i) => (m.regression ? [] : [i]));
  const next = seeded(seed);
  for (let k = rest.length - 1; k > 0; k--) {
    const j = Math.floor(next() * (k + 1));
    [rest[k], rest[j]] = [rest[j], rest[k]];
  }
  return [...chosen, ...rest.slice(0, sample)].sort((a, b) => a - b);
}

function childArgs(moduleUrl, mode) {
  return ['--import', TSX, CHILD, moduleUrl, mode];
}

/** Runs a child to completion and returns its stdout (used for listing the cases). */
function runToEnd(args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`listing the cases failed (${signal ?? `exit ${code}`}): ${err.slice(-2000)}`));
    });
  });
}

/**
 * Runs the cases `[{ index, timeoutMs }]` in one child until they are done or the child dies; returns the
 * results it got and the index the next child should start at.
 */
function runChild(moduleUrl, indices, options) {
  return new Promise((resolve) => {
    // The V8 heap limit makes a runaway JS allocation a quick crash rather than a slow one.
    const args = [`--max-old-space-size=${options.maxRssMb}`, ...childArgs(moduleUrl, 'run')];
    const child = spawn(process.execPath, args, {
      cwd: options.cwd,
      // Peak memory is per process: after an overrun the child exits, and the next case gets a
      // fresh one whose numbers are its own.
      env: { ...process.env, ...options.env, MLXN_HOSTILE_MAX_RSS_MB: String(options.maxRssMb) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const results = [];
    let current = -1; // the case the child is running, or -1 between cases
    let finished = false;
    let stderr = '';
    let buffered = '';
    let timer;
    let killedFor;
    const finish = (reason) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (current >= 0) {
        results.push({ index: current, pass: false, reason: killedFor ?? `${reason}; stderr: ${stderr.slice(-1500)}` });
      }
      const doneIndices = new Set(results.map((r) => r.index));
      resolve({ results, rest: indices.filter((c) => !doneIndices.has(c.index)) });
    };
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('{"hostile":')) continue; // a case's own output
        const msg = JSON.parse(line).hostile;
        if (msg.start !== undefined) {
          current = msg.start;
          clearTimeout(timer);
          timer = setTimeout(() => {
            killedFor = `hang: no result within ${msg.timeoutMs} ms`;
            child.kill('SIGKILL');
          }, msg.timeoutMs + options.graceMs);
        } else if (msg.done !== undefined) {
          clearTimeout(timer);
          let { pass, reason } = msg;
          if (pass && msg.maxRssMb > options.maxRssMb) {
            pass = false;
            reason = `memory: the child's peak resident size reached ${msg.maxRssMb} MiB (limit ${options.maxRssMb} MiB)`;
          }
          results.push({ index: msg.done, pass, reason });
          current = -1;
          // A case may leave a handle open that keeps the child alive after the last case.
          if (results.length === indices.length) timer = setTimeout(() => child.kill('SIGKILL'), options.graceMs);
        }
      }
    });
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-8000);
    });
    child.on('close', (code, signal) => finish(signal ? `crash: killed by ${signal}` : `crash: exit ${code}`));
    child.on('error', (e) => finish(`crash: ${e.message}`));
    child.stdin.end(JSON.stringify(indices));
  });
}

/**
 * Runs a case module's battery and returns a summary:
 * `{ seed, full, total, run, passed, failed: [{ name, class, reason }], byClass }`, where
 * `byClass[class] = { tried, passed, failed }`.
 */
export async function runHostileBattery(moduleUrl, options = {}) {
  const url = moduleUrl instanceof URL ? moduleUrl.href : pathToFileURL(moduleUrl).href;
  const opts = {
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? {},
    timeoutMs: options.timeoutMs ?? 10_000,
    graceMs: options.graceMs ?? 5_000, // child start-up and the case's own clean-up
    maxRssMb: options.maxRssMb ?? 2048,
  };
  const full = options.full ?? process.env.MLXN_HOSTILE_FULL === '1';
  const seed = options.seed ?? (process.env.MLXN_HOSTILE_SEED ? Number(process.env.MLXN_HOSTILE_SEED) : dailySeed());
  const sample = options.sample ?? 40;

  const listing = await runToEnd(childArgs(url, 'list'), { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  const meta = JSON.parse(listing.trim().split('\n').at(-1));
  const names = new Set();
  for (const m of meta) {
    if (names.has(m.name)) throw new Error(`hostile battery ${url}: duplicate case name '${m.name}'`);
    names.add(m.name);
  }
  const indices = selectCases(meta, { full, seed, sample });
  const started = Date.now();
  const results = [];
  let pending = indices.map((i) => ({ index: i, timeoutMs: meta[i].timeoutMs ?? opts.timeoutMs }));
  while (pending.length > 0) {
    const { results: got, rest } = await runChild(url, pending, opts);
    results.push(...got);
    if (got.length === 0) {
      // The child died before starting a case: count the first as failed so the loop ends.
      results.push({ index: pending[0].index, pass: false, reason: 'crash: the child died before running the case' });
      pending = pending.slice(1);
    } else {
      pending = rest;
    }
  }
  const byClass = Object.create(null);
  const failed = [];
  for (const r of results) {
    const m = meta[r.index];
    byClass[m.class] ??= { tried: 0, passed: 0, failed: 0 };
    const c = byClass[m.class];
    c.tried += 1;
    if (r.pass) c.passed += 1;
    else {
      c.failed += 1;
      failed.push({ name: m.name, class: m.class, reason: r.reason });
    }
  }
  return {
    seed,
    full,
    total: meta.length,
    run: results.length,
    passed: results.length - failed.length,
    failed,
    byClass,
    ms: Date.now() - started,
  };
}

/** Scratch roots of this process by label, each removed when the process exits. */
const scratchRoots = new Map();
/** How many case folders each root has handed out (their names). */
const caseCounters = new Map();

/** This process's scratch root for `label` (`<tmp>/mlxn-hostile-<label>-*`), made on first use. */
export function scratchDir(label) {
  let root = scratchRoots.get(label);
  if (root === undefined) {
    const made = mkdtempSync(join(tmpdir(), `mlxn-hostile-${label}-`));
    root = made;
    scratchRoots.set(label, made);
    process.on('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return root;
}

/** A fresh empty folder for one case (cases run one after another in a child). */
export function caseDir(label) {
  const root = scratchDir(label);
  const n = caseCounters.get(label) ?? 0;
  caseCounters.set(label, n + 1);
  const dir = join(root, String(n));
  mkdirSync(dir);
  return dir;
}

/** Makes `path` a non-regular file: a FIFO, a folder, or a link to `/dev/zero` (never ends). */
export function makeNonRegular(path, kind) {
  if (kind === 'fifo') {
    const r = spawnSync('mkfifo', [path]);
    if (r.status !== 0) throw new Error(`test setup: mkfifo failed: ${r.stderr}`);
  } else if (kind === 'folder') mkdirSync(path);
  else if (kind === 'device') symlinkSync('/dev/zero', path);
  else throw new Error(`test setup: unknown non-regular kind '${kind}'`);
  return path;
}

/** Makes `path` a listening Unix socket; resolves to the function that closes it. */
export async function listenOnSocket(path) {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  return () => server.close();
}
