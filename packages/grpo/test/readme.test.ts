// Every TypeScript block of the README runs in order as a user runs it (module files of a fresh
// project outside the repository, with the built packages installed by name), and prints what
// it promises.
import { join } from 'node:path';
import { readmeBlocks, readmeProject } from '@mlxn/test-support/readme';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = readmeBlocks(pkg);
const project = readmeProject(pkg);
afterAll(() => project.dispose());

describe('README examples', () => {
  it('has a custom-reward training example of at most 20 lines', () => {
    const example = blocks.find((b) => b.includes('new GRPOTrainer') && b.includes('rewardFuncs: [digitsOnly]'));
    expect(example).toBeDefined();
    expect(example!.trim().split('\n').length).toBeLessThanOrEqual(20);
  });

  it('runs every block in order', () => {
    const outputs = blocks.map((code) => project.run(code));
    expect(outputs[0]).toContain('model folder ready');
    expect(outputs[1]).toMatch(/step 3: reward \d/);
    expect(outputs[1]).toContain('steps 3');
    expect(outputs[2]).toMatch(/step 4: loss \d/);
    expect(outputs[3]).toContain('newest checkpoint: checkpoint-3');
    expect(outputs[3]).toContain('logged steps: 1 2 3 4 5');
    expect(outputs[4]).toContain('completions 8 loss finite true grad norm > 0 true');
    expect(outputs[5]).toMatch(/\[ 'reward', 'loss' \] 800 x \d+/);
  }, 300_000);
});
