/**
 * Qwen3-MoE's sparse block: a softmax router picks the top-k experts per token, and the experts'
 * gated MLPs run as MLX gather matmuls over weights stacked `[experts, out, in]` (mlx-lm's
 * `SwitchGLU` semantics and checkpoint layout `mlp.switch_mlp.{gate,up,down}_proj.weight`).
 */
import * as mx from '@mlxn/core';
import { Linear, Module, type QuantizationOptions, type QuantizedLinear, swiglu } from '@mlxn/nn';

/** Token×expert pairs at or above this count are sorted by expert first (contiguous weight reads). */
const SORT_THRESHOLD = 64;

/** One linear layer per expert, weights stacked `[numExperts, outputDims, inputDims]`. */
export class SwitchLinear extends Module {
  weight: mx.Array;

  constructor(inputDims: number, outputDims: number, numExperts: number) {
    super();
    const scale = Math.sqrt(1 / inputDims);
    this.weight = mx.random.uniform(-scale, scale, [numExperts, outputDims, inputDims]);
  }

  get numExperts(): number {
    return this.weight.shape[0];
  }

  /** `x` `[..., 1, inputDims]` through the expert `indices` picks for each batch entry. */
  forward(x: mx.Array, indices: mx.Array, sortedIndices = false): mx.Array {
    return mx.gatherMm(x, mx.swapaxes(this.weight, -1, -2), { rhsIndices: indices, sortedIndices });
  }

  /** A quantized copy (mlx-lm's `QuantizedSwitchLinear` layout: packed weight, scales, biases). */
  toQuantized(options: QuantizationOptions = {}): QuantizedSwitchLinear {
    return new QuantizedSwitchLinear(this.weight, options);
  }
}

/** `SwitchLinear` with per-expert quantized weights; frozen like nn's quantized layers. */
export class QuantizedSwitchLinear extends Module {
  weight: mx.Array;
  scales: mx.Array;
  biases?: mx.Array;
  readonly groupSize: number;
  readonly bits: number;
  readonly mode: mx.QuantizationMode;

  /** `weight`: the float `[numExperts, outputDims, inputDims]` stack to quantize. */
  constructor(weight: mx.Array, options: QuantizationOptions = {}) {
    super();
    this.mode = options.mode ?? 'affine';
    const defaults: Record<mx.QuantizationMode, [number, number]> = { affine: [64, 4], mxfp4: [32, 4], mxfp8: [32, 8], nvfp4: [16, 4] };
    this.groupSize = options.groupSize ?? defaults[this.mode][0];
    this.bits = options.bits ?? defaults[this.mode][1];
    if (weight.shape[weight.ndim - 1] % this.groupSize !== 0) {
      throw new RangeError(
        `QuantizedSwitchLinear: input size ${weight.shape[weight.ndim - 1]} is not a multiple of groupSize ${this.groupSize}`,
      );
    }
    const [w, s, b] = mx.quantize(weight, { groupSize: this.groupSize, bits: this.bits, mode: this.mode });
    this.weight = w;
    this.scales = s;
    if (b) this.biases = b;
    this.freeze();
  }

  override unfreeze(options: Parameters<Module['unfreeze']>[0] = {}): this {
    super.unfreeze(options);
    this.freeze({ recurse: false });
    return this;
  }

  forward(x: mx.Array, indices: mx.Array, sortedIndices = false): mx.Array {
    return mx.gatherQmm(x, this.weight, this.scales, this.biases ?? null, {
      rhsIndices: indices,
      transpose: true,
      groupSize: this.groupSize,
      bits: this.bits,
      mode: this.mode,
      sortedIndices,
    });
  }
}

type ExpertLinear = SwitchLinear | QuantizedSwitchLinear;

/** The experts' gated MLP: `down(silu(gate(x)) · up(x))`, each expert with its own weights. */
export class SwitchGLU extends Module {
  gateProj: ExpertLinear;
  upProj: ExpertLinear;
  downProj: ExpertLinear;

  constructor(inputDims: number, hiddenDims: number, numExperts: number) {
    super();
    this.gateProj = new SwitchLinear(inputDims, hiddenDims, numExperts);
    this.upProj = new SwitchLinear(inputDims, hiddenDims, numExperts);
    this.downProj = new SwitchLinear(hiddenDims, inputDims, numExperts);
  }

  /** `x` `[..., H]`, `indices` `[..., k]` → `[..., k, H]`: each token through each of its k experts. */
  forward(x: mx.Array, indices: mx.Array): mx.Array {
    const k = indices.shape[indices.ndim - 1];
    let h = mx.expandDims(x, [-2, -3]);
    const idx = mx.stopGradient(indices);
    if (idx.size < SORT_THRESHOLD) {
      const act = swiglu(this.gateProj.forward(h, idx), this.upProj.forward(h, idx));
      return mx.squeeze(this.downProj.forward(act, idx), -2);
    }
    // Many tokens: group the token×expert pairs by expert so each expert's weights are read once.
    const flat = mx.flatten(idx);
    const order = mx.argsort(flat);
    const inverse = mx.argsort(order);
    h = mx.take(mx.flatten(h, 0, -3), mx.floorDivide(order, k), 0);
    const sorted = mx.take(flat, order, 0);
    const act = swiglu(this.gateProj.forward(h, sorted, true), this.upProj.forward(h, sorted, true));
    const y = mx.take(this.downProj.forward(act, sorted, true), inverse, 0);
    return mx.reshape(y, [...indices.shape, y.shape[y.ndim - 1]]);
  }
}

/** Router + experts of one Qwen3-MoE layer (checkpoint keys `mlp.gate`, `mlp.switch_mlp`). */
export class Qwen3SparseMoeBlock extends Module {
  gate: Linear | QuantizedLinear;
  switchMlp: SwitchGLU;
  readonly topK: number;
  readonly normTopkProb: boolean;
  /**
   * @internal Where `forward` appends its router logits `[..., numExperts]` while a
   * `withRouterLogits` call collects them (router-loss.ts); null otherwise (nothing is kept).
   */
  _routerLogits: mx.Array[] | null = null;

  constructor(options: {
    hiddenSize: number;
    moeIntermediateSize: number;
    numExperts: number;
    numExpertsPerTok: number;
    normTopkProb: boolean;
  }) {
    super();
    this.gate = new Linear(options.hiddenSize, options.numExperts, { bias: false });
    this.switchMlp = new SwitchGLU(options.hiddenSize, options.moeIntermediateSize, options.numExperts);
    this.topK = options.numExpertsPerTok;
    this.normTopkProb = options.normTopkProb;
  }

  forward(x: mx.Array): mx.Array {
    const k = this.topK;
    const logits = this.gate.forward(x);
    // Claimed: the layer runs inside the forward's tidy, which would free it on return.
    if (this._routerLogits !== null) this._routerLogits.push(mx.keep(logits));
    const gates = mx.softmax(logits, -1, { precise: true });
    const last = gates.shape[gates.ndim - 1];
    const inds = mx.stopGradient(mx.argpartition(gates, last - k, -1).index('...', mx.sl(last - k, null)));
    let scores = mx.takeAlongAxis(gates, inds, -1);
    if (this.normTopkProb) scores = mx.divide(scores, mx.sum(scores, -1, true));
    const y = this.switchMlp.forward(x, inds);
    return mx.astype(mx.sum(mx.multiply(y, mx.expandDims(scores, -1)), -2), y.dtype);
  }
}
