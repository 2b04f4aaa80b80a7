// valueAndGrad over the trainable tree, checked against central finite differences (float64
// on the CPU stream for accuracy), and only trainable parameters get gradients.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

function fdCheck(model: nn.Module, loss: () => mx.Array, eps = 1e-3, tol = 2e-3): void {
  const [, grads] = nn.valueAndGrad(model, loss)();
  const flat = new Map<string, mx.Array>();
  const walk = (t: unknown, p: string) => {
    if (t instanceof mx.Array) flat.set(p, t);
    else if (Array.isArray(t)) for (const [i, v] of t.entries()) walk(v, `${p}.${i}`);
    else if (t && typeof t === 'object') for (const [k, v] of Object.entries(t)) walk(v, p ? `${p}.${k}` : k);
  };
  walk(grads, '');
  expect(flat.size).toBeGreaterThan(0);
  for (const [path, g] of flat) {
    const keys = path.split('.');
    const owner = keys.slice(0, -1).reduce((o, k) => o[k] as Record<string, unknown>, model as unknown as Record<string, unknown>);
    const last = keys[keys.length - 1];
    const base = owner[last] as mx.Array;
    const values = Array.from(base.dataSync() as Float32Array);
    const gv = g.dataSync() as Float32Array;
    // A few coordinates per tensor keep the test fast.
    for (const i of [0, Math.floor(values.length / 2), values.length - 1]) {
      const at = (d: number) => {
        const v = values.slice();
        v[i] += d;
        owner[last] = mx.reshape(mx.array(Float32Array.from(v)), base.shape);
        const l = loss().item() as number;
        owner[last] = base;
        return l;
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      expect(Math.abs(fd - gv[i]), `${path}[${i}]: fd ${fd} vs grad ${gv[i]}`).toBeLessThan(tol * Math.max(1, Math.abs(fd)));
    }
  }
}

describe('valueAndGrad', () => {
  it('matches finite differences through Linear, LayerNorm, RMSNorm, activations', () => {
    mx.random.seed(1);
    const model = new nn.Sequential(new nn.Linear(4, 6), new nn.LayerNorm(6), nn.gelu, new nn.Linear(6, 3), new nn.RMSNorm(3), nn.softplus);
    const x = mx.random.normal([5, 4]);
    fdCheck(model, () => mx.sum(mx.square(model.forward(x))));
  });

  it('matches finite differences through attention, RoPE and embeddings', () => {
    mx.random.seed(2);
    class Attn extends nn.Module {
      embed = new nn.Embedding(7, 8);
      attn = new nn.MultiHeadAttention(8, 4, { numKvHeads: 2, bias: true });
      rope = new nn.RoPE(2);
      forward(ids: mx.Array) {
        const h = this.rope.forward(this.embed.forward(ids));
        return this.attn.forward(h, h, h, 'causal');
      }
    }
    const m = new Attn();
    const ids = mx.array([[1, 4, 6, 2]]);
    fdCheck(m, () => mx.mean(mx.square(m.forward(ids))));
  });

  it('returns the loss and a tree shaped like trainableParameters(); frozen parts get none', () => {
    const m = new nn.Sequential(new nn.Linear(3, 3), new nn.Linear(3, 1));
    (m.layers[0] as nn.Module).freeze();
    const x = mx.ones([2, 3]);
    const [loss, grads] = nn.valueAndGrad(m, (v: mx.Array) => mx.sum(m.forward(v)))(x);
    expect(typeof loss.item()).toBe('number');
    const layers = grads.layers as nn.ParamTree[];
    expect(layers[0]).toEqual({});
    expect(Object.keys(layers[1])).toEqual(['weight', 'bias']);
    // The model holds its own arrays again after the call.
    const before = m.namedParameters().map(([, a]) => a);
    nn.valueAndGrad(m, (v: mx.Array) => mx.sum(m.forward(v)))(x);
    expect(m.namedParameters().map(([, a]) => a)).toEqual(before);
  });

  it('rethrows errors from the loss function and leaves the model intact', () => {
    const m = new nn.Linear(2, 2);
    const w = m.weight;
    expect(() =>
      nn.valueAndGrad(m, () => {
        throw new Error('boom');
      })(),
    ).toThrow('boom');
    expect(m.weight).toBe(w);
  });
});
