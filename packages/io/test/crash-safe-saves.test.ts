// Crash-safe folder saves: a failed or killed save of a checkpoint folder never breaks the set
// that was there, never leaves orphan shards, and an interrupted replace of a whole folder is
// put right (newest complete copy back in place) by the next load.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { killPoints, killSeed, readTrace, runKillChild } from '@mlxn/test-support/kill-points';
import { afterAll, describe, expect, it } from 'vitest';
import { hiddenName, parseHiddenName, recoverFolder } from '../src/folder-replace.js';
import { loadSync, saveSync } from '../src/index.js';

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
    expect(() => saveSync(folder, { 'c.w': mx.full([64], 3, 'float32'), big: lazy }, { maxShardSize: 300 })).toThrow(
      new RegExp(`${folder}/model-00002-of-00002`),
    );
    expect(readdirSync(folder).sort()).toEqual(before);
    expect(values(folder)).toEqual({ 'a.w': new Array(64).fill(1), 'b.w': new Array(64).fill(2) });
  });

  it('replaces a three-shard set by a single file, removing the stale shards', () => {
    const folder = join(fresh(), 'ck');
    saveSync(
      folder,
      { x: mx.full([64], 1, 'float32'), y: mx.full([64], 2, 'float32'), z: mx.full([64], 3, 'float32') },
      { maxShardSize: 300 },
    );
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
    const firstMove = trace.find(
      (t) => t.op === 'renameSync' && /ck\/model-\d{5}-of-\d{5}\.safetensors$/.test(t.path.split(' -> ')[1] ?? ''),
    )?.index;
    expect(complete).toBeDefined();
    expect(firstMove).toBeDefined();
    const points = killPoints(trace.length, { subset: 1, always: [firstMove!] });
    const failures: string[] = [];
    const files = {
      a: [
        'model-00001-of-00003.safetensors',
        'model-00002-of-00003.safetensors',
        'model-00003-of-00003.safetensors',
        'model.safetensors.index.json',
      ],
      b: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'],
    };
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
      if (v.set !== want)
        failures.push(
          `k=${k} (after ${trace[k - 1]!.op} ${trace[k - 1]!.path}): loaded ${v.set ?? JSON.stringify(v.got)}, expected set ${want}`,
        );
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

/**
 * The writer mark of process `pid` as hidden names carry it (`-START-BOOT-NS` in hex), read from
 * /proc here, apart from the code under test; `change` alters one part. Null off Linux.
 */
function markOf(pid: number, change: { start?: number; boot?: string; ns?: number } = {}): string | null {
  try {
    // Field 22 (the start time): the 20th after the command name's closing parenthesis, the
    // string's last one (the greedy `.*`), since the name itself may hold spaces and parentheses.
    const start = Number(/.*\) (?:\S+ ){19}(\d+)/s.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))![1]);
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').replace(/-/g, '').slice(0, 8);
    const ns = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/pid`))![1]);
    return `-${(change.start ?? start).toString(16)}-${change.boot ?? boot}-${(change.ns ?? ns).toString(16)}`;
  } catch {
    return null;
  }
}
const onLinux = markOf(process.pid) !== null;
const longAgo = () => new Date(Date.now() - 2 * 3600_000);

describe('temporaries of a killed single-file save', () => {
  const child = join(import.meta.dirname, 'kill-file-save-child.ts');

  /** Starts a child saving `file` and SIGKILLs it once its temporary file appears; returns that name. */
  async function killMidSave(file: string): Promise<{ temp: string; pid: number }> {
    const dir = join(file, '..');
    const p = spawn(process.execPath, ['--import', 'tsx', child, file, '256', '9'], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<void>((done) => p.on('exit', () => done()));
    let temp: string | undefined;
    let running = true;
    p.on('exit', () => (running = false));
    while (running && temp === undefined) {
      temp = readdirSync(dir).find((e) => e.startsWith('.w.safetensors.tmp-'));
      if (temp === undefined) await new Promise((r) => setTimeout(r, 1));
    }
    if (temp === undefined) throw new Error(`the child finished before its temporary file was seen: ${stderr.slice(-500)}`);
    p.kill('SIGKILL');
    await exited;
    expect(p.signalCode).toBe('SIGKILL');
    return { temp, pid: p.pid! };
  }

  it('regression: a real save killed mid-write leaves its temporary; the next load sweeps it, and so does the next save', async () => {
    const dir = fresh();
    const file = join(dir, 'w.safetensors');
    saveSync(file, { x: mx.array([1, 2], 'float32') });

    const first = await killMidSave(file);
    // The native writer's name: `.NAME.tmp-PID-N`, plus the writer's mark on Linux.
    expect(parseHiddenName(first.temp)).toMatchObject({ name: 'w.safetensors', kind: 'tmp', pid: first.pid });
    if (onLinux) expect(first.temp).toMatch(/^\.w\.safetensors\.tmp-\d+-\d+-[0-9a-f]+-[0-9a-f]{8}-[0-9a-f]+$/);
    expect(existsSync(join(dir, first.temp))).toBe(true);
    expect(loadSync(file).arrays.x!.tolist()).toEqual([1, 2]); // the old file, whole
    expect(readdirSync(dir)).toEqual(['w.safetensors']);

    const second = await killMidSave(file);
    expect(existsSync(join(dir, second.temp))).toBe(true);
    saveSync(file, { x: mx.array([3], 'float32') });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    expect(loadSync(file).arrays.x!.tolist()).toEqual([3]);
  }, 120_000);

  it.runIf(onLinux)("names carry the writer's start time, boot and PID namespace, as /proc gives them", async () => {
    const dir = fresh();
    const p = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const file = join(dir, 'w.safetensors');
      // A running process's temporary with its true mark is kept; so is this process's own.
      const running = `.w.safetensors.tmp-${p.pid}-0${markOf(p.pid!)}`;
      const own = `.w.safetensors.tmp-${process.pid}-99${markOf(process.pid)}`;
      writeFileSync(join(dir, running), 'partial');
      writeFileSync(join(dir, own), 'partial');
      saveSync(file, { x: mx.array([1], 'float32') });
      expect(readdirSync(dir).sort()).toEqual([own, running, 'w.safetensors'].sort());
      expect(hiddenName('m', 'tmp')).toMatch(new RegExp(`^\\.m\\.tmp-${process.pid}-[0-9a-z]+${markOf(process.pid)}$`));
    } finally {
      p.kill('SIGKILL');
    }
  });

  it.runIf(onLinux)('regression: a temporary whose PID a different process now has (PID reuse) is swept', () => {
    const dir = fresh();
    const reused = markOf(process.ppid)!.replace(/^-([0-9a-f]+)/, (_, s: string) => `-${(Number.parseInt(s, 16) + 1).toString(16)}`);
    // The runner's PID, but a process that started at another time: not the runner.
    const byParentPid = `.w.safetensors.tmp-${process.ppid}-0${reused}`;
    // This process's PID, with another start time: a dead process that had this PID before.
    const byOwnPid = `.w.safetensors.tmp-${process.pid}-0${markOf(process.pid, { start: 1 })}`;
    writeFileSync(join(dir, byParentPid), 'partial');
    writeFileSync(join(dir, byOwnPid), 'partial');
    saveSync(join(dir, 'w.safetensors'), { x: mx.array([1], 'float32') });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });

  it.runIf(onLinux)('regression: a temporary from another PID namespace or boot is kept while it changes, swept after an hour idle', () => {
    const dir = fresh();
    const file = join(dir, 'w.safetensors');
    // PID 2^22 + 1 does not exist here, but in another namespace it may be a live writer.
    const foreign = `.w.safetensors.tmp-${2 ** 22 + 1}-0${markOf(process.pid, { ns: 12345 })}`;
    const lastBoot = `.w.safetensors.tmp-${2 ** 22 + 1}-1${markOf(process.pid, { boot: 'deadbeef' })}`;
    writeFileSync(join(dir, foreign), 'partial');
    writeFileSync(join(dir, lastBoot), 'partial');
    saveSync(file, { x: mx.array([1], 'float32') });
    expect(readdirSync(dir).sort()).toEqual([foreign, lastBoot, 'w.safetensors'].sort());
    utimesSync(join(dir, foreign), longAgo(), longAgo());
    utimesSync(join(dir, lastBoot), longAgo(), longAgo());
    saveSync(file, { x: mx.array([2], 'float32') });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });

  it.runIf(onLinux)('recovery leaves a hidden folder of a writer in another PID namespace alone while it changes', () => {
    const parent = fresh();
    const foreign = `.m.tmp-${2 ** 22 + 1}-x${markOf(process.pid, { ns: 12345 })}`;
    mkdirSync(join(parent, 'm'));
    mkdirSync(join(parent, foreign));
    writeFileSync(join(parent, foreign, 'shard'), 'being written');
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent).sort()).toEqual([foreign, 'm'].sort());
    utimesSync(join(parent, foreign), longAgo(), longAgo());
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent).sort()).toEqual([foreign, 'm'].sort()); // its file still changed recently
    utimesSync(join(parent, foreign, 'shard'), longAgo(), longAgo());
    recoverFolder(join(parent, 'm'));
    expect(readdirSync(parent)).toEqual(['m']);
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
