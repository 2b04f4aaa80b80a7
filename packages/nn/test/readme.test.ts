// Every TypeScript block of the README runs (against the built package, as a user imports it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const blocks = [...readFileSync(join(pkg, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const tsx = join(pkg, 'node_modules/.bin/tsx');

describe.runIf(existsSync(join(pkg, 'dist/index.js')) && existsSync(tsx))('README examples', () => {
  it('has a complete training loop example', () => {
    expect(blocks.some((b) => b.includes('valueAndGrad(model') && b.includes('opt.update(model'))).toBe(true);
  });
  blocks.forEach((code, i) => {
    it(`block ${i + 1} runs`, () => {
      // Inside the package folder so `@mlxn/nn` resolves to this package (self-reference).
      const dir = mkdtempSync(join(pkg, '.readme-'));
      try {
        writeFileSync(join(dir, 'example.mts'), code);
        const out = execFileSync(tsx, [join(dir, 'example.mts')], { cwd: pkg, encoding: 'utf8' });
        expect(out.length).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
