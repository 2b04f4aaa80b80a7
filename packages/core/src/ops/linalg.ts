/**
 * `mx.linalg`. As in MLX, most factorizations run on the CPU stream only; on a GPU default
 * device, wrap the call in `withStream(cpu, ...)` (MLX's error says so too).
 */
import { type Array, wrap, wrapAll } from '../array.js';
import { asArray } from '../create.js';
import { native } from '../native.js';
import type { ArrayLike } from '../types.js';
import { code, LINALG } from './codes.js';

/** Vector or matrix norm. `ord`: a number, `'fro'`, `'nuc'`, or omitted (2-norm / Frobenius). */
export function norm(a: ArrayLike, ord?: number | 'fro' | 'nuc' | null, axis?: number | number[], keepdims = false): Array {
  const axes = axis === undefined ? undefined : typeof axis === 'number' ? [axis] : axis;
  const h = asArray(a).handle;
  if (ord === undefined || ord === null) return wrap(native.linalgNorm(h, 0, 0, '', axes, keepdims));
  if (typeof ord === 'number') return wrap(native.linalgNorm(h, 1, ord, '', axes, keepdims));
  return wrap(native.linalgNorm(h, 2, 0, ord, axes, keepdims));
}
export function inv(a: ArrayLike): Array {
  return wrap(native.linalgUnary(code(LINALG, 'Inv'), asArray(a).handle));
}
export function pinv(a: ArrayLike): Array {
  return wrap(native.linalgUnary(code(LINALG, 'Pinv'), asArray(a).handle));
}
export function cholesky(a: ArrayLike, upper = false): Array {
  return wrap(native.linalgUnary(code(LINALG, upper ? 'CholeskyUpper' : 'Cholesky'), asArray(a).handle));
}
export function det(a: ArrayLike): Array {
  return wrap(native.linalgUnary(code(LINALG, 'Det'), asArray(a).handle));
}
export function triInv(a: ArrayLike, upper = false): Array {
  return wrap(native.linalgUnary(code(LINALG, upper ? 'TriInvUpper' : 'TriInvLower'), asArray(a).handle));
}
/** `[Q, R]` with `a = Q @ R`. */
export function qr(a: ArrayLike): [Array, Array] {
  const [q, r] = wrapAll(native.linalgQr(asArray(a).handle));
  return [q, r];
}
/** `[U, S, Vt]` (or `[S]` when `computeUv` is false). */
export function svd(a: ArrayLike, computeUv = true): Array[] {
  return wrapAll(native.linalgSvd(asArray(a).handle, computeUv));
}
/** Eigenvalues and eigenvectors of a symmetric matrix: `[w, v]`. */
export function eigh(a: ArrayLike, uplo: 'L' | 'U' = 'L'): [Array, Array] {
  const [w, v] = wrapAll(native.linalgEigh(asArray(a).handle, uplo));
  return [w, v];
}
export function solve(a: ArrayLike, b: ArrayLike): Array {
  return wrap(native.linalgSolve(asArray(a).handle, asArray(b).handle));
}
