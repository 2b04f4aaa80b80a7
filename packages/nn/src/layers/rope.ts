/**
 * Rotary position embeddings: mlx.nn.RoPE, and the rope-scaling variants Qwen3 checkpoints use
 * (`linear`, `yarn`), following mlx-lm's rope_utils semantics.
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { Module } from '../module.js';
import { checkDims } from './linear.js';

export interface RoPEOptions {
  /** Rotate adjacent pairs (`x0,x1`) instead of the two halves (default false). */
  traditional?: boolean;
  /** Base of the frequencies (default 10000). */
  base?: number;
  /** Multiplies the positions (default 1; linear scaling uses `1/factor`). */
  scale?: number;
}

/** Rotary embedding of the first `dims` features of the last axis (fused MLX kernel). */
export class RoPE extends Module {
  readonly dims: number;
  readonly traditional: boolean;
  readonly base: number;
  readonly scale: number;

  constructor(dims: number, options: RoPEOptions = {}) {
    super();
    checkOptionKeys(options, ['traditional', 'base', 'scale'], 'RoPE');
    checkDims({ dims }, 'RoPE');
    this.dims = dims;
    this.traditional = options.traditional ?? false;
    this.base = options.base ?? 10000;
    this.scale = options.scale ?? 1;
  }

  /** `offset`: position of the first token (a number, or a scalar / `[B]` int array). */
  forward(x: mx.Array, offset: number | mx.Array = 0): mx.Array {
    return mx.fast.rope(x, this.dims, { traditional: this.traditional, base: this.base, scale: this.scale, offset });
  }
}

export interface YarnRoPEOptions {
  traditional?: boolean;
  base?: number;
  /** The context-extension factor (`factor` in the checkpoint's `rope_scaling`). */
  scalingFactor?: number;
  originalMaxPositionEmbeddings?: number;
  betaFast?: number;
  betaSlow?: number;
  mscale?: number;
  mscaleAllDim?: number;
}

/**
 * YaRN: frequencies interpolated between the original and the `scalingFactor`-stretched ones
 * by a linear ramp over the dimensions whose wavelengths lie between `betaFast` and `betaSlow`
 * rotations of the original context, and the rotated features scaled by the attention factor
 * `mscale` (`0.1·m·ln(factor) + 1`).
 */
export class YarnRoPE extends Module {
  readonly dims: number;
  readonly traditional: boolean;
  readonly mscale: number;
  private _freqs: mx.Array;

  constructor(dims: number, options: YarnRoPEOptions = {}) {
    super();
    checkOptionKeys(
      options,
      ['traditional', 'base', 'scalingFactor', 'originalMaxPositionEmbeddings', 'betaFast', 'betaSlow', 'mscale', 'mscaleAllDim'],
      'YarnRoPE',
    );
    checkDims({ dims }, 'YarnRoPE');
    const base = options.base ?? 10000;
    const factor = options.scalingFactor ?? 1;
    const original = options.originalMaxPositionEmbeddings ?? 4096;
    const betaFast = options.betaFast ?? 32;
    const betaSlow = options.betaSlow ?? 1;
    // Dimension index at which a frequency completes `rotations` turns over the original context.
    const correctionDim = (rotations: number) => (dims * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
    const low = Math.max(Math.floor(correctionDim(betaFast)), 0);
    let high = Math.min(Math.ceil(correctionDim(betaSlow)), dims - 1);
    if (low === high) high += 0.001;
    const attnFactor = (m: number) => (factor <= 1 ? 1 : 0.1 * m * Math.log(factor) + 1);
    this.mscale = attnFactor(options.mscale ?? 1) / attnFactor(options.mscaleAllDim ?? 0);
    this.dims = dims;
    this.traditional = options.traditional ?? false;
    const half = Math.floor(dims / 2);
    // Periods (1 / frequency) as the fused kernel takes them in `freqs`.
    const extra = mx.power(base, mx.divide(mx.arange(0, dims, 2, 'float32'), dims));
    const inter = mx.multiply(extra, factor);
    const ramp = mx.clip(mx.divide(mx.subtract(mx.arange(0, half, 1, 'float32'), low), high - low), 0, 1);
    const keepExtra = mx.subtract(1, ramp);
    this._freqs = mx.keep(mx.divide(mx.multiply(inter, extra), mx.add(mx.multiply(inter, keepExtra), mx.multiply(extra, ramp))));
  }

  forward(x: mx.Array, offset: number | mx.Array = 0): mx.Array {
    if (this.mscale !== 1) {
      const last = x.shape[x.ndim - 1];
      x =
        this.dims === last
          ? mx.multiply(x, this.mscale)
          : mx.concatenate([mx.multiply(x.index('...', mx.sl(0, this.dims)), this.mscale), x.index('...', mx.sl(this.dims, null))], -1);
    }
    return mx.fast.rope(x, this.dims, { traditional: this.traditional, freqs: this._freqs, offset });
  }
}

/** `rope_scaling` as checkpoints write it (snake_case, as in config.json). */
export interface RopeScalingConfig {
  type?: string;
  rope_type?: string;
  factor?: number;
  original_max_position_embeddings?: number;
  beta_fast?: number;
  beta_slow?: number;
  mscale?: number;
  mscale_all_dim?: number;
  [key: string]: unknown;
}

/**
 * The RoPE module a checkpoint's config asks for: `default`, `linear` (positions scaled by
 * `1/factor`) or `yarn`, as mlx-lm builds them.
 */
export function initializeRope(
  dims: number,
  options: { base?: number; traditional?: boolean; scalingConfig?: RopeScalingConfig | null; maxPositionEmbeddings?: number } = {},
): RoPE | YarnRoPE {
  checkOptionKeys(options, ['base', 'traditional', 'scalingConfig', 'maxPositionEmbeddings'], 'initializeRope');
  const cfg = options.scalingConfig ?? null;
  const type = cfg ? (cfg.type ?? cfg.rope_type ?? 'default') : 'default';
  const base = options.base ?? 10000;
  const traditional = options.traditional ?? false;
  const factor = () => {
    const f = cfg?.factor;
    if (typeof f !== 'number' || !(f > 0)) throw new TypeError(`rope_scaling '${type}' needs a positive 'factor', got ${f}`);
    return f;
  };
  if (type === 'default' || type === 'mrope') return new RoPE(dims, { base, traditional });
  if (type === 'linear') return new RoPE(dims, { base, traditional, scale: 1 / factor() });
  if (type === 'yarn' || type === 'deepseek_yarn') {
    return new YarnRoPE(dims, {
      base,
      traditional,
      scalingFactor: factor(),
      originalMaxPositionEmbeddings: cfg?.original_max_position_embeddings,
      betaFast: cfg?.beta_fast,
      betaSlow: cfg?.beta_slow,
      mscale: cfg?.mscale,
      mscaleAllDim: cfg?.mscale_all_dim,
    });
  }
  throw new TypeError(`unsupported rope_scaling type '${type}' (supported: default, linear, yarn)`);
}
