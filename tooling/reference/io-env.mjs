// The reference Python (tooling/reference/python-env.mjs) plus Hugging Face `tokenizers`,
// pinned, for the @mlxn/io benchmark.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { referencePython } from './python-env.mjs';

export const TOKENIZERS_VERSION = '0.23.3';

export function ioPython() {
  const python = referencePython();
  const marker = join(dirname(dirname(python)), `.tokenizers-${TOKENIZERS_VERSION}`);
  if (!existsSync(marker)) {
    process.stderr.write(`[reference] installing tokenizers==${TOKENIZERS_VERSION}\n`);
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', `tokenizers==${TOKENIZERS_VERSION}`], { stdio: 'inherit' });
    execFileSync('touch', [marker]);
  }
  return python;
}
