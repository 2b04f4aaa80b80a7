// Child process for memory.test.ts: runs synchronous training steps on a wide MLP (over 10 MB of
// parameters) and prints MLX's active memory at chosen steps as JSON. Run without --expose-gc,
// in a process of its own, so the numbers are this loop's alone: the event loop never turns
// between steps, so nothing waits for a finalizer.
import * as mx from '@mlxn/core';
import { clipGradNorm, crossEntropy, Linear, Module, relu, SGD, valueAndGrad } from '../../src/index.js';

class MLP extends Module {
  layers: Linear[];
  constructor(dims: number[]) {
    super();
    this.layers = dims.slice(1).map((d, i) => new Linear(dims[i], d));
  }
  forward(x: mx.Array): mx.Array {
    for (const [i, l] of this.layers.entries()) x = i < this.layers.length - 1 ? relu(l.forward(x)) : l.forward(x);
    return x;
  }
}

const [loop, stepsArg] = process.argv.slice(2);
const steps = Number(stepsArg);
// The step whose memory the last one is compared with. On a GPU, MLX's CUDA backend itself
// grows over a loop's first steps (Python MLX alone on an H200: 26.5 MB of active memory at
// step 10 and 88 MB from step 20 on, for an 8.4 MB MLP; docs/gpu.md), and it releases a buffer
// only once the stream that used it has finished, so one step's reading can hold several steps'
// buffers (this loop read 48 MB more at step 204 than at step 200 on an H200). So on a GPU each
// reading follows a synchronize, and the numbers compared are the least of 50 steps' readings
// (from step 200 and at the end): a leak of one copy per step still adds hundreds of copies
// between them, the buffers awaiting release do not.
const gpu = mx.defaultDevice().type === 'gpu';
const baseline = gpu ? 200 : 10;
const WINDOW = gpu ? 50 : 1;
const marks = new Set([baseline, steps]);
/** The reading kept for a mark: the least one of its window (the mark and the steps after or before it). */
const readings: Record<number, number> = {};
const read = () => {
  if (gpu) mx.synchronize();
  return mx.memory().active;
};

mx.random.seed(0);
const x = mx.random.uniform(-1, 1, [2, 256]);
const y = mx.array([3, 7], { dtype: 'int32' });
const model = new MLP([256, 4096, 384]);
mx.eval(model.parameters());
const paramBytes = model.namedParameters().reduce((n, [, a]) => n + a.nbytes, 0);
const opt = new SGD({ learningRate: 1e-3, momentum: 0.9 });
const lossAndGrad = valueAndGrad(model, (xb: mx.Array, yb: mx.Array) => crossEntropy(model.forward(xb), yb, { reduction: 'mean' }));

const active: Record<number, number> = {};
let last = Number.NaN;
let stoppedAt: number | null = null;
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  if (loop === 'tidy') {
    // The nn README's loop (with SGD: an AdamW step over 10 MB takes ~100 ms on a small CPU).
    const loss = mx.tidy(() => {
      const [l, grads] = lossAndGrad(x, y);
      const [clipped] = clipGradNorm(grads, 1);
      opt.update(model, clipped);
      mx.eval(l, model.parameters(), opt.state);
      return l;
    });
    last = loss.item() as number;
    loss.dispose();
  } else {
    // No tidy: the loop disposes what it holds (the loss, the gradients and the clipped ones).
    const [loss, grads] = lossAndGrad(x, y);
    const [clipped, norm] = clipGradNorm(grads, 1);
    opt.update(model, clipped);
    mx.eval(loss, model.parameters(), opt.state);
    last = loss.item() as number;
    mx.dispose([loss, grads, clipped, norm]);
  }
  const now = read();
  if (step >= baseline && step < baseline + WINDOW) readings[baseline] = Math.min(readings[baseline] ?? now, now);
  if (step > steps - WINDOW) readings[steps] = Math.min(readings[steps] ?? now, now);
  if (marks.has(step) && !gpu) active[step] = now;
  // A leaking loop stops once it holds whole extra copies of the parameters (a copy per step
  // would otherwise take tens of gigabytes by step 1,000); the report says where it stopped.
  // One copy on the CPU; on a GPU, where a reading can include buffers awaiting release, 20.
  if (step > baseline && now - readings[baseline] > (gpu ? 20 : 1) * paramBytes) {
    active[baseline] = readings[baseline];
    active[steps] = now;
    stoppedAt = step;
    break;
  }
}
if (gpu && stoppedAt === null) Object.assign(active, readings);
const ms = performance.now() - t0;
// `gc` is absent: nothing in this process could collect garbage on demand.
console.log(
  JSON.stringify({
    loop,
    steps,
    baseline,
    paramBytes,
    active,
    stoppedAt,
    loss: last,
    ms,
    exposedGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
  }),
);
