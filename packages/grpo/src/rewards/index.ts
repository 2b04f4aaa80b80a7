// Reward functions: the runner and the built-ins.

export type { AnswerExtraction } from './answers.js';
export { answersMatch, extractAnswer, parseNumber } from './answers.js';
export type {
  AccuracyRewardOptions,
  FormatRewardOptions,
  JsonSchemaRewardOptions,
  LengthRewardOptions,
  ToolCallRewardOptions,
} from './builtins.js';
export { accuracyReward, formatReward, jsonSchemaReward, lengthReward, toolCallReward } from './builtins.js';
export type { JsonSchema } from './jsonSchema.js';
export { compileJsonSchema, JsonSchemaError } from './jsonSchema.js';
export type { RewardArgs, RewardFunction, RewardTable, RunRewardsOptions } from './runner.js';
export { RESERVED_REWARD_ARGS, RewardFunctionError, rewardFunctionNames, runRewardFunctions } from './runner.js';
export type { FoundToolCall, ToolCallScan, ToolSpec } from './toolCalls.js';
export { findToolCalls } from './toolCalls.js';
