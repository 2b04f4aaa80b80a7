/** @mlxn/grpo — GRPO and SFT trainers with TRL's semantics. */
export { GRPOConfigError, grpoConfigWarnings, parseGRPOConfig } from './config.js';
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
export { learningRateAt, learningRateSchedule, warmupStepsFor } from './schedule.js';
export { DEFAULT_LOSS_CONFIG, grpoLoss, highEntropyMask, lossMetricsToNumbers, offPolicyMask, vespoGammaWeights } from './losses.js';
export type { ClipRatioMetrics, EntropyWindowStats, GRPOLossInputs, GRPOLossMetrics, GRPOLossResult, LossConfig } from './losses.js';
export { EntropyController } from './entropy-control.js';
export type { EntropyControlConfig, EntropyControlState } from './entropy-control.js';
export { computeAdvantages } from './advantages.js';
export type { AdvantageOptions, AdvantageResult } from './advantages.js';
export * from './rewards/index.js';
export { DatasetError, GenerationBatchSampler, PromptDataset, isConversational, seededPermutation, trainingPlan } from './dataset.js';
export type { DatasetOptions, GenerationBatch, PromptRecord, SamplerOptions, SamplerPosition, TrainingPlan } from './dataset.js';
export { plot, PlotError } from './plot.js';
export type { PlotOptions, PlotPanel, PlotRecord, PlotResult } from './plot.js';
export { GRPOTrainer, withAdaptersDisabled } from './trainer.js';
export { DataParallelError, PeerStopError } from './data-parallel.js';
export type { DistributedOption } from './data-parallel.js';
export type {
  DatasetInput,
  GRPOPolicy,
  GRPOTrainerOptions,
  RewardsPerFunc,
  RewardTrainerState,
  TrainBatch,
  TrainResult,
} from './trainer.js';
export { SFTTrainer, packExamples, parseSFTConfig, sftBatch, tokenizeSFTRecord } from './sft.js';
export type { SFTBatch, SFTConfig, SFTConfigInput, SFTExample, SFTRecord, SFTTrainerOptions } from './sft.js';
export { Float32StateAdam, TRAINER_FOLDER, completionLogprobs, deriveSeed } from './train-core.js';
export type { CoreConfig, LoopState, StepResult, TrainableModel } from './train-core.js';
export { cutAtEos, generateRollouts, rolloutTensors, tokenizePrompts } from './rollouts.js';
export type { PolicyModel, Prompt, RolloutGenerationOptions, RolloutTensors, Rollouts, ToolLoopOptions } from './rollouts.js';
export { runToolCalls, toolSchemas, toolSuffixIds, toolTable } from './tools.js';
export type { GRPOTool, ToolCallContext, ToolCallRequest, ToolCallResult, ToolExecutionOptions } from './tools.js';
export {
  ADAPTERS_FILE,
  OPTIMIZER_FILE,
  ROLLOUTS_FILE,
  TRAINER_STATE_FILE,
  latestCheckpoint,
  listCheckpoints,
  readTrainerState,
  recoverCheckpoints,
  resolveCheckpoint,
  rotateCheckpoints,
  writeCheckpoint,
} from './checkpoint.js';
export type { CheckpointEntry, TrainerState } from './checkpoint.js';
export { METRICS_FILE, MetricsLog, readMetrics } from './metrics.js';
export type { LogRecord, OnLog } from './metrics.js';
export { ProgressBar } from './progress.js';
export type { ProgressOptions } from './progress.js';
