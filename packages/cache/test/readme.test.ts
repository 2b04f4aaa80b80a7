// Every TypeScript block of the README runs (against the built package, as a user imports it).
import { join } from 'node:path';
import { readmeBlocks, runReadmeBlock } from '@mlxn/test-support/readme';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = readmeBlocks(pkg);

describe('README examples', () => {
  it('has an example of reusing a prompt cache across two calls', () => {
    expect(blocks.some((b) => b.includes('savePromptCache') && b.includes('loadPromptCache'))).toBe(true);
  });
  blocks.forEach((code, i) => {
    it(`block ${i + 1} runs`, () => {
      const out = runReadmeBlock(pkg, code);
      expect(out.length).toBeGreaterThan(0);
      const diff = /max difference (\S+)/.exec(out);
      if (diff) expect(Number(diff[1])).toBeLessThan(1e-5);
    });
  });
});
