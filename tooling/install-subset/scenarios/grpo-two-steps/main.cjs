// @mlxn/grpo from CommonJS: two SFT steps on the canonical tiny Qwen3.
'use strict';
const assert = require('node:assert/strict');
const { join } = require('node:path');
const { SFTTrainer } = require('@mlxn/grpo');
const { Qwen3 } = require('@mlxn/models-qwen3');
const { loadFixtureQwen3 } = require('./tiny-qwen3.cjs');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

async function main() {
  const model = await loadFixtureQwen3({ Qwen3 });
  const logs = [];
  const sft = new SFTTrainer({
    model,
    trainDataset: Array.from({ length: 8 }, (_, i) => ({ prompt: `${i}+1=`, completion: ` ${i + 1}` })),
    config: {
      maxSteps: 2,
      perDeviceTrainBatchSize: 4,
      learningRate: 1e-2,
      loggingSteps: 1,
      eosToken: '#',
      outputDir: join(process.cwd(), 'out-sft'),
      bf16: false,
    },
    onLog: (r) => logs.push(r),
  });
  await sft.train();
  assert.equal(logs.length, 2);
  for (const r of logs) assert.equal(Number.isFinite(r.loss), true);
  assertNativeFromPlatformPackage(process.cwd());
  console.log('ok');
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
