// Reward functions: the runner and the built-ins.
export { RESERVED_REWARD_ARGS, RewardFunctionError, describeUnscorable, rewardFunctionNames, runRewardFunctions } from './runner.js';
export type { RewardArgs, RewardFunction, RewardTable, RunRewardsOptions } from './runner.js';
export { accuracyReward, formatReward, jsonSchemaReward, lengthReward, toolCallReward } from './builtins.js';
export type {
  AccuracyRewardOptions,
  FormatRewardOptions,
  JsonSchemaRewardOptions,
  LengthRewardOptions,
  ToolCallRewardOptions,
} from './builtins.js';
export { answersMatch, extractAnswer, parseNumber } from './answers.js';
export type { AnswerExtraction } from './answers.js';
export { JsonSchemaError, compileJsonSchema } from './jsonSchema.js';
export type { JsonSchema } from './jsonSchema.js';
export { findToolCalls } from './toolCalls.js';
export type { FoundToolCall, ToolCallScan, ToolSpec } from './toolCalls.js';
