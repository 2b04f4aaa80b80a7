// Child process for reproducible.test.ts: trains the tiny fixture with each configuration named
// on the command line (grpo-lora, grpo-full, sft-lora, sft-full), in this fresh process, and
// prints a digest of the weights before and after training as JSON.
import { createHash } from 'node:crypto';
import * as mx from '@mlxn/core';
import { GRPOTrainer, SFTTrainer } from '../src/index.js';
import { arithmeticRecords, cleanup, tempDir, tinyModel } from './trainer-fixture.js';

// It compares runs bit for bit, so it trains on the CPU on every machine: on a GPU, MLX's CUDA
// scatter-add (the embedding's gradient) sums in a nondeterministic order (docs/gpu.md).
mx.setDefaultDevice('cpu');

const digest = (params: [string, mx.Array][]) => {
  const h = createHash('sha256');
  for (const [k, a] of [...params].sort(([x], [y]) => (x < y ? -1 : 1))) {
    h.update(k);
    h.update(a.dataSync());
  }
  return h.digest('hex');
};

const lora = { rank: 4, alpha: 8, targetModules: ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'] };
const out: Record<string, { before: string; after: string }> = {};
for (const name of process.argv.slice(2)) {
  const model = await tinyModel();
  const common = {
    maxSteps: 2,
    loggingSteps: 1,
    saveSteps: 1000,
    outputDir: tempDir(),
    bf16: false,
    learningRate: 1e-2,
    seed: 7,
    lora: name.endsWith('-lora') ? lora : null,
  };
  const trainer = name.startsWith('grpo')
    ? new GRPOTrainer({
        model,
        rewardFuncs: [
          ({ completionIds }: { completionIds: number[][] }) =>
            completionIds.map((ids) => ids.filter((t) => t < 128).length / Math.max(1, ids.length)),
        ],
        trainDataset: arithmeticRecords(8),
        config: { ...common, numGenerations: 4, perDeviceTrainBatchSize: 8, maxCompletionLength: 4, gradientCheckpointing: false },
      })
    : new SFTTrainer({
        model,
        trainDataset: arithmeticRecords(8).map(({ prompt, answer }) => ({ prompt, completion: ` ${answer}` })),
        config: { ...common, perDeviceTrainBatchSize: 4, eosToken: '#' },
      });
  const before = digest(model.namedParameters());
  await trainer.train();
  out[name] = { before, after: digest(model.namedParameters()) };
}
cleanup();
console.log(JSON.stringify(out));
