/**
 * Initialisers, following mlx.nn.init: each returns a function from an array (for its shape
 * and dtype) to a freshly initialised array of the same shape and dtype.
 */
import * as mx from '@mlxn/core';

export type Initializer = (a: mx.Array) => mx.Array;
type Opts = { dtype?: mx.Dtype };

/** Fan-in / fan-out of a weight (`[out, ..., in]`), as MLX computes them. */
export function fanInFanOut(a: mx.Array): [number, number] {
  if (a.ndim < 2) throw new RangeError(`initialiser needs at least 2 dimensions to compute fan-in and fan-out, got shape [${a.shape}]`);
  const receptive = a.shape.slice(1, -1).reduce((p, d) => p * d, 1);
  return [a.shape[a.ndim - 1] * receptive, a.shape[0] * receptive];
}

export const constant =
  (value: number, o: Opts = {}): Initializer =>
  (a) =>
    mx.full(a.shape, value, o.dtype ?? a.dtype);

export const normal =
  (mean = 0, std = 1, o: Opts = {}): Initializer =>
  (a) =>
    mx.random.normal(a.shape, { dtype: o.dtype ?? a.dtype, loc: mean, scale: std });

export const uniform =
  (low = 0, high = 1, o: Opts = {}): Initializer =>
  (a) =>
    mx.random.uniform(low, high, a.shape, { dtype: o.dtype ?? a.dtype });

export const identity =
  (o: Opts = {}): Initializer =>
  (a) => {
    if (a.ndim !== 2 || a.shape[0] !== a.shape[1])
      throw new RangeError(`identity initialiser needs a square matrix, got shape [${a.shape}]`);
    return mx.eye(a.shape[0], undefined, undefined, o.dtype ?? a.dtype);
  };

/** Glorot/Xavier normal: std `gain · √(2 / (fanIn + fanOut))`. */
export const glorotNormal =
  (o: Opts = {}): ((a: mx.Array, gain?: number) => mx.Array) =>
  (a, gain = 1) => {
    const [fi, fo] = fanInFanOut(a);
    return mx.random.normal(a.shape, { dtype: o.dtype ?? a.dtype, scale: gain * Math.sqrt(2 / (fi + fo)) });
  };

/** Glorot/Xavier uniform: limit `gain · √(6 / (fanIn + fanOut))`. */
export const glorotUniform =
  (o: Opts = {}): ((a: mx.Array, gain?: number) => mx.Array) =>
  (a, gain = 1) => {
    const [fi, fo] = fanInFanOut(a);
    const limit = gain * Math.sqrt(6 / (fi + fo));
    return mx.random.uniform(-limit, limit, a.shape, { dtype: o.dtype ?? a.dtype });
  };

type FanMode = 'fan_in' | 'fan_out';
function fan(a: mx.Array, mode: FanMode): number {
  const [fi, fo] = fanInFanOut(a);
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new TypeError(`mode must be 'fan_in' or 'fan_out', got '${mode}'`);
  return mode === 'fan_in' ? fi : fo;
}

/** He/Kaiming normal: std `gain / √fan`. */
export const heNormal =
  (o: Opts = {}): ((a: mx.Array, mode?: FanMode, gain?: number) => mx.Array) =>
  (a, mode = 'fan_in', gain = 1) =>
    mx.random.normal(a.shape, { dtype: o.dtype ?? a.dtype, scale: gain / Math.sqrt(fan(a, mode)) });

/** He/Kaiming uniform: limit `gain · √(3 / fan)`. */
export const heUniform =
  (o: Opts = {}): ((a: mx.Array, mode?: FanMode, gain?: number) => mx.Array) =>
  (a, mode = 'fan_in', gain = 1) => {
    const limit = gain * Math.sqrt(3 / fan(a, mode));
    return mx.random.uniform(-limit, limit, a.shape, { dtype: o.dtype ?? a.dtype });
  };
