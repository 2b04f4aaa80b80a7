// Indices made from host data are bounds-checked from the range remembered when they were made:
// reading them back would take the evaluation lock, which waits while the evaluation thread
// encodes a step (a server's `take` per layer when a row leaves the batch waited that long).
import * as mx from '@mlxn/core';
import { describe, expect, it, vi } from 'vitest';

describe('bounds checks of host-made indices', () => {
  it('need no read of the indices, and still refuse out-of-range ones', () => {
    const x = mx.array([10, 20, 30, 40]);
    const reads = vi.spyOn(mx.Array.prototype, 'dataSync');
    try {
      const ok = mx.take(x, mx.array([3, -4, 0], 'int32'));
      expect(() => mx.take(x, mx.array([1, 4], 'int32'))).toThrow(mx.IndexError);
      expect(() => mx.take(x, mx.array([-5n], 'int64'))).toThrow(mx.IndexError);
      expect(reads).not.toHaveBeenCalled();
      expect(ok.tolist()).toEqual([40, 10, 10]);
    } finally {
      reads.mockRestore();
    }
  });

  it('read the values of indices computed on the device, and of larger arrays', () => {
    const x = mx.array([10, 20, 30, 40]);
    const computed = mx.add(mx.array([1], 'int32'), 8);
    mx.eval(computed);
    expect(() => mx.take(x, computed)).toThrow(/index 9 is out of bounds/);
    const many = mx.array(
      Array.from({ length: 5000 }, (_, i) => (i === 4999 ? 4 : 0)),
      'int32',
    );
    expect(() => mx.take(x, many)).toThrow(/index 4 is out of bounds/);
  });

  it('forget the range when the array takes over another storage', () => {
    const x = mx.array([10, 20, 30, 40]);
    const idx = mx.array([0, 1], 'int32');
    idx.adoptStorage(mx.array([0, 7], 'int32'));
    expect(() => mx.take(x, idx)).toThrow(/index 7 is out of bounds/);
  });
});
