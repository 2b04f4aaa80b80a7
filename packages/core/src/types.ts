import type { Array } from './array.js';
import type { Dtype } from './dtype.js';

/** A JS scalar; weakly typed next to an array, as Python scalars are in MLX. */
export type Scalar = number | boolean | bigint;

/** Anything `mx.array` accepts. */
export type ArrayLike = Array | Scalar | ArrayBufferView | readonly ArrayLikeNested[];
export type ArrayLikeNested = Scalar | Array | readonly ArrayLikeNested[];

export interface DtypeOptions {
  dtype?: Dtype;
}

/** Reduction options (`axis` may be one axis or several; omitted = all). */
export interface AxisOptions {
  axis?: number | number[];
  keepdims?: boolean;
  /** Delta degrees of freedom (`variance` and `std` only). */
  ddof?: number;
}

/** A slice `start:stop:step`; any part may be omitted. Create with `mx.sl(...)` or a string `'1:3'`. */
export interface Slice {
  readonly kind: 'slice';
  readonly start?: number;
  readonly stop?: number;
  readonly step?: number;
}

/** One index: an integer, a slice, `null` (new axis), `'...'` (ellipsis), a slice string, or an int Array. */
export type IndexSpec = number | Slice | null | string | Array;
