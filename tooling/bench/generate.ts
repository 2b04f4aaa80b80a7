/**
 * @mlxn/models-qwen3 generation against mlx-lm (same MLX version, same machine, same run, the
 * same weights). Each case is `b<batch>-p<prompt tokens>-n<new tokens>` (greedy; batch 1 is
 * `model.generate` vs `stream_generate`, larger batches `model.batchGenerate` vs the faster of
 * mlx-lm's `batch_generate` and a plain batched greedy loop over mlx-lm's model, pipelined as
 * `generate_step` is) or `prefill-<tokens>` (prompt tokens per second of one prompt). The two
 * sides take turns for each case and repeat (mlx-lm runs in a Python process that stays
 * loaded), so a change in the machine's load hits both alike. Prints one JSON object with both
 * sides (best and median of `repeats` runs: prompt and generation tokens per second, peak
 * memory in bytes) and the ratios ours / mlx-lm (> 1 is faster; < 1 is less memory).
 *
 *   node tooling/build-native.mjs --release --out-dir /tmp/mlxn-release
 *   MLXN_NATIVE_PATH=/tmp/mlxn-release/mlxn.linux-x64-gnu.node pnpm --filter @mlxn/tooling bench:generate
 *
 * Environment: `MLXN_BENCH_CASES` (comma-separated; default `b1-p512-n128,b8-p512-n128`),
 * `MLXN_BENCH_PRESET` (see qwen3-presets.ts), `MLXN_BENCH_QUANTIZE` (bits: both sides load the
 * preset quantized as mlx-lm's `convert -q` does, group size 64), `MLXN_BENCH_REPEATS` (default 3),
 * `MLXN_REFERENCE_PYTHON` (a Python with mlx and mlx-lm; default /tmp/pyref/bin/python),
 * `MLXN_TOKENIZER_DIR`, `MLXN_BENCH_DRAFT` (speculative decoding for batch-1 cases on both sides,
 * `numDraftTokens` / `num_draft_tokens` from `MLXN_BENCH_DRAFT_TOKENS`, default 3: `self` drafts
 * with the same weights, so every proposal is kept and the draft costs what the model does, which
 * measures the mechanism rather than a speed-up; a preset name with the same vocabulary drafts with
 * that preset's random weights, whose proposals are mostly rejected). Generation tokens per second
 * have one definition on both sides: tokens after the first over the time since the first (each
 * library's own statistic).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as mx from '@mlxn/core';
import { Qwen3 } from '@mlxn/models-qwen3';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';
import { median } from './decode-step.js';
import { benchPreset, benchReportHead, promptIds, quantizeBenchModel, writeBenchModel } from './qwen3-presets.js';

const python = process.env.MLXN_REFERENCE_PYTHON ?? '/tmp/pyref/bin/python';
const preset = benchPreset();
const repeats = Number(process.env.MLXN_BENCH_REPEATS ?? 3);
const cases = (process.env.MLXN_BENCH_CASES ?? 'b1-p512-n128,b8-p512-n128').split(',');

interface Case {
  name: string;
  batch: number;
  prompt: number;
  tokens: number;
  prefillOnly: boolean;
}
function parseCase(name: string): Case {
  const pre = /^prefill-(\d+)$/.exec(name);
  if (pre) return { name, batch: 1, prompt: Number(pre[1]), tokens: 1, prefillOnly: true };
  const m = /^b(\d+)-p(\d+)-n(\d+)$/.exec(name);
  if (!m) throw new Error(`bad case ${name}: expected b<batch>-p<prompt>-n<new tokens> or prefill-<tokens>`);
  return { name, batch: Number(m[1]), prompt: Number(m[2]), tokens: Number(m[3]), prefillOnly: false };
}
const plan = cases.map(parseCase);

type Side = { prompt_tps: number; generation_tps: number; peak_memory: number; generation_tokens: number; [k: string]: number };

const written = mkdtempSync(join(tmpdir(), 'mlxn-bench-generate-'));
const quantizeBits = process.env.MLXN_BENCH_QUANTIZE ? Number(process.env.MLXN_BENCH_QUANTIZE) : undefined;
const draftName = process.env.MLXN_BENCH_DRAFT;
const numDraftTokens = Number(process.env.MLXN_BENCH_DRAFT_TOKENS ?? 3);
if (draftName !== undefined && plan.some((c) => c.batch !== 1))
  throw new Error('MLXN_BENCH_DRAFT applies to batch-1 cases only (neither library drafts for batches)');
const draftWritten = draftName !== undefined && draftName !== 'self' ? mkdtempSync(join(tmpdir(), 'mlxn-bench-draft-')) : undefined;
let folder = written;
try {
  await writeBenchModel(preset, written, process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir());
  if (quantizeBits !== undefined) folder = await quantizeBenchModel(written, quantizeBits);
  // The small presets keep only the first vocab_size ids of the real tokenizer.
  const model = await Qwen3.load(folder, { truncatedVocab: true });
  mx.eval(model.parameters());
  if (draftWritten !== undefined)
    await writeBenchModel(benchPreset(draftName), draftWritten, process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir());
  const draftFolder = draftName === undefined ? undefined : (draftWritten ?? folder);
  const draftModel = draftFolder === undefined ? undefined : await Qwen3.load(draftFolder, { truncatedVocab: true });
  const speculative = draftModel === undefined ? {} : { draftModel, numDraftTokens };
  const vocab = Number(preset.config.vocab_size);
  const prompts = (c: Case) => Array.from({ length: c.batch }, (_, i) => promptIds(100 + i, c.prompt, vocab));

  const measure = async (c: Case): Promise<Side> => {
    const ps = prompts(c);
    if (c.batch === 1) {
      const r = await model.generate(ps[0], { maxTokens: c.tokens, ...speculative });
      return {
        prompt_tps: r.promptTokensPerSec,
        generation_tps: r.tokensPerSec,
        peak_memory: mx.memory().peak,
        generation_tokens: r.usage.completionTokens,
      };
    }
    const r = await model.batchGenerate(ps, { maxTokens: c.tokens, maxBatchSize: c.batch, prefillBatchSize: c.batch });
    return {
      prompt_tps: r.stats.promptTokensPerSec,
      generation_tps: r.stats.tokensPerSec,
      peak_memory: mx.memory().peak,
      generation_tokens: r.stats.generationTokens,
    };
  };

  // Warm-up: every case once, small.
  for (const c of plan) await measure({ ...c, prompt: Math.min(c.prompt, 64), tokens: Math.min(c.tokens, 8) });

  const py = spawn(
    python,
    [
      join(import.meta.dirname, 'generate_ref.py'),
      JSON.stringify({
        folder,
        draft: draftFolder ?? null,
        num_draft_tokens: numDraftTokens,
        cases: plan.map((c) => ({ ...c, prompts: prompts(c) })),
      }),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
  const readLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done) throw new Error('generate_ref.py exited early (see its error above)');
    return next.value;
  };
  if ((await readLine()) !== 'ready') throw new Error('generate_ref.py did not start');
  const ours: Record<string, Side[]> = {};
  const theirs: Record<string, Side[]> = {};
  try {
    for (let r = 0; r < repeats; r++) {
      for (const c of plan) {
        mx.clearCache();
        mx.resetPeakMemory();
        ours[c.name] ??= [];
        ours[c.name].push(await measure(c));
        py.stdin!.write(`${c.name}\n`);
        theirs[c.name] ??= [];
        theirs[c.name].push(JSON.parse(await readLine()) as Side);
      }
    }
  } finally {
    py.stdin!.end();
    py.kill();
  }

  const r3 = (x: number) => Number(x.toFixed(3));
  const summary = (xs: Side[]) => {
    const out: Record<string, { best: number; median: number }> = {};
    for (const k of Object.keys(xs[0])) {
      const v = xs.map((x) => x[k]);
      out[k] = { best: r3(k === 'peak_memory' ? Math.min(...v) : Math.max(...v)), median: r3(median(v)) };
    }
    return out;
  };
  const results: Record<string, unknown> = {};
  for (const c of plan) {
    const a = summary(ours[c.name]);
    const b = summary(theirs[c.name]);
    const key = c.prefillOnly ? 'prompt_tps' : 'generation_tps';
    // Per repeat: ours over theirs (the same turn), then best and median of those ratios.
    const per = ours[c.name].map((o, i) => o[key] / theirs[c.name][i][key]);
    const mem = ours[c.name].map((o, i) => o.peak_memory / theirs[c.name][i].peak_memory);
    results[c.name] = {
      mlxn: a,
      mlx_lm: b,
      ratio: {
        [key]: { best: r3(Math.max(...per)), median: r3(median(per)) },
        ...(c.prefillOnly ? {} : { prompt_tps: r3(a.prompt_tps.median / b.prompt_tps.median) }),
        peak_memory: { best: r3(Math.min(...mem)), median: r3(median(mem)) },
      },
      // Every repeat in order (peak memory varies from turn to turn with how far the host
      // encodes ahead of the device).
      runs: { mlxn: ours[c.name], mlx_lm: theirs[c.name] },
    };
  }
  console.log(
    JSON.stringify(
      {
        ...benchReportHead('generate'),
        setup: {
          preset: preset.name,
          quantize_bits: quantizeBits ?? null,
          repeats,
          cases,
          draft: draftName ?? null,
          num_draft_tokens: draftName === undefined ? null : numDraftTokens,
        },
        results,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(written, { recursive: true, force: true });
  if (draftWritten !== undefined) rmSync(draftWritten, { recursive: true, force: true });
  if (folder !== written) rmSync(folder, { recursive: true, force: true });
}
