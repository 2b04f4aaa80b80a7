/**
 * The key/value caches' own cost on the decode path: per step, every layer's `updateAndFetch`
 * with one new token, then `keysAndValues` (as attention reads them), all evaluated. Arrays are
 * small, so the time is mostly the caches' JavaScript and the native calls they make, which is
 * what a change to the cache classes can make slower. `KVCache` (B = 1) and `BatchKVCache`
 * (B = 4, left-padded). Prints one JSON object: best and median ms per step of each cache.
 *
 *   pnpm --filter @mlxn/cache build
 *   pnpm --filter @mlxn/tooling exec tsx bench/cache-update.ts
 *
 * Environment: `MLXN_BENCH_STEPS` (tokens per run, default 300: past one growth step of 256),
 * `MLXN_BENCH_REPEATS` (default 7), `MLXN_BENCH_LAYERS` (default 28, as Qwen3-0.6B).
 * `MLXN_BENCH_CACHE_BASELINE`: the path of another build's `index.js` (a copy of
 * packages/cache/dist kept under packages/cache/node_modules, so that it finds @mlxn/core):
 * the two builds then take turns in each repeat, and the report has both and their ratios.
 */
import { pathToFileURL } from 'node:url';
import * as cacheModule from '@mlxn/cache';
import * as mx from '@mlxn/core';

type CacheModule = typeof cacheModule;

const steps = Number(process.env.MLXN_BENCH_STEPS ?? 300);
const repeats = Number(process.env.MLXN_BENCH_REPEATS ?? 7);
const layers = Number(process.env.MLXN_BENCH_LAYERS ?? 28);
const baselinePath = process.env.MLXN_BENCH_CACHE_BASELINE;
const heads = 8;
const headDim = 64;

interface LayerCache {
  updateAndFetch(keys: mx.Array, values: mx.Array): [mx.Array, mx.Array];
  keysAndValues(): [mx.Array, mx.Array];
  dispose(): void;
}

/** Milliseconds per step of `steps` decode steps over fresh caches from `make`. */
function run(make: () => LayerCache, batch: number): number {
  const caches = Array.from({ length: layers }, make);
  const token = mx.keep(mx.ones([batch, heads, 1, headDim], 'float16'));
  const start = performance.now();
  for (let s = 0; s < steps; s++) {
    mx.tidy(() => {
      const out: mx.Array[] = [];
      for (const cache of caches) {
        cache.updateAndFetch(token, token);
        out.push(...cache.keysAndValues());
      }
      mx.eval(...out);
    });
  }
  const ms = (performance.now() - start) / steps;
  for (const cache of caches) cache.dispose();
  token.dispose();
  return ms;
}

function cases(m: CacheModule): Record<string, () => number> {
  return {
    KVCache: () => run(() => new m.KVCache(), 1),
    BatchKVCache: () => run(() => new m.BatchKVCache({ leftPadding: [0, 3, 1, 2] }), 4),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number) => Math.round(x * 1000) / 1000;

const builds: Record<string, CacheModule> = { current: cacheModule };
if (baselinePath !== undefined) builds.baseline = (await import(pathToFileURL(baselinePath).href)) as CacheModule;

const times: Record<string, number[]> = {};
for (const name of Object.keys(builds)) for (const c of Object.keys(cases(cacheModule))) times[`${name} ${c}`] = [];
// One untimed turn of each first (the addon's first calls, the JIT).
for (const m of Object.values(builds)) for (const c of Object.values(cases(m))) c();
for (let r = 0; r < repeats; r++) {
  // Alternate which build goes first, so neither always runs on a warmer machine.
  const order = r % 2 === 0 ? Object.entries(builds) : Object.entries(builds).reverse();
  for (const [name, m] of order) for (const [c, f] of Object.entries(cases(m))) times[`${name} ${c}`].push(f());
}

const report: Record<string, unknown> = { steps, layers, repeats };
for (const [key, xs] of Object.entries(times)) report[key] = { best_ms: round(Math.min(...xs)), median_ms: round(median(xs)) };
if (baselinePath !== undefined) {
  for (const c of Object.keys(cases(cacheModule))) {
    const cur = times[`current ${c}`];
    const base = times[`baseline ${c}`];
    report[`${c} current/baseline`] = {
      best: round(Math.min(...cur) / Math.min(...base)),
      median_of_turns: round(median(cur.map((x, i) => x / base[i]))),
    };
  }
}
console.log(JSON.stringify(report, null, 2));
