/**
 * `@mlxn/models-qwen3`: Qwen3 and Qwen3-MoE on MLX for Node.js.
 *
 * @packageDocumentation
 * @example
 * import { Qwen3 } from '@mlxn/models-qwen3';
 * const model = await Qwen3.load('path/to/Qwen3-0.6B');
 * const logits = model.forward(mx.array([[1, 2, 3]], 'int32'));
 */

export type { Qwen3Config, Qwen3ConfigLimits, Qwen3Quantization } from './config.js';
export { parseQwen3Config, QWEN3_CONFIG_LIMITS } from './config.js';
export type { BatchGenerateOptions, BatchPrompt, BatchResult, BatchResults, BatchStats } from './lm/batch.js';
export { batchGenerate } from './lm/batch.js';
export type { ChatDone, ChatOptions, ChatPart, ChatResult, ChatToolCall } from './lm/chat.js';
export { toOpenAIToolCall } from './lm/chat.js';
export type { CheckpointOptions, HeadLoss, RowwiseHeadLoss } from './lm/checkpointing.js';
export { checkpointedValueAndGrad, isCheckpointable, isRowwiseHeadLoss, wholeHeadLoss } from './lm/checkpointing.js';
export type { EncodedPrompt, FinishReason, GenerationChunk, GenerationResult, StepOutput, StepRecord } from './lm/generate.js';
export { encodePrompt, generate, generateStep, stream } from './lm/generate.js';
export type { GenerationDefaults, ParsedGenerationConfig } from './lm/generation-config.js';
export { parseGenerationConfig, withGenerationDefaults } from './lm/generation-config.js';
export type { CompletionLogprobsOptions, HiddenLogprobsOptions, TokenLogprobs, TokenLogprobsOptions } from './lm/logprobs.js';
export { completionLogprobs, paddingAttentionMask, tokenLogprobs, tokenLogprobsFromHidden } from './lm/logprobs.js';
export type { CheckpointableModel, ConstrainableModel, DraftModel, GenerationModel, LogprobsModel } from './lm/model-interface.js';
export type { ChatPromptOptions, GenerateOptions, GenerationPlan, Prompt, PromptProgress } from './lm/options.js';
export { GenerationOptionsError, resolveGenerateOptions } from './lm/options.js';
export { promptCacheTokens } from './lm/prompt-cache.js';
export type { InvalidToolCall, ReplyPart, ToolCall } from './lm/reply-format.js';
export type { StopCheck } from './lm/stop.js';
export { StopStrings } from './lm/stop.js';
export type { ReplyConstraintOptions, ResponseFormat, TokenMaskHook, ToolChoice } from './lm/structured.js';
export { ConstrainedReply, constraintVocabulary, prepareConstraintVocabulary } from './lm/structured.js';
export type { LoadOptions, LoadProgress } from './load.js';
export type { ForwardMask, ForwardOptions } from './model.js';
export { Qwen3, Qwen3Attention, Qwen3DecoderLayer, Qwen3MLP, Qwen3Model } from './model.js';
export { QuantizedSwitchLinear, Qwen3SparseMoeBlock, SwitchGLU, SwitchLinear } from './moe.js';
export { nativeForwardEnabled, setNativeForward } from './native-forward.js';
export { chat, chatStream, compileReplyConstraint, toolCallGrammar } from './qwen3-chat.js';
export type { ParsedReply } from './reply.js';
export { parseReply, promptOpensThinking, ReplyParser } from './reply.js';
export type { LoadBalancingLossOptions, RouterLossCheckpointOptions, RouterLossSettings } from './router-loss.js';
export { checkpointedValueAndGradWithRouterLoss, loadBalancingLoss, routerLossSettings, withRouterLogits } from './router-loss.js';
export { sanitize } from './sanitize.js';
export type { SaveOptions } from './save.js';
