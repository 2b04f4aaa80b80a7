// The main demo in its quick mode (seconds): every stage runs and reports, and the checkpoint it
// writes loads back with Qwen3.load and answers as the model in memory did.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const examples = join(import.meta.dirname, '..');
const tsx = join(examples, '../node_modules/.bin/tsx');

describe('grpo-arithmetic', () => {
  it('runs SFT then GRPO end to end and saves a checkpoint Qwen3.load reads back', () => {
    const out = execFileSync(tsx, [join(examples, 'grpo-arithmetic.ts'), '--quick'], {
      cwd: examples,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toMatch(/^model: [\d.]+M parameters \(vocabulary 9728/m);
    for (const stage of ['before training', 'after SFT', 'after GRPO']) {
      expect(out).toMatch(new RegExp(`^${stage}: held-out accuracy \\d+% \\(train prompts \\d+%\\)`, 'm'));
    }
    expect(out).toMatch(/^mean reward by quarter of GRPO: [\d.]+ → [\d.]+ → [\d.]+ → [\d.]+ \(correctness /m);
    expect(out).toMatch(/^mean reward: first quarter [\d.]+ → last quarter [\d.]+$/m);
    expect(out).toMatch(/checkpoint-2 loads with Qwen3\.load: held-out accuracy \d+% \(same as in memory\)/);
  }, 180_000);
});
