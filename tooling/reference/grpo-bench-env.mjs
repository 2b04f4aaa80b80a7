// The Python side of the GRPO benchmark (tooling/bench/grpo.ts): a venv in the cache folder with
// MLX at the pinned version (CPU build), mlx-lm and mlx-lm-lora, and everything they import
// (transformers for the tokenizer, datasets, ...). Every package is pinned, the dependency
// closure included, so two machines time the same Python code. Separate from the reference venv
// (python-env.mjs) because mlx-lm-lora needs mlx-lm with its full dependency stack, which the
// golden-fixture scripts deliberately avoid.
//   node tooling/reference/grpo-bench-env.mjs        # creates it (once) and prints the python path
// MLXN_GRPO_BENCH_PYTHON=<python> uses an existing environment instead.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, pin } from '../mlx-runtime/paths.mjs';

export const MLX_LM_VERSION = '0.32.2';
export const MLX_LM_LORA_VERSION = '5.10.2';

// `pip freeze` of a fresh install of the four top-level packages (Python 3.11, linux-x64).
const REQUIREMENTS = [
  `mlx==${pin.version}`,
  `mlx-cpu==${pin.version}`,
  `mlx-lm==${MLX_LM_VERSION}`,
  `mlx-lm-lora==${MLX_LM_LORA_VERSION}`,
  'annotated-doc==0.0.7',
  'annotated-types==0.8.0',
  'anyio==4.16.0',
  'click==8.5.1',
  'datasets==5.2.0',
  'dill==0.4.1',
  'filelock==4.2.11',
  'fsspec==2026.9.0',
  'h11==0.16.0',
  'hf-xet==1.8.0',
  'httpcore2==2.16.2',
  'httpx2==2.16.2',
  'huggingface_hub==2.4.0',
  'idna==3.20',
  'Jinja2==3.1.6',
  'markdown-it-py==4.3.0',
  'MarkupSafe==3.0.4',
  'mdurl==0.1.2',
  'multiprocess==0.70.19',
  'numpy==2.4.6',
  'packaging==26.3',
  'pandas==3.1.1',
  'protobuf==7.36.2',
  'pyarrow==26.0.1',
  'pydantic==2.14.3',
  'pydantic_core==2.50.4',
  'Pygments==2.21.0',
  'python-dateutil==4.0.0',
  'PyYAML==6.0.3',
  'regex==2026.11.15',
  'rich==15.0.0',
  'safetensors==0.8.0',
  'sentencepiece==0.2.3',
  'shellingham==1.5.4',
  'tokenizers==0.23.3',
  'tqdm==4.70.1',
  'transformers==5.23.0',
  'truststore==0.10.5',
  'typer==0.29.2',
  'typing-inspection==0.4.5',
  'typing_extensions==4.16.0',
  'tzdata==2026.6',
  'xxhash==4.1.0',
];

/** The venv's python, creating the venv first when it is missing or was left half-made. */
export function grpoBenchPython() {
  if (process.env.MLXN_GRPO_BENCH_PYTHON) return process.env.MLXN_GRPO_BENCH_PYTHON;
  const venv = join(cacheRoot(), `grpo-bench-mlx-${pin.version}-lora-${MLX_LM_LORA_VERSION}`);
  const python = join(venv, 'bin', 'python');
  if (!existsSync(join(venv, '.complete'))) {
    process.stderr.write(`[reference] creating ${venv}\n`);
    rmSync(venv, { recursive: true, force: true }); // a previous attempt may have stopped half-way
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', ...REQUIREMENTS], { stdio: ['ignore', 'inherit', 'inherit'] });
    // The trainer must import: this catches a dependency the pins above miss.
    execFileSync(python, ['-c', 'import mlx_lm_lora.trainer.grpo_trainer, mlx_lm'], { stdio: 'inherit' });
    writeFileSync(join(venv, '.complete'), `${REQUIREMENTS.join('\n')}\n`);
  }
  return python;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(grpoBenchPython());
