// The Module tree: parameters, checkpoint keys, freezing, modes, update/apply, user modules.
import * as mx from '@mlxn/core';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';

class Block extends nn.Module {
  selfAttn = new nn.MultiHeadAttention(8, 2);
  inputLayernorm = new nn.RMSNorm(8);
  mlp = { gateProj: new nn.Linear(8, 16, { bias: false }), downProj: new nn.Linear(16, 8, { bias: false }) };
  forward(x: mx.Array) {
    const h = mx.add(x, this.selfAttn.forward(...(Array(3).fill(this.inputLayernorm.forward(x)) as [mx.Array, mx.Array, mx.Array])));
    return mx.add(h, this.mlp.downProj.forward(nn.silu(this.mlp.gateProj.forward(h))));
  }
}

class Tiny extends nn.Module {
  embedTokens = new nn.Embedding(10, 8);
  layers = [new Block(), new Block()];
  scales = [mx.ones([2]), mx.zeros([2])];
  _cache = mx.zeros([3]); // private: not a parameter
  hiddenSize = 8; // not a tree value
  forward(ids: mx.Array) {
    let h = this.embedTokens.forward(ids);
    for (const l of this.layers) h = l.forward(h);
    return this.embedTokens.asLinear(h);
  }
}

describe('Module tree', () => {
  it('names parameters by checkpoint key (snake_case segments, list indices)', () => {
    const keys = new Tiny().namedParameters().map(([k]) => k);
    expect(keys).toContain('embed_tokens.weight');
    expect(keys).toContain('layers.1.self_attn.query_proj.weight');
    expect(keys).toContain('layers.0.input_layernorm.weight');
    expect(keys).toContain('layers.0.mlp.gate_proj.weight');
    expect(keys).toContain('scales.1');
    expect(keys.some((k) => k.includes('cache') || k.includes('hidden'))).toBe(false);
    expect(keys.length).toBe(1 + 2 * (4 + 1 + 2) + 2);
    expect(nn.checkpointKey('layers.0.selfAttn.qProj.weight')).toBe('layers.0.self_attn.q_proj.weight');
    expect(nn.propertyPath('model.embed_tokens.weight')).toBe('model.embedTokens.weight');
  });

  it('checkpointKey and propertyPath are inverses on the names either side produces', () => {
    for (const [path, key] of [
      ['layers.0.selfAttn.qProj.weight', 'layers.0.self_attn.q_proj.weight'],
      ['model.embedTokens.weight', 'model.embed_tokens.weight'],
      ['mlp.gateProj.scales', 'mlp.gate_proj.scales'],
      ['loraA', 'lora_a'],
      ['inputLayernorm.weight', 'input_layernorm.weight'],
      ['lmHead.biases', 'lm_head.biases'],
      ['w1', 'w1'],
      ['layers.12.blockSparseMoe.experts.3.w2.weight', 'layers.12.block_sparse_moe.experts.3.w2.weight'],
    ]) {
      expect(nn.checkpointKey(path)).toBe(key);
      expect(nn.propertyPath(key)).toBe(path);
    }
    // Runs of capitals are one word; underscores that do not start a word stay.
    expect(nn.checkpointKey('fcIO')).toBe('fc_io');
    expect(nn.checkpointKey('IOGate')).toBe('io_gate');
    expect(nn.checkpointKey('_private')).toBe('_private');
    expect(nn.propertyPath('_private')).toBe('_private');
    expect(nn.propertyPath('a_1')).toBe('a_1');
    expect(nn.propertyPath('trailing_')).toBe('trailing_');
    expect(nn.checkpointKey('')).toBe('');
  });

  it('parameters() mirrors the property structure', () => {
    const m = new Tiny();
    const p = m.parameters() as { layers: { mlp: { gateProj: { weight: mx.Array } } }[]; scales: mx.Array[] };
    expect(p.layers).toHaveLength(2);
    expect(p.layers[0].mlp.gateProj.weight).toBe(m.layers[0].mlp.gateProj.weight);
    expect(p.scales[1]).toBe(m.scales[1]);
    expect('_cache' in p || 'hiddenSize' in p).toBe(false);
    expect(m.numParameters()).toBe(m.namedParameters().reduce((n, [, a]) => n + a.size, 0));
  });

  it('children(), modules(), namedModules(), leafModules()', () => {
    const m = new Tiny();
    const c = m.children() as { embedTokens: nn.Module; layers: nn.Module[] };
    expect(c.embedTokens).toBe(m.embedTokens);
    expect(c.layers[1]).toBe(m.layers[1]);
    expect(c.layers[1]).toBeInstanceOf(Block); // children are direct: the Block, not its parts
    const names = m.namedModules().map(([p]) => p);
    expect(names[0]).toBe('');
    expect(names).toContain('layers.1.mlp.down_proj');
    expect(m.modules()).toHaveLength(names.length);
    expect(m.leafModules().map(([p]) => p)).toContain('layers.0.self_attn.out_proj');
    expect(m.leafModules().map(([p]) => p)).not.toContain('layers.0');
  });

  it('freeze / unfreeze, whole or by key (property or checkpoint spelling)', () => {
    const m = new Tiny();
    const total = m.namedParameters().length;
    m.freeze();
    expect(m.namedTrainableParameters()).toEqual([]);
    m.unfreeze({ keys: 'weight' });
    expect(m.namedTrainableParameters().every(([k]) => k.endsWith('.weight'))).toBe(true);
    m.unfreeze();
    expect(m.namedTrainableParameters()).toHaveLength(total);
    m.layers[0].freeze();
    expect(m.namedTrainableParameters().some(([k]) => k.startsWith('layers.0.'))).toBe(false);
    m.embedTokens.freeze({ keys: ['weight'], recurse: false });
    expect(m.namedTrainableParameters().some(([k]) => k.startsWith('embed_tokens'))).toBe(false);
    const t = m.trainableParameters() as { layers: { mlp: { gateProj: nn.ParamDict } }[] };
    expect(t.layers[0].mlp.gateProj).toEqual({}); // frozen children stay as empty placeholders
    expect(() => m.embedTokens.freeze({ keys: 'nope', strict: true })).toThrow(/Embedding has no parameter 'nope'/);
    m.unfreeze();
    m.freeze({ keys: 'input_layernorm', strict: false });
    const block = new Block();
    block.freeze({ keys: ['weight'] });
    expect(block.namedTrainableParameters()).toEqual([]);
  });

  it('train() / eval() reach every module', () => {
    const m = new nn.Sequential(new nn.Linear(2, 2), new nn.Dropout(0.5));
    expect(m.training).toBe(true);
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    m.train();
    expect((m.layers[1] as nn.Module).training).toBe(true);
  });

  it('update() takes partial trees and rejects unknown keys', () => {
    const m = new Tiny();
    const w = mx.zeros([16, 8]);
    m.update({ layers: [{}, { mlp: { gateProj: { weight: w } } }] });
    expect(m.layers[1].mlp.gateProj.weight).toBe(w);
    m.update({ scales: [mx.full([2], 5)] });
    expect(m.scales[0].tolist()).toEqual([5, 5]);
    expect(() => m.update({ layers: [{ bogus: w }] })).toThrow(/Tiny.layers.0 has no parameter 'bogus'/);
    expect(() => m.update({ embedTokens: w })).toThrow(/embedTokens is not a parameter/);
    m.update({ bogus: w }, false); // non-strict ignores it
  });

  it('apply() maps parameters (e.g. a dtype cast); applyToModules visits every module', () => {
    const m = new Tiny();
    m.apply((a) => mx.astype(a, 'bfloat16'));
    expect(m.namedParameters().every(([, a]) => a.dtype === 'bfloat16')).toBe(true);
    const seen: string[] = [];
    m.applyToModules((p) => seen.push(p));
    expect(seen).toContain('layers.1.self_attn');
  });

  it('setDtype casts floating parameters; describe() outlines the tree', () => {
    const m = new Tiny();
    m.setDtype('float16');
    expect(new Set(m.namedParameters().map(([, a]) => a.dtype))).toEqual(new Set(['float16']));
    const q = nn.quantize(new nn.Sequential(new nn.Linear(64, 64)), { bits: 8 });
    q.setDtype('bfloat16');
    expect((q.layers[0] as nn.QuantizedLinear).weight.dtype).toBe('uint32');
    expect((q.layers[0] as nn.QuantizedLinear).scales.dtype).toBe('bfloat16');
    const d = new Tiny().describe();
    expect(d.split('\n')[0]).toBe('(root): Tiny');
    expect(d).toContain('    layers.0.mlp.gate_proj: Linear (weight float32[16,8])');
  });

  it('a user module forward runs end to end', () => {
    const m = new Tiny();
    expect(m.forward(mx.array([[1, 2, 3]])).shape).toEqual([1, 3, 10]);
  });
});

describe('containers and small layers', () => {
  it('Sequential names its layers layers.i; functions and Identity pass through', () => {
    const s = new nn.Sequential(new nn.Linear(2, 3), nn.relu, new nn.Identity(), new nn.PReLU(3));
    expect(s.namedParameters().map(([k]) => k)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.3.weight']);
    const x = mx.array([[1, -1]]);
    const h = (s.layers[0] as nn.Linear).forward(x);
    const want = mx.add(mx.maximum(h, 0), mx.multiply(0.25, mx.minimum(mx.maximum(h, 0), 0)));
    expect(s.forward(x).tolist()).toEqual(want.tolist());
  });

  it('LoRA dropout acts only in training mode', () => {
    const l = new nn.LoRALinear(8, 4, { rank: 2, dropout: 0.5 });
    l.loraB = mx.ones([2, 4]);
    const x = mx.ones([16, 8]);
    mx.random.seed(1);
    const a = l.forward(x);
    l.eval();
    const b = l.forward(x);
    expect(mx.allclose(a, b).item()).toBe(false);
    expect(mx.allclose(l.forward(x), b).item()).toBe(true);
  });

  it('constructors validate their sizes', () => {
    expect(() => new nn.Linear(0, 2)).toThrow('Linear: inputDims must be a positive integer, got 0');
    expect(() => new nn.Embedding(4, 2.5)).toThrow('Embedding: dims must be a positive integer, got 2.5');
    expect(() => new nn.RMSNorm(-1)).toThrow(/RMSNorm: dims/);
    expect(() => new nn.LoRALinear(4, 4, { rank: 0 })).toThrow(/rank must be a positive integer/);
  });
});
