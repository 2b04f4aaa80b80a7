// The checks a generation loop runs on what custom samplers and logits processors return.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as ml from '../src/index.js';
import * as js from '../src/js/index.js';

describe('checkTokenId', () => {
  it('accepts ids in the vocabulary and names both bounds otherwise', () => {
    expect(ml.checkTokenId(511, 512)).toBe(511);
    expect(() => ml.checkTokenId(512, 512, 'Qwen3.stream: sampler')).toThrow(
      /Qwen3.stream: sampler returned token id 512, outside the vocabulary \[0, 512\)/,
    );
    expect(() => ml.checkTokenId(-1, 512)).toThrow(/token id -1/);
    expect(() => ml.checkTokenId(1.5, 512)).toThrow(/token id 1.5/);
    expect(() => ml.checkTokenId(Number.NaN, 512)).toThrow(/token id NaN/);
    expect(js.checkTokenId).toBe(ml.checkTokenId);
  });
});

describe('mlx', () => {
  const lp = () =>
    mx.logSoftmax(
      mx.array(
        [
          [1, 2, 3],
          [3, 2, 1],
        ],
        { dtype: 'float32' },
      ),
    );
  it('checkProcessedLogits: shape and dtype kept', () => {
    const x = lp();
    expect(ml.checkProcessedLogits(x, mx.add(x, 1))).toBeInstanceOf(mx.Array);
    expect(() => ml.checkProcessedLogits(x, mx.index(x, 0))).toThrow(
      /logits processor returned logits of shape \[3\] for logits of shape \[2, 3\]/,
    );
    expect(() => ml.checkProcessedLogits(x, mx.zeros([2, 4]), 'repetition')).toThrow(/repetition returned logits of shape \[2, 4\]/);
    expect(() => ml.checkProcessedLogits(x, mx.zeros([2, 3], 'int32'))).toThrow(/dtype int32, not floating point/);
    expect(() => ml.checkProcessedLogits(x, Float32Array.of(1))).toThrow(/must return an mx.Array of logits, got object/);
  });

  it('checkSampledTokens: one integer id per row', () => {
    const x = lp();
    expect(ml.checkSampledTokens(x, ml.makeSampler()(x)).shape).toEqual([2]);
    expect(() => ml.checkSampledTokens(x, mx.array([1, 2, 0], 'int32'))).toThrow(
      /shape \[3\] for log-probabilities of shape \[2, 3\] \(expected \[2\]\)/,
    );
    expect(() => ml.checkSampledTokens(x, mx.array([1, 2], 'float32'))).toThrow(/dtype float32, not an integer type/);
    expect(() => ml.checkSampledTokens(mx.index(x, 0), 3)).toThrow(/must return an mx.Array of token ids, got number/);
    expect(ml.checkSampledTokens(mx.index(x, 0), mx.argmax(mx.index(x, 0))).ndim).toBe(0);
  });
});

describe('js', () => {
  const rows = () => [Float32Array.of(-1, -2, -3), Float32Array.of(-3, -2, -1)];
  it('checkProcessedLogits', () => {
    expect(js.checkProcessedLogits(rows(), rows())).toHaveLength(2);
    expect(() => js.checkProcessedLogits(rows()[0], rows())).toThrow(/must return a Float32Array/);
    expect(() => js.checkProcessedLogits(rows(), [Float32Array.of(1, 2)])).toThrow(/returned 1 rows for 2/);
    expect(() => js.checkProcessedLogits(rows(), [Float32Array.of(1, 2), Float32Array.of(1, 2)])).toThrow(
      /a row of 2 logits for a vocabulary of 3/,
    );
  });

  it('checkSampledTokens', () => {
    expect(js.checkSampledTokens(rows(), [0, 2])).toEqual([0, 2]);
    expect(js.checkSampledTokens(rows()[0], 1)).toBe(1);
    expect(() => js.checkSampledTokens(rows(), [0, 3])).toThrow(/sampler returned token id 3, outside the vocabulary \[0, 3\)/);
    expect(() => js.checkSampledTokens(rows(), [0])).toThrow(/one token id per row \(2\), got 1/);
    expect(() => js.checkSampledTokens(rows()[0], [1])).toThrow(/token id 1/);
  });
});
