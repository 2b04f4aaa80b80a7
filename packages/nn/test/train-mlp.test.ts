// End to end: a TypeScript MLP (Module + Linear) trained with crossEntropy, AdamW, a warmup/cosine
// schedule and gradient clipping on a synthetic 3-class problem.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

class MLP extends nn.Module {
  layers: nn.Linear[];
  constructor(dims: number[]) {
    super();
    this.layers = dims.slice(1).map((d, i) => new nn.Linear(dims[i], d));
  }
  forward(x: mx.Array): mx.Array {
    this.layers.forEach((l, i) => {
      x = l.forward(x);
      if (i < this.layers.length - 1) x = nn.relu(x);
    });
    return x;
  }
}

// Points in [-1, 1]²: inside a disc → 0, else right half → 1, left half → 2; a margin around
// every boundary keeps the classes separable.
function dataset(n: number, seed: number): { x: mx.Array; y: mx.Array; labels: number[] } {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const xs: number[][] = [];
  const labels: number[] = [];
  while (labels.length < n) {
    const p = [rand() * 2 - 1, rand() * 2 - 1];
    const r = Math.hypot(p[0], p[1]);
    if (Math.abs(r - 0.55) < 0.08 || (r > 0.55 && Math.abs(p[0]) < 0.08)) continue;
    xs.push(p);
    labels.push(r < 0.55 ? 0 : p[0] > 0 ? 1 : 2);
  }
  return { x: mx.array(xs, { dtype: 'float32' }), y: mx.array(labels, { dtype: 'int32' }), labels };
}

const accuracy = (model: MLP, x: mx.Array, y: mx.Array) =>
  mx.tidy(() => mx.mean(mx.astype(mx.equal(mx.argmax(model.forward(x), -1), y), 'float32')).item() as number);

describe('training an MLP', () => {
  it('reaches >= 98% accuracy on held-out data', () => {
    const t0 = performance.now();
    mx.random.seed(0);
    const train = dataset(1024, 1);
    const test = dataset(512, 2);
    const model = new MLP([2, 32, 32, 3]);
    const steps = 400;
    const opt = new nn.AdamW({
      learningRate: nn.joinSchedules([nn.linearSchedule(1e-3, 2e-2, 20), nn.cosineDecay(2e-2, steps - 20, 1e-3)], [20]),
      weightDecay: 1e-4,
    });
    const lossAndGrad = nn.valueAndGrad(model, (x: mx.Array, y: mx.Array) => nn.crossEntropy(model.forward(x), y, { reduction: 'mean' }));

    const batch = 128;
    let first = NaN;
    let last = NaN;
    for (let step = 0; step < steps; step++) {
      const start = (step * batch) % 1024;
      const loss = mx.tidy(() => {
        const xb = train.x.index(mx.sl(start, start + batch));
        const yb = train.y.index(mx.sl(start, start + batch));
        const [l, grads] = lossAndGrad(xb, yb);
        const [clipped] = nn.clipGradNorm(grads, 10);
        opt.update(model, clipped);
        mx.eval(l, model.parameters(), opt.state);
        return [l, model.parameters()] as const;
      })[0];
      const v = loss.item() as number;
      if (step === 0) first = v;
      last = v;
    }
    const acc = accuracy(model, test.x, test.y);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `MLP: loss ${first.toFixed(3)} → ${last.toFixed(3)}, held-out accuracy ${(acc * 100).toFixed(1)}%, ${seconds.toFixed(1)} s`,
    );
    expect(last).toBeLessThan(first / 5);
    expect(acc).toBeGreaterThanOrEqual(0.98);
    expect(accuracy(model, train.x, train.y)).toBeGreaterThanOrEqual(0.98);
    expect(opt.step.item()).toBe(BigInt(steps));
    expect(seconds).toBeLessThan(20);
  }, 30_000);
});
