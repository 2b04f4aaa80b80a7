// loadWeights / saveWeights through @mlxn/io, and precise errors for bad weight sets.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { save } from '@mlxn/io';
import { afterAll, describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

class Net extends nn.Module {
  inProj = new nn.Linear(4, 8);
  norm = new nn.RMSNorm(8);
  outProj = new nn.Linear(8, 2, { bias: false });
  forward(x: mx.Array) {
    return this.outProj.forward(this.norm.forward(nn.relu(this.inProj.forward(x))));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'nn-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('saveWeights / loadWeights', () => {
  it('round-trips through a safetensors file with checkpoint keys', async () => {
    const a = new Net();
    const file = join(dir, 'net.safetensors');
    await a.saveWeights(file, { metadata: { format: 'mlx' } });
    const b = new Net().loadWeights(file);
    const x = mx.random.normal([3, 4]);
    expect(b.forward(x).tolist()).toEqual(a.forward(x).tolist());
    expect(b.namedParameters().map(([k]) => k)).toEqual(['in_proj.weight', 'in_proj.bias', 'norm.weight', 'out_proj.weight']);
  });

  it('round-trips through a sharded Hugging Face folder', () => {
    const a = new Net();
    const folder = join(dir, 'folder');
    a.saveWeightsSync(folder);
    const b = new Net().loadWeights(folder);
    expect(b.inProj.weight.tolist()).toEqual(a.inProj.weight.tolist());
  });

  it('accepts [name, array] entries, a Map and a plain record', () => {
    const a = new Net();
    const b = new Net().loadWeights(a.namedParameters());
    expect(b.norm.weight).toBe(a.norm.weight);
    new Net().loadWeights(new Map(a.namedParameters()));
    new Net().loadWeights(Object.fromEntries(a.namedParameters()));
  });

  it('reports every missing, unexpected and mis-shaped weight at once, changing nothing', () => {
    const m = new Net();
    const before = m.namedParameters().map(([, a]) => a);
    const entries: [string, mx.Array][] = [
      ['in_proj.weight', mx.zeros([4, 8])],
      ['in_proj.bias', mx.zeros([8])],
      ['norm.weight', mx.zeros([8])],
      ['out_proj.bias', mx.zeros([2])],
    ];
    expect(() => m.loadWeights(entries)).toThrow(
      "loadWeights: 1 weight missing: 'out_proj.weight'; 1 weight unexpected: 'out_proj.bias'; 1 weight with the wrong shape: 'in_proj.weight' expected shape [8, 4] but got [4, 8]",
    );
    expect(m.namedParameters().map(([, a]) => a)).toEqual(before);
  });

  it('non-strict loads a subset but still rejects wrong shapes', () => {
    const m = new Net();
    const w = mx.ones([8]);
    m.loadWeights(
      [
        ['norm.weight', w],
        ['extra.thing', mx.ones([1])],
      ],
      { strict: false },
    );
    expect(m.norm.weight).toBe(w);
    expect(() => m.loadWeights([['norm.weight', mx.ones([9])]], { strict: false })).toThrow(
      "loadWeights: 1 weight with the wrong shape: 'norm.weight' expected shape [8] but got [9]",
    );
  });

  it('names the file in errors, and rejects camelCase names (checkpoints use snake_case)', async () => {
    const file = join(dir, 'bad.safetensors');
    await save(file, { 'inProj.weight': mx.zeros([8, 4]) });
    expect(() => new Net().loadWeights(file, { strict: false })).not.toThrow();
    expect(() => new Net().loadWeights(file)).toThrow(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 4 weights missing: .*1 weight unexpected: 'inProj.weight'$`),
    );
    expect(() => new Net().loadWeights(join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors/);
  });

  it('rejects malformed sources and duplicate names', () => {
    const m = new Net();
    expect(() =>
      m.loadWeights(
        [
          ['norm.weight', mx.ones([8])],
          ['norm.weight', mx.ones([8])],
        ],
        { strict: false },
      ),
    ).toThrow("weight 'norm.weight' is given more than once");
    expect(() => m.loadWeights([['norm.weight', [1, 2] as unknown as mx.Array]], { strict: false })).toThrow(
      /'norm.weight' is not an mx.Array/,
    );
    expect(() => m.loadWeights(42 as unknown as string)).toThrow(/expected a path/);
    expect(() => m.loadWeights([['a'] as unknown as [string, mx.Array]])).toThrow(/\[name, array\] pairs/);
  });

  it('assignCheckedWeights puts weights checked elsewhere into their slots, and still refuses a name the module lacks', () => {
    const m = new Net();
    const w = mx.ones([8]);
    m.assignCheckedWeights([['norm.weight', w]]);
    expect(m.norm.weight).toBe(w);
    expect(() => m.assignCheckedWeights([['norm.bias', mx.ones([8])]])).toThrow(
      "assignCheckedWeights: the module has no weight 'norm.bias'",
    );
  });
});

describe('bad inputs to layers throw and leave the layer intact', () => {
  it('wrong widths, ids out of range, float ids', () => {
    const lin = new nn.Linear(4, 2);
    expect(() => lin.forward(mx.ones([2, 3])).dataSync()).toThrow(mx.MlxError);
    expect(lin.forward(mx.ones([1, 4])).shape).toEqual([1, 2]);
    const emb = new nn.Embedding(5, 3);
    expect(() => emb.forward(mx.array([0, 5])).dataSync()).toThrow();
    expect(() => emb.forward(mx.array([0.5])).dataSync()).toThrow();
    expect(emb.forward(mx.array([4])).shape).toEqual([1, 3]);
    const norm = new nn.RMSNorm(4);
    expect(() => norm.forward(mx.ones([2, 3])).dataSync()).toThrow();
    const q = new nn.QuantizedLinear(64, 8);
    expect(() => q.forward(mx.ones([1, 32])).dataSync()).toThrow();
  });
});
