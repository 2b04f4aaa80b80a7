/**
 * Checks the fused decoder-layer kernels of the native forward (crates/mlxn-sys/src/shim/gpu_fused*.cc,
 * CUDA only) against the separate MLX ops they replace: the same token sequences run through the
 * model with caches twice, in two processes, `MLXN_FUSED_KERNELS` on and off, and every step's
 * last-position logits are compared. Teacher forcing (fixed tokens, no sampling) keeps the two
 * runs on the same inputs however their logits differ. Three cases: one sequence with a `KVCache`
 * (a 40-token prompt, then 24 single-token steps), a left-padded batch of 4 rows of different
 * lengths with `BatchKVCache`s (per-row offsets, boolean masks), and that batch with its decoding
 * steps' masks given as additive arrays with finite biases. On the CPU both runs take the separate ops, so
 * this says nothing there (`fused_used` tells).
 *
 *   tooling/bench/gpu/run.sh bench fused-parity        (on the GPU machine)
 *
 * Environment: `MLXN_BENCH_PRESET` (qwen3-presets.ts; default small-float32). Prints one JSON
 * object: per case the largest absolute difference of the logits, the largest logit, how many
 * steps' argmax agree, and `pass` (relative difference within 1e-4 in float32, 3e-2 in the
 * half-precision types, whose one-bit rounding differences propagate through the layers); at the
 * top, `fused_used` and `pass` (the kernels ran and every case passed), and `cases_ms`: each
 * process's time for the three cases, the kernels' first-use compiles included.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { Qwen3 } from '@mlxn/models-qwen3';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';
import { graphOps } from './decode-step.js';
import { benchPreset, promptIds, writeBenchModel } from './qwen3-presets.js';

const preset = benchPreset();
const vocab = Number(preset.config.vocab_size);
const childOut = process.env.MLXN_PARITY_OUT;

type Rows = Float32Array[];

/** The last position's logits of every step, as float32 rows, and a decoding step's graph ops. */
function runCases(model: Qwen3): { logits: Record<string, Rows>; stepOps: Record<string, number> } {
  const last = (logits: mx.Array): Rows =>
    mx.tidy(() => {
      const [b, l] = logits.shape;
      const rows = mx.astype(mx.reshape(mx.index(logits, mx.sl(), mx.sl(l - 1, l), mx.sl()), [b, -1]), 'float32');
      const flat = Float32Array.from(rows.dataSync() as Float32Array);
      logits.dispose();
      return Array.from({ length: b }, (_, i) => flat.subarray(i * vocab, (i + 1) * vocab));
    });
  const out: Record<string, Rows> = {};
  // One sequence: prompt, then single-token steps.
  const tokens = promptIds(11, 64, vocab);
  const cache = model.makeCache();
  const single: Rows = [];
  single.push(...last(model.forward(mx.array([tokens.slice(0, 40)], 'int32'), { cache })));
  let stepOps: Record<string, number> = {};
  for (let t = 40; t < 64; t++) {
    const logits = model.forward(mx.array([[tokens[t]]], 'int32'), { cache });
    if (t === 63) stepOps = graphOps([logits]);
    single.push(...last(logits));
  }
  out.single = single;
  // A left-padded batch: rows of 36, 31, 25 and 16 prompt tokens, then 16 steps.
  const lens = [36, 31, 25, 16];
  const width = Math.max(...lens);
  const rows = lens.map((n, i) => promptIds(100 + i, n + 16, vocab));
  const padded = rows.map((r, i) => new Array<number>(width - lens[i]).fill(0).concat(r.slice(0, lens[i])));
  /** The batch's prompt, then 16 steps; `stepMask` gives a step's mask (else the caches' own). */
  const paddedBatch = (stepMask?: (keys: number) => mx.Array): Rows => {
    const caches = model.layers.map(() => new BatchKVCache({ leftPadding: lens.map((n) => width - n) }));
    const got: Rows = [...last(model.forward(mx.array(padded, 'int32'), { cache: caches }))];
    for (let s = 0; s < 16; s++) {
      const mask = stepMask?.(width + s + 1);
      got.push(
        ...last(
          model.forward(
            mx.array(
              rows.map((r, i) => [r[lens[i] + s]]),
              'int32',
            ),
            { cache: caches, mask },
          ),
        ),
      );
      mask?.dispose();
    }
    return got;
  };
  out.batch = paddedBatch();
  // The same batch with the decoding steps' masks given as additive arrays: -inf on the padding
  // and finite biases on the positions seen (the masked attention kernel adds them after its
  // dot products; a bias of 0 everywhere would hide a bias counted more than once).
  out.batch_additive = paddedBatch((keys) => {
    const bias = lens.map((n, b) => [[Array.from({ length: keys }, (_, j) => (j < width - n ? -Infinity : -0.25 * ((j * 7 + b) % 5)))]]);
    return mx.astype(mx.array(bias, 'float32'), preset.dtype);
  });
  return { logits: out, stepOps };
}

if (childOut) {
  const model = await Qwen3.load(process.env.MLXN_PARITY_MODEL!, { truncatedVocab: true });
  mx.eval(model.parameters());
  // Rows of the vocabulary's width as raw float32 (JSON would be hundreds of MB for Qwen3's).
  const start = performance.now();
  const { logits, stepOps } = runCases(model);
  // Includes compiling the kernels' variants, which the process does on first use.
  const ms = performance.now() - start;
  const names = Object.keys(logits);
  writeFileSync(`${childOut}.json`, JSON.stringify({ rows: names.map((n) => [n, logits[n].length]), stepOps, ms }));
  writeFileSync(
    `${childOut}.f32`,
    Buffer.concat(names.flatMap((n) => logits[n].map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength)))),
  );
} else {
  const folder = mkdtempSync(join(tmpdir(), 'mlxn-fused-parity-'));
  try {
    await writeBenchModel(preset, folder, process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir());
    const run = (fused: '0' | '1'): ReturnType<typeof runCases> & { ms: number } => {
      const file = join(folder, `logits-${fused}`);
      // In float32 MLX's CUDA matmuls take TF32 by default, which the kernels' float32 attention
      // does not: both sides without it, unless the caller chose.
      const tf32 = preset.dtype === 'float32' ? { MLX_ENABLE_TF32: process.env.MLX_ENABLE_TF32 ?? '0' } : {};
      const env = { ...process.env, ...tf32, MLXN_FUSED_KERNELS: fused, MLXN_PARITY_OUT: file, MLXN_PARITY_MODEL: folder };
      const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]], { env, stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`the run with MLXN_FUSED_KERNELS=${fused} failed (${r.status ?? r.signal})`);
      const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as {
        rows: [string, number][];
        stepOps: Record<string, number>;
        ms: number;
      };
      const bytes = readFileSync(`${file}.f32`);
      const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const logits: Record<string, Rows> = {};
      let at = 0;
      for (const [name, n] of meta.rows) {
        logits[name] = Array.from({ length: n }, (_, i) => all.subarray((at + i) * vocab, (at + i + 1) * vocab));
        at += n;
      }
      return { logits, stepOps: meta.stepOps, ms: meta.ms };
    };
    // The separate ops first: a fresh machine compiles MLX's own kernels in the first process
    // (MLX keeps them in its disk cache), which would otherwise count in the fused run's `ms`.
    const plainRun = run('0');
    const fusedRun = run('1');
    const [on, off] = [fusedRun.logits, plainRun.logits];
    const tolerance = preset.dtype === 'float32' ? 1e-4 : 3e-2;
    const argmax = (xs: Float32Array) => xs.reduce((best, x, i) => (x > xs[best] ? i : best), 0);
    const cases: Record<string, unknown> = {};
    for (const name of Object.keys(off)) {
      let diff = 0;
      let scale = 0;
      let agree = 0;
      off[name].forEach((row, i) => {
        const other = on[name][i];
        for (let j = 0; j < row.length; j++) {
          diff = Math.max(diff, Math.abs(row[j] - other[j]));
          scale = Math.max(scale, Math.abs(row[j]));
        }
        if (argmax(row) === argmax(other)) agree++;
      });
      cases[name] = {
        rows: off[name].length,
        max_abs_diff: diff,
        max_abs_logit: scale,
        argmax_agree: agree,
        pass: diff <= tolerance * scale,
      };
    }
    // The fused kernels are MLX custom kernels: a decoding step's graph shows whether they ran.
    const fusedUsed = (fusedRun.stepOps.CustomKernel ?? 0) > 0;
    const ops = { fused: fusedRun.stepOps, separate: plainRun.stepOps };
    console.log(
      JSON.stringify(
        {
          benchmark: 'fused-parity',
          device: mx.defaultDevice().type,
          setup: { preset: preset.name, dtype: preset.dtype, tolerance },
          fused_used: fusedUsed,
          pass: fusedUsed && Object.values(cases).every((c) => (c as { pass: boolean }).pass),
          results: cases,
          step_graph_ops: ops,
          cases_ms: { fused: Math.round(fusedRun.ms), separate: Math.round(plainRun.ms) },
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
