// Ctrl-C counting of the command-line tools (onInterrupt, in dist/cli-args.js as mlxn-train
// imports it), in child processes that signal themselves: SIGINTs that arrive together — also
// while a long synchronous step blocks the event loop — are one stop request; one sent after the
// loop has run for the coalescing time is a second.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const SHARED = join(import.meta.dirname, '..', 'dist', 'cli-args.js');

beforeAll(() => {
  if (!existsSync(SHARED)) throw new Error(`${SHARED} is missing: run \`pnpm --filter @mlxn/models-qwen3 build\` first`);
});

/** Runs `body` (module code with `onInterrupt`, `sigint()`, `busy(ms)`, `sleep(ms)`, `settled()` and `log`) in a fresh Node. */
function child(body: string): string {
  const script = `
    const { onInterrupt } = await import(${JSON.stringify(pathToFileURL(SHARED).href)});
    const sigint = () => process.kill(process.pid, 'SIGINT');
    const busy = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    // After the timers that were due: the arming of onInterrupt runs in a check phase too.
    const settled = () => new Promise((r) => setImmediate(r));
    const log = [];
    ${body}
    process.stdout.write(JSON.stringify(log));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('onInterrupt', () => {
  it('counts SIGINTs sent together as one request, and a later one as the second', () => {
    const out = child(`
      const stop = onInterrupt((n) => log.push(n), { coalesceMs: 300 });
      sigint(); sigint(); sigint();
      await sleep(100);
      sigint();
      await sleep(600);
      await settled();
      sigint();
      await sleep(50);
      stop();
    `);
    expect(JSON.parse(out)).toEqual([1, 2]);
  });

  it('a duplicate delivered after a long synchronous step is not a second request', () => {
    // The first SIGINT is handled; its duplicate arrives while a step blocks the loop for longer
    // than the coalescing time, and is delivered only when the step ends.
    const out = child(`
      const stop = onInterrupt((n) => log.push(n), { coalesceMs: 200 });
      sigint();
      await sleep(20);
      sigint();
      busy(600);
      await sleep(20);
      await new Promise((r) => setImmediate(r));
      log.push('after the step');
      await sleep(400);
      await settled();
      sigint();
      await sleep(50);
      stop();
    `);
    expect(JSON.parse(out)).toEqual([1, 'after the step', 2]);
  });

  it('leaves no listener behind, so a later SIGINT ends the process as usual', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { onInterrupt } = await import(${JSON.stringify(pathToFileURL(SHARED).href)}); onInterrupt(() => {})(); process.kill(process.pid, 'SIGINT'); setTimeout(() => {}, 5000);`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.signal).toBe('SIGINT');
  });
});
