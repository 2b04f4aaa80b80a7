/**
 * @mlxn/server's scheduler without the server: where a continuous batch's time goes when no HTTP
 * work shares the thread. Two measurements on one model, @mlxn only:
 * - `together`: B prompts submitted at once to a `Scheduler` against `batchGenerate` on the same
 *   prompts (the library's own batched loop): total time, decoding steps and ms per step;
 * - `levels`: R requests at each concurrency level (a new one submitted as one finishes, as
 *   tooling/bench/server.ts's clients do), prompts cycled from MLXN_BENCH_PROMPTS: time, steps,
 *   the scheduler's phases, and each level's speed over concurrency 1 (the batching gain that
 *   server.ts reports, here without HTTP).
 * Greedy, a fixed number of new tokens (the random-weight presets never produce end-of-sequence).
 * Not part of CI.
 *
 *   pnpm --filter @mlxn/tooling bench:scheduler
 *   tooling/bench/gpu/run.sh bench scheduler        (on the GPU machine)
 *
 * Environment: `MLXN_BENCH_PRESET` (qwen3-presets.ts; default small-float32), `MLXN_BENCH_BATCH`
 * (B, default 8), `MLXN_BENCH_CONCURRENCY` (default `1,8`), `MLXN_BENCH_REQUESTS` (R, default 16),
 * `MLXN_BENCH_PROMPTS` (default `32,256,1024,2048`), `MLXN_BENCH_TOKENS` (default 64),
 * `MLXN_BENCH_REPEATS` (default 2).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { batchGenerate, Qwen3, resolveGenerateOptions } from '@mlxn/models-qwen3';
import { type RowEvent, Scheduler } from '@mlxn/server';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';
import { benchPreset, promptIds, writeBenchModel } from './qwen3-presets.js';

const preset = benchPreset();
const batch = Number(process.env.MLXN_BENCH_BATCH ?? 8);
const levels = (process.env.MLXN_BENCH_CONCURRENCY ?? '1,8').split(',').map(Number);
const requests = Number(process.env.MLXN_BENCH_REQUESTS ?? 16);
const promptLengths = (process.env.MLXN_BENCH_PROMPTS ?? '32,256,1024,2048').split(',').map(Number);
const newTokens = Number(process.env.MLXN_BENCH_TOKENS ?? 64);
const repeats = Number(process.env.MLXN_BENCH_REPEATS ?? 2);

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs `prompts` through one scheduler, at most `concurrency` at a time; time, steps and phases. */
async function schedule(model: Qwen3, prompts: number[][], concurrency: number) {
  const scheduler = new Scheduler(model, { prefixCache: false, maxBatchSize: Math.max(concurrency, 1) });
  const vocab = model.config.vocabSize;
  let next = 0;
  const start = performance.now();
  const one = (prompt: number[]) =>
    new Promise<void>((resolve, reject) => {
      const plan = resolveGenerateOptions({ maxTokens: newTokens }, vocab, 'bench');
      const onEvent = (e: RowEvent) => {
        if (e.type === 'done') resolve();
        else if (e.type === 'error') reject(e.error);
      };
      scheduler.submit([{ prompt, plan, topLogprobs: 0, onEvent }]);
    });
  const client = async () => {
    while (next < prompts.length) await one(prompts[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, prompts.length) }, client));
  const ms = performance.now() - start;
  const { steps, phaseMs } = scheduler.stats;
  await scheduler.close();
  const phases = Object.fromEntries(Object.entries(phaseMs).map(([k, v]) => [k, round(v)]));
  const named = Object.entries(phaseMs)
    .filter(([k]) => k !== 'running')
    .reduce((n, [, v]) => n + v, 0);
  phases.other = round(phaseMs.running - named);
  return { ms: round(ms), steps, ms_per_step: round(ms / Math.max(steps, 1), 2), phases };
}

const folder = mkdtempSync(join(tmpdir(), 'mlxn-bench-scheduler-'));
try {
  await writeBenchModel(preset, folder, process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir());
  const model = await Qwen3.load(folder, { truncatedVocab: true });
  mx.eval(model.parameters());
  const vocab = model.config.vocabSize;
  const prompt = (i: number) => promptIds(1000 + i, promptLengths[i % promptLengths.length], vocab);
  // Warm-up: every kernel variant a padded batch and a single row need, compiled once.
  await schedule(model, [prompt(0), prompt(1)], 2);
  await schedule(model, [prompt(0)], 1);

  const together: Array<Record<string, unknown>> = [];
  const levelRuns: Record<string, Array<Awaited<ReturnType<typeof schedule>>>> = {};
  const same = Array.from({ length: batch }, (_, i) => promptIds(i + 1, promptLengths[0], vocab));
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await batchGenerate(model, same, { maxTokens: newTokens, maxBatchSize: batch });
    const batchMs = performance.now() - t0;
    const s = await schedule(model, same, batch);
    together.push({ batch_generate_ms: round(batchMs), scheduler_ms: s.ms, scheduler_steps: s.steps, ratio: round(s.ms / batchMs, 3) });
    // Fresh prompts at every level and repeat (nothing is cached between them anyway).
    for (const c of levels) {
      const prompts = Array.from({ length: requests }, (_, i) => prompt((r * levels.length + levels.indexOf(c)) * requests + i));
      levelRuns[`c${c}`] ??= [];
      levelRuns[`c${c}`].push(await schedule(model, prompts, c));
    }
  }
  const best = (runs: Array<{ ms: number }>) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const base = best(levelRuns[`c${levels[0]}`]).ms;
  const gain = Object.fromEntries(levels.map((c) => [`c${c}`, round(base / best(levelRuns[`c${c}`]).ms, 2)]));
  console.log(
    JSON.stringify(
      {
        benchmark: 'scheduler',
        device: mx.defaultDevice().type,
        setup: { preset: preset.name, batch, levels, requests, prompt_lengths: promptLengths, new_tokens: newTokens, repeats },
        together,
        levels: levelRuns,
        gain_over_first_level: gain,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(folder, { recursive: true, force: true });
}
