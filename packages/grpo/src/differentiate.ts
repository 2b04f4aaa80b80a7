/**
 * The trainers' backward pass: a head loss over the model's hidden states and its gradients
 * with respect to the trainable parameters, whole or with gradient checkpointing, with or
 * without the MoE router's load-balancing loss.
 */
import * as mx from '@mlxn/core';
import {
  checkpointedValueAndGrad,
  checkpointedValueAndGradWithRouterLoss,
  type HeadLoss,
  isCheckpointable,
  loadBalancingLoss,
  type RowwiseHeadLoss,
  wholeHeadLoss,
  withRouterLogits,
} from '@mlxn/models-qwen3';
import { type ParamDict, valueAndGrad } from '@mlxn/nn';
import type { TrainableModel } from './trainable-model.js';

/**
 * The value of `headLoss(model.hidden(inputIds, { mask }))` and its gradients. With
 * `checkpointing` and a model with Qwen3's layer structure, only the decoder layers' inputs are
 * kept and each layer is recomputed in the backward pass.
 */
export function valueAndGradOfHead<R extends mx.Array | mx.Array[]>(
  model: TrainableModel,
  inputIds: mx.Array,
  mask: mx.Array | 'causal',
  head: HeadLoss<R> | RowwiseHeadLoss<R>,
  checkpointing: boolean,
): [R, ParamDict] {
  if (checkpointing && isCheckpointable(model)) return checkpointedValueAndGrad(model, head, inputIds, { mask });
  const headLoss = wholeHeadLoss(head);
  return valueAndGrad(model, () => headLoss(model.hidden(inputIds, { mask })))();
}

/**
 * `valueAndGradOfHead` with the MoE router load-balancing loss: the value's first entry becomes
 * `headLoss`'s first + `weight` · aux loss, and the aux loss is appended (see
 * `TrainerCore.differentiateWithRouterLoss`).
 */
export function valueAndGradWithRouterLoss(
  model: TrainableModel,
  inputIds: mx.Array,
  mask: mx.Array | 'causal',
  tokenMask: mx.Array | null,
  router: { numExperts: number; topK: number; weight: number },
  head: HeadLoss<mx.Array[]> | RowwiseHeadLoss<mx.Array[]>,
  checkpointing: boolean,
): [mx.Array[], ParamDict] {
  const headLoss = wholeHeadLoss(head);
  if (checkpointing && isCheckpointable(model)) {
    return checkpointedValueAndGradWithRouterLoss(model, headLoss, inputIds, {
      mask,
      tokenMask,
      numExperts: router.numExperts,
      topK: router.topK,
      weight: router.weight,
    });
  }
  return valueAndGrad(model, () => {
    const { value: hidden, routerLogits } = withRouterLogits(model, () => model.hidden(inputIds, { mask }));
    const aux = loadBalancingLoss(routerLogits, { numExperts: router.numExperts, topK: router.topK, attentionMask: tokenMask });
    mx.dispose(routerLogits);
    const [first, ...rest] = headLoss(hidden);
    return [mx.add(first, mx.multiply(aux, router.weight)), ...rest, aux];
  })() as [mx.Array[], ParamDict];
}
