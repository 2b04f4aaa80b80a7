/**
 * @mlxn/nn — neural networks on @mlxn/core with mlx.nn's semantics: a Module tree, layers,
 * quantized layers, LoRA adapters, losses, optimizers and schedules.
 *
 * @example
 * import * as mx from '@mlxn/core';
 * import { Linear, valueAndGrad } from '@mlxn/nn';
 * const layer = new Linear(4, 2);
 * const [loss, grads] = valueAndGrad(layer, (x: mx.Array) => mx.sum(layer.forward(x)))(mx.ones([3, 4]));
 */
export { Module, valueAndGrad, validParameterFilter, trainableParameterFilter } from './module.js';
export type { FreezeOptions, ParamDict, ParamFilter, ParamTree, WeightSource } from './module.js';
export { checkpointKey, propertyPath } from './keys.js';
export * from './activations.js';
export * as init from './init.js';
export type { Initializer } from './init.js';
export { Identity, Linear } from './layers/linear.js';
export type { LinearOptions } from './layers/linear.js';
export { Embedding } from './layers/embedding.js';
export { LayerNorm, RMSNorm } from './layers/normalization.js';
export type { LayerNormOptions } from './layers/normalization.js';
export { RoPE, YarnRoPE, initializeRope } from './layers/rope.js';
export type { RoPEOptions, RopeScalingConfig, YarnRoPEOptions } from './layers/rope.js';
export { MultiHeadAttention } from './layers/attention.js';
export type { MultiHeadAttentionOptions } from './layers/attention.js';
export { Dropout } from './layers/dropout.js';
export { Sequential } from './layers/containers.js';
export {
  QuantizedEmbedding,
  QuantizedLinear,
  dequantize,
  quantize,
  quantizeFromCheckpoint,
  replaceModules,
  resolveQuantization,
} from './quantized.js';
export type { CheckpointQuantization, QuantizationOptions, QuantizeFilter } from './quantized.js';
export { LoRALinear, adapterParameters, fuseLoRA, linearToLoRALayers, loadAdapters, saveAdapters } from './lora.js';
export type { LoRAOptions, LoRATargets } from './lora.js';
export * from './losses/index.js';
export * from './optimizers/index.js';
export * from './schedules/index.js';
