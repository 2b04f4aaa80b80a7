// keepdims given the three ways users write it, and a clear error (not a native type error) otherwise.
import { describe, expect, it } from 'vitest';
import * as mx from '../src/index.js';

describe('reduction arguments', () => {
  const a = mx.array([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  it('accepts keepdims positionally, as an options object, or inside the axis options', () => {
    expect(mx.sum(a, -1, true).shape).toEqual([2, 1]);
    expect(mx.sum(a, -1, { keepdims: true }).shape).toEqual([2, 1]);
    expect(mx.sum(a, { axis: -1, keepdims: true }).shape).toEqual([2, 1]);
    expect(mx.sum(a, -1, {}).shape).toEqual([2]);
    expect(mx.argmax(a, -1, { keepdims: true }).tolist()).toEqual([[2], [2]]);
    expect(mx.std(a, 0, { keepdims: true }).shape).toEqual([1, 3]);
  });
  it('rejects anything else with a TypeError naming keepdims', () => {
    expect(() => mx.sum(a, -1, 'yes' as never)).toThrow(/keepdims must be a boolean/);
    expect(() => mx.argmax(a, -1, 1 as never)).toThrow(/argmax: keepdims must be a boolean/);
    expect(() => mx.mean(a, { axis: 0, keepdims: 'no' as never })).toThrow(TypeError);
  });
  it('rejects option keys with typos instead of reducing over every axis', () => {
    expect(() => mx.sum(a, { axes: 1 } as never)).toThrow(/unknown option "axes" \(did you mean "axis"\?\)/);
    expect(() => mx.mean(a, { axis: 1, keepDims: true } as never)).toThrow(/unknown option "keepDims" \(did you mean "keepdims"\?\)/);
    expect(() => mx.max(a, -1, { keepDims: true } as never)).toThrow(/did you mean "keepdims"/);
    expect(mx.variance(a, { axis: 1, ddof: 1 }).tolist()).toEqual([1, 1]);
  });
});

describe('attention options', () => {
  const q = mx.ones([1, 2, 3, 4]);
  it('rejects a mask that is neither causal, an array nor null, and unknown keys', () => {
    expect(() => mx.fast.scaledDotProductAttention(q, q, q, { scale: 0.5, mask: 'casual' as never })).toThrow(
      /mask must be 'causal', an mx.Array or null, got "casual"/,
    );
    expect(() => mx.fast.scaledDotProductAttention(q, q, q, { scale: 0.5, mask: [[true]] as never })).toThrow(/mask must be/);
    expect(() => mx.fast.scaledDotProductAttention(q, q, q, { scale: 0.5, masks: 'causal' } as never)).toThrow(
      /unknown option "masks" \(did you mean "mask"\?\)/,
    );
    expect(mx.fast.scaledDotProductAttention(q, q, q, { scale: 0.5, mask: 'causal' }).shape).toEqual([1, 2, 3, 4]);
  });
});
