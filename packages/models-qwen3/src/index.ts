/**
 * `@mlxn/models-qwen3`: Qwen3 and Qwen3-MoE on MLX for Node.js.
 *
 * @example
 * import { Qwen3 } from '@mlxn/models-qwen3';
 * const model = await Qwen3.load('path/to/Qwen3-0.6B');
 * const logits = model.forward(mx.array([[1, 2, 3]], 'int32'));
 */

export type { BatchGenerateOptions, BatchPrompt, BatchResult, BatchResults, BatchStats } from './batch.js';
export { batchGenerate } from './batch.js';
export type { ChatDone, ChatOptions, ChatPart, ChatResult, ChatToolCall } from './chat.js';
export { chat, chatStream, toOpenAIToolCall } from './chat.js';
export type { CheckpointableModel, CheckpointOptions, HeadLoss, RowwiseHeadLoss } from './checkpointing.js';
export { checkpointedValueAndGrad, isCheckpointable, isRowwiseHeadLoss, wholeHeadLoss } from './checkpointing.js';
export type { Qwen3Config, Qwen3ConfigLimits, Qwen3Quantization } from './config.js';
export { parseQwen3Config, QWEN3_CONFIG_LIMITS } from './config.js';
export type {
  EncodedPrompt,
  FinishReason,
  GenerationChunk,
  GenerationModel,
  GenerationResult,
  StepOutput,
  StepRecord,
} from './generate.js';
export { encodePrompt, generate, generateStep, promptCacheTokens, stream } from './generate.js';
export type { GenerationDefaults, ParsedGenerationConfig } from './generation-config.js';
export { parseGenerationConfig, withGenerationDefaults } from './generation-config.js';
export type { LoadOptions, LoadProgress } from './load.js';
export type { CompletionLogprobsOptions, HiddenLogprobsOptions, LogprobsModel, TokenLogprobs, TokenLogprobsOptions } from './logprobs.js';
export { completionLogprobs, paddingAttentionMask, tokenLogprobs, tokenLogprobsFromHidden } from './logprobs.js';
export { installGenerationMethods } from './methods.js';
export type { ForwardMask, ForwardOptions } from './model.js';
export { Qwen3, Qwen3Attention, Qwen3DecoderLayer, Qwen3MLP, Qwen3Model } from './model.js';
export { QuantizedSwitchLinear, Qwen3SparseMoeBlock, SwitchGLU, SwitchLinear } from './moe.js';
export { nativeForwardEnabled, setNativeForward } from './native-forward.js';
export type { ChatPromptOptions, DraftModel, GenerateOptions, GenerationPlan, Prompt, PromptProgress } from './options.js';
export { GenerationOptionsError, resolveGenerateOptions } from './options.js';
export type { InvalidToolCall, ParsedReply, ReplyPart, ToolCall } from './reply.js';
export { parseReply, promptOpensThinking, ReplyParser } from './reply.js';
export type { LoadBalancingLossOptions, RouterLossCheckpointOptions, RouterLossSettings } from './router-loss.js';
export { checkpointedValueAndGradWithRouterLoss, loadBalancingLoss, routerLossSettings, withRouterLogits } from './router-loss.js';
export { sanitize } from './sanitize.js';
export type { SaveOptions } from './save.js';
export { speculativeGenerateStep } from './speculative.js';
export type { StopCheck } from './stop.js';
export { StopStrings } from './stop.js';
export type { ConstrainableModel, ReplyConstraintOptions, ResponseFormat, TokenMaskHook, ToolChoice } from './structured.js';
export {
  ConstrainedReply,
  compileReplyConstraint,
  constraintVocabulary,
  prepareConstraintVocabulary,
  toolCallGrammar,
} from './structured.js';
