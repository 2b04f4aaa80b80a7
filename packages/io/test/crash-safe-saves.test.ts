// Crash-safe folder saves: a failed or killed save of a checkpoint folder never breaks the set
// that was there, never leaves orphan shards, and an interrupted replace of a whole folder is
// put right (newest complete copy back in place) by the next load.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { killPoints, killSeed, readTrace, runKillChild } from '@mlxn/test-support/kill-points';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSync, saveSync } from '../src/index.js';
import { hiddenName, recoverFolder } from '../src/folder-replace.js';

const scratch = mkdtempSync(join(tmpdir(), 'mlxn-io-crash-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(scratch, `d${n++}`);
  mkdirSync(d);
  return d;
};

const values = (folder: string) => Object.fromEntries(Object.entries(loadSync(folder).arrays).map(([k, a]) => [k, a.tolist()]));

describe('saving a sharded folder over an existing set', () => {
  it('regression: a save that fails midway leaves the old set whole and no orphan shards beside it', () => {
    const folder = join(fresh(), 'ck');
    saveSync(folder, { 'a.w': mx.full([64], 1, 'float32'), 'b.w': mx.full([64], 2, 'float32') }, { maxShardSize: 300 });
    const before = readdirSync(folder).sort();
    expect(before).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    // The second shard of the new set cannot be written: its tensor's bytes are gone.
    const src = join(fresh(), 'src.safetensors');
    saveSync(src, { big: mx.full([256], 9, 'float32') });
    const lazy = loadSync(src).arrays.big!;
    truncateSync(src, 100);
    expect(() => saveSync(folder, { 'c.w': mx.full([64], 3, 'float32'), big: lazy }, { maxShardSize: 300 })).toThrow(new RegExp(`${folder}/model-00002-of-00002`));
    expect(readdirSync(folder).sort()).toEqual(before);
    expect(values(folder)).toEqual({ 'a.w': new Array(64).fill(1), 'b.w': new Array(64).fill(2) });
  });

  it('replaces a three-shard set by a single file, removing the stale shards', () => {
    const folder = join(fresh(), 'ck');
    saveSync(folder, { x: mx.full([64], 1, 'float32'), y: mx.full([64], 2, 'float32'), z: mx.full([64], 3, 'float32') }, { maxShardSize: 300 });
    saveSync(folder, { only: mx.full([4], 7, 'float32') });
    expect(readdirSync(folder)).toEqual(['model.safetensors']);
    expect(values(folder)).toEqual({ only: [7, 7, 7, 7] });
  });

  it('survives a kill at every step: the next load finds the old set or the new one, and nothing else', () => {
    const child = join(import.meta.dirname, 'kill-folder-save-child.ts');
    const base = fresh();
    const first = runKillChild(child, ['save', join(base, 'ck'), 'a']);
    expect(first.status, first.stderr).toBe(0);
    const prepare = () => {
      const dir = fresh();
      cpSync(base, dir, { recursive: true });
      return dir;
    };
    const traced = prepare();
    const traceFile = join(scratch, 'trace');
    expect(runKillChild(child, ['save', join(traced, 'ck'), 'b'], { root: traced, trace: traceFile }).status).toBe(0);
    const trace = readTrace(traceFile);
    // A complete new set exists from the rename of the staging folder on; the first shard moved
    // into place is the step where old and new files first stand side by side.
    const complete = trace.find((t) => t.op === 'renameSync' && /\.mlxn-save\.new-/.test(t.path.split(' -> ')[1] ?? ''))?.index;
    const firstMove = trace.find((t) => t.op === 'renameSync' && /ck\/model-\d{5}-of-\d{5}\.safetensors$/.test(t.path.split(' -> ')[1] ?? ''))?.index;
    expect(complete).toBeDefined();
    expect(firstMove).toBeDefined();
    const points = killPoints(trace.length, { subset: 1, always: [firstMove!] });
    const failures: string[] = [];
    const files = { a: ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json'],
      b: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'] };
    for (const k of points) {
      const dir = prepare();
      const killed = runKillChild(child, ['save', join(dir, 'ck'), 'b'], { root: dir, killAfter: k });
      if (killed.signal !== 'SIGKILL') {
        failures.push(`k=${k}: not killed (status ${killed.status})`);
        continue;
      }
      const r = runKillChild(child, ['verify', join(dir, 'ck')]);
      if (r.status !== 0) {
        failures.push(`k=${k}: load failed: ${r.stderr.slice(-400)}`);
        continue;
      }
      const v = JSON.parse(r.stdout.trim().split('\n').pop()!);
      const want = k >= complete! ? 'b' : 'a';
      if (v.set !== want) failures.push(`k=${k} (after ${trace[k - 1]!.op} ${trace[k - 1]!.path}): loaded ${v.set ?? JSON.stringify(v.got)}, expected set ${want}`);
      else if (JSON.stringify(v.files) !== JSON.stringify(files[want])) failures.push(`k=${k}: files after loading: ${v.files.join(', ')}`);
    }
    expect(failures, `seed ${killSeed()}, kill points ${points.join(',')} of ${trace.length}`).toEqual([]);
  }, 300_000);
});

describe('saving a single .safetensors file', () => {
  it('regression: sweeps the temporary files a killed save of the same file left, and only those', () => {
    const dir = fresh();
    // A process that has exited: its pid is dead (the next save may sweep its temporaries).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    expect(deadPid).toBeGreaterThan(0);
    // The native writer's temporary name: `.NAME.tmp-PID-N`, renamed over NAME when complete.
    const stale = [`.w.safetensors.tmp-${deadPid}-0`, `.w.safetensors.tmp-${deadPid}-17`];
    const live = `.w.safetensors.tmp-${process.ppid}-0`; // the test runner: alive, maybe mid-save
    const otherTarget = `.v.safetensors.tmp-${deadPid}-0`; // another file's: not this save's business
    const folderNamed = `.w.safetensors.tmp-${deadPid}-1`; // not a file the writer makes
    for (const f of [...stale, live, otherTarget]) writeFileSync(join(dir, f), 'partial');
    mkdirSync(join(dir, folderNamed));
    saveSync(join(dir, 'w.safetensors'), { x: mx.array([1, 2, 3], 'float32') });
    expect(readdirSync(dir).sort()).toEqual([folderNamed, otherTarget, live, 'w.safetensors'].sort());
    expect(loadSync(join(dir, 'w.safetensors')).arrays.x!.tolist()).toEqual([1, 2, 3]);
  });
});

describe('recovering an interrupted folder replace', () => {
  const folderWith = (path: string, file: string, text: string) => {
    mkdirSync(path, { recursive: true });
    writeFileSync(join(path, file), text);
  };
  // Hidden copies named as a dead process would have left them (pid 2^22+1 is above Linux's pid_max default).
  const dead = (name: string, kind: 'tmp' | 'new' | 'old') => hiddenName(name, kind).replace(`-${process.pid}-`, `-${2 ** 22 + 1}-`);

  it('puts the complete new copy in place when the folder is missing (killed between the two renames)', () => {
    const parent = fresh();
    folderWith(join(parent, dead('m', 'old')), 'v', 'old');
    folderWith(join(parent, dead('m', 'new')), 'v', 'new');
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent)).toEqual(['m']);
    expect(readdirSync(join(parent, 'm'))).toEqual(['v']);
  });

  it('puts the old copy back when no complete new copy exists, and drops unfinished ones', () => {
    const parent = fresh();
    folderWith(join(parent, dead('m', 'old')), 'v', 'old');
    folderWith(join(parent, dead('m', 'tmp')), 'v', 'partial');
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent)).toEqual(['m']);
  });

  it('finishes a replace whose new copy was complete but not yet swapped in', () => {
    const parent = fresh();
    folderWith(join(parent, 'm'), 'old.txt', 'old');
    folderWith(join(parent, dead('m', 'new')), 'new.txt', 'new');
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent)).toEqual(['m']);
    expect(readdirSync(join(parent, 'm'))).toEqual(['new.txt']);
  });

  it('leaves the copies of a live writer alone while the folder exists', () => {
    const parent = fresh();
    folderWith(join(parent, 'm'), 'v', 'current');
    const live = `.m.tmp-${process.ppid}-abc`;
    folderWith(join(parent, live), 'v', 'being written');
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent).sort()).toEqual([live, 'm'].sort());
  });
});
