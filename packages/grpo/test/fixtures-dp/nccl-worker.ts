// One rank of the NCCL check (test/nccl.test.ts), started by mlxn-launch --backend nccl on a GPU
// machine: initialise NCCL strictly, all-reduce a GPU array, then one GRPO step of the tiny model
// on the NCCL group. Prints one JSON line.
import * as mx from '@mlxn/core';
import { GRPOTrainer } from '../../src/index.js';
import { arithmeticRecords, cleanup, tempDir, tinyModel } from '../trainer-fixture.js';

const group = mx.distributed.init({ backend: 'nccl', strict: true, timeoutMs: 120_000 });
const x = mx.arange(1, 5, 1, 'float32');
const summed = mx.distributed.allSum(x, group);
const out: Record<string, unknown> = {
  rank: group.rank,
  size: group.size,
  device: mx.defaultDevice().type,
  allSum: Array.from(summed.dataSync() as Float32Array),
};
const model = await tinyModel();
const before = model.namedTrainableParameters().map(([, p]) => Array.from(p.astype('float32').dataSync() as Float32Array));
const trainer = new GRPOTrainer({
  model,
  // Rewards that differ within a group (a random model writes completions of one length).
  rewardFuncs: ((i: { completionIds: number[][] }) => i.completionIds.map((ids) => (ids.reduce((a, b) => a + b, 0) % 7) / 4)) as never,
  trainDataset: arithmeticRecords(4),
  distributed: group,
  config: {
    maxSteps: 1,
    loggingSteps: 1,
    bf16: false,
    numGenerations: 2,
    perDeviceTrainBatchSize: 2,
    maxCompletionLength: 8,
    learningRate: 1e-2,
    seed: 1,
    outputDir: tempDir(),
  },
});
await trainer.train();
const after = model.namedTrainableParameters().map(([, p]) => Array.from(p.astype('float32').dataSync() as Float32Array));
const rec = trainer.logHistory.at(-1)!;
out.loss = rec.loss;
out.gradNorm = rec.grad_norm;
out.changed = after.some((a, i) => a.some((v, j) => v !== before[i][j]));
out.finite = after.every((a) => a.every(Number.isFinite));
console.log(JSON.stringify(out));
cleanup();
