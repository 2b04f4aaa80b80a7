// mx.random parity with Python MLX: after `seed(s)`, the same series of draws from the global
// key sequence must give the same numbers, and explicit keys (`key`, `split`) must too.
// Golden values: tooling/reference/core_golden.py -> test/fixtures/random.json.
// Integers, booleans and keys are compared exactly; uniform draws within 1e-6, normal-based
// draws (erfinv, log) within float32's 1e-5.
import { describe, expect, it } from 'vitest';
import * as mx from '../src/index.js';
import { decode, type Enc, expectOut, loadFixture, type Out } from './parity-helpers.js';

interface RandomFixture {
  mlx: string;
  inputs: Record<string, Enc>;
  sequence: [string, Out][];
  keys: [string, Out][];
}

const fx = loadFixture<RandomFixture>('random');
const logits = decode(fx.inputs.logits);
const TIGHT = { rtol: 1e-6, atol: 1e-7 };

// The global-sequence draws, in the order the Python script made them (seeds included).
const SEQUENCE: [string, () => unknown][] = [
  ['seed', () => mx.random.seed(42)],
  ['uniform', () => mx.random.uniform(0, 1, [5])],
  ['uniform_range', () => mx.random.uniform(-1, 2, [2, 3])],
  ['normal', () => mx.random.normal([6])],
  ['normal_loc_scale', () => mx.random.normal([4], { loc: 2, scale: 0.5 })],
  ['randint', () => mx.random.randint(0, 10, [8])],
  ['randint_neg', () => mx.random.randint(-5, 5, [2, 4])],
  ['bernoulli', () => mx.random.bernoulli(0.3, [10])],
  ['bernoulli_default', () => mx.random.bernoulli(undefined, [6])],
  ['categorical', () => mx.random.categorical(logits)],
  ['categorical_samples', () => mx.random.categorical(logits, { numSamples: 5 })],
  ['categorical_axis0', () => mx.random.categorical(logits, { axis: 0 })],
  ['permutation_n', () => mx.random.permutation(7)],
  ['permutation_arr', () => mx.random.permutation(mx.multiply(mx.arange(6), 10))],
  ['truncated_normal', () => mx.random.truncatedNormal(-1, 1, [5])],
  ['gumbel', () => mx.random.gumbel([4])],
  ['uniform_f16', () => mx.random.uniform(-1, 2, [4], { dtype: 'float16' })],
  ['uniform_bf16', () => mx.random.uniform(0, 1, [4], { dtype: 'bfloat16' })],
  ['uniform_after', () => mx.random.uniform(0, 1, [3])],
  ['seed', () => mx.random.seed(7)],
  ['reseed_uniform', () => mx.random.uniform(0, 1, [3])],
  ['reseed_normal', () => mx.random.normal([2, 2])],
];

const tolFor = (name: string) => (name.startsWith('uniform') || name.startsWith('reseed_uniform') ? TIGHT : {});

describe('random: global key sequence matches Python MLX after seed()', () => {
  it('replays the fixture draws in order', () => {
    const draws = SEQUENCE.filter(([n]) => n !== 'seed').map(([n]) => n);
    expect(draws).toEqual(fx.sequence.map(([n]) => n));
    const want = new Map(fx.sequence);
    // Every draw is evaluated before the next one, as in Python (values must not depend on it).
    for (const [name, fn] of SEQUENCE) {
      if (name === 'seed') {
        fn();
        continue;
      }
      expectOut(fn, want.get(name)!, tolFor(name), name);
    }
  });

  it('the same seed gives the same draws; another seed gives others', () => {
    mx.random.seed(3);
    const a = mx.random.uniform(0, 1, [8]).tolist();
    const b = mx.random.uniform(0, 1, [8]).tolist();
    mx.random.seed(3);
    expect(mx.random.uniform(0, 1, [8]).tolist()).toEqual(a);
    expect(mx.random.uniform(0, 1, [8]).tolist()).toEqual(b);
    expect(a).not.toEqual(b);
  });
});

describe('random: explicit keys match Python MLX', () => {
  const key = () => mx.random.key(1234);
  const halves = () => {
    const ks = mx.random.split(key());
    return [ks.index(0), ks.index(1)];
  };
  const KEYS: Record<string, () => unknown> = {
    key: () => key(),
    key0: () => mx.random.key(0),
    key_big: () => mx.random.key(2 ** 40 + 3),
    split2: () => mx.random.split(key()),
    split3: () => mx.random.split(key(), 3),
    uniform_k1: () => mx.random.uniform(0, 1, [4], { key: halves()[0] }),
    uniform_k1_again: () => mx.random.uniform(0, 1, [4], { key: halves()[0] }),
    normal_k2: () => mx.random.normal([2, 3], { key: halves()[1] }),
    randint_k: () => mx.random.randint(0, 100, [6], { key: key() }),
    bernoulli_k: () => mx.random.bernoulli(0.7, [8], { key: halves()[1] }),
    categorical_k: () => mx.random.categorical(logits, { numSamples: 3, key: halves()[0] }),
    permutation_k: () => mx.random.permutation(9, { key: halves()[0] }),
    truncated_normal_k: () => mx.random.truncatedNormal(0, 2, [4], { key: halves()[1] }),
    gumbel_k: () => mx.random.gumbel([3], { key: halves()[0] }),
    uniform_large: () => mx.random.uniform(0, 1, [3, 7], { key: mx.random.key(99) }),
    categorical_shape: () => mx.random.categorical(logits, { shape: [3, 2], key: halves()[1] }),
    randint_int16: () => mx.random.randint(-100, 100, [5], { dtype: 'int16', key: halves()[0] }),
    uniform_arrays: () =>
      mx.random.uniform(mx.array([[0], [10]], 'float32'), mx.multiply(mx.array([1, 2, 3], 'float32'), 20), [2, 3], { key: halves()[1] }),
    normal_bf16: () => mx.random.normal([4], { dtype: 'bfloat16', key: halves()[0] }),
    normal_f16_loc_arr: () => mx.random.normal([2, 2], { dtype: 'float16', loc: mx.array([0, 100], 'float32'), key: halves()[1] }),
    bernoulli_array_p: () => mx.random.bernoulli(mx.array([0, 0.25, 0.5, 0.75, 1], 'float32'), undefined, { key: halves()[0] }),
    permutation_axis1: () => mx.random.permutation(mx.arange(12).reshape(3, 4), { axis: 1, key: halves()[1] }),
    truncated_normal_arrays: () =>
      mx.random.truncatedNormal(mx.array([-1, 0], 'float32'), mx.array([0, 3], 'float32'), undefined, { key: halves()[0] }),
  };
  it('covers exactly the fixture cases', () => {
    expect(Object.keys(KEYS).sort()).toEqual(fx.keys.map(([n]) => n).sort());
  });
  for (const [name, out] of fx.keys) {
    it(name, () => {
      const fn = KEYS[name];
      expect(fn, `no JS implementation for ${name}`).toBeDefined();
      mx.tidy(() => expectOut(fn, out, tolFor(name), name));
    });
  }
  it('explicit keys do not advance the global sequence', () => {
    mx.random.seed(11);
    const a = mx.random.uniform(0, 1, [4]).tolist();
    mx.random.seed(11);
    mx.random.uniform(0, 1, [4], { key: mx.random.key(5) });
    expect(mx.random.uniform(0, 1, [4]).tolist()).toEqual(a);
  });
});

describe('KeySequence', () => {
  it('draws what seed(s) would, without touching the global sequence', () => {
    mx.random.seed(7);
    const seeded = [mx.random.uniform(0, 1, [3]).tolist(), mx.random.normal([2]).tolist()];
    mx.random.seed(3);
    const global = [mx.random.uniform(0, 1, [3]).tolist(), mx.random.uniform(0, 1, [3]).tolist()];
    mx.random.seed(3);
    const keys = new mx.random.KeySequence(7);
    const first = keys.run(() => mx.random.uniform(0, 1, [3]).tolist());
    expect(mx.random.uniform(0, 1, [3]).tolist()).toEqual(global[0]);
    const second = keys.run(() => mx.random.normal([2]).tolist());
    expect(mx.random.uniform(0, 1, [3]).tolist()).toEqual(global[1]);
    expect([first, second]).toEqual(seeded);
    expect(() => new mx.random.KeySequence(-1)).toThrow(/non-negative integer/);
  });
});
