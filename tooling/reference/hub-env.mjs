// The reference Python (tooling/reference/python-env.mjs) plus huggingface_hub, pinned, for the
// cache-layout reference test (tooling/reference/hub_reference.py against the mock hub).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { referencePython } from './python-env.mjs';

export const HUGGINGFACE_HUB_VERSION = '2.4.0';

export function hubPython() {
  const python = referencePython();
  const marker = join(dirname(dirname(python)), `.huggingface_hub-${HUGGINGFACE_HUB_VERSION}`);
  if (!existsSync(marker)) {
    let have;
    try {
      have = execFileSync(python, ['-c', 'import huggingface_hub; print(huggingface_hub.__version__)'], { encoding: 'utf8' }).trim();
    } catch {
      have = undefined;
    }
    if (have !== HUGGINGFACE_HUB_VERSION) {
      process.stderr.write(`[reference] installing huggingface_hub==${HUGGINGFACE_HUB_VERSION}\n`);
      execFileSync(python, ['-m', 'pip', 'install', '--quiet', `huggingface_hub==${HUGGINGFACE_HUB_VERSION}`], { stdio: 'inherit' });
    }
    execFileSync('touch', [marker]);
  }
  return python;
}
