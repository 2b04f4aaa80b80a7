// Preloaded into a child process (`node --import <this file>`) by kill-points.mjs: counts every
// file-system change the process makes under MLXN_TEST_KILL_ROOT (a create, write, rename or
// delete through node:fs) and kills the process with SIGKILL right after the change numbered
// MLXN_TEST_KILL_AFTER, as a crash or power cut at that point would. MLXN_TEST_FS_TRACE names a
// file that receives one line per change (`index op path`), to count the steps of a sequence.
// Works at the level of node:fs calls, so it needs no hook in the code under test and runs the
// same against any version of it.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';

const root = process.env.MLXN_TEST_KILL_ROOT ? resolve(process.env.MLXN_TEST_KILL_ROOT) : null;
const killAfter = Number.parseInt(process.env.MLXN_TEST_KILL_AFTER ?? '', 10);
const trace = process.env.MLXN_TEST_FS_TRACE || null;
const appendFileSync = fs.appendFileSync;
const openFds = new Map();
let changes = 0;

const under = (p) => {
  if (root === null || (typeof p !== 'string' && !(p instanceof URL) && !Buffer.isBuffer(p))) return false;
  const full = resolve(p instanceof URL ? p.pathname : String(p));
  return full === root || full.startsWith(`${root}/`);
};

function changed(op, path) {
  changes += 1;
  if (trace) appendFileSync(trace, `${changes} ${op} ${path}\n`);
  if (changes === killAfter) process.kill(process.pid, 'SIGKILL');
}

const isWriteFlag = (flags) => flags !== undefined && flags !== 'r' && flags !== 'rs' && flags !== 'sr' && flags !== 0;

for (const name of [
  'mkdirSync',
  'rmSync',
  'rmdirSync',
  'unlinkSync',
  'writeFileSync',
  'appendFileSync',
  'truncateSync',
  'cpSync',
  'symlinkSync',
  'linkSync',
]) {
  const original = fs[name];
  fs[name] = function patched(path, ...rest) {
    const out = original.call(this, path, ...rest);
    if (under(path)) changed(name, path);
    return out;
  };
}
for (const name of ['renameSync', 'copyFileSync']) {
  const original = fs[name];
  fs[name] = function patched(from, to, ...rest) {
    const out = original.call(this, from, to, ...rest);
    if (under(from) || under(to)) changed(name, `${from} -> ${to}`);
    return out;
  };
}
const openSync = fs.openSync;
fs.openSync = function patched(path, flags, ...rest) {
  const fd = openSync.call(this, path, flags, ...rest);
  if (under(path) && isWriteFlag(flags)) {
    openFds.set(fd, String(path));
    changed('openSync', path);
  }
  return fd;
};
const writeSync = fs.writeSync;
fs.writeSync = function patched(fd, ...rest) {
  const out = writeSync.call(this, fd, ...rest);
  if (openFds.has(fd)) changed('writeSync', openFds.get(fd));
  return out;
};
const closeSync = fs.closeSync;
fs.closeSync = function patched(fd, ...rest) {
  openFds.delete(fd);
  return closeSync.call(this, fd, ...rest);
};
syncBuiltinESMExports();
