/** Quantization and quantized/gathered matrix products (MLX's kernels). */
import { type Array, wrap, wrapAll } from '../array.js';
import { type Dtype, dtypeCode } from '../dtype.js';
import { native } from '../native.js';

export type QuantizationMode = 'affine' | 'mxfp4' | 'mxfp8' | 'nvfp4';

export interface QuantizeOptions {
  /** Elements sharing one scale (MLX's default for the mode when omitted; 64 for affine). */
  groupSize?: number;
  /** Bits per element (MLX's default for the mode when omitted; 4 for affine). */
  bits?: number;
  mode?: QuantizationMode;
}

/** Quantizes along the last axis: `[wq, scales, biases]` (affine) or `[wq, scales]`. */
export function quantize(w: Array, options: QuantizeOptions = {}): Array[] {
  return wrapAll(native.quantize(w.handle, options.groupSize ?? 0, options.bits ?? 0, options.mode ?? 'affine'));
}

export function dequantize(wq: Array, scales: Array, biases: Array | null, options: QuantizeOptions & { dtype?: Dtype } = {}): Array {
  return wrap(native.dequantize(wq.handle, scales.handle, biases?.handle, options.groupSize ?? 0, options.bits ?? 0, options.mode ?? 'affine', options.dtype === undefined ? undefined : dtypeCode(options.dtype)));
}

/** `x @ dequantize(w).T` (or without the transpose) without materialising the weights. */
export function quantizedMatmul(x: Array, w: Array, scales: Array, biases: Array | null, options: QuantizeOptions & { transpose?: boolean } = {}): Array {
  return wrap(native.quantizedMatmul(x.handle, w.handle, scales.handle, biases?.handle, options.transpose ?? true, options.groupSize ?? 0, options.bits ?? 0, options.mode ?? 'affine'));
}

export interface GatherOptions {
  lhsIndices?: Array;
  rhsIndices?: Array;
  sortedIndices?: boolean;
}

/** Matrix products where each batch picks its operands by index (mixture-of-experts). */
export function gatherMm(a: Array, b: Array, options: GatherOptions = {}): Array {
  return wrap(native.gatherMm(a.handle, b.handle, options.lhsIndices?.handle, options.rhsIndices?.handle, options.sortedIndices ?? false));
}

export function gatherQmm(x: Array, w: Array, scales: Array, biases: Array | null, options: GatherOptions & QuantizeOptions & { transpose?: boolean } = {}): Array {
  return wrap(native.gatherQmm(x.handle, w.handle, scales.handle, biases?.handle, options.lhsIndices?.handle, options.rhsIndices?.handle, options.transpose ?? true, options.groupSize ?? 0, options.bits ?? 0, options.mode ?? 'affine', options.sortedIndices ?? false));
}
