/**
 * Quantizing a Qwen3 model: following a quantized checkpoint (before its weights load), or
 * quantizing float weights at load time as mlx-lm's `quantize_model` does (every layer whose
 * input size divides the group size; a MoE router at 8 bits, as mlx-lm's Qwen3-MoE predicate).
 *
 * The `quantization` entry it returns for config.json states what is on disk: the settings, the
 * router's override, and `false` for each layer left in floating point (mlx-lm reads a layer's
 * entry before looking for `<path>.scales`, so both loaders agree on every layer).
 */
import {
  Embedding,
  Linear,
  type Module,
  type QuantizationOptions,
  QuantizedEmbedding,
  QuantizedLinear,
  quantize,
  quantizeFromCheckpoint,
  replaceModules,
  resolveQuantization,
} from '@mlxn/nn';
import { type Qwen3Quantization, quantizationToJson } from './config.js';
import { QuantizedSwitchLinear, SwitchLinear } from './moe.js';

/** Makes `model` the shape of a checkpoint quantized as `q` (layers with `<path>.scales` in `names`). */
export function quantizeLikeCheckpoint(model: Module, names: Iterable<string>, q: Qwen3Quantization): void {
  const set = new Set(names);
  quantizeFromCheckpoint(model, set, quantizationToJson(q));
  const base: QuantizationOptions = { groupSize: q.groupSize, bits: q.bits, mode: q.mode };
  replaceModules(model, (path, m) => {
    if (!(m instanceof SwitchLinear)) return undefined;
    const override = q.layers[path];
    if (override === false) return undefined;
    // Stacked (`switch_mlp.*`) or still per expert (`experts.0.*`) in the checkpoint.
    const perExpert = path.replace('.switch_mlp.', '.experts.0.');
    if (!set.has(`${path}.scales`) && !set.has(`${perExpert}.scales`) && override === undefined) return undefined;
    return m.toQuantized(override ? { ...base, ...override } : base);
  });
}

/** The group sizes MLX takes in each mode (mlx.core.quantize's table). */
const GROUP_SIZES: Record<string, string> = { affine: '32, 64 or 128', mxfp4: '32', mxfp8: '32', nvfp4: '16' };

/** The per-layer settings mlx-lm's Qwen3-MoE uses when quantizing: the router at 8 bits. */
function routerOverride(path: string): QuantizationOptions | undefined {
  return path.endsWith('mlp.gate') ? { groupSize: 64, bits: 8, mode: 'affine' } : undefined;
}

/** What a model's quantizable layers are: quantized ones by path, float ones with their input width. */
export interface QuantizationReport {
  quantized: string[];
  float: { path: string; inputDims: number }[];
}

/** Which of `model`'s linear, embedding and expert layers are quantized and which are not. */
export function quantizationReport(model: Module): QuantizationReport {
  const report: QuantizationReport = { quantized: [], float: [] };
  replaceModules(model, (path, m) => {
    if (m instanceof QuantizedLinear || m instanceof QuantizedEmbedding || m instanceof QuantizedSwitchLinear) report.quantized.push(path);
    else if (m instanceof Linear || m instanceof Embedding || m instanceof SwitchLinear) {
      const shape = m.weight.shape;
      report.float.push({ path, inputDims: shape[shape.length - 1] });
    }
    return undefined;
  });
  return report;
}

/** Options of `quantizeModel`: the mode's default group size and bits where not given. */
export interface QuantizeModelOptions {
  bits?: number;
  groupSize?: number;
  mode?: QuantizationOptions['mode'];
}

/**
 * Quantizes float weights in place; returns the `quantization` entry for config.json. Layers
 * whose input size is not a multiple of the group size stay in floating point (and are listed
 * as `false`); a model none of whose layers can be quantized is an error, naming the widths.
 */
export function quantizeModel(model: Module, options: QuantizeModelOptions, moe: boolean): Qwen3Quantization {
  const base = resolveQuantization(options);
  const layers: Qwen3Quantization['layers'] = {};
  const skipped: { path: string; inputDims: number; groupSize: number }[] = [];
  let quantized = 0;
  const pick = (path: string, inputDims: number): QuantizationOptions | false => {
    const o = moe ? routerOverride(path) : undefined;
    const q = o ?? base;
    const groupSize = q.groupSize ?? base.groupSize;
    if (inputDims % groupSize !== 0) {
      skipped.push({ path, inputDims, groupSize });
      return false;
    }
    quantized++;
    if (o) layers[path] = o;
    return q;
  };
  // Decide every layer before changing any, so a model that cannot be quantized is left as it was.
  const plan = new Map<string, QuantizationOptions | false>();
  replaceModules(model, (path, m) => {
    if (m instanceof SwitchLinear) plan.set(path, pick(path, m.weight.shape[2]));
    else if (m instanceof Linear || m instanceof Embedding) plan.set(path, pick(path, m.weight.shape[m.weight.ndim - 1]));
    return undefined;
  });
  if (quantized === 0) {
    const widths = [...new Set(skipped.map((s) => s.inputDims))].sort((a, b) => a - b);
    throw new RangeError(
      `cannot quantize with group size ${base.groupSize}: no layer's input width (${widths.join(', ')}) is a multiple of it ` +
        `(${base.mode} takes group sizes of ${GROUP_SIZES[base.mode]})`,
    );
  }
  for (const s of skipped) layers[s.path] = false;
  replaceModules(model, (path, m) => {
    if (!(m instanceof SwitchLinear)) return undefined;
    const q = plan.get(path);
    return q ? m.toQuantized(q) : undefined;
  });
  quantize(model, { ...base, filter: (path) => plan.get(path) ?? false });
  return { ...base, layers };
}
