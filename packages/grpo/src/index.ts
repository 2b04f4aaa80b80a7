/**
 * @mlxn/grpo — GRPO and SFT trainers with TRL's semantics.
 *
 * @packageDocumentation
 */

export type { AdvantageOptions, AdvantageResult } from './advantages.js';
export { computeAdvantages } from './advantages.js';
export type { CheckpointEntry, TrainerState } from './checkpoint.js';
export {
  ADAPTERS_FILE,
  latestCheckpoint,
  listCheckpoints,
  OPTIMIZER_FILE,
  ROLLOUTS_FILE,
  readTrainerState,
  recoverCheckpoints,
  resolveCheckpoint,
  rotateCheckpoints,
  TRAINER_STATE_FILE,
  writeCheckpoint,
} from './checkpoint.js';
export type {
  GRPOConfig,
  GRPOConfigInput,
  ImportanceSamplingLevel,
  LoRAConfig,
  LossType,
  LrSchedulerType,
  MultiObjectiveAggregation,
  ScaleRewards,
} from './config.js';
export { GRPOConfigError, grpoConfigWarnings, parseGRPOConfig } from './config.js';
export type { DistributedOption } from './data-parallel.js';
export { DataParallelError, PeerStopError } from './data-parallel.js';
export type { DatasetOptions, GenerationBatch, PromptRecord, SamplerOptions, SamplerPosition, TrainingPlan } from './dataset.js';
export { DatasetError, GenerationBatchSampler, isConversational, PromptDataset, seededPermutation, trainingPlan } from './dataset.js';
export { deriveSeed } from './derive-seed.js';
export type { EntropyControlConfig, EntropyControlState } from './entropy-control.js';
export { EntropyController } from './entropy-control.js';
export { Float32StateAdam } from './float32-adam.js';
export type { RewardsPerFunc, TrainBatch } from './generation-batch.js';
export type { DatasetInput, GRPOPolicy, GRPOTrainerOptions, RewardTrainerState } from './grpo-trainer-options.js';
export { withAdaptersDisabled } from './lora.js';
export type { ClipRatioMetrics, EntropyWindowStats, GRPOLossInputs, GRPOLossMetrics, GRPOLossResult, LossConfig } from './losses.js';
export { DEFAULT_LOSS_CONFIG, grpoLoss, highEntropyMask, lossMetricsToNumbers, offPolicyMask, vespoGammaWeights } from './losses.js';
export type { LogRecord, OnLog } from './metrics.js';
export { METRICS_FILE, MetricsLog, readMetrics } from './metrics.js';
export type { PlotOptions, PlotPanel, PlotRecord, PlotResult } from './plot.js';
export { PlotError, plot } from './plot.js';
export type { ProgressOptions } from './progress.js';
export { ProgressBar } from './progress.js';
export * from './rewards/index.js';
export type { PolicyModel, Prompt, RolloutGenerationOptions, Rollouts, RolloutTensors, ToolLoopOptions } from './rollouts.js';
export { cutAtEos, generateRollouts, rolloutTensors, tokenizePrompts } from './rollouts.js';
export { learningRateAt, learningRateSchedule, warmupStepsFor } from './schedule.js';
export type { SFTBatch, SFTConfig, SFTConfigInput, SFTExample, SFTRecord, SFTTrainerOptions } from './sft.js';
export { packExamples, parseSFTConfig, SFTTrainer, sftBatch, tokenizeSFTRecord } from './sft.js';
export type { GRPOTool, ToolCallContext, ToolCallRequest, ToolCallResult, ToolExecutionOptions } from './tools.js';
export { runToolCalls, toolSchemas, toolSuffixIds, toolTable } from './tools.js';
export type { CoreConfig, LoopState, StepResult } from './train-core.js';
export { trainBatchLogprobs } from './train-logprobs.js';
export type { TrainableModel } from './trainable-model.js';
export type { TrainResult } from './trainer.js';
export { GRPOTrainer } from './trainer.js';
export { TRAINER_FOLDER } from './trainer-checkpoint.js';
