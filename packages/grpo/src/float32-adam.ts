/**
 * The trainers' default optimizer, kept apart from the training loop because it is public (and
 * usable without a trainer): Adam with float32 moments whatever the weights' dtype.
 */
import * as mx from '@mlxn/core';
import { Adam, type ParamState } from '@mlxn/nn';

/**
 * Adam whose moments are float32 whatever the parameter's dtype: the update is computed in
 * float32 and cast back. With float32 weights under bf16 autocast (mixed precision) this is
 * torch's AdamW; with bfloat16 weights torch keeps its moments in bfloat16, and this keeps
 * twice their memory for updates that do not lose small steps to rounding (the trainers'
 * `optimizerStateDtype: 'parameter'` uses MLX's `Adam` instead, torch's behaviour). Weight decay
 * is applied by the trainer (it knows which parameters decay).
 */
export class Float32StateAdam extends Adam {
  protected override initSingle(parameter: mx.Array, state: ParamState): void {
    state.m = mx.zeros(parameter.shape, 'float32');
    state.v = mx.zeros(parameter.shape, 'float32');
  }

  protected override applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    if (parameter.dtype === 'float32' && gradient.dtype === 'float32') return super.applySingle(gradient, parameter, state);
    const out = super.applySingle(mx.astype(gradient, 'float32'), mx.astype(parameter, 'float32'), state);
    return mx.astype(out, parameter.dtype);
  }
}
