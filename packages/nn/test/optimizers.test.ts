import * as mx from '@mlxn/core';
import { handleOf, native } from '@mlxn/core/internal';
import { useCpuDevice } from '@mlxn/test-support/devices';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';
import { decode, type Enc, expectClose, fixture, makeSchedule, type Spec } from './train-fixtures.js';

// The goldens are Python MLX's float64 runs (and float32 steps checked against them), and MLX
// computes float64 on the CPU only: the file runs there.
useCpuDevice(mx);

interface OptCase {
  optimizer: string;
  options: Record<string, unknown>;
  params: Record<string, Enc>[];
  state: Record<string, Enc>;
}
const golden = fixture<{
  params0: Record<string, Enc>;
  grads: Record<string, Enc>[];
  cases: OptCase[];
  clip: { maxNorm: number; half?: boolean; norm: number; clipped: Record<string, Enc> }[];
}>('train_optimizers.json');

// Flat golden keys (w, b, layers.0.w, layers.1.w) → the nested tree Python used.
function nest(flat: Record<string, Enc>): Record<string, unknown> {
  const t = { w: decode(flat.w), b: decode(flat.b), layers: [{ w: decode(flat['layers.0.w']) }, { w: decode(flat['layers.1.w']) }] };
  return t;
}

type Ctor = new (options: never) => nn.Optimizer;
const classes: Record<string, Ctor> = {
  SGD: nn.SGD,
  Adam: nn.Adam,
  AdamW: nn.AdamW,
  Adamax: nn.Adamax,
  Adafactor: nn.Adafactor,
  Lion: nn.Lion,
  RMSprop: nn.RMSprop,
  Adagrad: nn.Adagrad,
  AdaDelta: nn.AdaDelta,
};

function makeOptimizer(c: OptCase): nn.Optimizer {
  const options: Record<string, unknown> = { ...c.options };
  if (options.learningRate !== null && typeof options.learningRate === 'object')
    options.learningRate = makeSchedule(options.learningRate as Spec);
  return new classes[c.optimizer](options as never);
}

const label = (c: OptCase) => `${c.optimizer} ${JSON.stringify(c.options)}`;

describe('optimizers match mlx.optimizers over several steps (golden values from Python MLX)', () => {
  for (const c of golden.cases) {
    it(label(c), () => {
      const opt = makeOptimizer(c);
      let params = nest(golden.params0);
      golden.grads.forEach((g, step) => {
        params = mx.tidy(() => opt.update(params, nest(g)));
        mx.eval(params, opt.state);
        const flat = Object.fromEntries(mx.treeFlattenWithPaths(params));
        for (const [k, e] of Object.entries(c.params[step])) expectClose(flat[k], e, `step ${step + 1} ${k}`, 2e-5, 1e-6);
      });
      const state = Object.fromEntries(mx.treeFlattenWithPaths(opt.state));
      expect(Object.keys(state).sort()).toEqual(Object.keys(c.state).sort());
      for (const [k, e] of Object.entries(c.state)) expectClose(state[k], e, `state ${k}`, 2e-5, 1e-6);
    });
  }
});

describe('the Adam family runs its update compiled (one fused kernel per parameter)', () => {
  const cases: [string, () => nn.Optimizer][] = [
    ['Adam', () => new nn.Adam({ learningRate: 0.01 })],
    ['Adam with bias correction', () => new nn.Adam({ learningRate: 0.01, betas: [0.8, 0.99], biasCorrection: true })],
    ['AdamW', () => new nn.AdamW({ learningRate: nn.cosineDecay(0.02, 10), weightDecay: 0.1 })],
    ['Adamax', () => new nn.Adamax({ learningRate: 0.01 })],
  ];
  for (const [name, make] of cases) {
    for (const dtype of ['float32', 'bfloat16'] as const) {
      it(`${name} (${dtype}): the same bits as the op-by-op update, with fewer graph nodes`, () => {
        const run = (compiled: boolean) => {
          mx.setCompileEnabled(compiled);
          try {
            const opt = make();
            let params: Record<string, mx.Array> = {
              w: mx.astype(
                mx.array([
                  [0.5, -1.25, 2],
                  [0.1, 0.2, -0.3],
                ]),
                dtype,
              ),
              b: mx.astype(mx.array([1, -2]), dtype),
            };
            let nodes = 0;
            for (let step = 1; step <= 4; step++) {
              const grads = {
                w: mx.astype(
                  mx.multiply(
                    mx.array([
                      [0.3, -0.7, 0.1],
                      [2, -0.5, 0.25],
                    ]),
                    step,
                  ),
                  dtype,
                ),
                b: mx.astype(mx.array([-0.2 * step, 0.9]), dtype),
              };
              params = opt.update(params, grads);
              nodes = Object.values(
                native
                  .graphOps([params.w, params.b].map((a) => handleOf(a)))
                  .split('\n')
                  .filter(Boolean)
                  .map((l) => Number(l.split('\t')[1])),
              ).reduce((a, b) => a + b, 0);
              mx.eval(params, opt.state);
            }
            return { values: [params.w, params.b].map((a) => Array.from(mx.astype(a, 'float32').dataSync() as Float32Array)), nodes };
          } finally {
            mx.setCompileEnabled(true);
          }
        };
        const plain = run(false);
        const fused = run(true);
        expect(fused.values).toEqual(plain.values);
        expect(fused.nodes).toBeLessThan(plain.nodes / 2);
      });
    }
  }
});

describe('clipGradNorm', () => {
  for (const c of golden.clip) {
    it(`maxNorm ${c.maxNorm}${c.half ? ' (float16 / bfloat16)' : ''}`, () => {
      const grads = c.half
        ? { a: mx.array([300, -200], { dtype: 'float16' }), b: mx.array([[1.5, 2.5]], { dtype: 'bfloat16' }) }
        : nest(golden.grads[0]);
      const [clipped, norm] = nn.clipGradNorm(grads, c.maxNorm);
      expect(Math.abs((norm.item() as number) - c.norm)).toBeLessThanOrEqual(1e-5 * Math.abs(c.norm));
      const flat = Object.fromEntries(mx.treeFlattenWithPaths(clipped));
      for (const [k, e] of Object.entries(c.clipped)) expectClose(flat[k], e, k, 2e-3, 1e-6);
    });
  }
  it('rejects a negative maxNorm', () => {
    expect(() => nn.clipGradNorm({ a: mx.ones([2]) }, -1)).toThrow(/maxNorm/);
  });
});

describe('optimizer behaviour', () => {
  it('updates a Module-like object through trainableParameters() and update(tree)', () => {
    let tree: Record<string, unknown> = { w: mx.array([1, 2], { dtype: 'float32' }), inner: { b: mx.array([0.5]) }, frozen: mx.array([7]) };
    const model = {
      trainableParameters: () => ({ w: tree.w, inner: tree.inner }),
      update(t: Record<string, unknown>) {
        tree = { ...tree, ...t };
        return this;
      },
    };
    const opt = new nn.SGD({ learningRate: 0.5 });
    const out = opt.update(model, { w: mx.array([1, 1], { dtype: 'float32' }), inner: { b: mx.array([2], { dtype: 'float32' }) } });
    expect((tree.w as mx.Array).tolist()).toEqual([0.5, 1.5]);
    expect((tree.inner as Record<string, mx.Array>).b.tolist()).toEqual([-0.5]);
    expect((tree.frozen as mx.Array).tolist()).toEqual([7]);
    expect(Object.keys(out)).toEqual(['w', 'inner']);
    expect(opt.step.item()).toBe(1n);
  });

  it('counts steps per update, not per parameter, and state survives tidy', () => {
    const opt = new nn.Adam({ learningRate: 0.1 });
    let p: Record<string, mx.Array> = { a: mx.ones([2]), b: mx.ones([3]), c: mx.ones([1]) };
    for (let i = 0; i < 3; i++) p = mx.tidy(() => opt.update(p, { a: mx.ones([2]), b: mx.ones([3]), c: mx.ones([1]) }));
    mx.eval(p, opt.state);
    expect(opt.step.item()).toBe(3n);
    expect(((opt.state.a as nn.ParamState).m.tolist() as number[])[0]).toBeCloseTo(1 - 0.9 ** 3, 6);
  });

  it('owns its state: replaced state arrays are freed, so a long loop stays flat', () => {
    const opt = new nn.AdamW({ learningRate: nn.cosineDecay(0.1, 100) });
    let p: Record<string, mx.Array> = { w: mx.random.normal([256, 256]), b: mx.zeros([256]) };
    const stepOnce = () => {
      const next = mx.tidy(() => opt.update(p, { w: mx.onesLike(p.w), b: mx.onesLike(p.b) }));
      mx.eval(next, opt.state);
      mx.dispose(p);
      p = next;
    };
    for (let i = 0; i < 5; i++) stepOnce();
    const before = mx.memory().active;
    for (let i = 0; i < 50; i++) stepOnce();
    expect(mx.memory().active).toBeLessThanOrEqual(before + 64 * 1024);
    expect(opt.step.item()).toBe(55n);
  });

  it('a Module updated inside tidy keeps its new parameters without returning them', () => {
    const layer = new nn.Linear(3, 2);
    const opt = new nn.SGD({ learningRate: 0.01, momentum: 0.5 });
    const lossAndGrad = nn.valueAndGrad(layer, (x: mx.Array) => mx.sum(mx.square(layer.forward(x))));
    const x = mx.ones([4, 3]);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      mx.tidy(() => {
        const [l, g] = lossAndGrad(x);
        opt.update(layer, g);
        mx.eval(layer.parameters(), opt.state);
        losses.push(l.item() as number);
      });
    }
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(() => mx.eval(layer.parameters())).not.toThrow();
  });

  it('init() creates the state before the first update; a learning rate can be set', () => {
    const opt = new nn.SGD({ learningRate: 0.1, momentum: 0.9 });
    opt.init({ weight: mx.ones([2, 2]), bias: mx.ones([2]) });
    expect(Object.keys(opt.state)).toEqual(['step', 'learning_rate', 'weight', 'bias']);
    opt.learningRate = 0.25;
    expect(opt.learningRate.item()).toBe(0.25);
  });

  it('rejects bad options and gradients without parameters', () => {
    expect(() => new nn.SGD({ learningRate: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new nn.Adam({ learningRate: 0.1, betas: [1, 0.9] })).toThrow(/beta1/);
    expect(() => new nn.Lion({ learningRate: 0.1, betas: [0.9, -1] })).toThrow(/beta2/);
    expect(() => new nn.RMSprop({ learningRate: 0.1, eps: 0 })).toThrow(/eps/);
    expect(() => new nn.Adagrad({ learningRate: 0.1, eps: -1 })).toThrow(/eps/);
    expect(() => new nn.Adafactor({ relativeStep: false })).toThrow(/learningRate/);
    const opt = new nn.SGD({ learningRate: 0.1 });
    expect(() => opt.update({ a: mx.ones([2]) }, { b: mx.ones([2]) })).toThrow(/gradient 'b' has no matching parameter/);
    expect(() => opt.update({ a: mx.ones([2]) }, [mx.ones([2])])).toThrow(/plain object/);
  });
});
