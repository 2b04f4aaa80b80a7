/**
 * Quantized layers and `quantize`/`dequantize` over a module tree, following mlx.nn's
 * QuantizedLinear / QuantizedEmbedding and the parameter layout mlx-community checkpoints use
 * (`weight` packed into uint32, `scales`, and `biases` for affine mode).
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { checkpointSegment as segmentOf } from './keys.js';
import { Embedding } from './layers/embedding.js';
import { checkDims, Linear } from './layers/linear.js';
import { Module } from './module.js';

export interface QuantizationOptions {
  /** Elements sharing one scale (default 64 for affine; the mode's own default otherwise). */
  groupSize?: number;
  /** Bits per element (default 4 for affine; the mode's own default otherwise). */
  bits?: number;
  /** `'affine'` (default) or one of MLX's micro-scaling modes. */
  mode?: mx.QuantizationMode;
}

/** MLX's default group size and bits of each mode (mlx.core.quantize's table; mlx-lm's convert uses the same). */
const MODE_DEFAULTS: Record<mx.QuantizationMode, [number, number]> = {
  affine: [64, 4],
  mxfp4: [32, 4],
  mxfp8: [32, 8],
  nvfp4: [16, 4],
};

/**
 * The settings `options` stand for: the mode's default group size and bits where not given
 * (affine 64/4, mxfp4 32/4, mxfp8 32/8, nvfp4 16/4).
 *
 * @example
 * resolveQuantization({ mode: 'nvfp4' }); // { mode: 'nvfp4', groupSize: 16, bits: 4 }
 */
export function resolveQuantization(o: QuantizationOptions = {}): Required<QuantizationOptions> {
  const mode = o.mode ?? 'affine';
  const d = Object.hasOwn(MODE_DEFAULTS, mode) ? MODE_DEFAULTS[mode] : undefined;
  if (!d) throw new TypeError(`unknown quantization mode '${mode}' (affine, mxfp4, mxfp8, nvfp4)`);
  return { mode, groupSize: o.groupSize ?? d[0], bits: o.bits ?? d[1] };
}

const resolve = resolveQuantization;

/** Quantizes a weight; `biases` is undefined for the micro-scaling modes. */
function quantizeWeight(w: mx.Array, q: Required<QuantizationOptions>): { weight: mx.Array; scales: mx.Array; biases?: mx.Array } {
  const last = w.shape[w.ndim - 1];
  if (last % q.groupSize !== 0) {
    throw new RangeError(
      `cannot quantize a weight of shape [${w.shape}]: the last dimension must be a multiple of groupSize ${q.groupSize}`,
    );
  }
  const [weight, scales, biases] = mx.quantize(w, q);
  return { weight, scales, biases };
}

/** The common part of the quantized layers: hyper-parameters and the frozen packed weight. */
abstract class Quantized extends Module {
  weight!: mx.Array;
  scales!: mx.Array;
  biases?: mx.Array;
  readonly groupSize: number;
  readonly bits: number;
  readonly mode: mx.QuantizationMode;

  constructor(q: Required<QuantizationOptions>) {
    super();
    this.groupSize = q.groupSize;
    this.bits = q.bits;
    this.mode = q.mode;
  }

  protected get q(): Required<QuantizationOptions> {
    return { groupSize: this.groupSize, bits: this.bits, mode: this.mode };
  }

  /** Quantized parameters never train; unfreezing leaves this module's own parameters frozen. */
  override unfreeze(options: Parameters<Module['unfreeze']>[0] = {}): this {
    super.unfreeze(options);
    this.freeze({ recurse: false });
    return this;
  }

  /** The dequantized weight (in the dtype of `scales`). */
  dequantizedWeight(): mx.Array {
    return mx.dequantize(this.weight, this.scales, this.biases ?? null, this.q);
  }
}

/** `Linear` with a quantized weight (`x · dequantize(W)ᵀ + b` on MLX's quantized matmul). */
export class QuantizedLinear extends Quantized {
  bias?: mx.Array;

  /** `weight` (`[outputDims, inputDims]`, float) is quantized instead of a random init when given. */
  constructor(inputDims: number, outputDims: number, options: QuantizationOptions & { bias?: boolean; weight?: mx.Array } = {}) {
    checkOptionKeys(options, ['groupSize', 'bits', 'mode', 'bias', 'weight'], 'QuantizedLinear');
    const q = resolve(options);
    super(q);
    checkDims({ inputDims, outputDims }, 'QuantizedLinear');
    const scale = Math.sqrt(1 / inputDims);
    const w = options.weight ?? mx.random.uniform(-scale, scale, [outputDims, inputDims]);
    if (w.shape.length !== 2 || w.shape[0] !== outputDims || w.shape[1] !== inputDims) {
      throw new RangeError(`QuantizedLinear: weight must have shape [${outputDims}, ${inputDims}], got [${w.shape}]`);
    }
    Object.assign(this, quantizeWeight(w, q));
    if (options.bias ?? true) this.bias = mx.zeros([outputDims]);
    this.freeze();
  }

  /** A quantized copy of `linear` (its bias kept as is). */
  static fromLinear(linear: Linear, options: QuantizationOptions = {}): QuantizedLinear {
    checkOptionKeys(options, ['groupSize', 'bits', 'mode'], 'QuantizedLinear.fromLinear');
    const [out, inp] = linear.weight.shape;
    const q = new QuantizedLinear(inp, out, { ...options, bias: false, weight: linear.weight });
    if (linear.bias) q.bias = linear.bias;
    return q.freeze();
  }

  get inputDims(): number {
    return (this.weight.shape[1] * 32) / this.bits;
  }
  get outputDims(): number {
    return this.weight.shape[0];
  }

  forward(x: mx.Array): mx.Array {
    const y = mx.quantizedMatmul(x, this.weight, this.scales, this.biases ?? null, { ...this.q, transpose: true });
    return this.bias ? mx.add(y, this.bias) : y;
  }

  /** A plain `Linear` with the dequantized weight. */
  toLinear(): Linear {
    const l = new Linear(this.inputDims, this.outputDims, { bias: false });
    l.weight = this.dequantizedWeight();
    if (this.bias) l.bias = this.bias;
    return l;
  }
}

/** `Embedding` with a quantized table. */
export class QuantizedEmbedding extends Quantized {
  /** `weight` (`[numEmbeddings, dims]`, float) is quantized instead of a random init when given. */
  constructor(numEmbeddings: number, dims: number, options: QuantizationOptions & { weight?: mx.Array } = {}) {
    checkOptionKeys(options, ['groupSize', 'bits', 'mode', 'weight'], 'QuantizedEmbedding');
    const q = resolve(options);
    super(q);
    checkDims({ numEmbeddings, dims }, 'QuantizedEmbedding');
    const w = options.weight ?? mx.random.normal([numEmbeddings, dims], { scale: Math.sqrt(1 / dims) });
    if (w.shape.length !== 2 || w.shape[0] !== numEmbeddings || w.shape[1] !== dims) {
      throw new RangeError(`QuantizedEmbedding: weight must have shape [${numEmbeddings}, ${dims}], got [${w.shape}]`);
    }
    Object.assign(this, quantizeWeight(w, q));
    this.freeze();
  }

  static fromEmbedding(e: Embedding, options: QuantizationOptions = {}): QuantizedEmbedding {
    checkOptionKeys(options, ['groupSize', 'bits', 'mode'], 'QuantizedEmbedding.fromEmbedding');
    const [n, d] = e.weight.shape;
    return new QuantizedEmbedding(n, d, { ...options, weight: e.weight });
  }

  get dims(): number {
    return (this.weight.shape[1] * 32) / this.bits;
  }

  forward(x: mx.Array): mx.Array {
    const rows = (a: mx.Array) => mx.take(a, x, 0);
    return mx.dequantize(rows(this.weight), rows(this.scales), this.biases ? rows(this.biases) : null, this.q);
  }

  /** The table as a quantized output head (`x · dequantize(W)ᵀ`). */
  asLinear(x: mx.Array): mx.Array {
    return mx.quantizedMatmul(x, this.weight, this.scales, this.biases ?? null, { ...this.q, transpose: true });
  }

  toEmbedding(): Embedding {
    const e = new Embedding(this.weight.shape[0], this.dims);
    e.weight = this.dequantizedWeight();
    return e;
  }
}

/**
 * `(path, module) => boolean | options`: which layers to quantize (and with which settings).
 * `path` is the module's checkpoint path (`layers.0.self_attn.q_proj`), so a loader can pass
 * `(p) => weights.has(`${p}.scales`)` to follow a checkpoint.
 */
export type QuantizeFilter = (path: string, module: Module) => boolean | QuantizationOptions;

/** Replaces modules found by `fn(path, module)` (returning a replacement or undefined), in place. */
export function replaceModules(model: Module, fn: (path: string, m: Module) => Module | undefined): number {
  let n = 0;
  const visit = (container: object, path: string) => {
    const entries: [string | number, unknown][] =
      container instanceof Module
        ? container.treeEntries()
        : Array.isArray(container)
          ? [...container.entries()]
          : Object.entries(container);
    for (const [k, v] of entries) {
      const seg = typeof k === 'number' ? `${k}` : segmentOf(k);
      const p = path ? `${path}.${seg}` : seg;
      if (v instanceof Module) {
        const r = fn(p, v);
        if (r) {
          (container as Record<string | number, unknown>)[k] = r;
          n++;
        } else visit(v, p);
      } else if (v !== null && typeof v === 'object' && !(v instanceof mx.Array)) visit(v, p);
    }
  };
  visit(model, '');
  return n;
}

/**
 * Quantizes, in place, every `Linear` and `Embedding` whose last weight dimension is a multiple
 * of the group size and that `filter` selects (default: all). Returns the model.
 *
 * @example
 * quantize(model, { groupSize: 64, bits: 4 });
 */
export function quantize<M extends Module>(model: M, options: QuantizationOptions & { filter?: QuantizeFilter } = {}): M {
  checkOptionKeys(options, ['groupSize', 'bits', 'mode', 'filter'], 'quantize');
  const base = resolve(options);
  replaceModules(model, (path, m) => {
    if (!(m instanceof Linear) && !(m instanceof Embedding)) return undefined;
    const pick = options.filter ? options.filter(path, m) : true;
    if (pick === false) return undefined;
    const q = pick === true ? base : resolve({ ...base, ...pick });
    if (!options.filter && m.weight.shape[m.weight.ndim - 1] % q.groupSize !== 0) return undefined;
    return m instanceof Linear ? QuantizedLinear.fromLinear(m, q) : QuantizedEmbedding.fromEmbedding(m, q);
  });
  return model;
}

/** Replaces every quantized layer with its dequantized plain counterpart, in place. */
export function dequantize<M extends Module>(model: M): M {
  replaceModules(model, (_p, m) =>
    m instanceof QuantizedLinear ? m.toLinear() : m instanceof QuantizedEmbedding ? m.toEmbedding() : undefined,
  );
  return model;
}

/** A checkpoint's `quantization` entry of config.json (snake_case, as mlx-lm writes it). */
export interface CheckpointQuantization {
  group_size?: number;
  bits?: number;
  mode?: mx.QuantizationMode;
  /** Per-layer overrides by checkpoint path (`false` keeps a layer in floating point). */
  [path: string]: unknown;
}

/**
 * Quantizes `model` the way a quantized checkpoint was: a layer is quantized when the checkpoint
 * has `<path>.scales`, with the config's settings or its per-layer override. Call it before
 * `loadWeights` with the checkpoint's tensor names and `config.quantization`.
 *
 * @example
 * const { arrays } = await load(folder);
 * quantizeFromCheckpoint(model, Object.keys(arrays), config.quantization);
 * model.loadWeights(Object.entries(arrays));
 */
export function quantizeFromCheckpoint<M extends Module>(model: M, tensorNames: Iterable<string>, config: CheckpointQuantization): M {
  const names = new Set(tensorNames);
  const read = (c: Record<string, unknown>, where: string): QuantizationOptions => {
    const o: QuantizationOptions = {};
    if (c.group_size !== undefined) o.groupSize = c.group_size as number;
    if (c.bits !== undefined) o.bits = c.bits as number;
    if (c.mode !== undefined) o.mode = c.mode as mx.QuantizationMode;
    for (const [k, v] of Object.entries(o)) {
      if (k !== 'mode' && (!Number.isInteger(v) || (v as number) <= 0))
        throw new TypeError(`quantization config${where}: ${k} must be a positive integer, got ${v}`);
    }
    return o;
  };
  const base = read(config, '');
  return quantize(model, {
    ...base,
    filter: (path) => {
      const override = config[path];
      if (override === false) return false;
      if (override !== undefined && override !== null && typeof override === 'object')
        return { ...base, ...read(override as Record<string, unknown>, ` '${path}'`) };
      return names.has(`${path}.scales`);
    },
  });
}
