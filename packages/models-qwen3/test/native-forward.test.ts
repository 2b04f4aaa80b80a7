// The native forward (native-forward.ts ↔ crates/mlxn-qwen3/src/forward.rs) against the
// TypeScript layers it mirrors: the same numbers on every configuration it covers, the
// TypeScript path wherever it cannot be exact, and a pinned number of native calls per step.

import { BatchKVCache, KVCache, RotatingKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { handleOf, native } from '@mlxn/core/internal';
import { Linear, type LoRALinear, linearToLoRALayers, valueAndGrad } from '@mlxn/nn';
import { afterEach, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { Qwen3, setNativeForward } from '../src/index.js';
import { tinyQwen3Path } from './helpers.js';

afterEach(() => setNativeForward(true));

/** One forward pass of `rows` sequences, each the tokens `ids`, through `cache`. */
function forwardRows(model: Qwen3, rows: number, ids: number[], cache: (KVCache | BatchKVCache)[]): mx.Array {
  return model.forward(
    mx.array(
      Array.from({ length: rows }, () => ids),
      'int32',
    ),
    { cache },
  );
}

/** Calls into the binding while `fn` runs, by name. */
function countCalls<T>(fn: () => T): [T, Map<string, number>] {
  const binding = native as unknown as Record<string, unknown>;
  const saved = new Map<string, (...a: unknown[]) => unknown>();
  const counts = new Map<string, number>();
  for (const [name, f] of Object.entries(binding)) {
    if (typeof f !== 'function' || /^[A-Z]/.test(name)) continue;
    saved.set(name, f as (...a: unknown[]) => unknown);
    binding[name] = (...args: unknown[]) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return (f as (...a: unknown[]) => unknown)(...args);
    };
  }
  try {
    return [fn(), counts];
  } finally {
    for (const [name, f] of saved) binding[name] = f;
  }
}

/** Logits of a prompt, then of single tokens through the cache, past one growth step (256). */
function decodeLogits(model: Qwen3, nativePath: boolean, cache = model.makeCache(), capacities: number[] = []): Float32Array[] {
  setNativeForward(nativePath);
  const out: Float32Array[] = [];
  const read = (a: mx.Array) => out.push(mx.astype(a, 'float32').dataSync() as Float32Array);
  mx.tidy(() => read(model.forward(mx.array([[1, 2, 3, 4, 5, 6, 7, 8]], 'int32'), { cache })));
  for (let i = 0; i < 260; i++) {
    mx.tidy(() => {
      const l = model.forward(mx.array([[(i * 7) % 50]], 'int32'), { cache });
      if (i % 64 === 0 || i >= 255) read(l);
    });
    capacities.push((cache[0] as KVCache).capacity);
  }
  for (const c of cache) c.dispose();
  return out;
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

describe.each(['dense', 'dense-4bit'] as const)('native forward: %s', (kind) => {
  it("gives the TypeScript layers' logits through a growing KV cache", async () => {
    const model = await Qwen3.load(tinyQwen3Path(kind));
    expect(maxDiff(decodeLogits(model, false), decodeLogits(model, true))).toBeLessThanOrEqual(1e-5);
  });

  it('grows a cache to exactly its reserved end, as the TypeScript layers do', async () => {
    const model = await Qwen3.load(tinyQwen3Path(kind));
    // 8 prompt tokens + 260 steps, reserved up to 300: one step of 256, then exactly 300.
    const reserved = () =>
      model.makeCache().map((c) => {
        (c as KVCache).reserve(300);
        return c;
      });
    const [ts, nat] = [[], []] as number[][];
    expect(maxDiff(decodeLogits(model, false, reserved(), ts), decodeLogits(model, true, reserved(), nat))).toBeLessThanOrEqual(1e-5);
    expect(new Set(nat)).toEqual(new Set([256, 300]));
    expect(nat).toEqual(ts);
  });

  it("gives the TypeScript layers' logits for a left-padded batch and without a cache", async () => {
    const model = await Qwen3.load(tinyQwen3Path(kind));
    const run = (nativePath: boolean) => {
      setNativeForward(nativePath);
      const caches = model.layers.map(() => new BatchKVCache({ leftPadding: [2, 0] }));
      for (const c of caches) c.reserve(6);
      const outs = mx.tidy(() =>
        [
          model.forward(
            mx.array(
              [
                [0, 0, 5, 6],
                [7, 8, 9, 10],
              ],
              'int32',
            ),
            { cache: caches },
          ),
          model.forward(mx.array([[3], [4]], 'int32'), { cache: caches }),
          model.forward(mx.array([[3, 4, 5]], 'int32')),
          model.forward(mx.array([[3, 4, 5]], 'int32'), { mask: null }),
        ].map((l) => mx.astype(l, 'float32').dataSync() as Float32Array),
      );
      expect(caches[0].keysAndValues()[0].shape[2]).toBe(5);
      expect(caches[0].nativeState()[0]!.shape[2]).toBe(6);
      for (const c of caches) c.dispose();
      return outs;
    };
    expect(maxDiff(run(false), run(true))).toBeLessThanOrEqual(1e-5);
  });
});

describe('native forward: coverage', () => {
  it('regression: tokens that are not [B, L] are an error saying so (an index panic before)', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const binding = native as unknown as Record<string, unknown>;
    const real = native.qwen3Forward;
    let error: unknown;
    // The description of a real forward, given 1-D tokens (only internal callers reach this).
    binding.qwen3Forward = (desc: Float64Array, tokens: Parameters<typeof real>[1]) => {
      try {
        real(desc, handleOf(mx.array([1, 2], 'int32')));
      } catch (e) {
        error = e;
      }
      return real(desc, tokens);
    };
    try {
      mx.tidy(() => model.forward(mx.array([[1, 2]], 'int32')));
    } finally {
      binding.qwen3Forward = real;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('tokens must be [B, L], got shape [2]');
  });

  it('evaluates a long prefill layer by layer while building it, into the same caches', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    // 1,100 rows: past the 1,024 from which forward.rs paces a prefill.
    const tokens = mx.array([Array.from({ length: 1100 }, (_, i) => (i * 13) % 50)], 'int32');
    const fill = async (prefill: boolean, patienceMs: number) => {
      const cache = model.makeCache();
      model.forward(tokens, { cache, prefill }).dispose();
      // Paced, the layers were handed to MLX as they were built: the last one's cache buffers
      // become available without an `eval`. Built lazily, nothing is scheduled until one.
      const keys = (cache.at(-1) as KVCache).nativeState()[0] as mx.Array;
      let scheduled = false;
      for (let waited = 0; waited < patienceMs && !scheduled; waited += 10) {
        scheduled = native.isAvailable(handleOf(keys));
        if (!scheduled) await new Promise((r) => setTimeout(r, 10));
      }
      const read = cache.flatMap((c) => (c as KVCache).keysAndValues().map((a) => mx.astype(a, 'float32').dataSync() as Float32Array));
      for (const c of cache) c.dispose();
      return { scheduled, read };
    };
    const paced = await fill(true, 5000);
    expect(paced.scheduled).toBe(true);
    const lazy = await fill(false, 300);
    expect(lazy.scheduled).toBe(false);
    expect(maxDiff(paced.read, lazy.read)).toBe(0);
    tokens.dispose();
  });

  it('is one native call per forward, and a decode step makes a pinned number of native calls', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const cache = model.makeCache();
    mx.tidy(() => model.forward(mx.array([[1, 2, 3]], 'int32'), { cache }));
    const [, counts] = countCalls(() => mx.tidy(() => model.forward(mx.array([[4]], 'int32'), { cache })));
    expect(counts.get('qwen3Forward')).toBe(1);
    // The token array (made, its shape and dtype checked), the forward, the output head (2
    // ops), two releases, and per layer the two replaced cache buffers released: per-op
    // dispatch made about 50 per layer.
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(8 + 2 * model.layers.length);
    for (const c of cache) c.dispose();
  });

  it("a decoding step's graph holds no transposes: one position's heads are reshaped in place", async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    for (const [name, caches] of [
      ['KVCache', model.layers.map(() => new KVCache())],
      ['BatchKVCache', model.layers.map(() => new BatchKVCache({ leftPadding: [1, 0] }))],
    ] as const) {
      const rows = name === 'KVCache' ? 1 : 2;
      mx.tidy(() => mx.eval(forwardRows(model, rows, [1, 2, 3], [...caches])));
      const graph = mx.tidy(() => graphOpCounts({ native, handleOf }, forwardRows(model, rows, [4], [...caches])));
      // q, k and v into [B, heads, 1, headDim] and the attention's output back to rows were four
      // Transpose nodes per layer (nodes the evaluation encodes one by one); a prompt keeps them.
      expect(graph.Transpose ?? 0, name).toBe(0);
      const prompt = mx.tidy(() => graphOpCounts({ native, handleOf }, forwardRows(model, rows, [5, 6], [...caches])));
      expect(prompt.Transpose ?? 0, name).toBeGreaterThanOrEqual(4 * model.layers.length);
      for (const c of caches) c.dispose();
    }
  });

  it("a batch's decode step costs what a single sequence's does: no per-layer offset arithmetic", async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const step = (caches: (KVCache | BatchKVCache)[], rows: number) => {
      mx.tidy(() => mx.eval(forwardRows(model, rows, [1, 2, 3], caches)));
      const [, counts] = countCalls(() => mx.tidy(() => forwardRows(model, rows, [4], caches)));
      const graph = mx.tidy(() => graphOpCounts({ native, handleOf }, forwardRows(model, rows, [5], caches)));
      for (const c of caches) c.dispose();
      return { calls: [...counts.values()].reduce((a, b) => a + b, 0), adds: graph.Add ?? 0 };
    };
    const single = step(
      model.layers.map(() => new KVCache()),
      1,
    );
    const batch = step(
      model.layers.map(() => new BatchKVCache({ leftPadding: [0, 0] })),
      2,
    );
    // Each row's offset is idx - padding, one array per step for every layer (one add per layer before).
    expect(batch.adds).toBe(single.adds);
    // And three native calls more per step, not per layer: the offsets made, their shape read, the
    // previous step's released.
    expect(batch.calls).toBeLessThanOrEqual(single.calls + 3);
  });

  it("trains through the native forward: gradients equal the TypeScript path's, with LoRA", async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    linearToLoRALayers(model, { targets: (p) => p.endsWith('q_proj') || p.endsWith('v_proj'), rank: 4 });
    // Non-zero adapters, so the LoRA branch contributes.
    mx.random.seed(3);
    for (const layer of model.layers) {
      const q = layer.selfAttn.qProj as unknown as LoRALinear;
      q.loraB = mx.random.normal(q.loraB.shape, { scale: 0.02 });
    }
    const ids = mx.array([[1, 5, 9, 2, 7]], 'int32');
    const loss = (m: Qwen3) => mx.mean(mx.logsumexp(m.forward(ids), -1));
    const grads = (nativePath: boolean) => {
      setNativeForward(nativePath);
      const [l, g] = valueAndGrad(model, loss)(model);
      const flat = mx.treeFlatten(g).map((a) => mx.astype(a, 'float32').dataSync() as Float32Array);
      return [l.dataSync() as Float32Array, ...flat];
    };
    const a = grads(false);
    const b = grads(true);
    expect(a.length).toBeGreaterThan(4);
    expect(maxDiff(a, b)).toBeLessThanOrEqual(1e-5);
  });

  it('uses a submodule the user replaced (the TypeScript path)', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const ids = mx.array([[1, 2, 3]], 'int32');
    const before = mx.astype(model.forward(ids), 'float32').dataSync() as Float32Array;
    class Doubled extends Linear {
      override forward(x: mx.Array): mx.Array {
        return mx.multiply(super.forward(x), 2);
      }
    }
    const o = model.layers[0].selfAttn.oProj as Linear;
    const replaced = new Doubled(o.inputDims, o.outputDims, { bias: false });
    replaced.weight = o.weight;
    model.layers[0].selfAttn.oProj = replaced;
    const [logits, counts] = countCalls(() => mx.astype(model.forward(ids), 'float32').dataSync() as Float32Array);
    expect(counts.get('qwen3Forward') ?? 0).toBe(0);
    expect(maxDiff([before], [logits])).toBeGreaterThan(1e-3);
  });

  it('leaves rotating caches to the TypeScript path', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const cache = model.makeCache({ maxKvSize: 16 });
    expect(cache[0]).toBeInstanceOf(RotatingKVCache);
    const [, counts] = countCalls(() => mx.tidy(() => model.forward(mx.array([[1, 2]], 'int32'), { cache })));
    expect(counts.get('qwen3Forward') ?? 0).toBe(0);
    expect((cache[0] as RotatingKVCache).offset).toBe(2);
  });

  it('reports a cache that does not fit the model as the TypeScript path does', async () => {
    const model = await Qwen3.load(tinyQwen3Path('dense'));
    const cache = model.makeCache() as KVCache[];
    // Keys of another shape (8 heads instead of the model's kv heads).
    cache[0].updateAndFetch(mx.zeros([1, 8, 2, 4]), mx.zeros([1, 8, 2, 4]));
    expect(() => model.forward(mx.array([[1]], 'int32'), { cache })).toThrow(/cache holds/);
  });
});
