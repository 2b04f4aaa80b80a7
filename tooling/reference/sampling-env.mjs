// The reference Python (tooling/reference/python-env.mjs) plus mlx-lm, pinned, for the sampling
// golden vectors and benchmark. Installed with --no-deps: the scripts load only mlx-lm's
// sample_utils.py (which needs nothing but mlx), not its model and tokenizer stack.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { referencePython } from './python-env.mjs';

export const MLX_LM_VERSION = '0.32.2';

export function samplingPython() {
  const python = referencePython();
  const marker = join(dirname(dirname(python)), `.mlx-lm-${MLX_LM_VERSION}`);
  if (!existsSync(marker)) {
    process.stderr.write(`[reference] installing mlx-lm==${MLX_LM_VERSION} (no deps)\n`);
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '--no-deps', `mlx-lm==${MLX_LM_VERSION}`], { stdio: 'inherit' });
    execFileSync('touch', [marker]);
  }
  return python;
}

// `node tooling/reference/sampling-env.mjs golden` regenerates the committed fixtures.
if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === 'golden') {
  const root = join(import.meta.dirname, '..', '..');
  execFileSync(samplingPython(), [join(import.meta.dirname, 'sampling_golden.py'), join(root, 'packages/sampling/test/fixtures')], {
    stdio: 'inherit',
  });
}
