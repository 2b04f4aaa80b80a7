/**
 * @mlxn/models-qwen3 generation against mlx-lm (same MLX version, same machine, same run, the
 * same weights): a small float32 Qwen3 on the CPU, a 512-token prompt and 128 new tokens, batch 1
 * (`model.generate` vs `stream_generate`) and batch 8 (`model.batchGenerate` vs
 * `batch_generate`). The two sides take turns (ours, then mlx-lm's, for each measurement and
 * repeat; mlx-lm runs in a Python process that stays loaded), so a change in the machine's load
 * hits both alike. Prints one JSON object with both sides (prompt and generation tokens per
 * second, peak memory in bytes; each the best of `repeats` runs) and the ratios (ours / mlx-lm:
 * > 1 is faster for tokens per second, < 1 is less memory).
 *
 *   pnpm --filter @mlxn/core --filter @mlxn/io --filter @mlxn/nn --filter @mlxn/sampling --filter @mlxn/cache --filter @mlxn/models-qwen3 build
 *   MLXN_NATIVE_PATH=/tmp/mlxn-release/mlxn.linux-x64-gnu.node pnpm --filter @mlxn/tooling bench:generate
 *
 * `MLXN_BENCH_REPEATS` (default 2) sets the runs per side; `MLXN_REFERENCE_PYTHON` a Python with
 * mlx and mlx-lm (default /tmp/pyref/bin/python).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { Qwen3, parseQwen3Config } from '@mlxn/models-qwen3';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';

/** Python with mlx-lm at the pinned versions (tooling/reference); overridable for a local venv. */
const python = process.env.MLXN_REFERENCE_PYTHON ?? '/tmp/pyref/bin/python';

/**
 * `MLXN_BENCH_PRESET=qwen3-0.6b` swaps in Qwen3-0.6B's shapes in bfloat16, for an MLX built
 * with CUDA (or Metal) where that size is the interesting one; the default is the small
 * float32 model that a 2-core CPU runs in minutes.
 */
const presets: Record<string, { config: Record<string, unknown>; dtype: mx.Dtype }> = {
  'qwen3-0.6b': {
    config: {
      model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28,
      num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, max_position_embeddings: 40960,
      rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, eos_token_id: 151645, torch_dtype: 'bfloat16',
    },
    dtype: 'bfloat16',
  },
};
const preset = process.env.MLXN_BENCH_PRESET ? presets[process.env.MLXN_BENCH_PRESET] : undefined;
if (process.env.MLXN_BENCH_PRESET && !preset) throw new Error(`unknown MLXN_BENCH_PRESET ${process.env.MLXN_BENCH_PRESET} (${Object.keys(presets).join(', ')})`);

export const setup = {
  preset: process.env.MLXN_BENCH_PRESET ?? 'small-float32',
  config: preset?.config ?? {
    model_type: 'qwen3',
    vocab_size: 32000,
    hidden_size: 512,
    intermediate_size: 1408,
    num_hidden_layers: 4,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    head_dim: 64,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: false,
    eos_token_id: 151645,
    torch_dtype: 'float32',
  },
  promptTokens: 512,
  maxTokens: 128,
  batch: 8,
  repeats: Number(process.env.MLXN_BENCH_REPEATS ?? 2),
};

/** Deterministic prompt ids below the vocabulary (a small LCG: the same on both sides). */
function promptIds(seed: number, n: number, vocab: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

const folder = mkdtempSync(join(tmpdir(), 'mlxn-bench-generate-'));
try {
  // The same weights for both: written once, loaded by each.
  mx.random.seed(0);
  const random = new Qwen3(parseQwen3Config(setup.config));
  if (preset) random.setDtype(preset.dtype);
  mx.eval(random.parameters());
  await random.save(folder);
  // MLXN_TOKENIZER_DIR: where tokenizer.json lives on a machine without the repo's node_modules.
  const tokenizerDir = process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir();
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(tokenizerDir, f), join(folder, f));
  mx.dispose(random.parameters()); // only the loaded copy may count towards peak memory
  const model = await Qwen3.load(folder);
  mx.eval(model.parameters());

  const vocab = Number(setup.config.vocab_size);
  const prompt = promptIds(1, setup.promptTokens, vocab);
  const prompts = Array.from({ length: setup.batch }, (_, i) => promptIds(100 + i, setup.promptTokens, vocab));

  // Warm-up: the same shapes once, small.
  await model.generate(prompt.slice(0, 64), { maxTokens: 8 });
  await model.batchGenerate(prompts.map((p) => p.slice(0, 64)), { maxTokens: 8 });

  type Side = { prompt_tps: number; generation_tps: number; peak_memory: number; generation_tokens: number };
  type Name = 'batch1' | 'batch8';
  const best = (into: Partial<Record<Name, Side>>, name: Name, s: Side) => {
    const cur = into[name];
    if (cur === undefined) into[name] = s;
    else {
      cur.prompt_tps = Math.max(cur.prompt_tps, s.prompt_tps);
      cur.generation_tps = Math.max(cur.generation_tps, s.generation_tps);
      cur.peak_memory = Math.min(cur.peak_memory, s.peak_memory);
    }
  };
  const measure: Record<Name, () => Promise<Side>> = {
    batch1: async () => {
      const r = await model.generate(prompt, { maxTokens: setup.maxTokens });
      return { prompt_tps: r.promptTokensPerSec, generation_tps: r.tokensPerSec, peak_memory: mx.memory().peak, generation_tokens: r.usage.completionTokens };
    },
    batch8: async () => {
      const r = await model.batchGenerate(prompts, { maxTokens: setup.maxTokens, maxBatchSize: setup.batch });
      return { prompt_tps: r.stats.promptTokensPerSec, generation_tps: r.stats.tokensPerSec, peak_memory: mx.memory().peak, generation_tokens: r.stats.generationTokens };
    },
  };

  // mlx-lm in a Python process that answers one measurement per line.
  const py = spawn(python, [join(import.meta.dirname, 'generate_ref.py'), JSON.stringify({ folder, prompt, prompts, maxTokens: setup.maxTokens })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
  const readLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done) throw new Error('generate_ref.py exited early (see its error above)');
    return next.value;
  };
  if ((await readLine()) !== 'ready') throw new Error('generate_ref.py did not start');
  const ours: Partial<Record<Name, Side>> = {};
  const theirs: Partial<Record<Name, Side>> = {};
  try {
    for (let r = 0; r < setup.repeats; r++) {
      for (const name of ['batch1', 'batch8'] as const) {
        mx.clearCache();
        mx.resetPeakMemory();
        best(ours, name, await measure[name]());
        py.stdin!.write(`${name}\n`);
        best(theirs, name, JSON.parse(await readLine()) as Side);
      }
    }
  } finally {
    py.stdin!.end();
    py.kill();
  }
  const reference = theirs as Record<Name, Side>;
  const mine = ours as Record<Name, Side>;

  const round = (x: number) => Number(x.toFixed(3));
  const ratio: Record<string, Record<string, number>> = {};
  for (const k of ['batch1', 'batch8'] as const) {
    ratio[k] = {
      prompt_tps: round(mine[k].prompt_tps / reference[k].prompt_tps),
      generation_tps: round(mine[k].generation_tps / reference[k].generation_tps),
      peak_memory: round(mine[k].peak_memory / reference[k].peak_memory),
    };
  }
  const goals = { generation_tps: '>= 1.05', prompt_tps: '>= 1.0', peak_memory: '<= 1.0' };
  console.log(JSON.stringify({ benchmark: 'generate', build: native.bindingProfile(), mlx: mx.mlxVersion, device: mx.defaultDevice().type, setup, mlxn: mine, mlx_lm: reference, ratio, goals }, null, 2));
} finally {
  rmSync(folder, { recursive: true, force: true });
}
