// Who frees what in a training step: the model owns its parameters, the optimizer its state,
// and valueAndGrad / clipGradNorm / optimizer updates free their own intermediates. Nothing a
// user claimed with mx.keep, and nothing still in the model, is ever disposed.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

class Net extends nn.Module {
  a = new nn.Linear(4, 8);
  b = new nn.Linear(8, 2);
  forward(x: mx.Array) {
    return this.b.forward(nn.relu(this.a.forward(x)));
  }
}

mx.random.seed(3);
const X = mx.random.normal([6, 4]);
const Y = mx.array([0, 1, 0, 1, 1, 0], { dtype: 'int32' });
const lossOf = (m: Net) => nn.valueAndGrad(m, (x: mx.Array, y: mx.Array) => nn.crossEntropy(m.forward(x), y, { reduction: 'mean' }));
const flat = (t: unknown) => mx.treeFlatten(t);

// A copy of the parameters kept per step would add 20 copies over the 20 steps. With the
// optimizers' compiled updates the exact byte count moves by a buffer or two from step to step
// (measured: up to 240 bytes either way on this 232-byte model, bounded over 40 steps; whether
// MLX reuses an input's buffer for an output varies), so flat means: less than three parameter
// copies more than after the warm-up.
// On a GPU, MLX frees a step's buffers only once the stream has finished it (a completion
// handler on another thread): synchronize before each reading, or it counts buffers about to go.
function expectFlat(model: Net, step: () => void): void {
  for (let i = 0; i < 3; i++) step();
  mx.synchronize();
  const active = mx.memory().active;
  for (let i = 0; i < 20; i++) step();
  mx.synchronize();
  const paramBytes = flat(model.parameters()).reduce((n, a) => n + (a as mx.Array).nbytes, 0);
  expect(mx.memory().active - active).toBeLessThan(3 * paramBytes);
}

describe('optimizer.update(model, grads)', () => {
  it('disposes the parameters it replaces and keeps the new ones out of tidy', () => {
    const model = new Net();
    const opt = new nn.SGD({ learningRate: 0.1, momentum: 0.9 });
    const lossAndGrad = lossOf(model);
    const before = flat(model.trainableParameters());
    const updated = mx.tidy(() => {
      const [, grads] = lossAndGrad(X, Y);
      return opt.update(model, grads);
    });
    expect(before.every((a) => a.disposed)).toBe(true);
    const now = flat(model.trainableParameters());
    expect(now.every((a) => !a.disposed && !a.kept)).toBe(true);
    expect(flat(updated)).toEqual(now);
    // The next update frees these in turn.
    const [l, g] = lossAndGrad(X, Y);
    opt.update(model, g);
    mx.dispose([l, g]);
    expect(now.every((a) => a.disposed)).toBe(true);
  });

  it('leaves alone what the user claimed with mx.keep, and what is still in the model', () => {
    const model = new Net();
    const snapshot = mx.keep(model.parameters());
    const opt = new nn.Adam({ learningRate: 0.01 });
    const [l, g] = lossOf(model)(X, Y);
    opt.update(model, g);
    mx.dispose([l, g]);
    expect(flat(snapshot).every((a) => !a.disposed)).toBe(true);
    expect(flat(snapshot).every((a, i) => a !== flat(model.parameters())[i])).toBe(true);
    mx.dispose(snapshot);

    // A weight tied into a frozen slot stays: it is still part of the model.
    const tied = new Net();
    const shared = tied.a.weight;
    (tied as unknown as { frozenCopy: nn.Linear }).frozenCopy = Object.assign(new nn.Linear(4, 8), { weight: shared });
    (tied as unknown as { frozenCopy: nn.Linear }).frozenCopy.freeze();
    const [l2, g2] = lossOf(tied)(X, Y);
    new nn.SGD({ learningRate: 0.1 }).update(tied, g2);
    mx.dispose([l2, g2]);
    expect(tied.a.weight).not.toBe(shared);
    expect(shared.disposed).toBe(false);
    expect(shared.shape).toEqual([8, 4]);
  });

  it('leaves a plain parameter tree to its caller', () => {
    const params = { w: mx.ones([3]) };
    const next = new nn.SGD({ learningRate: 0.5 }).update(params, { w: mx.ones([3]) });
    expect(params.w.disposed).toBe(false);
    expect(next.w.tolist()).toEqual([0.5, 0.5, 0.5]);
  });

  it('disposes the state it replaces unless kept, and the state assigned to it is its own', () => {
    const model = new Net();
    const opt = new nn.Adam({ learningRate: 0.01 });
    const step = () => {
      const [l, g] = lossOf(model)(X, Y);
      opt.update(model, g);
      mx.eval(model.parameters(), opt.state);
      mx.dispose([l, g]);
    };
    step();
    const m1 = (opt.state.a as { weight: { m: mx.Array } }).weight.m;
    const kept = mx.keep((opt.state.b as { weight: { m: mx.Array } }).weight.m);
    step();
    expect(m1.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    kept.dispose();
  });
});

describe('valueAndGrad and clipGradNorm free their intermediates', () => {
  it('disposes everything made while tracing; the value, aux outputs and gradients survive', () => {
    const model = new Net();
    let hidden: mx.Array | undefined;
    let claimed: mx.Array | undefined;
    const vg = nn.valueAndGrad(model, (x: mx.Array) => {
      hidden = nn.relu(model.a.forward(x));
      claimed = mx.keep(mx.sum(hidden));
      const logits = model.b.forward(hidden);
      return [mx.mean(mx.square(logits)), logits];
    });
    const params = flat(model.trainableParameters());
    const [[loss, logits], grads] = vg(X);
    expect(hidden!.disposed).toBe(true);
    expect(claimed!.disposed).toBe(false);
    expect(loss.disposed || logits.disposed).toBe(false);
    expect(logits.shape).toEqual([6, 2]);
    expect(flat(grads).every((g) => !g.disposed)).toBe(true);
    // The model holds its own parameters again, untouched.
    expect(flat(model.trainableParameters())).toEqual(params);
    expect(params.every((p) => !p.disposed)).toBe(true);
    mx.dispose([loss, logits, grads, claimed]);
  });

  it('keeps memory flat in the earlier README loop, which returned model.parameters() from tidy', () => {
    const model = new Net();
    const opt = new nn.AdamW({ learningRate: 1e-3 });
    const lossAndGrad = lossOf(model);
    const step = () => {
      const [loss] = mx.tidy(() => {
        const [l, grads] = lossAndGrad(X, Y);
        const [clipped] = nn.clipGradNorm(grads, 1);
        opt.update(model, clipped);
        mx.eval(l, model.parameters(), opt.state);
        return [l, model.parameters()] as const;
      });
      loss.item();
      loss.dispose();
    };
    expectFlat(model, step);
  });

  it('keeps MLX active memory unchanged by a step once its results are disposed, without tidy', () => {
    const model = new Net();
    const opt = new nn.AdamW({ learningRate: 1e-3, weightDecay: 0.01 });
    const lossAndGrad = lossOf(model);
    const step = () => {
      const [loss, grads] = lossAndGrad(X, Y);
      const [clipped, norm] = nn.clipGradNorm(grads, 1);
      opt.update(model, clipped);
      mx.eval(loss, model.parameters(), opt.state);
      loss.item();
      mx.dispose([loss, grads, clipped, norm]);
    };
    expectFlat(model, step);
  });
});
