// GRPO with your own reward: any JavaScript function (sync or async) that scores completions,
// combined with a built-in reward of @mlxn/grpo, trained with GRPOTrainer for a few steps.
// Run: pnpm exec tsx grpo-custom-reward.ts [--model <folder or hub id, e.g. Qwen/Qwen3-0.6B>] [--revision R] [--steps N]
// Without a folder it uses a tiny random Qwen3 with the real tokenizer: its completions are
// random tokens from the whole 151,936-token vocabulary, and the custom reward asks for plain
// ASCII text: a signal this model can follow, though a few steps only nudge it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GRPOTrainer, type LogRecord, lengthReward, type RewardArgs } from '@mlxn/grpo';
import { Qwen3 } from '@mlxn/models-qwen3';
import { tinyQwen3WithTokenizer } from '../tooling/test-support/qwen3.mjs';

const { values } = parseArgs({
  options: { model: { type: 'string' }, revision: { type: 'string' }, steps: { type: 'string', default: '6' } },
});
const folder = values.model ?? tinyQwen3WithTokenizer();
// A hub id not in the local Hugging Face cache is downloaded into it first.
const loadOptions = values.revision === undefined ? {} : { revision: values.revision };
const steps = Number(values.steps);
const maxCompletionLength = 12;

// The custom reward: the share of a completion's characters that are printable ASCII. It is
// async to show that a reward may await anything (a sandbox, a judge model, a web service); it
// gets every completion of the generation batch at once, plus the dataset's other columns.
const calls: number[][] = [];
async function asciiShare({ completions, logMetric }: RewardArgs): Promise<number[]> {
  await new Promise((resolve) => setImmediate(resolve)); // stands in for real asynchronous work
  const scores = completions.map((c) => (c.length === 0 ? 0 : [...c].filter((ch) => ch >= ' ' && ch <= '~').length / [...c].length));
  logMetric('ascii/all_ascii', scores.filter((s) => s === 1).length / scores.length);
  calls.push(scores);
  return scores;
}
// A built-in next to it: DAPO's soft overlong punishment (0 for short completions, down to -1 at
// the limit). The tiny model never ends a completion itself, so it scores every one -1; a constant
// cancels out of group-relative advantages, so here it only shifts the total reward.
const length = lengthReward({ maxCompletionLength, softPunishCache: 4 });

const model = await Qwen3.load(folder, loadOptions);
const outputDir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-reward-'));
const trainer = new GRPOTrainer({
  model,
  rewardFuncs: [asciiShare, length],
  rewardWeights: [1, 0.5],
  trainDataset: [
    { prompt: 'Describe the sea in a few words:' },
    { prompt: 'Name a colour:' },
    { prompt: 'Say hello to a friend:' },
    { prompt: 'Write a short title for a story:' },
  ],
  config: {
    numGenerations: 4,
    perDeviceTrainBatchSize: 8, // two prompts × four completions per step
    maxCompletionLength,
    maxSteps: steps,
    learningRate: 3e-3,
    loggingSteps: 1,
    bf16: false,
    gradientCheckpointing: false,
    outputDir,
    seed: 7,
  },
  onLog: (r) => {
    if (typeof r.reward !== 'number') return;
    const custom = r['rewards/asciiShare/mean'];
    const builtin = r['rewards/length/mean'];
    console.log(
      `step ${r.step}: reward ${r.reward.toFixed(4)} (asciiShare ${custom?.toFixed(4)}, length ${builtin?.toFixed(4)}), loss ${r.loss?.toFixed(4)}`,
    );
  },
});
const result = await trainer.train();

// What the trainer logged is what the function returned: check the means against its own calls.
const history = result.logHistory.filter((r) => typeof r['rewards/asciiShare/mean'] === 'number');
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
// A value missing from a record reads as NaN, which fails every comparison below.
const logged = (r: LogRecord, name: string) => r[name] ?? Number.NaN;
const logsMatch =
  history.length === calls.length && history.every((r, i) => Math.abs(logged(r, 'rewards/asciiShare/mean') - mean(calls[i])) < 1e-6);
const weighted = history.every(
  (r) => Math.abs(logged(r, 'reward') - (logged(r, 'rewards/asciiShare/mean') + 0.5 * logged(r, 'rewards/length/mean'))) < 1e-6,
);
console.log(`custom reward called ${calls.length} times with ${calls.map((c) => c.length).join(', ')} completions`);
console.log(`logged means equal the returned scores: ${logsMatch}; reward = asciiShare + 0.5 × length: ${weighted}`);
console.log(
  `asciiShare first step ${mean(calls[0]).toFixed(4)}, last step ${mean(calls[calls.length - 1]).toFixed(4)}; ${result.globalStep} steps, ${result.skippedSteps} skipped`,
);
rmSync(outputDir, { recursive: true, force: true });
