// The hostile-input battery harness tells passes from failures, survives crashes, hangs and
// memory overruns (each fails its own case only), and samples by seed.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { caseDir, listenOnSocket, makeNonRegular, runHostileBattery, scratchDir, selectCases } from '../test-support/hostile.mjs';

const fixture = new URL('./fixtures/hostile-cases.mjs', import.meta.url);

describe('hostile battery harness', () => {
  it('judges every case, restarting the child after a crash, a hang or an overrun', async () => {
    const summary = await runHostileBattery(fixture, { full: true, timeoutMs: 5_000, graceMs: 2_000, maxRssMb: 300 });
    expect(summary.total).toBe(13);
    expect(summary.run).toBe(13);
    const failedNames = summary.failed.map((f) => f.name).sort();
    expect(failedNames).toEqual([
      'fail: crash',
      'fail: hang',
      'fail: memory',
      'fail: non-Error',
      'fail: returned without accept',
      'fail: short message',
      'fail: stack overflow',
      'fail: wrong error',
      'fail: wrong result',
    ]);
    const reason = (name) => summary.failed.find((f) => f.name === name).reason;
    expect(reason('fail: crash')).toMatch(/crash: killed by SIGSEGV/);
    expect(reason('fail: hang')).toMatch(/hang: no result within 300 ms/);
    expect(reason('fail: memory')).toMatch(/memory|crash/);
    expect(reason('fail: wrong result')).toBe('got 41');
    expect(summary.byClass.faults).toEqual({ tried: 5, passed: 2, failed: 3 });
  }, 120_000);

  it('samples every regression plus a seeded subset of the rest', () => {
    const meta = Array.from({ length: 50 }, (_, i) => ({ name: `c${i}`, regression: i % 10 === 0 }));
    const a = selectCases(meta, { full: false, seed: 7, sample: 5 });
    expect(a).toEqual(selectCases(meta, { full: false, seed: 7, sample: 5 }));
    expect(a.length).toBe(10);
    for (const i of [0, 10, 20, 30, 40]) expect(a).toContain(i);
    expect(selectCases(meta, { full: false, seed: 8, sample: 5 })).not.toEqual(a);
    expect(selectCases(meta, { full: true, seed: 7, sample: 5 }).length).toBe(50);
  });

  it('gives each case a fresh folder under one scratch root and makes non-regular files', async () => {
    const a = caseDir('harness');
    const b = caseDir('harness');
    expect(a).not.toBe(b);
    expect(dirname(a)).toBe(scratchDir('harness'));
    expect(dirname(b)).toBe(scratchDir('harness'));
    expect(readdirSync(a)).toEqual([]);
    expect(statSync(makeNonRegular(join(a, 'f'), 'fifo')).isFIFO()).toBe(true);
    expect(statSync(makeNonRegular(join(a, 'd'), 'folder')).isDirectory()).toBe(true);
    expect(statSync(makeNonRegular(join(a, 'z'), 'device')).isCharacterDevice()).toBe(true);
    const close = await listenOnSocket(join(b, 's'));
    expect(lstatSync(join(b, 's')).isSocket()).toBe(true);
    close();
    expect(() => makeNonRegular(join(b, 'x'), 'pipe')).toThrow(/unknown non-regular kind 'pipe'/);
  });
});
