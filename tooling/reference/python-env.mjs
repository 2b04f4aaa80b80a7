// A Python virtual environment with the reference tools (MLX's Python API at the pinned
// version, NumPy), created on demand in the cache folder. Used by reference generators and
// benchmarks only; @mlxn never needs Python at run time.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, pin } from '../mlx-runtime/paths.mjs';

export function referencePython() {
  const venv = join(cacheRoot(), `pyref-mlx-${pin.version}`);
  const python = join(venv, 'bin', 'python');
  if (!existsSync(join(venv, '.complete'))) {
    process.stderr.write(`[reference] creating ${venv}\n`);
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', `mlx==${pin.version}`, `mlx-cpu==${pin.version}`, 'numpy'], {
      stdio: 'inherit',
    });
    execFileSync('touch', [join(venv, '.complete')]);
  }
  return python;
}
