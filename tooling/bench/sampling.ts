/**
 * @mlxn/sampling against mlx-lm's sampler (same MLX version, same machine, same run): time per
 * sampling step on log-probabilities of Qwen3's vocabulary (V = 151,936) at B = 1 and B = 64 with
 * every filter on (top-p, min-p, XTC, top-k, temperature). Prints one JSON object with both sides
 * and the ratios (ours / mlx-lm; < 1 is faster). The plain-JS path is timed at B = 1 for reference.
 *
 *   node tooling/build-native.mjs --release --out-dir /tmp/mlxn-release
 *   pnpm --filter @mlxn/core --filter @mlxn/sampling build
 *   MLXN_NATIVE_PATH=/tmp/mlxn-release/mlxn.linux-x64-gnu.node pnpm --filter @mlxn/tooling bench:sampling
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { makeSampler } from '@mlxn/sampling';
import * as js from '@mlxn/sampling/js';
import { samplingPython } from '../reference/sampling-env.mjs';

const cfg = {
  vocab: 151936,
  batches: [1, 64],
  /** Steps per timed run, by batch size (B = 64 takes seconds per step on a CPU). */
  steps: { 1: 30, 64: 3 } as Record<number, number>,
  repeats: 3,
  js_steps: 5,
  sampler: {
    temperature: 0.8,
    topP: 0.95,
    minP: 0.05,
    minTokensToKeep: 1,
    topK: 50,
    xtcProbability: 0.5,
    xtcThreshold: 0.1,
    xtcSpecialTokens: [151643, 151645],
  },
};

/** Best over `repeats` of the mean time of `steps` calls, in milliseconds. */
function perStep(fn: () => void, steps: number, repeats: number): number {
  for (let i = 0; i < 2; i++) fn();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6 / steps);
  }
  return best;
}

const sample = makeSampler(cfg.sampler);
const ours: Record<string, number> = {};
for (const b of cfg.batches) {
  mx.random.seed(0);
  const logprobs = mx.logSoftmax(mx.multiply(mx.random.normal([b, cfg.vocab]), 3), -1);
  mx.eval(logprobs);
  ours[`b${b}_ms`] = perStep(() => mx.tidy(() => mx.eval(sample(logprobs))), cfg.steps[b], cfg.repeats);
}

mx.random.seed(0);
const row = mx.logSoftmax(mx.multiply(mx.random.normal([1, cfg.vocab]), 3), -1);
const jsRow = [row.dataSync() as Float32Array];
const jsSample = js.makeSampler({ ...cfg.sampler, seed: 0 });
const jsB1 = perStep(() => jsSample(jsRow), cfg.js_steps, 2);

const python = JSON.parse(
  execFileSync(samplingPython(), [join(import.meta.dirname, 'sampling.py'), JSON.stringify(cfg)], { encoding: 'utf8' }),
);

const ratio: Record<string, number> = {};
for (const b of cfg.batches) ratio[`b${b}`] = Number((ours[`b${b}_ms`] / python[`b${b}_ms`]).toFixed(3));
console.log(
  JSON.stringify(
    {
      benchmark: 'sampling',
      build: native.bindingProfile(),
      mlx: mx.mlxVersion,
      device: mx.defaultDevice(),
      config: cfg,
      mlxn: ours,
      mlx_lm: python,
      ratio,
      mlxn_js_b1_ms: jsB1,
    },
    null,
    2,
  ),
);
