// Invalid arguments give clear errors on both paths and leave inputs intact.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as ml from '../src/index.js';
import * as js from '../src/js/index.js';

const lp = () =>
  mx.logSoftmax(
    mx.array(
      [
        [1, 2, 3, 4],
        [0, 1, 0, 1],
      ],
      { dtype: 'float32' },
    ),
  );
const jlp = () => [Float32Array.of(-3, -2, -1, -0.5), Float32Array.of(-1, -2, -1, -2)];

describe('sampler options', () => {
  for (const [make, name] of [
    [ml.makeSampler, 'mlx'],
    [js.makeSampler, 'js'],
  ] as const) {
    it(`${name}: ranges`, () => {
      const mk = make as (o: object) => unknown;
      expect(() => mk({ temperature: -1 })).toThrow(/temperature must be a finite number >= 0, got -1/);
      expect(() => mk({ temperature: 1, topP: 1.5 })).toThrow(/topP must be in \[0, 1\], got 1.5/);
      expect(() => mk({ temperature: 1, topP: -0.1 })).toThrow(RangeError);
      expect(() => mk({ temperature: 1, topK: -2 })).toThrow(/topK must be a non-negative integer/);
      expect(() => mk({ temperature: 1, topK: 2.5 })).toThrow(/topK/);
      expect(() => mk({ temperature: 1, minP: 1.2 })).toThrow(/minP must be in \[0, 1\], got 1.2/);
      expect(() => mk({ temperature: 1, minP: 0.1, minTokensToKeep: 0 })).toThrow(/minTokensToKeep must be a positive integer/);
      expect(() => mk({ temperature: 1, xtcProbability: 2 })).toThrow(/xtcProbability must be in \[0, 1\]/);
      expect(() => mk({ temperature: 1, xtcProbability: 0.5, xtcThreshold: 0.6 })).toThrow(/xtcThreshold must be in \[0, 0.5\]/);
      expect(() => mk({ temperature: 1, xtcProbability: 0.5, xtcSpecialTokens: [-1] })).toThrow(/xtcSpecialTokens/);
    });
  }

  it('unknown keys of the per-call options are errors too', () => {
    const row = Float32Array.of(-1, -2);
    expect(() => js.categoricalSampling(row, 1, { rng: Math.random } as object)).toThrow(/categoricalSampling: unknown option "rng"/);
    expect(() => js.applyXtc(row, 1, 0.1, [], { Random: Math.random } as object)).toThrow(
      /applyXtc: unknown option "Random" \(did you mean "random"\?\)/,
    );
    expect(() => ml.categoricalSampling(lp(), 1, { keys: mx.random.key(0) } as object)).toThrow(
      /categoricalSampling: unknown option "keys" \(did you mean "key"\?\)/,
    );
    expect(() => ml.applyXtc(lp(), 1, 0.1, [], { seed: 1 } as object)).toThrow(/applyXtc: unknown option "seed"/);
    expect(js.categoricalSampling(row, 1, { random: () => 0 })).toBe(0);
  });

  it('unknown options are errors naming the nearest one', () => {
    for (const make of [ml.makeSampler, js.makeSampler] as ((o: object) => unknown)[]) {
      expect(() => make({ temperature: 0.7, topp: 0.9 })).toThrow(/makeSampler: unknown option "topp" \(did you mean "topP"\?\)/);
      expect(() => make({ top_k: 4 })).toThrow(/unknown option "top_k" \(did you mean "topK"\?\)/);
      expect(() => make({ temprature: 1 })).toThrow(/unknown option "temprature" \(did you mean "temperature"\?\)/);
      expect(() => make({ beamWidth: 4 })).toThrow(/unknown option "beamWidth"$/);
      // Two edits away is a typo, three is not; between equally near options the first listed wins.
      expect(() => make({ tmperatur: 1 })).toThrow(/unknown option "tmperatur" \(did you mean "temperature"\?\)/);
      expect(() => make({ tmpratur: 1 })).toThrow(/unknown option "tmpratur"$/);
      expect(() => make({ topX: 4 })).toThrow(/unknown option "topX" \(did you mean "topP"\?\)/);
      expect(() => make({ temperature: 1, topP: undefined, other: undefined })).not.toThrow(); // undefined is absent
    }
    expect(() => ml.makeSampler({ temperature: 1, seed: 3 } as object)).toThrow(/unknown option "seed"/); // MLX samplers take a key per call
    expect(() => js.makeSampler({ temperature: 1, seed: 3, random: Math.random })).not.toThrow();
    for (const make of [ml.makeLogitsProcessors, js.makeLogitsProcessors] as ((o: object) => unknown)[]) {
      expect(() => make({ repetitionPenalty: 1.1, repetitionContextsize: 8 })).toThrow(
        /makeLogitsProcessors: unknown option "repetitionContextsize" \(did you mean "repetitionContextSize"\?\)/,
      );
      expect(() => make({ logit_bias: { 1: 2 } })).toThrow(/did you mean "logitBias"/);
    }
  });

  it('topK must be below the vocabulary size at sampling time (as in mlx-lm)', () => {
    expect(() => ml.makeSampler({ temperature: 1, topK: 4 })(lp())).toThrow(/topK must be an integer in \(0, 4\)/);
    expect(() => js.makeSampler({ temperature: 1, topK: 4 })(jlp())).toThrow(/topK must be an integer in \(0, 4\)/);
    expect(() => ml.makeSampler({ temperature: 1, xtcProbability: 1, xtcSpecialTokens: [9] })(lp())).toThrow(/token id 9 is out of range/);
  });

  it('logits must be [V] or [B, V] floating point; keys must be keys', () => {
    const s = ml.makeSampler({ temperature: 1 });
    expect(() => s(mx.zeros([2, 2, 2]))).toThrow(/shape \[V\] or \[B, V\], got \[2, 2, 2\]/);
    expect(() => s(mx.array([[1, 2]], { dtype: 'int32' }))).toThrow(/floating point, got int32/);
    expect(() => s(lp(), { key: mx.zeros([2]) })).toThrow(/key must be a random key/);
    expect(() => js.makeSampler({ temperature: 1 })([Float32Array.of(1, 2), Float32Array.of(1)])).toThrow(/same length/);
    expect(() => js.makeSampler({ temperature: 1 })(new Float64Array(2) as unknown as Float32Array)).toThrow(/Float32Array/);
  });
});

describe('building blocks', () => {
  for (const [m, name, x] of [
    [ml, 'mlx', lp],
    [js, 'js', jlp],
  ] as const) {
    it(`${name}: precise errors`, () => {
      const mod = m as unknown as Record<string, (...a: unknown[]) => unknown>;
      expect(() => mod.applyTopP(x(), 0)).toThrow(/topP must be in \(0, 1\], got 0/);
      expect(() => mod.applyTopP(x(), 1.01)).toThrow(/topP must be in \(0, 1\]/);
      expect(() => mod.applyTopK(x(), -1)).toThrow(/topK must be an integer in \(0, 4\) for a vocabulary of 4, got -1/);
      expect(() => mod.applyTopK(x(), 0)).toThrow(RangeError);
      expect(() => mod.applyMinP(x(), -0.1)).toThrow(/minP must be in \[0, 1\]/);
      expect(() => mod.applyMinP(x(), 0.1, 1.5)).toThrow(/minTokensToKeep/);
      expect(() => mod.applyXtc(x(), 0.5, 0.7)).toThrow(/xtcThreshold/);
      expect(() => mod.categoricalSampling(x(), 0)).toThrow(/temperature/);
    });
  }
});

describe('processors', () => {
  it('penalties and context sizes', () => {
    for (const mod of [ml, js] as const) {
      expect(() => mod.makeLogitsProcessors({ repetitionPenalty: -1 })).toThrow(/repetitionPenalty must be > 0/);
      expect(() => mod.makeRepetitionPenalty(0)).toThrow(/repetitionPenalty must be > 0/);
      expect(() => mod.makeLogitsProcessors({ presencePenalty: Number.NaN })).toThrow(/presencePenalty must be a finite number/);
      expect(() => mod.makeLogitsProcessors({ frequencyPenalty: 1, frequencyContextSize: 0 })).toThrow(
        /frequencyContextSize must be a positive integer/,
      );
      expect(() => mod.makeLogitsProcessors({ logitBias: { '-3': 1 } })).toThrow(/logitBias: key -3/);
      expect(() => mod.makeLogitsProcessors({ logitBias: { 2: Number.POSITIVE_INFINITY } })).toThrow(/logitBias\[2\]/);
      expect(mod.makeLogitsProcessors({ repetitionPenalty: 0, presencePenalty: 0 })).toHaveLength(0);
    }
  });

  it('mlx: mismatched batch sizes and bad ids', () => {
    const [rep] = ml.makeLogitsProcessors({ repetitionPenalty: 1.2 });
    const x = lp();
    expect(() => rep([[1], [2], [3]], x)).toThrow(/got 3 token histories for a batch of 2 rows/);
    expect(() => rep(mx.array([[1], [2], [3]], { dtype: 'int32' }), x)).toThrow(/tokens has 3 rows but logits has 2/);
    expect(() => rep([[1], [7]], x)).toThrow(/token 7 is not an integer id in \[0, 4\)/);
    expect(() => rep(mx.array([1.5]), x)).toThrow(/integer dtype/);
    const [bias] = ml.makeLogitsProcessors({ logitBias: { 9: 1 } });
    expect(() => bias([], x)).toThrow(/logitBias: token id 9 is out of range for a vocabulary of 4/);
    expect(x.tolist()).toEqual(lp().tolist());
  });

  it('js: mismatched batch sizes and bad ids', () => {
    const [rep] = js.makeLogitsProcessors({ repetitionPenalty: 1.2 });
    expect(() => rep([[1], [2], [3]], jlp())).toThrow(/got 3 token histories for a batch of 2 rows/);
    expect(() => rep([7], jlp())).toThrow(/token id 7 is out of range/);
    expect(() => rep([1.5], jlp())).toThrow(/non-negative integer ids/);
  });
});
