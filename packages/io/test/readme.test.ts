// Every TypeScript block of the README runs (against the built package, as a user imports it).
import { join } from 'node:path';
import { readmeBlocks, runReadmeBlock } from '@mlxn/test-support/readme';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = readmeBlocks(pkg);

describe('README examples', () => {
  it('has examples for checkpoints, configs, tokenizers and chat templates', () => {
    const all = blocks.join('\n');
    for (const name of ['save(', 'load(', 'readConfig(', 'Tokenizer.load(', 'applyChatTemplate(', 'detokenizer('])
      expect(all).toContain(name);
  });
  blocks.forEach((code, i) => {
    it(`block ${i + 1} runs`, () => {
      const out = runReadmeBlock(pkg, code);
      expect(out.length).toBeGreaterThan(0);
    });
  });
});
