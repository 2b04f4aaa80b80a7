// Every TypeScript block of the README runs, in order, as a user runs it: module files of a
// fresh project outside the repository with the built packages installed by name (the first
// block makes the model folder the others load).
import { join } from 'node:path';
import { readmeBlocks, readmeProject } from '@mlxn/test-support/readme';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = readmeBlocks(pkg);
const project = readmeProject(pkg);
afterAll(() => project.dispose());

describe('README examples', () => {
  it('documents loading, log-probabilities and saving', () => {
    expect(blocks.some((b) => b.includes('Qwen3.load') && b.includes('makeCache'))).toBe(true);
    expect(blocks.some((b) => b.includes('tokenLogprobs') && b.includes('valueAndGrad'))).toBe(true);
    expect(blocks.some((b) => b.includes('.save('))).toBe(true);
    expect(blocks.some((b) => b.includes('withRouterLogits') && b.includes('loadBalancingLoss'))).toBe(true);
  });

  it("runs the examples where only the packages' public exports resolve", () => {
    // The name is built by the example so the static check of `run` does not stop it first.
    expect(() => project.run("await import(['@mlxn', 'test-support', 'qwen3'].join('/'));")).toThrow(
      /Cannot find (package|module) '@mlxn\/test-support'/,
    );
    expect(() => project.run(`await import('@mlxn/models-qwen3/' + 'src/model.ts');`)).toThrow(
      /not exported|ERR_PACKAGE_PATH_NOT_EXPORTED/,
    );
    expect(project.run("import { Qwen3 } from '@mlxn/models-qwen3'; console.log(typeof Qwen3.load);")).toBe('function\n');
    expect(() => project.run("import '@mlxn/test-support/qwen3';")).toThrow(/private test helpers/);
  });

  it('runs every block in order', () => {
    const outputs = blocks.map((code) => project.run(code));
    expect(outputs[0]).toBe('model folder ready\n');
    expect(outputs[1]).toMatch(/^(weights \d\/3\n){3}qwen3 1 layers, tied: true\n/);
    expect(outputs[1]).toMatch(/next token \d+/);
    for (const out of outputs) {
      const diff = /max difference (\S+)/.exec(out);
      if (diff) expect(Number(diff[1])).toBeLessThanOrEqual(1e-4);
    }
    expect(outputs[2]).toMatch(/\[length\] 16 tokens/);
    expect(outputs[2]).toMatch(/reused prompt tokens: [1-9]\d*/);
    expect(outputs[2]).toMatch(/\nabort\n$/);
    expect(outputs[3]).toMatch(/^true \d+ of 12 tokens from the draft\n$/);
    expect(outputs[6]).toMatch(/loss \S+ gradient tensors \d+/);
    expect(outputs[7]).toMatch(/^aux loss \d\.\d{3} loss \S+ gradient tensors \d+\n$/);
    expect(outputs[8]).toMatch(/quantized: \{/);
    expect(outputs.some((o) => /\nstop \{ city: '[^\n]*' \}\n/.test(o))).toBe(true);
  }, 300_000);
});
