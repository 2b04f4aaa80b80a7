/**
 * @mlxn/nn — neural networks on @mlxn/core with mlx.nn's semantics: a Module tree, layers,
 * quantized layers, LoRA adapters, losses, optimizers and schedules.
 *
 * @packageDocumentation
 * @example
 * import * as mx from '@mlxn/core';
 * import { Linear, valueAndGrad } from '@mlxn/nn';
 * const layer = new Linear(4, 2);
 * const [loss, grads] = valueAndGrad(layer, (x: mx.Array) => mx.sum(layer.forward(x)))(mx.ones([3, 4]));
 */

export * from './activations.js';
export type { Initializer } from './init.js';
export * as init from './init.js';
export { checkpointKey, propertyPath } from './keys.js';
export type { MultiHeadAttentionOptions } from './layers/attention.js';
export { MultiHeadAttention } from './layers/attention.js';
export { Sequential } from './layers/containers.js';
export { Dropout } from './layers/dropout.js';
export { Embedding } from './layers/embedding.js';
export type { LinearOptions } from './layers/linear.js';
export { Identity, Linear } from './layers/linear.js';
export type { LayerNormOptions } from './layers/normalization.js';
export { LayerNorm, RMSNorm } from './layers/normalization.js';
export type { RoPEOptions, RopeScalingConfig, YarnRoPEOptions } from './layers/rope.js';
export { initializeRope, RoPE, YarnRoPE } from './layers/rope.js';
export type { LoRAOptions, LoRATargets } from './lora.js';
export { adapterParameters, fuseLoRA, LoRALinear, linearToLoRALayers, loadAdapters, saveAdapters } from './lora.js';
export * from './losses/index.js';
export type { FreezeOptions, ParamDict, ParamFilter, ParamTree, WeightSource } from './module.js';
export { Module, trainableParameterFilter, validParameterFilter, valueAndGrad } from './module.js';
export * from './optimizers/index.js';
export * from './quantized.js';
export * from './schedules/index.js';
