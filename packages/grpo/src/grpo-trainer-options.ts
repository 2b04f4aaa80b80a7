/**
 * `GRPOTrainer`'s options and their checks: everything the constructor is given is validated and
 * resolved here (config, reward functions and weights, dataset, sampler, tools, router loss)
 * before the model is touched.
 */
import type * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import type { Module } from '@mlxn/nn';
import { type GRPOConfig, GRPOConfigError, type GRPOConfigInput, parseGRPOConfig } from './config.js';
import { type DistributedOption, resolveGroup } from './data-parallel.js';
import { GenerationBatchSampler, PromptDataset } from './dataset.js';
import type { OnLog } from './metrics.js';
import type { ProgressOptions } from './progress.js';
import { type RewardFunction, rewardFunctionNames } from './rewards/index.js';
import type { PolicyModel } from './rollouts.js';
import { type GRPOTool, toolTable } from './tools.js';
import { resolveRouterLoss, type TrainableModel } from './trainable-model.js';

/** Prompt records (a `prompt` column plus any others), a JSONL file, or a `PromptDataset`. */
export type DatasetInput = PromptDataset | readonly Record<string, unknown>[] | string;

/** What the trainer passes to reward functions as `trainerState`. */
export interface RewardTrainerState {
  globalStep: number;
  epoch: number;
}

/** A policy the GRPO trainer can train: a Module with generation and a tokenizer (e.g. `Qwen3`). */
export type GRPOPolicy = TrainableModel & PolicyModel;

export interface GRPOTrainerOptions {
  model: GRPOPolicy;
  /** Frozen reference for the KL term (beta > 0). Default: the base weights with LoRA adapters
   * disabled, or without LoRA a snapshot of the starting weights. */
  refModel?: TrainableModel | null;
  rewardFuncs: RewardFunction<RewardTrainerState> | readonly RewardFunction<RewardTrainerState>[];
  /** Names for metrics and errors (default: the functions' own names). */
  rewardFuncNames?: readonly string[];
  /** One weight per reward function (default 1 each); `config.rewardWeights` is used when absent. */
  rewardWeights?: readonly number[] | null;
  /** Records with a `prompt` (text or chat messages) and any other columns, or a JSONL file. */
  trainDataset: DatasetInput;
  config?: GRPOConfigInput | GRPOConfig;
  /** Called with every logged record. */
  onLog?: OnLog;
  /** Draw a progress bar (stderr) while training; default off (libraries are silent). */
  progress?: boolean | ProgressOptions;
  /**
   * Tools the model may call in its completions (TRL's `tools`; chat prompts only). Their schemas
   * go into the prompt; calls are run between turns and their results appended as tool turns,
   * which are not trained on.
   */
  tools?: readonly GRPOTool[];
  /**
   * Data-parallel training: the `mx.distributed` group whose processes train together, each on
   * its share of every generation batch, with gradients averaged so the weights stay the same
   * on every rank. Default: `mx.distributed.init()`'s group, so a program started by
   * `mlxn-launch -n N` trains data-parallel and one started alone trains alone. `false`: alone
   * even inside a job. docs/distributed.md has the details.
   */
  distributed?: DistributedOption;
}

/** The constructor's options, checked and resolved. */
interface ResolvedOptions {
  group: mx.distributed.Group | null;
  config: GRPOConfig;
  model: GRPOPolicy;
  tools: Map<string, GRPOTool>;
  routerLoss: ReturnType<typeof resolveRouterLoss>;
  funcs: RewardFunction<RewardTrainerState>[];
  names: string[];
  weights: readonly number[];
  dataset: PromptDataset;
  sampler: GenerationBatchSampler;
}

/**
 * Checks the constructor's options and resolves them; throws before anything is changed. The
 * trainer attaches LoRA layers (in place) only after this returns.
 */
export function resolveGRPOTrainerOptions(options: GRPOTrainerOptions): ResolvedOptions {
  checkOptionKeys(
    options,
    [
      'model',
      'refModel',
      'rewardFuncs',
      'rewardFuncNames',
      'rewardWeights',
      'trainDataset',
      'config',
      'onLog',
      'progress',
      'tools',
      'distributed',
    ],
    'GRPOTrainer',
  );
  const group = resolveGroup(options.distributed, 'GRPOTrainer');
  const numProcesses = group?.size ?? 1;
  const config = isParsed(options.config)
    ? checkParsedFor(options.config, numProcesses)
    : parseGRPOConfig((options.config ?? {}) as GRPOConfigInput, { numProcesses });
  const model = options.model;
  if (model === null || typeof model !== 'object' || typeof (model as Module).trainableParameters !== 'function') {
    throw new TypeError('GRPOTrainer: model must be an @mlxn/nn Module (e.g. a Qwen3)');
  }
  if (!model.tokenizer) throw new TypeError('GRPOTrainer: the model has no tokenizer (load it from a folder with tokenizer files)');
  const tools = toolTable(options.tools ?? []);
  let routerLoss: ReturnType<typeof resolveRouterLoss>;
  try {
    routerLoss = resolveRouterLoss(model, config.routerAuxLossCoef, 'GRPOTrainer');
  } catch (e) {
    throw new GRPOConfigError((e as Error).message);
  }
  const funcs = (Array.isArray(options.rewardFuncs) ? options.rewardFuncs : [options.rewardFuncs]) as RewardFunction<RewardTrainerState>[];
  if (funcs.length === 0) throw new TypeError('GRPOTrainer: at least one reward function is needed');
  funcs.forEach((f, i) => {
    if (typeof f !== 'function') throw new TypeError(`GRPOTrainer: rewardFuncs[${i}] is not a function`);
  });
  const names = rewardFunctionNames(funcs as RewardFunction<never>[], options.rewardFuncNames);
  const weights = options.rewardWeights ?? config.rewardWeights ?? funcs.map(() => 1);
  if (weights.length !== funcs.length) {
    throw new RangeError(`GRPOTrainer: ${weights.length} reward weights for ${funcs.length} reward functions`);
  }
  if (!weights.every((w) => Number.isFinite(w))) throw new RangeError('GRPOTrainer: reward weights must be finite numbers');
  const data = options.trainDataset;
  const dataset =
    data instanceof PromptDataset
      ? data
      : typeof data === 'string'
        ? PromptDataset.fromJsonl(data)
        : PromptDataset.fromRecords(data as Record<string, unknown>[]);
  const sampler = new GenerationBatchSampler(dataset.length, {
    numGenerations: config.numGenerations,
    generationBatchSize: config.generationBatchSize,
    seed: config.seed,
    shuffle: config.shuffleDataset,
  });
  return { group, config, model, tools, routerLoss, funcs, names, weights, dataset, sampler };
}

/**
 * A config parsed beforehand (`parseGRPOConfig`) is used as is when its generation batch fits
 * the number of processes (TRL derives it from the world size).
 */
function checkParsedFor(config: GRPOConfig, numProcesses: number): GRPOConfig {
  if (numProcesses === 1) return config;
  const perStep = config.perDeviceTrainBatchSize * numProcesses;
  if (config.generationBatchSize !== perStep * config.stepsPerGeneration) {
    throw new GRPOConfigError(
      `GRPOTrainer: the config's generationBatchSize (${config.generationBatchSize}) was derived for another number of processes than this job's ${numProcesses} ` +
        `(perDeviceTrainBatchSize ${config.perDeviceTrainBatchSize} × ${numProcesses} × stepsPerGeneration ${config.stepsPerGeneration} = ${perStep * config.stepsPerGeneration}); ` +
        `pass the config unparsed, or parse it with parseGRPOConfig(input, { numProcesses: ${numProcesses} })`,
    );
  }
  return config;
}

function isParsed(c: unknown): c is GRPOConfig {
  return (
    c !== null &&
    typeof c === 'object' &&
    typeof (c as GRPOConfig).generationBatchSize === 'number' &&
    typeof (c as GRPOConfig).stepsPerGeneration === 'number' &&
    (c as GRPOConfig).outputDir !== undefined
  );
}
