/**
 * @mlxn/nn against Python MLX (same MLX version, same machine, same run): one training step
 * (forward, backward, AdamW update, evaluation of loss, parameters and optimizer state) of an
 * MLP, small (dispatch-bound) and medium (compute-bound). Also a pre-norm transformer block
 * (RMSNorm, causal multi-head attention, SiLU MLP, residuals) with an MSE loss. The sides take
 * turns `MLXN_BENCH_REPEATS` times (default 3; Python in a fresh child process each turn).
 * Prints one JSON object: each side's best and median ms per step, and the time ratios
 * (ours / Python, < 1 is faster) of the bests and the median of the per-turn ratios.
 *
 *   pnpm --filter @mlxn/core --filter @mlxn/io build
 *   pnpm --filter @mlxn/tooling bench:nn
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import * as nn from '@mlxn/nn';
import { referencePython } from '../reference/python-env.mjs';

export const configs = [
  { name: 'mlp_small', batch: 64, dims: [32, 128, 128, 10], steps: 200 },
  { name: 'mlp_medium', batch: 256, dims: [784, 1024, 1024, 10], steps: 15 },
];
export const blockConfig = { name: 'transformer_block', batch: 4, length: 64, dims: 256, heads: 4, mlpDims: 1024, steps: 10 };

/** Linear layers with a ReLU between each two (as nn_ref.py's). */
function mlp(dims: number[]): nn.Sequential {
  const linears = dims.slice(1).map((d, i) => new nn.Linear(dims[i], d));
  return new nn.Sequential(...linears.flatMap((l, i) => (i < linears.length - 1 ? [l, new nn.ReLU()] : [l])));
}

class Block extends nn.Module {
  norm1: nn.RMSNorm;
  attention: nn.MultiHeadAttention;
  norm2: nn.RMSNorm;
  up: nn.Linear;
  down: nn.Linear;
  constructor(c: typeof blockConfig) {
    super();
    this.norm1 = new nn.RMSNorm(c.dims);
    this.attention = new nn.MultiHeadAttention(c.dims, c.heads);
    this.norm2 = new nn.RMSNorm(c.dims);
    this.up = new nn.Linear(c.dims, c.mlpDims);
    this.down = new nn.Linear(c.mlpDims, c.dims);
  }
  forward(x: mx.Array): mx.Array {
    const n = this.norm1.forward(x);
    const h = mx.add(x, this.attention.forward(n, n, n, 'causal'));
    return mx.add(h, this.down.forward(nn.silu(this.up.forward(this.norm2.forward(h)))));
  }
}

function timeSteps(model: nn.Module, loss: (...a: mx.Array[]) => mx.Array, inputs: mx.Array[], steps: number): number {
  mx.eval(model.parameters());
  const opt = new nn.AdamW({ learningRate: 1e-3 });
  const lossAndGrad = nn.valueAndGrad(model, loss);
  const step = () =>
    mx.tidy(() => {
      const [l, grads] = lossAndGrad(...inputs);
      opt.update(model, grads);
      mx.eval(l, model.parameters(), opt.state);
      return model.parameters();
    });
  for (let i = 0; i < 10; i++) step(); // MLX's buffer cache settles after a few steps
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) step();
  return Number(process.hrtime.bigint() - t0) / 1e6 / steps;
}

function benchBlock(c: typeof blockConfig): number {
  mx.random.seed(0);
  const x = mx.random.normal([c.batch, c.length, c.dims]);
  const target = mx.random.normal([c.batch, c.length, c.dims]);
  const model = new Block(c);
  return timeSteps(model, (a, b) => nn.mseLoss(model.forward(a), b), [x, target], c.steps);
}

function bench(cfg: (typeof configs)[number]): number {
  mx.random.seed(0);
  const x = mx.random.normal([cfg.batch, cfg.dims[0]]);
  const y = mx.random.randint(0, cfg.dims[cfg.dims.length - 1], [cfg.batch]);
  const model = mlp(cfg.dims);
  return timeSteps(model, (a, b) => nn.crossEntropy(model.forward(a), b, { reduction: 'mean' }), [x, y], cfg.steps);
}

const repeats = Number(process.env.MLXN_BENCH_REPEATS ?? 3);
const keys = [...configs, blockConfig].map((c) => c.name);
const oursRuns: Record<string, number>[] = [];
const pythonRuns: Record<string, number>[] = [];
for (let r = 0; r < repeats; r++) {
  const ours: Record<string, number> = {};
  for (const cfg of configs) ours[cfg.name] = bench(cfg);
  ours[blockConfig.name] = benchBlock(blockConfig);
  oursRuns.push(ours);
  const py = JSON.parse(
    execFileSync(referencePython(), [join(import.meta.dirname, 'nn_ref.py'), JSON.stringify({ configs, block: blockConfig })], {
      encoding: 'utf8',
    }),
  );
  pythonRuns.push(Object.fromEntries(keys.map((k) => [k, py[`${k}_ms_per_step`] as number])));
}
const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const round = (x: number, d = 4): number => Number(x.toFixed(d));
const summary = (runs: Record<string, number>[]) =>
  Object.fromEntries(
    keys.map((k) => [
      `${k}_ms_per_step`,
      { best: round(Math.min(...runs.map((x) => x[k]))), median: round(median(runs.map((x) => x[k]))) },
    ]),
  );
const ratio = Object.fromEntries(
  keys.map((k) => [
    k,
    {
      best: round(Math.min(...oursRuns.map((x) => x[k])) / Math.min(...pythonRuns.map((x) => x[k])), 3),
      median: round(median(oursRuns.map((x, i) => x[k] / pythonRuns[i][k])), 3),
    },
  ]),
);
console.log(
  JSON.stringify(
    {
      benchmark: 'nn',
      build: native.bindingProfile(),
      mlx: mx.mlxVersion,
      device: mx.defaultDevice().type,
      repeats,
      configs,
      block: blockConfig,
      mlxn: summary(oursRuns),
      python: summary(pythonRuns),
      time_ratio_mlxn_over_python: ratio,
    },
    null,
    2,
  ),
);
