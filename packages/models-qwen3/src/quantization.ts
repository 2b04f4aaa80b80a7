/**
 * Quantizing a Qwen3 model: following a quantized checkpoint (before its weights load), or
 * quantizing float weights at load time as mlx-lm's `quantize_model` does (every layer whose
 * input size divides the group size; a MoE router at 8 bits, as mlx-lm's Qwen3-MoE predicate).
 */
import { type Module, type QuantizationOptions, quantize, quantizeFromCheckpoint, replaceModules } from '@mlxn/nn';
import { type Qwen3Quantization, quantizationToJson } from './config.js';
import { SwitchLinear } from './moe.js';

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

/** The per-layer settings mlx-lm's Qwen3-MoE uses when quantizing: the router at 8 bits. */
function routerOverride(path: string): QuantizationOptions | undefined {
  return path.endsWith('mlp.gate') ? { groupSize: 64, bits: 8, mode: 'affine' } : undefined;
}

/**
 * Quantizes float weights in place; returns the `quantization` entry for config.json. Layers
 * whose input size is not a multiple of the group size stay in floating point.
 */
export function quantizeModel(model: Module, options: { bits: number; groupSize: number; mode?: QuantizationOptions['mode'] }, moe: boolean): Qwen3Quantization {
  const mode = options.mode ?? 'affine';
  const base: Required<QuantizationOptions> = { groupSize: options.groupSize, bits: options.bits, mode };
  const layers: Qwen3Quantization['layers'] = {};
  const pick = (path: string, inputDims: number): QuantizationOptions | false => {
    const o = moe ? routerOverride(path) : undefined;
    const q = o ?? base;
    if (inputDims % (q.groupSize ?? base.groupSize) !== 0) return false;
    if (o) layers[path] = o;
    return q;
  };
  replaceModules(model, (path, m) => {
    if (!(m instanceof SwitchLinear)) return undefined;
    const q = pick(path, m.weight.shape[2]);
    return q === false ? undefined : m.toQuantized(q);
  });
  quantize(model, {
    ...base,
    filter: (path, m) => {
      const w = (m as unknown as { weight: { shape: number[] } }).weight;
      return pick(path, w.shape[w.shape.length - 1]);
    },
  });
  return { ...base, layers };
}
