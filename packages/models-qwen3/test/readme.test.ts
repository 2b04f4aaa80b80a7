// Every TypeScript block of the README runs (against the built package, as a user imports it).
import { join } from 'node:path';
import { readmeBlocks, runReadmeBlock } from '@mlxn/test-support/readme';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = readmeBlocks(pkg);

describe('README examples', () => {
  it('documents loading, log-probabilities and saving', () => {
    expect(blocks.some((b) => b.includes('Qwen3.load') && b.includes('makeCache'))).toBe(true);
    expect(blocks.some((b) => b.includes('tokenLogprobs') && b.includes('valueAndGrad'))).toBe(true);
    expect(blocks.some((b) => b.includes('.save('))).toBe(true);
  });
  blocks.forEach((code, i) => {
    it(`block ${i + 1} runs`, () => {
      const out = runReadmeBlock(pkg, code);
      expect(out.length).toBeGreaterThan(0);
      const diff = /max difference (\S+)/.exec(out);
      if (diff) expect(Number(diff[1])).toBeLessThanOrEqual(1e-4);
    }, 120_000);
  });
});
