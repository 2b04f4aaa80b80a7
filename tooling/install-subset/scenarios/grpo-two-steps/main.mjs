// @mlxn/grpo alone: two GRPO steps on the canonical tiny Qwen3 (with the real tokenizer) and a
// reward written in JavaScript.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { GRPOTrainer } from '@mlxn/grpo';
import { Qwen3 } from '@mlxn/models-qwen3';
import tinyQwen3 from './tiny-qwen3.cjs';
import whereNative from './where-native.cjs';

const model = await tinyQwen3.loadFixtureQwen3({ Qwen3 });
const logs = [];
const trainer = new GRPOTrainer({
  model,
  rewardFuncs: [({ completionIds }) => completionIds.map((ids) => ids.filter((t) => t < 100).length / Math.max(1, ids.length))],
  trainDataset: Array.from({ length: 8 }, (_, i) => ({ prompt: `${i}+1=` })),
  config: {
    numGenerations: 4,
    perDeviceTrainBatchSize: 8,
    maxCompletionLength: 4,
    maxSteps: 2,
    loggingSteps: 1,
    outputDir: join(process.cwd(), 'out'),
    bf16: false,
    seed: 1,
  },
  onLog: (r) => logs.push(r),
});
const result = await trainer.train();
assert.equal(result.globalStep, 2);
assert.equal(logs.length, 2);
for (const r of logs) assert.equal(Number.isFinite(r.loss) && Number.isFinite(r.reward), true);
whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
