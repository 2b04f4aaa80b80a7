// The runnable examples must keep working: run each one the way a user does (tsx, importing the
// built package) and check what it prints.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../../..');
const tsx = join(root, 'node_modules/.bin/tsx');

describe('examples', () => {
  it('core-demo prints the values it promises', () => {
    const out = execFileSync(tsx, [join(root, 'examples/core-demo.ts')], { cwd: join(root, 'examples'), encoding: 'utf8' });
    expect(out).toContain('x * 2 + 1 = [ [ 3, 5 ], [ 7, 9 ] ]');
    expect(out).toContain('loss = 116 grad = Float32Array(4) [ 48, 48, 68, 68 ]');
    const gelu = out.match(/^gelu +=(.*)$/m)?.[1].trim();
    const compiled = out.match(/^compiled =(.*)$/m)?.[1].trim();
    expect(gelu).toBe('-0.0040 -0.0455 -0.1587 0.0000 0.8413 1.9545 2.9960');
    expect(compiled).toBe(gelu);
    const [before, after] = out
      .match(/1000 tidy steps: (\d+) (\d+)/)!
      .slice(1)
      .map(Number);
    expect(after - before).toBeLessThan(64 * 1024); // flat: not 1000 leaked 16 KB arrays
  }, 120_000);
});
