// Child process for kill-checkpoints.test.ts (run with tooling/test-support/kill-preload.mjs,
// which may SIGKILL it after any file-system change). Modes:
//   reference OUT        trains 3 steps from scratch saving every step (all kept); prints the
//                        final digest and the digest of the state each checkpoint was saved from
//   train OUT FROM       resumes from FROM, trains to step 3 saving every step, keeping 1
//   verify OUT           resumes from the newest checkpoint of OUT, prints its step and digest,
//                        trains to step 3 and prints the final digest
// A digest covers the weights, the optimizer state and the step, so equal digests mean an
// exact resume.
import { createHash } from 'node:crypto';
import * as mx from '@mlxn/core';
import { resolveCheckpoint, SFTTrainer } from '../src/index.js';
import { arithmeticRecords, tinyModel } from './trainer-fixture.js';

// It compares runs bit for bit, so it trains on the CPU on every machine: on a GPU, MLX's CUDA
// scatter-add (the embedding's gradient) sums in a nondeterministic order (docs/gpu.md).
mx.setDefaultDevice('cpu');

const [mode, out, from] = process.argv.slice(2);

function digest(trainer: SFTTrainer): string {
  const h = createHash('sha256');
  const entries = [
    ...mx.treeFlattenWithPaths(trainer.model.trainableParameters()).map(([k, a]) => [`w.${k}`, a] as const),
    ...mx.treeFlattenWithPaths(trainer.optimizer.state).map(([k, a]) => [`o.${k}`, a] as const),
  ];
  for (const [k, a] of entries.sort(([x], [y]) => (x < y ? -1 : 1))) {
    h.update(k);
    h.update(a.dtype === 'uint64' ? String(a.item()) : Buffer.from(a.dataSync().buffer));
  }
  h.update(`step ${trainer.state.globalStep} micro ${trainer.state.microStep}`);
  return h.digest('hex');
}

async function make(config: Record<string, unknown>): Promise<SFTTrainer> {
  return new SFTTrainer({
    model: await tinyModel(),
    trainDataset: arithmeticRecords(8).map(({ prompt, answer }) => ({ prompt, completion: ` ${answer}` })),
    config: {
      maxSteps: 3,
      saveSteps: 1,
      loggingSteps: 1,
      outputDir: out,
      bf16: false,
      learningRate: 1e-2,
      seed: 7,
      perDeviceTrainBatchSize: 4,
      eosToken: '#',
      ...config,
    },
  });
}

if (mode === 'reference') {
  const t = await make({ saveTotalLimit: null });
  // The state each checkpoint was saved from, as the run held it in memory.
  const steps: Record<string, string> = {};
  const save = t.saveCheckpoint.bind(t);
  t.saveCheckpoint = async () => {
    steps[t.state.globalStep] = digest(t);
    return save();
  };
  await t.train();
  console.log(JSON.stringify({ final: digest(t), steps }));
} else if (mode === 'train') {
  await (await make({ saveTotalLimit: 1, resumeFromCheckpoint: from })).train();
  console.log(JSON.stringify({ done: true }));
} else if (mode === 'verify') {
  const t = await make({ saveTotalLimit: 1 });
  const dir = resolveCheckpoint(true, out)!;
  t.loadCheckpoint(dir);
  const loaded = { step: t.state.globalStep, digest: digest(t) };
  await t.train();
  console.log(JSON.stringify({ ...loaded, final: digest(t) }));
} else {
  throw new Error(`unknown mode ${mode}`);
}
