// A custom training loop with @mlxn/core and @mlxn/nn: minibatches, a warmup + cosine schedule,
// gradient clipping, a held-out split, and an optimizer checkpoint that resumes bit for bit.
// Run: pnpm exec tsx custom-training-loop.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { AdamW, clipGradNorm, cosineDecay, joinSchedules, Linear, linearSchedule, Module, mseLoss, silu, valueAndGrad } from '@mlxn/nn';

class Regressor extends Module {
  hidden: Linear;
  out: Linear;
  constructor(width: number) {
    super();
    this.hidden = new Linear(1, width);
    this.out = new Linear(width, 1);
  }
  forward(x: mx.Array): mx.Array {
    return this.out.forward(silu(this.hidden.forward(x)));
  }
}

// Noisy samples of sin(3x) on [-1, 1]; the last 64 are held out.
mx.random.seed(0);
const xs = mx.random.uniform(-1, 1, [576, 1]);
const ys = mx.add(mx.sin(mx.multiply(xs, 3)), mx.multiply(mx.random.normal([576, 1]), 0.05));
const [trainX, testX] = [xs.index(mx.sl(0, 512)), xs.index(mx.sl(512))];
const [trainY, testY] = [ys.index(mx.sl(0, 512)), ys.index(mx.sl(512))];

const model = new Regressor(64);
const steps = 300;
const schedule = joinSchedules([linearSchedule(1e-4, 2e-2, 20), cosineDecay(2e-2, steps - 20, 1e-4)], [20]);
const optimizer = new AdamW({ learningRate: schedule, weightDecay: 1e-4 });
const lossAndGrad = valueAndGrad(model, (x: mx.Array, y: mx.Array) => mseLoss(model.forward(x), y, { reduction: 'mean' }));
const testLoss = () => mx.tidy(() => mseLoss(model.forward(testX), testY, { reduction: 'mean' }).item() as number);

function trainStep(step: number): number {
  return mx.tidy(() => {
    // A fresh permutation each pass over the data; 64 examples per step.
    const batch = mx.random.permutation(512, { key: mx.random.key(step >> 3) }).index(mx.sl((step % 8) * 64, (step % 8) * 64 + 64));
    const [loss, grads] = lossAndGrad(mx.take(trainX, batch, 0), mx.take(trainY, batch, 0));
    const [clipped] = clipGradNorm(grads, 1.0);
    optimizer.update(model, clipped);
    mx.eval(loss, model.parameters(), optimizer.state);
    return loss.item() as number;
  });
}

console.log(`held-out MSE before: ${testLoss().toFixed(4)}`);
const dir = mkdtempSync(join(tmpdir(), 'mlxn-loop-'));
for (let step = 0; step < steps; step++) {
  const loss = trainStep(step);
  if (step === steps / 2) {
    // Checkpoint half way: weights + optimizer state (step count, moments) in safetensors.
    model.saveWeightsSync(join(dir, 'model.safetensors'));
    optimizer.saveStateSync(join(dir, 'optimizer.safetensors'));
  }
  if (step % 100 === 0) console.log(`step ${step}: train MSE ${loss.toFixed(4)}`);
}
const finalTest = testLoss();
console.log(`held-out MSE after: ${finalTest.toFixed(4)}`);

// Resume from the checkpoint and replay the second half: the result is identical.
const resumed = new Regressor(64);
resumed.loadWeights(join(dir, 'model.safetensors'));
const optimizer2 = new AdamW({ learningRate: schedule, weightDecay: 1e-4 });
optimizer2.loadStateSync(join(dir, 'optimizer.safetensors'));
const lossAndGrad2 = valueAndGrad(resumed, (x: mx.Array, y: mx.Array) => mseLoss(resumed.forward(x), y, { reduction: 'mean' }));
for (let step = steps / 2 + 1; step < steps; step++) {
  mx.tidy(() => {
    const batch = mx.random.permutation(512, { key: mx.random.key(step >> 3) }).index(mx.sl((step % 8) * 64, (step % 8) * 64 + 64));
    const [, grads] = lossAndGrad2(mx.take(trainX, batch, 0), mx.take(trainY, batch, 0));
    const [clipped] = clipGradNorm(grads, 1.0);
    optimizer2.update(resumed, clipped);
    mx.eval(resumed.parameters(), optimizer2.state);
  });
}
const resumedTest = mx.tidy(() => mseLoss(resumed.forward(testX), testY, { reduction: 'mean' }).item() as number);
console.log(`resumed run matches: ${resumedTest === finalTest}`);
rmSync(dir, { recursive: true, force: true });
