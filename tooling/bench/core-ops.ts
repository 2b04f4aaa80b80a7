/**
 * @mlxn/core against Python MLX (same MLX version, same machine, same run): per-op dispatch
 * overhead while building a graph, a float32 matmul, and an elementwise chain compiled and
 * not. Prints one JSON object with both sides and the ratios (ours / Python; < 1 is faster).
 *
 *   pnpm build:native:release && pnpm --filter @mlxn/core build && pnpm bench
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import { referencePython } from '../reference/python-env.mjs';

const cfg = { dispatch_ops: 20000, matmul_n: 1024, chain_n: 1 << 20, chain_len: 10, repeats: 7 };

function bestOf(fn: () => void, repeats: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

function dispatch(): void {
  mx.tidy(() => {
    const a = mx.ones([4]);
    let out = a;
    for (let i = 0; i < cfg.dispatch_ops; i++) out = mx.add(out, a);
    return out;
  }).dispose();
}

mx.random.seed(0);
const m1 = mx.random.normal([cfg.matmul_n, cfg.matmul_n]);
const m2 = mx.random.normal([cfg.matmul_n, cfg.matmul_n]);
const xs = mx.random.normal([cfg.chain_n]);
mx.eval(m1, m2, xs);

const chain = (x: mx.Array) => {
  let y = x;
  for (let i = 0; i < cfg.chain_len; i++) y = mx.subtract(mx.tanh(mx.add(mx.multiply(y, 1.01), 0.1)), 0.05);
  return y;
};
const compiledChain = mx.compile(chain);
mx.eval(compiledChain(xs));
dispatch();

const ours = {
  dispatch_ns_per_op: (bestOf(dispatch, cfg.repeats) / cfg.dispatch_ops) * 1e9,
  matmul_ms: bestOf(() => mx.tidy(() => mx.eval(mx.matmul(m1, m2))), cfg.repeats) * 1e3,
  chain_ms: bestOf(() => mx.tidy(() => mx.eval(chain(xs))), cfg.repeats) * 1e3,
  compiled_chain_ms: bestOf(() => mx.tidy(() => mx.eval(compiledChain(xs))), cfg.repeats) * 1e3,
};

const python = JSON.parse(
  execFileSync(referencePython(), [join(import.meta.dirname, 'core_ops.py'), JSON.stringify(cfg)], { encoding: 'utf8' }),
);

const ratio = (k: keyof typeof ours) => Number((ours[k] / python[k]).toFixed(3));
console.log(
  JSON.stringify(
    {
      benchmark: 'core-ops',
      build: native.bindingProfile(),
      mlx: mx.mlxVersion,
      config: cfg,
      mlxn: ours,
      python,
      ratio: {
        dispatch: ratio('dispatch_ns_per_op'),
        matmul: ratio('matmul_ms'),
        chain: ratio('chain_ms'),
        compiled_chain: ratio('compiled_chain_ms'),
      },
      compiled_speedup: { mlxn: ours.chain_ms / ours.compiled_chain_ms, python: python.chain_ms / python.compiled_chain_ms },
    },
    null,
    2,
  ),
);
