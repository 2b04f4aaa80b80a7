// Reference runs for @mlxn/cache against mlx-lm's models/cache.py (the sampling venv: mlx at
// the pinned version plus mlx-lm without its dependencies; cache.py needs only mlx).
//   node tooling/reference/cache-env.mjs golden   regenerate packages/cache/test/fixtures
//   node tooling/reference/cache-env.mjs check    write a file with @mlxn/cache, load it in mlx-lm
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { samplingPython } from './sampling-env.mjs';

const root = join(import.meta.dirname, '..', '..');
const script = join(import.meta.dirname, 'cache_golden.py');
const python = process.env.MLXN_REFERENCE_PYTHON || samplingPython();

if (process.argv[2] === 'golden') {
  execFileSync(python, [script, 'golden', join(root, 'packages/cache/test/fixtures')], { stdio: 'inherit' });
} else if (process.argv[2] === 'check') {
  const dir = mkdtempSync(join(tmpdir(), 'mlxn-cache-check-'));
  try {
    const file = join(dir, 'mlxn.safetensors');
    execFileSync(join(root, 'packages/cache/node_modules/.bin/tsx'), [join(import.meta.dirname, 'cache_write_mlxn.ts'), file], {
      stdio: 'inherit',
      cwd: join(root, 'packages/cache'),
    });
    execFileSync(python, [script, 'check', file], { stdio: 'inherit' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  process.stderr.write('usage: node tooling/reference/cache-env.mjs golden|check\n');
  process.exit(2);
}
