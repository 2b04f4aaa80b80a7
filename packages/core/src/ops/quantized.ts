/** Quantization and quantized/gathered matrix products (MLX's kernels). */
import { type Array, wrap, wrapAll } from '../array.js';
import { type Dtype, dtypeCode, int32 } from '../dtype.js';
import { native } from '../native.js';
import { tidy } from '../scope.js';
import { batchSize, checkIndexBounds } from './indexing.js';
import { matmul } from './matmul.js';
import { swapaxes } from './shape.js';

export type QuantizationMode = 'affine' | 'mxfp4' | 'mxfp8' | 'nvfp4';

export interface QuantizeOptions {
  /** Elements sharing one scale (MLX's default for the mode when omitted; 64 for affine). */
  groupSize?: number;
  /** Bits per element (MLX's default for the mode when omitted; 4 for affine). */
  bits?: number;
  mode?: QuantizationMode;
}

// 0 means "MLX's default for the mode" on the native side; a given value must be a positive
// integer (NaN or 3.5 would otherwise cross the FFI as 0 or 3 and silently mean something else).
function positive(v: number | undefined, what: string): number {
  if (v === undefined) return 0;
  if (int32(v, what) <= 0) throw new TypeError(`${what} must be a positive integer, got ${v}`);
  return v;
}
function checkQuant(o: QuantizeOptions): void {
  positive(o.groupSize, 'groupSize');
  positive(o.bits, 'bits');
}

/** Quantizes along the last axis: `[wq, scales, biases]` (affine) or `[wq, scales]`. */
export function quantize(w: Array, options: QuantizeOptions = {}): Array[] {
  checkQuant(options);
  return wrapAll(native.quantize(w.handle, options.groupSize ?? 0, options.bits ?? 0, options.mode ?? 'affine'));
}

export function dequantize(wq: Array, scales: Array, biases: Array | null, options: QuantizeOptions & { dtype?: Dtype } = {}): Array {
  checkQuant(options);
  return wrap(
    native.dequantize(
      wq.handle,
      scales.handle,
      biases?.handle,
      options.groupSize ?? 0,
      options.bits ?? 0,
      options.mode ?? 'affine',
      options.dtype === undefined ? undefined : dtypeCode(options.dtype),
    ),
  );
}

/**
 * Whether MLX's quantized product would give a wrong result (or none) on the device that runs
 * it, so that `quantizedMatmul` and `gatherQmm` dequantize the weights and multiply instead.
 * MLX 0.32.4's CUDA kernels, measured with Python MLX on an H200 against the CPU
 * (`tooling/gpu-suite/mlx-gpu-probes.py`, docs/gpu.md): weights with batch dimensions (a
 * quantized KV cache's attention) fail with "No implementation for problem shape" or give wrong
 * values at every head size tried (32, 64, 128; float32, float16 and bfloat16 activations), and
 * affine weights whose rows hold a single group (4-bit, 64 inputs, group size 64) give wrong
 * values; 2-D weights of 128 inputs or more were right, and `dequantize` is exact everywhere.
 * Only affine quantization was measured; other modes keep MLX's kernels.
 */
export function quantizedProductNeedsDequantize(w: Array, options: QuantizeOptions & { gather?: boolean } = {}): boolean {
  if ((options.mode ?? 'affine') !== 'affine') return false;
  // An affine weight packs 32 / bits values per uint32 along its rows.
  const rowLength = (w.shape[w.ndim - 1] * 32) / (options.bits || 4);
  const affected = (!options.gather && w.ndim > 2) || rowLength <= (options.groupSize || 64);
  // The device is asked last: a quantized layer's usual shapes need no native call here.
  return affected && native.defaultDeviceType() === 1;
}

/**
 * `x @ dequantize(w).T` (or without the transpose) without materialising the weights. On a CPU
 * under Linux, the transposed product with affine 2-, 4- or 8-bit weights runs in @mlxn's own
 * multithreaded kernel: the weights dequantized to float32 panel by panel, float32 sums rounded
 * once to `x`'s dtype (MLX's CPU loop sums in `x`'s dtype on one thread); its gradients are MLX's.
 */
export function quantizedMatmul(
  x: Array,
  w: Array,
  scales: Array,
  biases: Array | null,
  options: QuantizeOptions & { transpose?: boolean } = {},
): Array {
  checkQuant(options);
  const transpose = options.transpose ?? true;
  if (quantizedProductNeedsDequantize(w, options)) {
    return tidy(() => {
      const dense = dequantize(w, scales, biases, options);
      return matmul(x, transpose ? swapaxes(dense, -1, -2) : dense);
    });
  }
  return wrap(
    native.quantizedMatmul(
      x.handle,
      w.handle,
      scales.handle,
      biases?.handle,
      transpose,
      options.groupSize ?? 0,
      options.bits ?? 0,
      options.mode ?? 'affine',
    ),
  );
}

export interface GatherOptions {
  lhsIndices?: Array;
  rhsIndices?: Array;
  sortedIndices?: boolean;
}

/** Matrix products where each batch picks its operands by index (mixture-of-experts). */
export function gatherMm(a: Array, b: Array, options: GatherOptions = {}): Array {
  // MLX does not bounds-check these indices (see checkIndexBounds).
  if (options.lhsIndices) checkIndexBounds(options.lhsIndices, batchSize(a.shape), 'gatherMm: lhsIndices');
  if (options.rhsIndices) checkIndexBounds(options.rhsIndices, batchSize(b.shape), 'gatherMm: rhsIndices');
  return wrap(native.gatherMm(a.handle, b.handle, options.lhsIndices?.handle, options.rhsIndices?.handle, options.sortedIndices ?? false));
}

export function gatherQmm(
  x: Array,
  w: Array,
  scales: Array,
  biases: Array | null,
  options: GatherOptions & QuantizeOptions & { transpose?: boolean } = {},
): Array {
  checkQuant(options);
  if (options.lhsIndices) checkIndexBounds(options.lhsIndices, batchSize(x.shape), 'gatherQmm: lhsIndices');
  if (options.rhsIndices) checkIndexBounds(options.rhsIndices, batchSize(w.shape), 'gatherQmm: rhsIndices');
  if (quantizedProductNeedsDequantize(w, { ...options, gather: true })) {
    return tidy(() => {
      const dense = dequantize(w, scales, biases, options);
      const { lhsIndices, rhsIndices, sortedIndices } = options;
      return gatherMm(x, (options.transpose ?? true) ? swapaxes(dense, -1, -2) : dense, { lhsIndices, rhsIndices, sortedIndices });
    });
  }
  return wrap(
    native.gatherQmm(
      x.handle,
      w.handle,
      scales.handle,
      biases?.handle,
      options.lhsIndices?.handle,
      options.rhsIndices?.handle,
      options.transpose ?? true,
      options.groupSize ?? 0,
      options.bits ?? 0,
      options.mode ?? 'affine',
      options.sortedIndices ?? false,
    ),
  );
}
