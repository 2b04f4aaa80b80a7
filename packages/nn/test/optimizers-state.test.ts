import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { inspectSafetensors, load, save } from '@mlxn/io';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'nn-opt-state-'));

// A small regression problem on a plain parameter tree (list and nested objects included).
mx.random.seed(7);
const X = mx.random.normal([32, 4]);
const Y = mx.random.normal([32, 2]);
type P = { l: [{ w: mx.Array; b: mx.Array }, { w: mx.Array }]; s: { g: mx.Array } };
const init = (): P => ({
  l: [{ w: mx.multiply(mx.ones([4, 8]), 0.1), b: mx.zeros([8]) }, { w: mx.multiply(mx.ones([8, 2]), -0.05) }],
  s: { g: mx.ones([2]) },
});
const loss = (p: P) => {
  const h = mx.tanh(mx.add(mx.matmul(X, p.l[0].w), p.l[0].b));
  return nn.mseLoss(mx.multiply(mx.matmul(h, p.l[1].w), p.s.g), Y);
};
const lossAndGrad = mx.valueAndGrad(loss);

function run(opt: nn.Optimizer, p: P, steps: number): P {
  for (let i = 0; i < steps; i++) {
    p = mx.tidy(() => {
      const [, g] = lossAndGrad(p);
      const [clipped] = nn.clipGradNorm(g, 5.0);
      return opt.update(p, clipped);
    });
    mx.eval(p, opt.state);
  }
  return p;
}

const flat = (t: unknown) => mx.treeFlattenWithPaths(t).map(([k, a]) => [k, a.dtype, Array.from(a.dataSync() as ArrayLike<number>)]);

const makers: [string, () => nn.Optimizer][] = [
  [
    'AdamW + warmup/cosine schedule',
    () =>
      new nn.AdamW({
        learningRate: nn.joinSchedules([nn.linearSchedule(0, 0.05, 3), nn.cosineDecay(0.05, 10)], [3]),
        biasCorrection: true,
      }),
  ],
  ['SGD nesterov', () => new nn.SGD({ learningRate: 0.05, momentum: 0.9, nesterov: true })],
  ['Adafactor (first moment)', () => new nn.Adafactor({ beta1: 0.9 })],
  ['Lion', () => new nn.Lion({ learningRate: 0.01, weightDecay: 0.1 })],
  ['RMSprop', () => new nn.RMSprop({ learningRate: 0.01 })],
  ['Adagrad', () => new nn.Adagrad({ learningRate: 0.05 })],
];

describe('optimizer state files: a resumed run continues exactly', () => {
  for (const [name, make] of makers) {
    it(name, async () => {
      const straight = run(make(), init(), 8);

      const opt1 = make();
      const half = run(opt1, init(), 5);
      const stateFile = join(dir, `${name.replace(/\W+/g, '_')}.safetensors`);
      const paramFile = join(dir, `${name.replace(/\W+/g, '_')}-params.safetensors`);
      await opt1.saveState(stateFile, { metadata: { note: 'epoch 1' } });
      await save(paramFile, Object.fromEntries(mx.treeFlattenWithPaths(half)));

      const opt2 = make();
      const meta = await opt2.loadState(stateFile);
      expect(meta.optimizer).toBe(opt1.constructor.name);
      expect(meta.note).toBe('epoch 1');
      expect(opt2.step.dtype).toBe('uint64');
      expect(opt2.step.item()).toBe(5n);
      const { arrays } = await load(paramFile);
      const resumedParams: P = { l: [{ w: arrays['l.0.w'], b: arrays['l.0.b'] }, { w: arrays['l.1.w'] }], s: { g: arrays['s.g'] } };
      const resumed = run(opt2, resumedParams, 3);

      expect(flat(resumed)).toEqual(flat(straight)); // bit for bit
      expect(opt2.step.item()).toBe(8n);
    });
  }

  it('uses the layout of Python tree_flatten(opt.state) and stores the optimizer in the metadata', () => {
    const opt = new nn.Adam({ learningRate: 1e-3 });
    run(opt, init(), 1);
    const file = join(dir, 'layout.safetensors');
    opt.saveStateSync(file);
    const info = inspectSafetensors(file);
    expect(info.tensors.map((t) => t.name).sort()).toEqual(
      ['learning_rate', 'step', 'l.0.w.m', 'l.0.w.v', 'l.0.b.m', 'l.0.b.v', 'l.1.w.m', 'l.1.w.v', 's.g.m', 's.g.v'].sort(),
    );
    expect(info.metadata?.format).toBe('mlxn-optimizer-state');
    expect(JSON.parse(info.metadata?.hyperparameters ?? '{}')).toEqual({ betas: [0.9, 0.999], eps: 1e-8, biasCorrection: false });
    const again = new nn.Adam({ learningRate: 1 });
    again.loadStateSync(file);
    expect(again.learningRate.item()).toBe(Math.fround(1e-3));
  });

  it('loads a state file without our metadata (as Python writes it)', async () => {
    const file = join(dir, 'python-like.safetensors');
    await save(file, { step: mx.array(3, { dtype: 'uint64' }), learning_rate: mx.array(0.1), 'w.v': mx.ones([2]) });
    const opt = new nn.SGD({ learningRate: 0.5, momentum: 0.5 });
    await opt.loadState(file);
    const p = opt.update({ w: mx.zeros([2]) }, { w: mx.ones([2]) }) as { w: mx.Array };
    // v = 0.5 * 1 + 1 = 1.5; w = 0 - 0.1 * 1.5
    expect(Array.from(p.w.dataSync() as Float32Array)).toEqual([Math.fround(-0.15), Math.fround(-0.15)]);
    expect(opt.step.item()).toBe(4n);
  });

  it("refuses another optimizer's state and files that are not optimizer states", async () => {
    const file = join(dir, 'adam.safetensors');
    const adam = new nn.Adam({ learningRate: 1e-3 });
    run(adam, init(), 1);
    await adam.saveState(file);
    await expect(new nn.SGD({ learningRate: 0.1 }).loadState(file)).rejects.toThrow(/optimizer state of Adam, not SGD/);
    const other = join(dir, 'weights.safetensors');
    await save(other, { w: mx.ones([2]) });
    await expect(new nn.Adam({ learningRate: 0.1 }).loadState(other)).rejects.toThrow(/no 'step' tensor/);
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not a safetensors file');
    await expect(new nn.Adam({ learningRate: 0.1 }).loadState(junk)).rejects.toThrow(/junk\.safetensors/);
    // The failed loads left the optimizer usable.
    const opt = new nn.Adam({ learningRate: 0.1 });
    await expect(opt.loadState(other)).rejects.toThrow();
    expect(opt.step.item()).toBe(0n);
  });
});
