// Stacked q/k/v and gate/up storage (fused-projections.ts): the same numbers as separate
// projections, fewer matmuls per step, the checkpoint's parameter tree and memory unchanged,
// and a clean fallback when parameters are replaced.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePromptCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import * as internal from '@mlxn/core/internal';
import { type Linear, LoRALinear, linearToLoRALayers, type QuantizedLinear } from '@mlxn/nn';
import { afterAll, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { fusedGroup } from '../src/fused-projections.js';
import { Qwen3 } from '../src/index.js';
import { tinyQwen3Path } from './helpers.js';

// Stacking is on by default on a GPU only; these tests run it on the CPU.
process.env.MLXN_FUSED_PROJECTIONS = '1';
const scratch = mkdtempSync(join(tmpdir(), 'mlxn-fused-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fused(model: Qwen3, i: number): { qkv: boolean; gateUp: boolean } {
  const a = model.layers[i].selfAttn;
  const m = model.layers[i].mlp as unknown as { gateProj: unknown; upProj: unknown };
  return { qkv: fusedGroup(a, [a.qProj, a.kProj, a.vProj]) !== undefined, gateUp: fusedGroup(m, [m.gateProj, m.upProj]) !== undefined };
}

const ops = (a: mx.Array): Record<string, number> => graphOpCounts(internal, a);

/** Float32 copies of every parameter, by name. */
function snapshot(model: Qwen3): Map<string, Float32Array> {
  return new Map(model.namedParameters().map(([k, a]) => [k, mx.tidy(() => mx.astype(a, 'float32').dataSync() as Float32Array)]));
}

/** Prompt logits, then 20 greedy steps through the cache: [logits of each step, tokens]. */
function decode(model: Qwen3, cache = model.makeCache()): [Float32Array[], number[]] {
  const logits: Float32Array[] = [];
  const tokens: number[] = [];
  let next = mx.array([[3, 1, 4, 1, 5, 9]], 'int32');
  for (let i = 0; i < 20; i++) {
    const l = mx.tidy(() => {
      const out = model.forward(next, { cache });
      return mx.astype(out, 'float32').dataSync() as Float32Array;
    });
    logits.push(l);
    const vocab = model.config.vocabSize;
    const last = l.subarray(l.length - vocab);
    let best = 0;
    for (let j = 1; j < vocab; j++) if (last[j] > last[best]) best = j;
    tokens.push(best);
    next.dispose();
    next = mx.array([[best]], 'int32');
  }
  for (const c of cache) c.dispose();
  return [logits, tokens];
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

/** Caches made without `makeCache`, so the model's projections stay as they are. */
function plainCache(model: Qwen3) {
  return makePromptCache({ numLayers: model.layers.length });
}

/** Replaces q and gate of every layer with equal copies (what an optimizer step does). */
function replaceSome(model: Qwen3): void {
  for (const layer of model.layers) {
    const q = layer.selfAttn.qProj as Linear;
    q.weight = mx.add(q.weight, 0);
    const g = (layer.mlp as unknown as { gateProj?: Linear }).gateProj;
    if (g) g.weight = mx.add(g.weight, 0);
  }
}

/** Matmuls in the graph of one decode step after a 3-token prefill. */
function matmulsPerStep(model: Qwen3, cache: ReturnType<Qwen3['makeCache']>): number {
  const n = mx.tidy(() => {
    mx.eval(model.forward(mx.array([[1, 2, 3]], 'int32'), { cache }));
    return ops(model.forward(mx.array([[4]], 'int32'), { cache })).Matmul ?? 0;
  });
  for (const c of cache) c.dispose();
  return n;
}

describe.each(['dense', 'dense-4bit', 'moe'] as const)('fused projections: %s', (kind) => {
  it('makeCache stacks them; parameter names, values and decoding are unchanged', async () => {
    const model = await Qwen3.load(tinyQwen3Path(kind));
    const before = snapshot(model);
    const separate = decode(model, plainCache(model));
    expect(fused(model, 0).qkv).toBe(false);
    const cache = model.makeCache();
    expect(fused(model, 0).qkv).toBe(true);
    // The MoE fixture's first layer is sparse (no gate/up pair).
    if (kind !== 'moe') expect(fused(model, 0).gateUp).toBe(true);
    const after = snapshot(model);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [k, v] of before) expect(after.get(k)).toEqual(v);
    const [logits, tokens] = decode(model, cache);
    expect(tokens).toEqual(separate[1]);
    expect(maxDiff(logits, separate[0])).toBeLessThanOrEqual(1e-5);
  });
});

describe('fused projections', () => {
  it('are made by default on a GPU only, and never with MLXN_FUSED_PROJECTIONS=0', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    try {
      delete process.env.MLXN_FUSED_PROJECTIONS;
      for (const c of model.makeCache()) c.dispose();
      expect(fused(model, 0).qkv).toBe(mx.defaultDevice().type === 'gpu');
      process.env.MLXN_FUSED_PROJECTIONS = '0';
      replaceSome(model);
      for (const c of model.makeCache()) c.dispose();
      expect(fused(model, 0).qkv).toBe(false);
    } finally {
      process.env.MLXN_FUSED_PROJECTIONS = '1';
    }
  });

  it('a decode step runs one matmul for q/k/v and one for gate/up; replaced weights fall back until the next makeCache', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const stacked = matmulsPerStep(model, model.makeCache());
    replaceSome(model);
    expect(fused(model, 0)).toEqual({ qkv: false, gateUp: false });
    const separate = matmulsPerStep(model, plainCache(model));
    expect(separate - stacked).toBe(3 * model.layers.length);
    expect(matmulsPerStep(model, model.makeCache())).toBe(stacked);
    expect(fused(model, 0)).toEqual({ qkv: true, gateUp: true });
    // Without a cache (training, scoring) the projections stay separate.
    const noCache = mx.tidy(() => ops(model.forward(mx.array([[4]], 'int32'))).Matmul ?? 0);
    expect(noCache).toBe(separate);
  });

  it('keeps the parameter objects (held references stay valid and equal) and memory flat', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const a = model.layers[0].selfAttn;
    // A reference held without mx.keep, as a user comparing weights before and after would hold it.
    const heldQ = (a.qProj as Linear).weight;
    const valuesQ = heldQ.tolist();
    mx.eval(model.parameters());
    const active = mx.memory().active;
    const m0 = model.layers[0].mlp as unknown as { gateProj: Linear; upProj: Linear };
    const layerBytes = [a.qProj, a.kProj, a.vProj, m0.gateProj, m0.upProj].reduce((n, p) => n + (p as Linear).weight.nbytes, 0);
    mx.resetPeakMemory();
    for (const c of model.makeCache()) c.dispose();
    expect(fused(model, 0)).toEqual({ qkv: true, gateUp: true });
    expect(fused(model, model.layers.length - 1)).toEqual({ qkv: true, gateUp: true });
    expect(mx.memory().peak - active).toBeLessThanOrEqual(layerBytes + 65536);
    expect(heldQ.disposed).toBe(false);
    expect((a.qProj as Linear).weight).toBe(heldQ);
    expect(heldQ.tolist()).toEqual(valuesQ);
    // Nothing is held twice: the stacked arrays are the only copy of the weights.
    expect(mx.memory().active - active).toBeLessThanOrEqual(4096);
    // A claimed reference is the parameter too, and stays usable after the model moves on.
    const heldK = mx.keep((a.kProj as Linear).weight);
    replaceSome(model);
    for (const c of model.makeCache()) c.dispose();
    expect(heldK.disposed).toBe(false);
    heldK.dispose();
  });

  it('saves the checkpoint layout that loads back equal', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense-4bit'));
    for (const c of model.makeCache()) c.dispose();
    expect(fused(model, 1).qkv).toBe(true);
    const dir = join(scratch, 'saved');
    await model.save(dir);
    const again = await Qwen3.load(dir);
    const [x, y] = [snapshot(model), snapshot(again)];
    expect([...y.keys()].sort()).toEqual([...x.keys()].sort());
    for (const [k, v] of x) expect(y.get(k)).toEqual(v);
    expect(fused(again, 1).qkv).toBe(false);
  });

  it('leaves LoRA projections apart and decodes as before', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    linearToLoRALayers(model, { targets: (p) => p.endsWith('q_proj') || p.endsWith('up_proj'), rank: 4 });
    const separate = decode(model, plainCache(model));
    const cache = model.makeCache();
    expect(fused(model, 0)).toEqual({ qkv: false, gateUp: false });
    expect(model.layers[0].selfAttn.qProj).toBeInstanceOf(LoRALinear);
    const [logits, tokens] = decode(model, cache);
    expect(tokens).toEqual(separate[1]);
    expect(maxDiff(logits, separate[0])).toBe(0);
  });

  it('stacks quantized projections with their scales and biases', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense-4bit'));
    for (const c of model.makeCache()) c.dispose();
    const q = model.layers[0].selfAttn.qProj as QuantizedLinear;
    const g = fusedGroup(model.layers[0].selfAttn, [q, model.layers[0].selfAttn.kProj, model.layers[0].selfAttn.vProj]);
    expect(g?.kind).toBe('quantized');
    expect(Object.keys(g!.stacked).sort()).toEqual(
      Object.keys({ weight: 1, scales: 1, ...(q.biases ? { biases: 1 } : {}), ...(q.bias ? { bias: 1 } : {}) }).sort(),
    );
  });
});
