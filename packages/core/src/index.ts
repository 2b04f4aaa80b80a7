/**
 * @mlxn/core — MLX arrays for Node.js.
 *
 * @packageDocumentation
 * @example
 * import * as mx from '@mlxn/core';
 * const x = mx.array([[1, 2], [3, 4]], { dtype: 'float32' });
 * const f = (w: mx.Array) => mx.sum(mx.square(mx.matmul(x, w)));
 * const [loss, grad] = mx.valueAndGrad(f)(mx.ones([2, 2]));
 * console.log(loss.item(), await grad.data());
 */

export type { AnyTypedArray, NestedList, ReadOptions, TypedArrayFor } from './array.js';
export { Array } from './array.js';
export { cpuMatmulThreads, setCpuMatmulThreads } from './cpu-matmul.js';
export {
  arange,
  array,
  eye,
  full,
  fullLike,
  identity,
  linspace,
  ones,
  onesLike,
  tri,
  zeros,
  zerosLike,
} from './create.js';
export type { Device, DeviceType, Stream } from './device.js';
export {
  cpu,
  defaultDevice,
  defaultStream,
  gpu,
  isAvailable,
  newStream,
  setDefaultDevice,
  synchronize,
  withStream,
} from './device.js';
export * as distributed from './distributed.js';
export type { Dtype } from './dtype.js';
export { DTYPES, isComplex, isFloating, isInexact, isInteger, isUnsigned, itemsize } from './dtype.js';
export { MlxError } from './errors.js';
export { asyncEval, evaluate, evaluate as eval } from './evaluate.js';
export type { MemoryInfo } from './memory.js';
export { clearCache, memory, resetPeakMemory, setCacheLimit, setMemoryLimit, setWiredLimit } from './memory.js';
export * from './ops/elementwise.js';
export * as fast from './ops/fast.js';
export * as fft from './ops/fft.js';
export type { ScatterMode } from './ops/indexing.js';
export {
  gather,
  IndexError,
  index,
  put,
  putAlongAxis,
  scatter,
  scatterAdd,
  sl,
  sliceUpdate,
  take,
  takeAlongAxis,
} from './ops/indexing.js';
export * as linalg from './ops/linalg.js';
export { addmm, einsum, inner, kron, linear, matmul, outer, tensordot } from './ops/matmul.js';
export type { GatherOptions, QuantizationMode, QuantizeOptions } from './ops/quantized.js';
export { dequantize, gatherMm, gatherQmm, quantize, quantizedMatmul } from './ops/quantized.js';
export * as random from './ops/random.js';
export type { ScanOptions } from './ops/reduce.js';
export {
  all,
  any,
  argmax,
  argmin,
  argpartition,
  argsort,
  cummax,
  cummin,
  cumprod,
  cumsum,
  logcumsumexp,
  logSoftmax,
  logsumexp,
  max,
  mean,
  median,
  min,
  partition,
  prod,
  softmax,
  sort,
  std,
  sum,
  topk,
  variance,
  variance as var,
} from './ops/reduce.js';
export * from './ops/shape.js';
export { dispose, keep, tidy } from './scope.js';
export type { CompileOptions } from './transforms.js';
export { compile, grad, jvp, setCompileEnabled, valueAndGrad, vjp, vmap } from './transforms.js';
export { treeFlatten, treeFlattenWithPaths, treeMap, treeUnflatten } from './tree.js';
export type { ArrayLike, AxisOptions, DtypeOptions, IndexSpec, Scalar, Slice } from './types.js';

import { native, VERSION } from './native.js';
/** This package's version (equal to the native binary's). */
export const version = VERSION;
/** The MLX version the native binary was built against. */
export const mlxVersion: string = native.bindingMlxVersion();
