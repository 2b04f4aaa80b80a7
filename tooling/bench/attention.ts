/**
 * One decoding step's attention for a batch whose rows hold different lengths (left-padded
 * caches, as a server's batch after rows joined), in the ways @mlxn could compute it: with a
 * boolean mask, with an additive mask, or one row at a time over its own positions (no mask),
 * against the same step with no mask at all (what a batch of equal lengths costs; its result
 * differs). Ours only, on the default device: it says which way to take, not how we compare with
 * mlx-lm. On CUDA, MLX's fused vector attention takes no array mask (masked attention falls back
 * to separate products and a softmax); on the CPU all of them run in @mlxn's kernel.
 *
 *   pnpm --filter @mlxn/tooling bench:attention
 *
 * Environment: `MLXN_BENCH_PRESET` (qwen3-presets.ts: heads, key/value heads, head size, dtype and
 * layers; default small-float32), `MLXN_ATTENTION_LENGTHS` (each row's cached positions, default
 * `32,256,1024,2048,32,256,1024,2048`), `MLXN_BENCH_REPEATS` (timed steps, default 20). Prints one
 * JSON object: per way, the median and best milliseconds of a step through every layer, and the
 * largest difference of each masked way from the row-by-row result.
 */
import * as mx from '@mlxn/core';
import { benchPreset } from './qwen3-presets.js';

const preset = benchPreset();
const c = preset.config as Record<string, number>;
const [heads, kvHeads, headDim, layers] = [c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.num_hidden_layers];
const lengths = (process.env.MLXN_ATTENTION_LENGTHS ?? '32,256,1024,2048,32,256,1024,2048').split(',').map(Number);
const repeats = Number(process.env.MLXN_BENCH_REPEATS ?? 20);
const batch = lengths.length;
const width = Math.max(...lengths);
const padding = lengths.map((n) => width - n);
const scale = 1 / Math.sqrt(headDim);

mx.random.seed(3);
// Per layer: keys and values as views of a cache with room to grow, as a KV cache holds them.
const capacity = Math.ceil((width + 1) / 256) * 256;
const caches = Array.from({ length: layers }, () => {
  const [k, v] = [0, 1].map(() => mx.astype(mx.random.normal([batch, kvHeads, capacity, headDim]), preset.dtype));
  return { k: mx.index(k, mx.sl(), mx.sl(), mx.sl(0, width)), v: mx.index(v, mx.sl(), mx.sl(), mx.sl(0, width)) };
});
const queries = Array.from({ length: layers }, () => mx.astype(mx.random.normal([batch, heads, 1, headDim]), preset.dtype));
mx.eval([...queries, ...caches.flatMap((l) => [l.k, l.v])]);
// Position j of row b is seen when j >= padding[b].
const seen = mx.greaterEqual(mx.reshape(mx.arange(width), [1, 1, 1, width]), mx.reshape(mx.array(padding, 'int32'), [batch, 1, 1, 1]));
const additive = mx.astype(mx.where(seen, 0, -Infinity), preset.dtype);
mx.eval([seen, additive]);

type Way = (q: mx.Array, k: mx.Array, v: mx.Array) => mx.Array;
const ways: Record<string, Way> = {
  unmasked: (q, k, v) => mx.fast.scaledDotProductAttention(q, k, v, { scale, mask: null }),
  bool_mask: (q, k, v) => mx.fast.scaledDotProductAttention(q, k, v, { scale, mask: seen }),
  additive_mask: (q, k, v) => mx.fast.scaledDotProductAttention(q, k, v, { scale, mask: additive }),
  row_by_row: (q, k, v) =>
    mx.concatenate(
      padding.map((p, b) => {
        const row = (a: mx.Array, from: number) => mx.index(a, mx.sl(b, b + 1), mx.sl(), mx.sl(from));
        return mx.fast.scaledDotProductAttention(row(q, 0), row(k, p), row(v, p), { scale, mask: null });
      }),
      0,
    ),
};

/** One step: every layer's attention, evaluated together. */
const step = (way: Way): mx.Array[] => queries.map((q, l) => way(q, caches[l].k, caches[l].v));

const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (const way of Object.values(ways)) mx.tidy(() => mx.eval(step(way)));
for (let r = 0; r < repeats; r++) {
  // Interleaved, so a change in the machine's state hits every way alike.
  for (const [name, way] of Object.entries(ways)) {
    const out = mx.tidy(() => step(way));
    const t0 = performance.now();
    mx.eval(out);
    times[name].push(performance.now() - t0);
    mx.dispose(out);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const reference = mx.tidy(() => step(ways.row_by_row));
const differs = (name: string) =>
  mx.tidy(() =>
    Math.max(
      ...step(ways[name]).map(
        (o, l) => mx.max(mx.abs(mx.subtract(mx.astype(o, 'float32'), mx.astype(reference[l], 'float32')))).item() as number,
      ),
    ),
  );
const results = Object.fromEntries(
  Object.keys(ways).map((name) => [
    name,
    {
      step_ms: { median: r3(median(times[name])), best: r3(Math.min(...times[name])) },
      ...(name.endsWith('mask') ? { max_abs_diff_from_row_by_row: differs(name) } : {}),
    },
  ]),
);
console.log(
  JSON.stringify(
    {
      benchmark: 'attention',
      device: mx.defaultDevice(),
      setup: { preset: preset.name, dtype: preset.dtype, layers, heads, kv_heads: kvHeads, head_dim: headDim, lengths, repeats },
      results,
    },
    null,
    2,
  ),
);
