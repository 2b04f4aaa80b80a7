// Kill test for trainer checkpoints: a run that resumes from checkpoint-1 (checkpoint-2 already
// exists), saves every step and keeps one checkpoint replaces checkpoint-2, rotates checkpoint-1
// away, writes checkpoint-3 and rotates checkpoint-2 away. It is killed (SIGKILL) right after
// each file-system change it makes; a fresh process must then resume from the newest complete
// checkpoint (step 2, or 3 once checkpoint-3 was published) with exactly the weights, optimizer
// state and step the uninterrupted run had there, and train on to exactly its final state.
// CI kills at the step between the two renames of the replace plus a seeded few; every step
// with MLXN_HOSTILE_FULL=1 (MLXN_HOSTILE_SEED picks another subset).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killPoints, killSeed, readTrace, runKillChild } from '@mlxn/test-support/kill-points';
import { afterAll, describe, expect, it } from 'vitest';

const child = join(import.meta.dirname, 'kill-child.ts');
const scratch = mkdtempSync(join(tmpdir(), 'mlxn-kill-ckpt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
// The children's own temporary folders (the fixture model), inside scratch: a killed child cannot remove them.
const childTmp = join(scratch, 'child-tmp');
mkdirSync(childTmp);
const run = (args: string[], options: Parameters<typeof runKillChild>[2] = {}) =>
  runKillChild(child, args, { ...options, env: { ...options.env, MLXN_TEST_TMP: childTmp } });

/** What the child's reference run prints: the state's digest at each saved step and at the end. */
interface ReferenceRun {
  final: string;
  steps: Record<string, string>;
}

function json(r: ReturnType<typeof runKillChild>, what: string): unknown {
  if (r.status !== 0) throw new Error(`${what} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function prepared(name: string, ref: string): string {
  const out = join(scratch, name);
  mkdirSync(out);
  for (const c of ['checkpoint-1', 'checkpoint-2']) cpSync(join(ref, c), join(out, c), { recursive: true });
  return out;
}

describe('trainer checkpoints survive a kill at every step of save, replace and rotate', () => {
  it('resumes exactly from the newest complete checkpoint', () => {
    const ref = join(scratch, 'ref');
    const reference = json(run(['reference', ref]), 'reference run') as ReferenceRun;

    const traced = prepared('traced', ref);
    const traceFile = join(scratch, 'trace');
    json(run(['train', traced, join(traced, 'checkpoint-1')], { root: traced, trace: traceFile }), 'traced run');
    const trace = readTrace(traceFile);
    const at = (pattern: RegExp) =>
      trace.find((t) => t.op === 'renameSync' && pattern.test(t.path.replace(`${traced}/`, '').replace(` ${traced}/`, ' ')))?.index;
    // The old checkpoint-2 moved aside, the new one not yet in place.
    const betweenRenames = at(/^checkpoint-2 -> /);
    const published3 = at(/ -> checkpoint-3$/);
    // From the trainer state's write on, checkpoint-3's hidden copy is complete: resuming from it
    // (recovery puts it in place) or from checkpoint-2 are both right until it is published.
    const complete3 = at(/checkpoint-3[^/]*\/trainer_state\.json$/);
    expect(betweenRenames, 'the replace moves checkpoint-2 aside').toBeDefined();
    expect(published3).toBeDefined();

    const points = killPoints(trace.length, { subset: 1, always: [betweenRenames!] });
    const failures: string[] = [];
    for (const k of points) {
      const out = prepared(`k${k}`, ref);
      const killed = run(['train', out, join(out, 'checkpoint-1')], { root: out, killAfter: k });
      if (killed.signal !== 'SIGKILL') {
        failures.push(`k=${k}: the run was not killed (status ${killed.status})`);
        continue;
      }
      const r = run(['verify', out]);
      if (r.status !== 0) {
        failures.push(
          `k=${k} (after ${trace[k - 1]!.op} ${trace[k - 1]!.path}): resume failed: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? r.stderr.slice(-500)}`,
        );
        continue;
      }
      const v = JSON.parse(r.stdout.trim().split('\n').pop()!);
      const allowed = k >= published3! ? [3] : k >= (complete3 ?? published3!) ? [2, 3] : [2];
      if (!allowed.includes(v.step))
        failures.push(
          `k=${k} (after ${trace[k - 1]!.op} ${trace[k - 1]!.path}): resumed at step ${v.step}, the newest complete checkpoint is ${allowed.join(' or ')}`,
        );
      else if (v.digest !== reference.steps[v.step])
        failures.push(`k=${k}: the state loaded at step ${v.step} differs from the uninterrupted run's`);
      else if (v.final !== reference.final)
        failures.push(`k=${k}: training on from step ${v.step} did not reach the uninterrupted run's final state`);
      const hidden = readdirSync(out).filter((f) => f.startsWith('.'));
      if (hidden.length > 0) failures.push(`k=${k}: leftovers after resuming: ${hidden.join(', ')}`);
      rmSync(out, { recursive: true, force: true });
    }
    expect(failures, `seed ${killSeed()}, kill points ${points.join(',')} of ${trace.length}`).toEqual([]);
  }, 600_000);
});
