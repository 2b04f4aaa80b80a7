// No input from JS may abort the process: a child process runs a battery of >= 500 invalid calls
// (test/fixtures-abort/battery.ts) across every op family; each must throw a JS Error with a
// useful message, and the child must finish normally (exit 0, no signal).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const packageRoot = join(__dirname, '..');

interface Summary {
  total: number;
  threw: number;
  didNotThrow: string[];
  wrong: string[];
  healthy: unknown;
  values: number;
  valueMismatches: string[];
  records: [string, string | null][];
}

function runBattery() {
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures-abort/battery.ts')], {
    cwd: packageRoot,
    encoding: 'utf8',
    timeout: 50_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  let summary: Summary | undefined;
  try {
    summary = JSON.parse(last) as Summary;
  } catch {
    summary = undefined;
  }
  return { child, summary };
}

describe('never abort', () => {
  const { child, summary } = runBattery();

  it('the child process exits cleanly (status 0, no signal)', () => {
    // On a crash, say which call was running: rerun with MLXN_BATTERY_TRACE=1 to see it.
    expect(child.error, String(child.error)).toBeUndefined();
    expect(child.signal, `killed by ${child.signal}; stderr: ${child.stderr.slice(-2000)}`).toBeNull();
    expect(child.status, child.stderr.slice(-2000)).toBe(0);
    expect(summary, `no JSON summary; stdout tail: ${child.stdout.slice(-500)}`).toBeDefined();
  });

  it('runs at least 500 invalid calls, and every one throws', () => {
    expect(summary!.total).toBeGreaterThanOrEqual(500);
    expect(summary!.didNotThrow).toEqual([]);
    expect(summary!.threw).toBe(summary!.total);
  });

  it('every call throws the right kind of Error with a useful message', () => {
    // `wrong` lists calls that threw something else than expected: a non-Error, a message
    // shorter than 8 characters, a transform that lost the user's own exception, a disposed
    // array without code ERR_MLXN_DISPOSED, an MLX failure that is not an MlxError.
    expect(summary!.wrong).toEqual([]);
    for (const [name, message] of summary!.records) {
      expect(message, name).toEqual(expect.any(String));
      expect(message!.trim().length, name).toBeGreaterThanOrEqual(8);
    }
  });

  it('covers every op family the battery promises', () => {
    const names = summary!.records.map(([n]) => n);
    const count = (re: RegExp) => names.filter((n) => re.test(n)).length;
    expect(count(/ with \[|cannot be broadcast|with a JS list/)).toBeGreaterThan(50); // shapes
    expect(count(/axis|axes/)).toBeGreaterThan(60); // bad axes
    expect(count(/dtype| on (float|complex|int)/)).toBeGreaterThan(40); // dtypes
    expect(count(/index|take|scatter|gather|put/)).toBeGreaterThan(40); // indices
    expect(count(/\((null|\{\}|'str'|a function|undefined|a Map)\)/)).toBeGreaterThan(100); // non-arrays
    expect(count(/^disposed/)).toBeGreaterThan(40);
    expect(count(/user exception|inner tidy/)).toBeGreaterThanOrEqual(48); // user errors in transforms
    expect(count(/fn returns/)).toBeGreaterThanOrEqual(30);
    expect(count(/via (mx\.eval|await mx\.asyncEval|await a\.data\(\))/)).toBeGreaterThanOrEqual(18); // lazy failures
    expect(count(/Limit\(/)).toBeGreaterThanOrEqual(18); // memory limits
  });

  it("surfaces evaluation-time failures with MLX's message, from eval, asyncEval and data()", () => {
    const msg = (name: string) => summary!.records.find(([n]) => n === name)?.[1];
    for (const via of ['mx.eval', 'await mx.asyncEval', 'await a.data()', 'a.dataSync()']) {
      expect(msg(`linalg.inv of a singular matrix via ${via}`)).toMatch(/LU factorization failed/);
      expect(msg(`linalg.svd of NaNs via ${via}`)).toMatch(/SVD failed/);
    }
  });

  it("returns the user's own exception from every transform, unchanged", () => {
    const transformed = summary!.records.filter(([n]) => /user exception comes back unchanged/.test(n));
    expect(transformed.length).toBeGreaterThanOrEqual(16);
    for (const [name, message] of transformed) expect(message, name).toMatch(/^user failure: /);
  });

  it("gives defined values where MLX's kernels would crash (integer division, lazy indices)", () => {
    expect(summary!.values).toBeGreaterThanOrEqual(10);
    expect(summary!.valueMismatches).toEqual([]);
  });

  it('stays usable after the battery', () => {
    expect(summary!.healthy).toEqual([2, 3, 4]);
  });
});
