// Regenerates @mlxn/nn's layer fixtures (packages/nn/test/fixtures/nn_golden.safetensors) with
// the sampling venv: mlx at the pinned version plus mlx-lm without its dependencies (rope_utils
// and the LoRA layer need only mlx). MLXN_REFERENCE_PYTHON=<python> uses an existing venv.
//   node tooling/reference/nn-env.mjs
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { samplingPython } from './sampling-env.mjs';

const python = process.env.MLXN_REFERENCE_PYTHON || samplingPython();
execFileSync(python, [join(import.meta.dirname, 'nn_golden.py')], { stdio: 'inherit' });
