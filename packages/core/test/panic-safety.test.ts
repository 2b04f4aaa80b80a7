// A Rust panic in a native export must never abort the process: it reaches JS as an Error and
// the process stays usable (docs/security.md). The panics are real ones, raised on purpose by
// the test-only export `probePanic` in a child process (test/fixtures-abort/panics.ts), at the
// places a panic can happen: an export's body, inside the handle table's borrow (as its
// 16M-handles assert does), and inside a traced function that MLX's C++ code calls back.
// panic-exports.test.ts checks that every export is declared catch_unwind.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('Rust panics in native exports', () => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures-abort/panics.ts')], {
    cwd: join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  const result = (() => {
    try {
      return JSON.parse(last) as {
        seen: { site: string; error: string | null; isError: boolean; liveBefore: number; liveAfter: number }[];
        insideGrad: string | null;
        healthy: unknown;
      };
    } catch {
      return undefined;
    }
  })();

  it('the child survives every panic and exits normally', () => {
    expect(child.signal, `killed by ${child.signal}; stderr: ${child.stderr.slice(-2000)}`).toBeNull();
    expect(child.status, child.stderr.slice(-2000)).toBe(0);
    expect(result, `no JSON summary; stdout: ${child.stdout.slice(-500)}`).toBeDefined();
  });

  it('each panic is a JS Error carrying the panic message', () => {
    const by = Object.fromEntries(result!.seen.map((s) => [s.site, s]));
    expect(Object.keys(by).sort()).toEqual(['export', 'export+array', 'table', 'trace+array']);
    for (const s of result!.seen) expect(s.isError, s.site).toBe(true);
    expect(by.export!.error).toBe('boom at export');
    expect(by['export+array']!.error).toBe('boom at export');
    expect(by.table!.error).toBe('boom at table');
    expect(by['trace+array']!.error).toMatch(/a Rust panic in a traced function: boom at trace/);
    expect(result!.insideGrad).toBe('boom inside grad');
  });

  it('leaks only what the panicking export had registered, and the process stays usable', () => {
    const by = Object.fromEntries(result!.seen.map((s) => [s.site, s]));
    // The handle an export registered before it panicked is never released: a known leak.
    expect(by['export+array']!.liveAfter - by['export+array']!.liveBefore).toBe(1);
    expect(by.table!.liveAfter).toBe(by.table!.liveBefore);
    expect(result!.healthy).toEqual({ values: [2, 5, 10], grad: [2, 4, 6], compiled: [2, 4, 6] });
  });
});
