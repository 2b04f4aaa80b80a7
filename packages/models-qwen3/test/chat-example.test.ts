// examples/chat.ts must keep working: run it the way a user does (tsx, importing the built
// package) on the tiny fixture model and check what it prints.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const tsx = join(root, 'node_modules/.bin/tsx');

describe('examples/chat.ts', () => {
  it('streams a chat reply from a model folder and reports how it finished', () => {
    const out = execFileSync(tsx, [join(root, 'examples/chat.ts'), '--prompt', 'Hello!', '--max-tokens', '12'], {
      cwd: join(root, 'examples'),
      encoding: 'utf8',
    });
    expect(out).toMatch(/^model: .*mlxn-tiny-qwen3-tok.* \(1 layers, vocabulary 151936\)$/m);
    expect(out).toContain('user: Hello!');
    // A random model says noise, but every token of it arrives as a part and is counted.
    expect(out).toMatch(/\[finish: (length|stop), \d+ tokens, [\d.]+ tokens\/s\]/);
    const finish = out.match(/\[finish: (length|stop), (\d+) tokens/)!;
    if (finish[1] === 'length') expect(Number(finish[2])).toBe(12);
    expect(out).toMatch(/\n(thinking|assistant|tool call|invalid tool call): /);
  }, 120_000);
});
