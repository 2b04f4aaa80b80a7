// src/lm holds the code that works for any causal language model; what it needs from a model is
// an interface (lm/model-interface.ts, lm/reply-format.ts). A relative import leaving the folder
// would tie it to Qwen3's files again, so every one is refused here.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const LM = resolve(import.meta.dirname, '..', 'src', 'lm');

/** Every module specifier of a TypeScript source: `import … from`, `export … from`, bare `import '…'`, `import('…')`. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/\b(?:from|import)\s*\(?\s*(['"])([^'"]+)\1/g)) found.push(m[2]);
  return found;
}

/** The relative imports of `file` (a path under `dir`) that resolve outside `dir`. */
function leaving(dir: string, file: string, source: string): string[] {
  return specifiers(source).filter((s) => {
    if (!s.startsWith('.')) return false;
    const rel = relative(dir, resolve(dirname(file), s));
    return rel.startsWith(`..${sep}`) || rel === '..';
  });
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

describe('src/lm boundary', () => {
  it('finds imports the way the rule needs (a leaving one is caught, inner and package ones are not)', () => {
    const file = join(LM, 'chat.ts');
    const source = [
      "import { Qwen3 } from '../model.js';",
      "export { parseReply } from '../reply.js';",
      "import '../side-effect.js';",
      "const later = await import('../load.js');",
      "import type { GenerationModel } from './model-interface.js';",
      "import * as mx from '@mlxn/core';",
    ].join('\n');
    expect(leaving(LM, file, source)).toEqual(['../model.js', '../reply.js', '../side-effect.js', '../load.js']);
  });

  it('no file under src/lm imports from outside it', () => {
    const files = sourcesUnder(LM);
    expect(files.length).toBeGreaterThan(10);
    const offenders: string[] = [];
    let relativeImports = 0;
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      relativeImports += specifiers(source).filter((s) => s.startsWith('.')).length;
      for (const s of leaving(LM, file, source)) offenders.push(`${relative(LM, file)} imports ${s}`);
    }
    // The folder's files do import each other: a scan that saw none would be reading nothing.
    expect(relativeImports).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });
});
