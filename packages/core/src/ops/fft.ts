/** `mx.fft`: discrete Fourier transforms (complex64 results; `irfft` returns float32). */
import { type Array, wrap } from '../array.js';
import { asArray } from '../create.js';
import { native } from '../native.js';
import type { ArrayLike } from '../types.js';
import { code, FFT } from './codes.js';

const one =
  (name: (typeof FFT)[number]) =>
  (a: ArrayLike, n?: number, axis = -1): Array =>
    wrap(native.fft(code(FFT, name), asArray(a).handle, n === undefined ? undefined : [n], [axis]));
const many =
  (name: (typeof FFT)[number]) =>
  (a: ArrayLike, s?: number[], axes?: number[]): Array =>
    wrap(native.fft(code(FFT, name), asArray(a).handle, s, axes));

export const fft = one('Fftn');
export const ifft = one('Ifftn');
export const rfft = one('Rfftn');
export const irfft = one('Irfftn');
export const fftn = many('Fftn');
export const ifftn = many('Ifftn');
export const rfftn = many('Rfftn');
export const irfftn = many('Irfftn');
export const fft2 = (a: ArrayLike, s?: number[], axes: number[] = [-2, -1]) => fftn(a, s, axes);
export const ifft2 = (a: ArrayLike, s?: number[], axes: number[] = [-2, -1]) => ifftn(a, s, axes);
export const rfft2 = (a: ArrayLike, s?: number[], axes: number[] = [-2, -1]) => rfftn(a, s, axes);
export const irfft2 = (a: ArrayLike, s?: number[], axes: number[] = [-2, -1]) => irfftn(a, s, axes);
