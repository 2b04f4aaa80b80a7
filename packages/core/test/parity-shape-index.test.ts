// Shape manipulation, creation helpers, basic and advanced indexing, gathers, scatters and
// index assignment: @mlxn/core against golden values from Python MLX
// (tooling/reference/core_golden.py -> test/fixtures/shape_index.json). Each case mirrors the
// Python case of the same name; Python's `a[...]` is `a.index(...)` here and `a[...] = v` is
// `a.put([...], v)`. Results are compared exactly for ints, within 1e-5 for floats.
import { describe, expect, it } from 'vitest';
import * as mx from '../src/index.js';
import { type CaseSpec, loadFixture, parityCases } from './parity-helpers.js';

const fx = loadFixture('shape_index');
type I = Record<string, mx.Array>;
const { sl } = mx;
const i32 = (v: number[] | number[][]) => mx.array(v, 'int32');

const T: Record<string, CaseSpec> = {
  reshape: (I: I) => mx.reshape(I.A, [4, -1]),
  reshape_scalar: () => mx.reshape(mx.array([7.5]), []),
  flatten: (I: I) => mx.flatten(I.A, 1, 2),
  transpose_default: (I: I) => mx.transpose(I.A),
  transpose_axes: (I: I) => mx.transpose(I.A, [1, 0, 2]),
  transpose_neg: (I: I) => mx.transpose(I.A, [-1, 0, 1]),
  swapaxes: (I: I) => mx.swapaxes(I.A, 0, 2),
  moveaxis: (I: I) => mx.moveaxis(I.A, 0, -1),
  moveaxis2: (I: I) => mx.moveaxis(I.A, 2, 0),
  squeeze_all: (I: I) => mx.squeeze(I.S1),
  squeeze_axis: (I: I) => mx.squeeze(I.S1, 2),
  squeeze_axes: (I: I) => mx.squeeze(I.S1, [0, 2]),
  expand_dims: (I: I) => mx.expandDims(I.B, 1),
  expand_dims_multi: (I: I) => mx.expandDims(I.B, [0, 3]),
  expand_dims_neg: (I: I) => mx.expandDims(I.B, -1),
  broadcast_to: () => mx.broadcastTo(mx.array([1, 2, 3], 'float32'), [2, 3]),
  concatenate_a0: (I: I) => mx.concatenate([I.B, mx.multiply(I.B, 2)], 0),
  concatenate_a1: (I: I) => mx.concatenate([I.B, I.B.index(sl(), sl(null, 1))], 1),
  concatenate_none: (I: I) => mx.concatenate([I.B, I.A.index(0)], null),
  concatenate_mixed_dtype: (I: I) =>
    mx.concatenate(
      [I.M.index(sl(null, 1)), mx.multiply(I.B.index(sl(null, 1), sl(null, 1)).astype('float16'), mx.ones([1, 5], 'float16'))],
      0,
    ),
  stack_a0: (I: I) => mx.stack([I.B, mx.negative(I.B)]),
  stack_a1: (I: I) => mx.stack([I.B, mx.negative(I.B), I.B], 1),
  stack_neg: (I: I) => mx.stack([I.B, mx.negative(I.B)], -1),
  split_sections: (I: I) => mx.split(I.V, 3),
  split_indices: (I: I) => mx.split(I.V, [1, 4]),
  split_axis1: (I: I) => mx.split(I.M, [2, 3], 1),
  split_sections_axis1: (I: I) => mx.split(I.A, 2, 2),
  tile: (I: I) => mx.tile(I.B, [2, 1]),
  tile_more: () => mx.tile(i32([1, 2]), [2, 3]),
  repeat_axis: (I: I) => mx.repeat(I.B, 2, 1),
  repeat_flat: (I: I) => mx.repeat(I.B, 3),
  pad_constant: (I: I) =>
    mx.pad(
      I.B,
      [
        [1, 0],
        [2, 1],
      ],
      { constantValues: -1.5 },
    ),
  pad_scalar_width: (I: I) => mx.pad(I.M, 1),
  pad_pair: (I: I) => mx.pad(I.B, [1, 2]),
  pad_edge: (I: I) =>
    mx.pad(
      I.B,
      [
        [1, 2],
        [0, 3],
      ],
      { mode: 'edge' },
    ),
  pad_int_float_value: (I: I) =>
    mx.pad(
      I.M,
      [
        [0, 1],
        [1, 0],
      ],
      { constantValues: 2 },
    ),
  roll_flat: (I: I) => mx.roll(I.V, 2),
  roll_neg: (I: I) => mx.roll(I.V, -1),
  roll_axis: (I: I) => mx.roll(I.M, 1, 1),
  roll_axes: (I: I) => mx.roll(I.A, [1, -2], [0, 2]),
  roll_2d_flat: (I: I) => mx.roll(I.M, 3),
  diagonal: (I: I) => mx.diagonal(I.M),
  diagonal_offset: (I: I) => mx.diagonal(I.M, 1),
  diagonal_neg_offset: (I: I) => mx.diagonal(I.M, -2),
  diagonal_axes: (I: I) => mx.diagonal(I.A, 0, 1, 2),
  diag_vector: () => mx.diag(i32([1, 2, 3])),
  diag_vector_k: () => mx.diag(mx.array([1.5, 2.5]), 1),
  diag_matrix: (I: I) => mx.diag(I.M, -1),
  flip_all: (I: I) => mx.flip(I.A),
  flip_axis: (I: I) => mx.flip(I.A, 1),
  flip_axes: (I: I) => mx.flip(I.A, [0, 2]),
  tri: () => mx.tri(3, 4, 1),
  eye: () => mx.eye(3, 4, -1),
  arange_float: () => mx.arange(0.5, 3.0, 0.75),
  arange_neg_step: () => mx.arange(5, -3, -2),
  linspace: () => mx.linspace(-1, 1, 7),
  full_int: () => mx.full([2, 3], 7),
  full_float: () => mx.full([2], 2.5),
  ones_like_int: (I: I) => mx.onesLike(I.M),
  pad_float_into_int: (I: I) => mx.pad(I.M, 1, { constantValues: 2.5 }),
  linspace_int: () => mx.linspace(0, 10, 4, 'int32'),
  arange_f16: () => mx.arange(0, 5, 1.5, 'float16'),
  arange_float_step_int_dtype: () => mx.arange(0, 5, 1.5, 'int32'),
  full_float_dtype: () => mx.full([2, 2], 3, 'float16'),

  // basic indexing
  ix_int: (I: I) => I.A.index(1),
  ix_neg_int: (I: I) => I.A.index(-1, -2),
  ix_slice: (I: I) => I.A.index(sl(), sl(1, 3)),
  ix_step: (I: I) => I.M.index(sl(null, null, 2), sl(1, null, 2)),
  ix_neg_step: (I: I) => I.M.index(sl(null, null, -1)),
  ix_neg_step2: (I: I) => I.M.index(sl(3, 0, -2), '::-3'),
  ix_neg_bounds: (I: I) => I.M.index(sl(-3, -1), sl(-4)),
  ix_out_of_range_slice: (I: I) => I.M.index(sl(2, 100), sl(-100, 2)),
  ix_empty_slice: (I: I) => I.M.index('3:1'),
  ix_newaxis: (I: I) => I.B.index(null),
  ix_newaxis_mid: (I: I) => I.B.index(sl(), null, sl(1)),
  ix_ellipsis: (I: I) => I.A.index('...', 1),
  ix_ellipsis_mid: (I: I) => I.A.index(0, '...', sl(null, null, 2)),
  ix_ellipsis_newaxis: (I: I) => I.A.index('..., None, 2'),
  ix_scalar_all: (I: I) => I.A.index(1, 2, 3),
  // integer-array indexing
  ix_arr: (I: I) => I.V.index(I.idx1),
  ix_arr2d: (I: I) => I.V.index(I.idx2),
  ix_arr_axis1: (I: I) => I.M.index(sl(), I.idxc),
  ix_arr_uint: (I: I) => I.M.index(I.idxu),
  ix_two_arrays: (I: I) => I.M.index(I.idxr, I.idxc),
  ix_two_arrays_bcast: (I: I) => I.M.index(I.idxr.index(sl(), null), I.idxc.index(null, sl())),
  ix_arr_int: (I: I) => I.A.index(I.idxu, 1),
  ix_int_arr: (I: I) => I.A.index(1, sl(), I.idxc),
  ix_arrays_adjacent: (I: I) => I.A.index(sl(), I.idxr.index(sl(null, 2)), I.idxc.index(sl(null, 2))),
  ix_arrays_separated: (I: I) => I.A.index(I.idxu, sl(), I.idxc.index(sl(null, 2))),
  ix_arr_slice: (I: I) => I.A.index(I.idxu, sl(1), sl(null, null, 2)),
  // integer indices next to array indices count as advanced indices (numpy's placement rule)
  ix4_arr_slice_int: (I: I) => I.A4.index(sl(), I.idxr, sl(), 1),
  ix4_int_slice_arrs: (I: I) => I.A4.index(1, sl(), I.idxr, I.idxc),
  ix4_int_arr_adjacent: (I: I) => I.A4.index(sl(), 1, I.idxr, sl()),
  ix4_arr_int_arr: (I: I) => I.A4.index(sl(), I.idxu, 2, I.idxc.index(sl(null, 2))),
  ix4_arr2d_slice_int: (I: I) => I.A4.index(I.idxb, sl(), 1),
  // gathers
  take_flat: (I: I) => mx.take(I.M, I.idx1),
  take_axis0: (I: I) => mx.take(I.M, I.idxr, 0),
  take_axis1_2d: (I: I) => mx.take(I.M, I.idx2, 1),
  take_neg: (I: I) => mx.take(I.V, i32([-1, -6])),
  take_along_axis: (I: I) => mx.takeAlongAxis(I.A, I.tai, 2),
  take_along_axis_flat: (I: I) => mx.takeAlongAxis(I.V, i32([5, 0, 2]), null),
  take_along_axis_bcast: (I: I) => mx.takeAlongAxis(I.M, i32([[0], [4], [2], [1]]), 1),
  put_along_axis: (I: I) => mx.putAlongAxis(I.A, I.tai.index('..., :1'), I.pav.index('..., :1'), 2),
  put_along_axis_scalar: (I: I) => mx.putAlongAxis(I.M, i32([[1], [0], [4], [2]]), mx.array(-5, 'int32'), 1),
  // scatters: Python's a.at[idx].add(v) is MLX's scatter_add with the updates shaped
  // broadcast(indices).shape + a.shape with 1 at each indexed axis.
  scatter_add_dup: (I: I) => mx.scatterAdd(mx.zeros([5, 5]), I.dup, I.upd.reshape([4, 1, 5]), 0),
  scatter_add_2idx: (I: I) => mx.scatterAdd(I.M.astype('float32'), [I.idxr, I.idxc], mx.array([1.5, 2.5, 3.5]).reshape([3, 1, 1]), [0, 1]),
  scatter_max: (I: I) =>
    mx.scatter(
      I.M,
      i32([0, 0, 3]),
      i32([
        [5, 0, 9, 1, 2],
        [1, 7, 2, 3, 30],
        [0, 0, 0, 100, 0],
      ]).reshape(3, 1, 5),
      0,
      'max',
    ),
  scatter_min: (I: I) =>
    mx.scatter(
      I.M,
      i32([1, 1]),
      i32([
        [5, 0, 9, 1, 2],
        [1, 7, 2, 3, 30],
      ]).reshape(2, 1, 5),
      0,
      'min',
    ),
  scatter_prod: (I: I) => mx.scatter(I.M.astype('float32'), i32([2, 2]), mx.full([2, 1, 5], 0.5), 0, 'prod'),
  scatter_add_pairs: () =>
    mx.scatterAdd(mx.zeros([3, 4]), [i32([2, 0]), i32([1, 3])], mx.array([7, -1], 'float32').reshape(2, 1, 1), [0, 1]),
  slice_update: (I: I) => mx.sliceUpdate(I.M, I.su, [1, 2]),
  slice_update_axis: (I: I) => mx.sliceUpdate(I.M, I.su.index(sl(null, 1)), [3, 0]),
  // index assignment
  set_int: (I: I) => I.M.put(1, -1),
  set_slice_step: (I: I) => I.M.put([sl(null, null, 2), sl(1, null, 2)], I.su),
  set_neg_step: (I: I) => I.M.put([sl(null, null, -1), 0], i32([1, 2, 3, 4])),
  set_bcast: (I: I) => I.A.put(['...', 1], mx.array([9, 8, 7], 'float32')),
  set_float_into_int: (I: I) => I.M.put(0, 2.7),
  set_arr: (I: I) => I.M.put(I.idxr, i32([[1, 2, 3, 4, 5]])),
  set_arr_scalar: (I: I) => I.V.put(I.idx1, 0),
  set_slice_update_strided: (I: I) =>
    I.M.put(
      '1:4:2, ::2'.split(',').map((s) => s.trim()),
      i32([
        [-1, -2, -3],
        [-4, -5, -6],
      ]),
    ),
};
for (const k of [0, 1, -1, 2]) {
  T[`tril_${k}`] = (I: I) => mx.tril(I.M, k);
  T[`triu_${k}`] = (I: I) => mx.triu(I.M, k);
}

describe('shape and indexing parity with Python MLX', () => {
  parityCases(fx, T);
});

describe('indexing: errors', () => {
  it('rejects out-of-bounds integer indices and too many indices', () => {
    const m = mx.arange(6).reshape([2, 3]);
    expect(() => m.index(2)).toThrow(mx.IndexError);
    expect(() => m.index(0, -4)).toThrow(mx.IndexError);
    expect(() => m.index(0, 0, 0)).toThrow(mx.IndexError);
    expect(() => m.index('...', '...')).toThrow(mx.IndexError);
  });
});
