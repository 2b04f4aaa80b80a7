// Reference runs for @mlxn/models-qwen3 against mlx-lm (the sampling venv: mlx at the pinned
// version plus mlx-lm without its dependencies) and transformers, pinned: mlx-lm's generate and
// loader modules import transformers at import time.
//   node tooling/reference/qwen3-env.mjs golden   regenerate tooling/fixtures/qwen3 (checkpoints + mlx-lm outputs)
//   node tooling/reference/qwen3-env.mjs check    save every fixture with @mlxn/models-qwen3, load it in mlx-lm
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { samplingPython } from './sampling-env.mjs';

export const TRANSFORMERS_VERSION = '5.23.0';

export function qwen3Python() {
  const python = samplingPython();
  const marker = join(dirname(dirname(python)), `.transformers-${TRANSFORMERS_VERSION}`);
  if (!existsSync(marker)) {
    process.stderr.write(`[reference] installing transformers==${TRANSFORMERS_VERSION}\n`);
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', `transformers==${TRANSFORMERS_VERSION}`], { stdio: 'inherit' });
    execFileSync('touch', [marker]);
  }
  return python;
}

const root = join(import.meta.dirname, '..', '..');
const script = join(import.meta.dirname, 'qwen3_golden.py');
const fixtures = join(root, 'tooling/fixtures/qwen3');

if (import.meta.url === `file://${process.argv[1]}`) {
  const python = process.env.MLXN_REFERENCE_PYTHON || qwen3Python();
  if (process.argv[2] === 'golden') {
    execFileSync(python, [script, 'golden', fixtures], { stdio: 'inherit' });
  } else if (process.argv[2] === 'check') {
    const dir = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-check-'));
    try {
      const pkg = join(root, 'packages/models-qwen3');
      for (const kind of ['dense', 'moe', 'dense-4bit', 'moe-4bit']) {
        const out = join(dir, kind);
        execFileSync(join(pkg, 'node_modules/.bin/tsx'), [join(import.meta.dirname, 'qwen3_save_mlxn.ts'), join(fixtures, kind), out], {
          stdio: 'inherit',
          cwd: pkg,
        });
        execFileSync(python, [script, 'check-saved', out, kind, fixtures], { stdio: 'inherit' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    process.stderr.write('usage: node tooling/reference/qwen3-env.mjs golden|check\n');
    process.exit(2);
  }
}
