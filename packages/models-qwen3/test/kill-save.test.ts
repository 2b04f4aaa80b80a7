// Kill test for `model.save(folder)` over an existing model folder: the saving process is killed
// (SIGKILL) right after each file-system change it makes; a fresh process must then load the
// old model or the new one — the new one once its copy was complete — and leave no hidden
// copies behind. CI kills between the two renames of the replace plus a seeded few; every step
// with MLXN_HOSTILE_FULL=1.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killPoints, killSeed, readTrace, runKillChild } from '@mlxn/test-support/kill-points';
import { afterAll, describe, expect, it } from 'vitest';

const child = join(import.meta.dirname, 'kill-save-child.ts');
const scratch = mkdtempSync(join(tmpdir(), 'mlxn-kill-save-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const digestOf = (r: ReturnType<typeof runKillChild>, what: string): string => {
  if (r.status !== 0) throw new Error(`${what} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!).digest;
};

describe('model.save over an existing folder survives a kill at every step', () => {
  it('loads the old or the new model afterwards, never nothing', () => {
    const base = join(scratch, 'base');
    mkdirSync(base);
    const oldDigest = digestOf(runKillChild(child, ['save', join(base, 'model'), '1']), 'first save');
    const fresh = (name: string) => {
      const dir = join(scratch, name);
      cpSync(base, dir, { recursive: true });
      return dir;
    };
    const traced = fresh('traced');
    const traceFile = join(scratch, 'trace');
    const newDigest = digestOf(
      runKillChild(child, ['save', join(traced, 'model'), '2'], { root: traced, trace: traceFile }),
      'traced save',
    );
    expect(newDigest).not.toBe(oldDigest);
    const trace = readTrace(traceFile);
    const rel = (t: { path: string }) => t.path.split(`${traced}/`).join('');
    const betweenRenames = trace.find((t) => t.op === 'renameSync' && rel(t).startsWith('model -> '))?.index;
    // From here on a complete new copy exists (this version names it `.model.new-*`).
    const complete = trace.find((t) => t.op === 'renameSync' && / -> \.model\.new-/.test(rel(t)))?.index ?? betweenRenames;
    expect(betweenRenames, 'the save moves the old folder aside').toBeDefined();

    const points = killPoints(trace.length, { subset: 1, always: [betweenRenames!] });
    const failures: string[] = [];
    for (const k of points) {
      const dir = fresh(`k${k}`);
      const step = `${trace[k - 1]!.op} ${rel(trace[k - 1]!)}`;
      const killed = runKillChild(child, ['save', join(dir, 'model'), '2'], { root: dir, killAfter: k });
      if (killed.signal !== 'SIGKILL') {
        failures.push(`k=${k}: the save was not killed (status ${killed.status})`);
        continue;
      }
      const r = runKillChild(child, ['verify', join(dir, 'model')]);
      if (r.status !== 0) {
        failures.push(
          `k=${k} (after ${step}): load failed: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? r.stderr.slice(-300)}`,
        );
        continue;
      }
      const got = JSON.parse(r.stdout.trim().split('\n').pop()!).digest;
      const want = k >= complete! ? newDigest : oldDigest;
      if (got !== want)
        failures.push(
          `k=${k} (after ${step}): loaded the ${got === oldDigest ? 'old' : got === newDigest ? 'new' : 'a mixed'} model, expected the ${want === newDigest ? 'new' : 'old'} one`,
        );
      const hidden = readdirSync(dir).filter((f) => f.startsWith('.'));
      if (hidden.length > 0) failures.push(`k=${k} (after ${step}): leftovers after loading: ${hidden.join(', ')}`);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(failures, `seed ${killSeed()}, kill points ${points.join(',')} of ${trace.length}`).toEqual([]);
  }, 600_000);
});
