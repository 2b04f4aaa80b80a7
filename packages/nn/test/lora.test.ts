// LoRA: values against mlx-lm's LoRALinear, adapters on plain and quantized linears chosen by
// key patterns, only adapters trained, adapter files, fusing back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { save } from '@mlxn/io';
import { afterAll, describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';
import { close, g } from './helpers.js';

class Attn extends nn.Module {
  qProj: nn.Linear;
  vProj: nn.Linear;
  oProj: nn.Linear;
  constructor(d: number) {
    super();
    this.qProj = new nn.Linear(d, d, { bias: false });
    this.vProj = new nn.Linear(d, d, { bias: false });
    this.oProj = new nn.Linear(d, d, { bias: false });
  }
  forward(x: mx.Array) {
    return this.oProj.forward(mx.multiply(nn.silu(this.qProj.forward(x)), this.vProj.forward(x)));
  }
}
class Model extends nn.Module {
  layers: { selfAttn: Attn }[];
  head: nn.Linear;
  constructor(d = 16) {
    super();
    this.layers = [{ selfAttn: new Attn(d) }, { selfAttn: new Attn(d) }];
    this.head = new nn.Linear(d, 4);
  }
  forward(x: mx.Array) {
    for (const l of this.layers) x = mx.add(x, l.selfAttn.forward(x));
    return this.head.forward(x);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'nn-lora-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sgdStep(model: nn.Module, loss: () => mx.Array, lr: number): number {
  const [l, grads] = nn.valueAndGrad(model, loss)();
  const params = model.trainableParameters();
  const next = mx.treeMap(params, (p) => p) as typeof params;
  const flatP = mx.treeFlatten(params);
  const flatG = mx.treeFlatten(grads);
  model.update(
    mx.treeUnflatten(
      next,
      flatP.map((p, i) => mx.subtract(p, mx.multiply(flatG[i], lr))),
    ),
  );
  return l.item() as number;
}

describe('LoRALinear', () => {
  it('matches mlx-lm: forward with given adapters and the fused weight', () => {
    const base = new nn.Linear(6, 5);
    base.update({ weight: g('linear.weight'), bias: g('linear.bias') });
    const lora = nn.LoRALinear.fromBase(base, { rank: 3, scale: 2 });
    lora.update({ loraA: g('lora.a'), loraB: g('lora.b') });
    close(lora.forward(g('linear.x')), g('lora.y'), 1e-5, 1e-5);
    const fused = lora.fuse() as nn.Linear;
    close(fused.weight, g('lora.fused_weight'), 1e-6, 1e-5);
    expect(fused.bias).toBe(base.bias);
    expect(lora.namedParameters().map(([k]) => k)).toEqual(['linear.weight', 'linear.bias', 'lora_a', 'lora_b']);
  });

  it('a fresh adapter leaves the output unchanged', () => {
    const base = new nn.Linear(8, 4);
    const x = mx.random.normal([2, 8]);
    close(nn.LoRALinear.fromBase(base).forward(x), base.forward(x), 0, 0);
  });
});

describe('LoRA training', () => {
  it('attaches by key pattern, trains only the adapters, base weights unchanged', () => {
    mx.random.seed(4);
    const model = new Model();
    const paths = nn.linearToLoRALayers(model, { targets: ['self_attn.q_proj', 'self_attn.v_proj'], rank: 4, scale: 1 });
    expect(paths).toEqual([
      'layers.0.self_attn.q_proj',
      'layers.0.self_attn.v_proj',
      'layers.1.self_attn.q_proj',
      'layers.1.self_attn.v_proj',
    ]);
    const trainable = model.namedTrainableParameters().map(([k]) => k);
    expect(trainable).toEqual(paths.flatMap((p) => [`${p}.lora_a`, `${p}.lora_b`]));
    const baseBefore = model
      .namedParameters()
      .filter(([k]) => !k.includes('lora_'))
      .map(([k, a]) => [k, a.tolist()]);
    const x = mx.random.normal([8, 16]);
    const y = mx.random.normal([8, 4]);
    const loss = () => mx.mean(mx.square(mx.subtract(model.forward(x), y)));
    const first = sgdStep(model, loss, 0.5);
    let last = first;
    for (let i = 0; i < 30; i++) last = sgdStep(model, loss, 0.5);
    expect(last).toBeLessThan(first * 0.9);
    const baseAfter = model
      .namedParameters()
      .filter(([k]) => !k.includes('lora_'))
      .map(([k, a]) => [k, a.tolist()]);
    expect(baseAfter).toEqual(baseBefore);
    const b = (model.layers[0].selfAttn.qProj as unknown as nn.LoRALinear).loraB;
    expect(mx.any(mx.notEqual(b, 0)).item()).toBe(true);
  });

  it('adapters on a quantized model; RegExp targets; fuse back re-quantizes', () => {
    mx.random.seed(5);
    const model = new Model(32);
    nn.quantize(model, { groupSize: 32, bits: 8 });
    nn.linearToLoRALayers(model, { targets: /o_proj$/, rank: 2 });
    const lora = model.layers[1].selfAttn.oProj as unknown as nn.LoRALinear;
    expect(lora.linear).toBeInstanceOf(nn.QuantizedLinear);
    expect(lora.linear.inputDims).toBe(32);
    lora.loraB = mx.random.normal([2, 32], { scale: 0.01 });
    const x = mx.random.normal([3, 32]);
    const before = model.forward(x);
    nn.fuseLoRA(model);
    expect(model.layers[1].selfAttn.oProj).toBeInstanceOf(nn.QuantizedLinear);
    close(model.forward(x), before, 5e-2, 5e-2);
    expect(() => nn.linearToLoRALayers(new Model(), { targets: ['nothing'] })).toThrow(/no linear layer matched/);
  });

  it('saves and loads adapter files; errors are precise', async () => {
    mx.random.seed(6);
    const a = new Model();
    nn.linearToLoRALayers(a, { targets: ['q_proj'], rank: 2 });
    (a.layers[0].selfAttn.qProj as unknown as nn.LoRALinear).loraB = mx.ones([2, 16]);
    const file = join(dir, 'adapters.safetensors');
    await nn.saveAdapters(a, file);
    const b = new Model();
    b.loadWeights(
      a
        .namedParameters()
        .filter(([k]) => !k.includes('lora_'))
        .map(([k, v]) => [k.replace('.linear.', '.'), v] as [string, mx.Array]),
    );
    nn.linearToLoRALayers(b, { targets: ['q_proj'], rank: 2 });
    nn.loadAdapters(b, file);
    const x = mx.random.normal([2, 16]);
    expect(b.forward(x).tolist()).toEqual(a.forward(x).tolist());
    // A model without adapters gets them attached where the file's metadata says.
    const fresh = new Model();
    fresh.loadWeights(
      b
        .namedParameters()
        .filter(([k]) => !k.includes('lora_'))
        .map(([k, v]) => [k.replace('.linear.', '.'), v] as [string, mx.Array]),
    );
    nn.loadAdapters(fresh, file);
    expect(fresh.layers[1].selfAttn.qProj).toBeInstanceOf(nn.LoRALinear);
    expect(fresh.namedTrainableParameters().map(([k]) => k)).toEqual(nn.adapterParameters(a).map(([k]) => k));
    expect(fresh.forward(x).tolist()).toEqual(a.forward(x).tolist());
    const c = new Model();
    nn.linearToLoRALayers(c, { targets: ['q_proj'], rank: 4 });
    expect(() => nn.loadAdapters(c, file)).toThrow(
      /wrong shape: 'layers.0.self_attn.q_proj.lora_a' expected shape \[16, 4\] but got \[16, 2\]/,
    );
    const d = new Model();
    nn.linearToLoRALayers(d, { targets: ['v_proj'], rank: 2 });
    expect(() => nn.loadAdapters(d, file)).toThrow(
      /4 weights missing: 'layers.0.self_attn.v_proj.lora_a', .*; 4 weights unexpected: 'layers.0.self_attn.q_proj.lora_a'/,
    );
    await expect(nn.saveAdapters(new Model(), file)).rejects.toThrow(/no LoRA adapters/);
    const extra = join(dir, 'extra.safetensors');
    await save(extra, { ...Object.fromEntries(nn.adapterParameters(a)), 'head.weight': mx.zeros([4, 16]) });
    expect(() => nn.loadAdapters(b, extra)).toThrow(/1 weight unexpected: 'head.weight'/);
  });
});

describe('LoRA initialisation from a key', () => {
  const adapters = (m: nn.Module) => nn.adapterParameters(m).map(([k, a]) => [k, Array.from(a.dataSync() as Float32Array)] as const);

  it('gives the same adapters for the same key whatever the global generator did, a different one per layer', () => {
    const targets = ['self_attn.q_proj', 'self_attn.v_proj'];
    mx.random.seed(1);
    const a = new Model();
    nn.linearToLoRALayers(a, { targets, rank: 2, key: mx.random.key(11) });
    mx.random.seed(2);
    mx.random.normal([3]); // the global sequence is elsewhere now
    const b = new Model();
    nn.linearToLoRALayers(b, { targets, rank: 2, key: mx.random.key(11) });
    const [ka, kb] = [adapters(a), adapters(b)];
    expect(kb).toEqual(ka);
    const loraA = ka.filter(([k]) => k.endsWith('lora_a')).map(([, v]) => v);
    expect(loraA).toHaveLength(4);
    expect(new Set(loraA.map((v) => v.join())).size).toBe(4);
    // loraA in ±1/√in, loraB zero (a fresh adapter changes nothing).
    for (const v of loraA) expect(v.every((x) => Math.abs(x) <= 1 / Math.sqrt(16))).toBe(true);
    for (const [k, v] of ka) if (k.endsWith('lora_b')) expect(v.every((x) => x === 0)).toBe(true);
    const c = new Model();
    nn.linearToLoRALayers(c, { targets, rank: 2, key: mx.random.key(12) });
    expect(adapters(c)).not.toEqual(ka);
  });

  it('rejects a key that is not an array', () => {
    expect(() => nn.linearToLoRALayers(new Model(), { key: 11 as unknown as mx.Array })).toThrow(/key must be an mx.Array/);
  });
});
