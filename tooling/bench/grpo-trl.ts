/**
 * @mlxn/grpo's GRPOTrainer against TRL 1.16's (grpo_trl.py), on the same machine in the same run:
 * full fine-tuning of Qwen3-0.6B's shapes (random bfloat16 weights, the real Qwen3 tokenizer),
 * 8 prompts × 8 generations × 256 completion tokens per optimizer step, β = 0, AdamW. Each round
 * runs each side in a fresh process (ours first, then TRL's) with a warm-up step and timed steps;
 * the rounds alternate. Prints one JSON object: every step of every round, per side the median
 * step time, rollout and training tokens per second, peak memory and where the time goes, and
 * the ratios (TRL / ours for time: > 1 means ours is faster).
 *
 * On the GPU machine (tooling/bench/gpu/README.md): `run.sh bench grpo-trl`. Environment:
 * `GRPO_BENCH_PRESET` (qwen3-presets.ts, default `qwen3-0.6b`), `GRPO_BENCH_ROUNDS` (3),
 * `GRPO_BENCH_STEPS` / `GRPO_BENCH_WARMUP` (3, 1), `GRPO_BENCH_COMPLETION` (256),
 * `GRPO_BENCH_MICRO` (completions per micro-batch, 8; 64 is one micro-batch per update),
 * `GRPO_BENCH_DTYPE` (`float32`: float32 weights and optimizer state, bf16 autocast),
 * `GRPO_BENCH_STATE` (ours: `parameter`, AdamW moments and gradient sums in the weights' dtype as
 * torch keeps them, the default; `float32`, @mlxn/grpo's own default, whatever the weights),
 * `GRPO_BENCH_SIDES` (`mlxn,trl`; `mlxn` alone runs without torch), `MLXN_REFERENCE_PYTHON` (a
 * Python with torch, transformers and trl), `MLXN_TOKENIZER_DIR`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { GRPOTrainer } from '@mlxn/grpo';
import { Qwen3 } from '@mlxn/models-qwen3';
import { qwen3TokenizerDir } from '../test-support/qwen3.mjs';
import { median } from './decode-step.js';
import { adamWConfig, arithmeticPrompts, arithmeticReward } from './grpo-task.js';
import { benchPreset, writeBenchModel } from './qwen3-presets.js';

const named = benchPreset(process.env.GRPO_BENCH_PRESET ?? 'qwen3-0.6b');
// GRPO_BENCH_DTYPE=float32: float32 weights (and so float32 optimizer state on both sides),
// computed in bfloat16 under bf16 autocast, TRL's mixed-precision setup.
const preset = process.env.GRPO_BENCH_DTYPE === 'float32' ? { ...named, dtype: 'float32' as const } : named;
// Completions per micro-batch (the update accumulates 64 / this many micro-batches).
const micro = Number(process.env.GRPO_BENCH_MICRO ?? 8);

/** Read by both sides (grpo_trl.py gets it as JSON); names as in @mlxn/grpo's config. */
export const settings = {
  preset: preset.name,
  dtype: preset.dtype,
  seed: 0,
  promptsPerStep: 8,
  numGenerations: 8,
  // One generation of 64 completions per optimizer step, in 8 micro-batches of 8 (TRL:
  // generation_batch_size = per_device_train_batch_size × gradient_accumulation_steps).
  perDeviceTrainBatchSize: micro,
  gradientAccumulationSteps: 64 / micro,
  maxCompletionLength: Number(process.env.GRPO_BENCH_COMPLETION ?? 256),
  temperature: 1.0,
  topP: 1.0,
  topK: 0,
  minP: null,
  learningRate: 1e-6,
  optimizer: { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 },
  maxGradNorm: 1.0,
  optimizerStateDtype: (process.env.GRPO_BENCH_STATE === 'float32' ? 'float32' : 'parameter') as 'float32' | 'parameter',
  beta: 0,
  epsilon: 0.2,
  lossType: 'dapo',
  gradientCheckpointing: true,
  bf16: true,
  warmupSteps: Number(process.env.GRPO_BENCH_WARMUP ?? 1),
  steps: Number(process.env.GRPO_BENCH_STEPS ?? 3),
  prompts: arithmeticPrompts(64),
};

/** What both sides do the same way, stated with the results. */
export const sameWork = [
  'full fine-tuning of every weight in the checkpoint dtype (bfloat16 for qwen3-0.6b, float32 with GRPO_BENCH_DTYPE=float32), bf16 on (a no-op for bfloat16 weights)',
  "AdamW moments and accumulated gradients in the weights' dtype on both sides (ours: optimizerStateDtype 'parameter'); with GRPO_BENCH_STATE=float32 ours keeps them in float32 (its default), which with bfloat16 weights is 2.4 GB more moments and 1.2 GB more gradient sums than torch for Qwen3-0.6B",
  "gradient checkpointing on (TRL's default) on both sides",
  'per step: 8 prompts × 8 generations = 64 completions generated in one batch, then micro-batches of perDeviceTrainBatchSize accumulated into one AdamW update (lr 1e-6 constant, betas 0.9/0.999, eps 1e-8, no weight decay, gradient norm clipped at 1.0)',
  "loss 'dapo' (TRL 1.16's default), token-level importance sampling, epsilon 0.2, beta 0 (no reference model), one update per generation (no old log-probabilities needed)",
  'sampling at temperature 1 with top-p, top-k and min-p off; completions up to maxCompletionLength tokens (random weights practically never sample end-of-sequence: mean_completion_length shows it)',
  'the same arithmetic prompts and reward (grpo-task.ts), the same weights and tokenizer files',
];

type Step = {
  step_ms: number;
  rollout_ms: number;
  rewards_and_logprobs_ms: number;
  loss_and_backward_ms: number;
  optimizer_and_loop_ms: number;
  /** Ours only: the parts of optimizer_and_loop_ms that are the gradient accumulation and the update. */
  accumulate_ms?: number;
  optimizer_ms?: number;
  completion_tokens: number;
  rollout_tokens_per_s: number;
  training_tokens_per_s: number;
};
type SideResult = { steps: Step[]; peak_memory: number | null; mean_completion_length: number | null; [k: string]: unknown };

/** Ours, in this process (run as a child of the main process: `--side mlxn MODEL_DIR`). */
async function runOurs(modelDir: string): Promise<SideResult> {
  const s = settings;
  mx.random.seed(s.seed);
  const model = await Qwen3.load(modelDir, { truncatedVocab: true });
  const outputDir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-trl-out-'));
  const phases = { rollout: 0, rewards: 0, lossAndBackward: 0, accumulate: 0, optimizer: 0 };
  const clear = () => {
    for (const k of Object.keys(phases) as (keyof typeof phases)[]) phases[k] = 0;
  };
  const steps: Step[] = [];
  let last = 0;
  // Peak memory per phase (and between phases), after the warm-up: the peak counter is reset as
  // each phase starts, and what it had counted goes to the overall peak first.
  const phasePeaks: Record<string, number> = {};
  let peak = 0;
  const takePeak = (key: string) => {
    // MLX's reset sets the peak counter to zero: a phase that allocates nothing still holds what is active.
    const m = mx.memory();
    const p = Math.max(m.peak, m.active);
    phasePeaks[key] = Math.max(phasePeaks[key] ?? 0, p);
    peak = Math.max(peak, p);
    mx.resetPeakMemory();
  };
  try {
    const trainer = new GRPOTrainer({
      model,
      rewardFuncs: [arithmeticReward],
      trainDataset: s.prompts,
      onLog: (r) => {
        const now = performance.now();
        const step = r.step as number;
        if (step > s.warmupSteps) {
          const completionTokens = (r['completions/mean_length'] as number) * s.promptsPerStep * s.numGenerations;
          const tokens = (r.tokens_per_sec as number) * (r.step_time as number);
          const stepMs = now - last;
          steps.push({
            step_ms: stepMs,
            rollout_ms: phases.rollout,
            rewards_and_logprobs_ms: phases.rewards,
            loss_and_backward_ms: phases.lossAndBackward,
            optimizer_and_loop_ms: stepMs - phases.rollout - phases.rewards - phases.lossAndBackward,
            accumulate_ms: phases.accumulate,
            optimizer_ms: phases.optimizer,
            completion_tokens: completionTokens,
            rollout_tokens_per_s: completionTokens / (phases.rollout / 1000),
            training_tokens_per_s: tokens / (phases.lossAndBackward / 1000),
          });
        } else if (step === s.warmupSteps) {
          mx.resetPeakMemory();
          peak = 0;
          for (const k of Object.keys(phasePeaks)) delete phasePeaks[k];
        }
        clear();
        last = performance.now();
      },
      config: {
        numGenerations: s.numGenerations,
        perDeviceTrainBatchSize: s.perDeviceTrainBatchSize,
        gradientAccumulationSteps: s.gradientAccumulationSteps,
        maxCompletionLength: s.maxCompletionLength,
        temperature: s.temperature,
        topP: s.topP,
        topK: s.topK,
        minP: s.minP,
        ...adamWConfig(s.learningRate, s.optimizer),
        maxGradNorm: s.maxGradNorm,
        optimizerStateDtype: s.optimizerStateDtype,
        numIterations: 1,
        epsilon: s.epsilon,
        beta: s.beta,
        lossType: s.lossType as 'dapo',
        maxSteps: s.warmupSteps + s.steps,
        seed: s.seed,
        loggingSteps: 1,
        saveSteps: 1_000_000,
        outputDir,
        gradientCheckpointing: s.gradientCheckpointing,
        bf16: s.bf16,
      },
    });
    // Each phase timed where the trainer calls it (each returns with its results read back).
    const time =
      <A extends unknown[], R>(key: keyof typeof phases, fn: (...a: A) => R) =>
      (...a: A): R => {
        takePeak('between');
        const t0 = performance.now();
        const end = () => {
          phases[key] += performance.now() - t0;
          takePeak(key);
        };
        const out = fn(...a);
        if (out instanceof Promise) return out.finally(end) as R;
        end();
        return out;
      };
    const t = trainer as unknown as Record<
      'generateRollouts' | 'scoreRollouts' | 'lossAndGrad' | 'accumulate' | 'step',
      (...a: unknown[]) => unknown
    >;
    t.generateRollouts = time('rollout', t.generateRollouts.bind(trainer));
    t.scoreRollouts = time('rewards', t.scoreRollouts.bind(trainer));
    t.lossAndGrad = time('lossAndBackward', t.lossAndGrad.bind(trainer));
    t.accumulate = time('accumulate', t.accumulate.bind(trainer));
    t.step = time('optimizer', t.step.bind(trainer));
    last = performance.now();
    await trainer.train();
    takePeak('between');
    return {
      steps,
      peak_memory: peak,
      phase_peak_memory: phasePeaks,
      mean_completion_length: steps.length
        ? steps.reduce((a, x) => a + x.completion_tokens, 0) / steps.length / (s.promptsPerStep * s.numGenerations)
        : null,
      build: native.bindingProfile(),
      mlx: mx.mlxVersion,
      device: mx.defaultDevice().type,
    };
  } finally {
    rmSync(outputDir, { recursive: true, force: true });
  }
}

function child(args: string[], command = process.execPath): SideResult {
  const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!) as SideResult;
}

/** The largest value of each key over the records. */
function maxPerKey(records: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) out[k] = Math.max(out[k] ?? 0, v);
  return out;
}

function summary(runs: SideResult[]) {
  const steps = runs.flatMap((r) => r.steps);
  // Optional keys are asked for only when every step has them.
  const med = (k: keyof Step) => Number(median(steps.map((x) => x[k] ?? Number.NaN)).toFixed(1));
  const peaks = runs.map((r) => r.peak_memory).filter((x): x is number => x !== null);
  return {
    median_step_ms: med('step_ms'),
    best_step_ms: Number(Math.min(...steps.map((x) => x.step_ms)).toFixed(1)),
    median_phase_ms: {
      rollout: med('rollout_ms'),
      rewards_and_logprobs: med('rewards_and_logprobs_ms'),
      loss_and_backward: med('loss_and_backward_ms'),
      optimizer_and_loop: med('optimizer_and_loop_ms'),
      ...(steps.every((x) => x.accumulate_ms !== undefined)
        ? { of_which_accumulate: med('accumulate_ms'), of_which_optimizer: med('optimizer_ms') }
        : {}),
    },
    rollout_tokens_per_s: med('rollout_tokens_per_s'),
    training_tokens_per_s: med('training_tokens_per_s'),
    peak_memory: peaks.length ? Math.max(...peaks) : null,
    ...(runs.some((r) => r.phase_peak_memory)
      ? { phase_peak_memory: maxPerKey(runs.map((r) => (r.phase_peak_memory ?? {}) as Record<string, number>)) }
      : {}),
    mean_completion_length: median(runs.map((r) => r.mean_completion_length ?? 0)),
  };
}

if (process.argv[2] === '--side') {
  // A child: one side's run, one JSON line.
  console.log(JSON.stringify(await runOurs(process.argv[3])));
} else {
  const sides = (process.env.GRPO_BENCH_SIDES ?? 'mlxn,trl').split(',');
  const python = process.env.MLXN_REFERENCE_PYTHON ?? 'python3';
  const rounds = Number(process.env.GRPO_BENCH_ROUNDS ?? 3);
  const modelDir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-trl-model-'));
  try {
    await writeBenchModel(preset, modelDir, process.env.MLXN_TOKENIZER_DIR ?? qwen3TokenizerDir());
    const runs: Record<string, SideResult[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const side of sides) {
        const result =
          side === 'mlxn'
            ? child([...process.execArgv, process.argv[1], '--side', modelDir])
            : child([join(import.meta.dirname, 'grpo_trl.py'), modelDir, JSON.stringify(settings)], python);
        runs[side] ??= [];
        runs[side].push(result);
        // Each run as it ends, on stderr: a run cut short by a time limit still reports.
        console.error(JSON.stringify({ round: r + 1, side, ...summary([result]) }));
      }
    }
    const sums = Object.fromEntries(Object.entries(runs).map(([side, rs]) => [side, summary(rs)]));
    const ours = sums.mlxn;
    const trlSide = sums.trl;
    const { prompts, ...shown } = settings;
    console.log(
      JSON.stringify(
        {
          benchmark: 'grpo-trl',
          settings: { ...shown, prompts: `${prompts.length} arithmetic prompts, e.g. ${JSON.stringify(prompts[0].prompt)}` },
          same_work: sameWork,
          summary: sums,
          // > 1: ours is faster (time) or lighter (memory)
          ratios_trl_over_mlxn:
            ours && trlSide
              ? {
                  median_step_time: Number((trlSide.median_step_ms / ours.median_step_ms).toFixed(3)),
                  best_step_time: Number((trlSide.best_step_ms / ours.best_step_ms).toFixed(3)),
                  peak_memory: ours.peak_memory && trlSide.peak_memory ? Number((trlSide.peak_memory / ours.peak_memory).toFixed(3)) : null,
                }
              : null,
          runs,
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(modelDir, { recursive: true, force: true });
  }
}
