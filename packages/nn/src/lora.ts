/**
 * LoRA adapters over plain or quantized linears, following mlx-lm's LoRALinear semantics:
 * `y = linear(x) + scale · (dropout(x) · loraA) · loraB`, with `loraA` uniform in `±1/√in`
 * and `loraB` zero, so a fresh adapter leaves the output unchanged.
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { loadSync, saveSync } from '@mlxn/io';
import { checkWeights } from './keys.js';
import { Dropout } from './layers/dropout.js';
import { Linear } from './layers/linear.js';
import { Module } from './module.js';
import { QuantizedLinear, replaceModules } from './quantized.js';

export interface LoRAOptions {
  /** Rank of the update (default 8). */
  rank?: number;
  /** Multiplies the update (default 20, as mlx-lm). */
  scale?: number;
  /** Dropout on the adapter's input (default 0). */
  dropout?: number;
  /**
   * The random key `loraA` is drawn from (`mx.random.key(seed)`), so the adapters are the same
   * in every process. Default: MLX's global generator, as mlx-lm (seeded from the clock unless
   * `mx.random.seed` was called). `linearToLoRALayers` splits it into one key per adapter.
   */
  key?: mx.Array;
}

export class LoRALinear extends Module {
  linear: Linear | QuantizedLinear;
  dropout: Dropout;
  loraA: mx.Array;
  loraB: mx.Array;
  readonly scale: number;

  constructor(inputDims: number, outputDims: number, options: LoRAOptions & { bias?: boolean } = {}) {
    super();
    checkOptionKeys(options, ['rank', 'scale', 'dropout', 'key', 'bias'], 'LoRALinear');
    const rank = options.rank ?? 8;
    if (!Number.isInteger(rank) || rank <= 0) throw new RangeError(`LoRALinear: rank must be a positive integer, got ${rank}`);
    this.linear = new Linear(inputDims, outputDims, { bias: options.bias ?? false });
    this.dropout = new Dropout(options.dropout ?? 0);
    this.scale = options.scale ?? 20;
    const s = 1 / Math.sqrt(inputDims);
    this.loraA = mx.random.uniform(-s, s, [inputDims, rank], options.key === undefined ? {} : { key: options.key });
    this.loraB = mx.zeros([rank, outputDims]);
  }

  /** An adapter around an existing (plain or quantized) linear, which it keeps as `linear`. */
  static fromBase(linear: Linear | QuantizedLinear, options: LoRAOptions = {}): LoRALinear {
    checkOptionKeys(options, ['rank', 'scale', 'dropout', 'key'], 'LoRALinear.fromBase');
    const lora = new LoRALinear(linear.inputDims, linear.outputDims, options);
    lora.linear = linear;
    return lora;
  }

  forward(x: mx.Array): mx.Array {
    const y = this.linear.forward(x);
    const z = mx.matmul(mx.matmul(this.dropout.forward(x), this.loraA), this.loraB);
    return mx.add(y, mx.astype(mx.multiply(z, this.scale), x.dtype));
  }

  /** The base with the update merged into its weight (re-quantized unless `dequantize`). */
  fuse(options: { dequantize?: boolean } = {}): Linear | QuantizedLinear {
    checkOptionKeys(options, ['dequantize'], 'LoRALinear.fuse');
    const base = this.linear;
    const quantized = base instanceof QuantizedLinear;
    const weight = quantized ? base.dequantizedWeight() : base.weight;
    const dtype = quantized ? base.scales.dtype : weight.dtype;
    const delta = mx.matmul(mx.astype(mx.multiply(this.loraB.T, this.scale), dtype), mx.astype(this.loraA.T, dtype));
    const fused = new Linear(base.inputDims, base.outputDims, { bias: false });
    fused.weight = mx.add(weight, delta);
    if (base.bias) fused.bias = base.bias;
    if (quantized && !options.dequantize) {
      return QuantizedLinear.fromLinear(fused, { groupSize: base.groupSize, bits: base.bits, mode: base.mode });
    }
    return fused;
  }
}

/** Which linears get adapters: checkpoint-path suffixes (`'self_attn.q_proj'`), a RegExp, or a predicate. */
export type LoRATargets = string[] | RegExp | ((path: string, module: Module) => boolean);

function matches(targets: LoRATargets, path: string, m: Module): boolean {
  if (typeof targets === 'function') return targets(path, m);
  if (targets instanceof RegExp) return targets.test(path);
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

/**
 * Freezes `model` and replaces the linears chosen by `targets` (default: every linear) with
 * `LoRALinear` adapters, whose `loraA`/`loraB` are then the only trainable parameters.
 * Returns the checkpoint paths that got adapters.
 *
 * @example
 * linearToLoRALayers(model, { targets: ['self_attn.q_proj', 'self_attn.v_proj'], rank: 8 });
 */
export function linearToLoRALayers(model: Module, options: LoRAOptions & { targets?: LoRATargets } = {}): string[] {
  checkOptionKeys(options, ['rank', 'scale', 'dropout', 'key', 'targets'], 'linearToLoRALayers');
  if (options.key !== undefined && !(options.key instanceof mx.Array))
    throw new TypeError('linearToLoRALayers: key must be an mx.Array (mx.random.key(seed))');
  model.freeze();
  const { targets = () => true, ...loraOptions } = options;
  const paths: string[] = [];
  // One key per adapter, in tree order: each split gives the next running key and this layer's.
  let running = options.key;
  replaceModules(model, (path, m) => {
    if (!(m instanceof Linear || m instanceof QuantizedLinear) || !matches(targets, path, m)) return undefined;
    paths.push(path);
    if (running === undefined) return LoRALinear.fromBase(m, loraOptions);
    const current = running;
    const [next, own] = mx.tidy(() => {
      const pair = mx.random.split(current, 2);
      return [mx.index(pair, 0), mx.index(pair, 1)];
    });
    if (running !== options.key) running.dispose();
    running = next;
    const lora = LoRALinear.fromBase(m, { ...loraOptions, key: own });
    own.dispose(); // loraA's graph holds what it needs
    return lora;
  });
  if (running !== undefined && running !== options.key) running.dispose();
  if (paths.length === 0) throw new Error('linearToLoRALayers: no linear layer matched the targets');
  return paths;
}

/** Replaces every `LoRALinear` with its fused base (see `LoRALinear.fuse`), in place. */
export function fuseLoRA<M extends Module>(model: M, options: { dequantize?: boolean } = {}): M {
  checkOptionKeys(options, ['dequantize'], 'fuseLoRA');
  replaceModules(model, (_p, m) => (m instanceof LoRALinear ? m.fuse(options) : undefined));
  return model;
}

/** The adapter parameters (`…lora_a`, `…lora_b`) by checkpoint key. */
export function adapterParameters(model: Module): [string, mx.Array][] {
  return model.namedParameters().filter(([k]) => /(^|\.)lora_[ab]$/.test(k));
}

/** Saves only the adapter parameters (a small safetensors file) through @mlxn/io. The file's
 * metadata records where the adapters sit (`lora_layers`: `[path, rank, scale, dropout]` JSON),
 * so `loadAdapters` can attach them to a model that has none yet. */
export async function saveAdapters(model: Module, path: string, options: { metadata?: Record<string, string> } = {}): Promise<string[]> {
  checkOptionKeys(options, ['metadata'], 'saveAdapters');
  const params = adapterParameters(model);
  if (params.length === 0) throw new Error('saveAdapters: the model has no LoRA adapters');
  const layers = model
    .namedModules()
    .filter(([, m]) => m instanceof LoRALinear)
    .map(([p, m]) => {
      const l = m as LoRALinear;
      return [p, l.loraA.shape[1], l.scale, l.dropout.p];
    });
  return saveSync(path, Object.fromEntries(params), { metadata: { ...options.metadata, lora_layers: JSON.stringify(layers) } });
}

/**
 * Loads an adapter file. A model that already has adapters must have them in the same places
 * with the same ranks; a model with none gets them attached (frozen base) where the file's
 * metadata says. Every adapter must be in the file, nothing else may be, and shapes must match.
 */
export function loadAdapters<M extends Module>(model: M, path: string): M {
  const { arrays: file, metadata } = loadSync(path);
  if (adapterParameters(model).length === 0 && metadata.lora_layers !== undefined) {
    let layers: [string, number, number, number][];
    try {
      layers = JSON.parse(metadata.lora_layers);
      if (!Array.isArray(layers)) throw new Error('not a list');
    } catch (e) {
      throw new Error(`${path}: invalid lora_layers metadata (${(e as Error).message})`);
    }
    const byPath = new Map(layers.map(([p, rank, scale, dropout]) => [p, { rank, scale, dropout }]));
    model.freeze();
    const found = new Set<string>();
    replaceModules(model, (p, m) => {
      const o = byPath.get(p);
      if (!o || !(m instanceof Linear || m instanceof QuantizedLinear)) return undefined;
      found.add(p);
      return LoRALinear.fromBase(m, o);
    });
    const absent = [...byPath.keys()].filter((p) => !found.has(p));
    if (absent.length > 0) throw new Error(`${path}: the model has no linear layer at ${absent.map((p) => `'${p}'`).join(', ')}`);
  }
  const expected = adapterParameters(model);
  const report = checkWeights(
    expected.map(([name, a]) => ({ name, shape: a.shape })),
    Object.entries(file).map(([name, a]) => ({ name, shape: a.shape })),
    true,
  );
  if (!report.ok) throw new Error(`${path}: ${report.message}`);
  return model.assignCheckedWeights(Object.entries(file));
}
