/** Matrix products and contractions. */
import { type Array, wrap } from '../array.js';
import { asArray } from '../create.js';
import { native } from '../native.js';
import type { ArrayLike } from '../types.js';
import { BINARY, code } from './codes.js';

const MATMUL = code(BINARY, 'Matmul');

/** Matrix product with numpy's batching and 1-D promotion rules. */
export function matmul(a: ArrayLike, b: ArrayLike): Array {
  return wrap(native.binary(MATMUL, asArray(a).handle, asArray(b).handle));
}
export function inner(a: ArrayLike, b: ArrayLike): Array {
  return wrap(native.binary(code(BINARY, 'Inner'), asArray(a).handle, asArray(b).handle));
}
export function outer(a: ArrayLike, b: ArrayLike): Array {
  return wrap(native.binary(code(BINARY, 'Outer'), asArray(a).handle, asArray(b).handle));
}
export function kron(a: ArrayLike, b: ArrayLike): Array {
  return wrap(native.binary(code(BINARY, 'Kron'), asArray(a).handle, asArray(b).handle));
}
/** `beta * c + alpha * (a @ b)` in one op. */
export function addmm(c: ArrayLike, a: ArrayLike, b: ArrayLike, options: { alpha?: number; beta?: number } = {}): Array {
  return wrap(native.addmm(asArray(c).handle, asArray(a).handle, asArray(b).handle, options.alpha ?? 1, options.beta ?? 1));
}
/**
 * `x · weightᵀ + bias`, the product of a linear layer, with `weight` `[outputs, inputs]` and
 * an optional `bias` `[outputs]`. On a CPU under Linux, bfloat16 and float16 products (both
 * operands of the same dtype) run in @mlxn's own multithreaded kernel rather than MLX's
 * single-threaded one: float32 sums rounded once, as MLX's are, so results agree with
 * `matmul(x, weight.T)` to one unit in the last place and do not depend on the thread count;
 * gradients go through the same kernel. Elsewhere on the CPU, a large product that MLX computes
 * on one thread (quantized; float and half products where this library does not replace the
 * platform's BLAS) is split by output columns over `cpuMatmulThreads()` threads, bit-identical
 * to `matmul(x, weight.T)` (the gradient with respect to `x` may differ from it in the last bits:
 * it sums the blocks' partial products). Otherwise, and on a GPU, it is `matmul` (or `addmm`).
 *
 * @example
 * const y = mx.linear(x, w, b); // [batch, outputs]
 */
export function linear(x: ArrayLike, weight: ArrayLike, bias?: ArrayLike): Array {
  return wrap(
    native.linearProduct(asArray(x).handle, asArray(weight).handle, bias === undefined ? undefined : asArray(bias).handle, false),
  );
}
/** Contracts the last `axes` dims of `a` with the first of `b`, or the given axis lists. */
export function tensordot(a: ArrayLike, b: ArrayLike, axes: number | [number[], number[]] = 2): Array {
  if (typeof axes === 'number') return wrap(native.tensordotN(asArray(a).handle, asArray(b).handle, axes));
  return wrap(native.tensordot(asArray(a).handle, asArray(b).handle, axes[0], axes[1]));
}
/** Einstein summation, e.g. `einsum('ij,jk->ik', a, b)`. */
export function einsum(subscripts: string, ...operands: ArrayLike[]): Array {
  if (typeof subscripts !== 'string') throw new TypeError('einsum: the first argument must be the subscripts string');
  return wrap(
    native.einsum(
      subscripts,
      operands.map((o) => asArray(o).handle),
    ),
  );
}
