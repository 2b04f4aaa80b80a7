// One rank of the data-parallel trainer tests (test/data-parallel.test.ts), started with
// MLX_RANK and MLX_HOSTFILE. Prints one JSON line of results per scenario on stdout.
//
// `equivalence`: for every loss type × gradient accumulation 1 and 2, one GRPO step of the
// 2-rank job (perDeviceTrainBatchSize 2 on each rank) and, on one of the ranks, the same step alone with
// twice the accumulation (the same global batch of 4·GA completions: TRL's equivalence of N
// processes and N× the accumulation); then the same for SFT. Generation is replaced by
// completions that are a function of the prompt and its place in its group, so both runs train
// on the same rollouts (sampling differs per rank by design). Completions of one length for
// bnpo, whose per-micro-batch normaliser depends on how rows fall into micro-batches.
// `die`: rank 1 exits inside its reward function; rank 0 reports the error it gets.
import { createHash } from 'node:crypto';
import * as mx from '@mlxn/core';
import type { Qwen3 } from '@mlxn/models-qwen3';
import { GRPOTrainer, type GRPOTrainerOptions, type LossType, type Rollouts, SFTTrainer } from '../../src/index.js';
import { arithmeticRecords, cleanup, tinyModel } from '../trainer-fixture.js';

const LOSS_TYPES: LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo', 'luspo', 'vespo'];
const scenario = process.argv[2];
// Every scenario writes into the folder named by argv[3] (the same on both ranks).
const dir = process.argv[3];
const world = mx.distributed.init({ strict: true, timeoutMs: 60_000 });

/** GRPOTrainer with canned completions (a function of the prompt and its index in its group). */
class CannedTrainer extends GRPOTrainer {
  override async generateRollouts(records: readonly Record<string, unknown>[]): Promise<Rollouts> {
    const tok = this.model.tokenizer!;
    const seen = new Map<string, number>();
    // A group that straddles ranks starts on rank r > 0 part-way: count its completions from
    // where the previous rank's share ended, as one process would.
    const dp = this.dataParallel;
    const before = dp === null ? 0 : (dp.rank * records.length) % this.config.numGenerations;
    const prompts = records.map((r) => String(r.prompt));
    const promptIds = prompts.map((p) => tok.encode(p, { addSpecialTokens: false }));
    const equalLengths = this.config.lossType === 'bnpo';
    const completionIds = prompts.map((p, i) => {
      const k = seen.get(p) ?? before;
      seen.set(p, k + 1);
      const length = equalLengths ? 3 : 2 + ((promptIds[i][0] + k) % 3);
      return Array.from({ length }, (_, j) => 15 + ((promptIds[i][0] * 7 + k * 13 + j * 5) % 60));
    });
    return {
      prompts,
      promptIds,
      completionIds,
      completions: completionIds.map((ids) => tok.decode(ids)),
      truncated: completionIds.map(() => false),
      toolMask: null,
      toolCallCount: 0,
      toolFailureCount: 0,
      completionMessages: null,
    };
  }
}

const reward = (i: { completionIds: number[][] }) => i.completionIds.map((ids) => (ids.reduce((a, b) => a + b, 0) % 7) / 4);

function flat(model: Qwen3): Float32Array {
  const parts = model.namedTrainableParameters().map(([, p]) => p.astype('float32').dataSync() as Float32Array);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const hash = (a: Float32Array) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');

/** max |Δa − Δb| / max |Δb|: how far one run's update is from the other's. */
function updateDistance(before: Float32Array, a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < before.length; i++) {
    num = Math.max(num, Math.abs(a[i] - before[i] - (b[i] - before[i])));
    den = Math.max(den, Math.abs(b[i] - before[i]));
  }
  return num / den;
}

// The update is kept proportional to the gradient (adamEpsilon 1 ≫ |g|, no clipping): Adam's
// first step is otherwise about ±lr whatever the gradient's scale, which would hide a wrong average.
const COMMON = { maxSteps: 1, loggingSteps: 1, bf16: false, learningRate: 1e-2, adamEpsilon: 1, maxGradNorm: 0, seed: 3 };

/** A CannedTrainer on `model` with the canned reward and four prompts; `config` adds to COMMON. */
function cannedTrainer(model: Qwen3, config: Record<string, unknown>, options: Partial<GRPOTrainerOptions> = {}): CannedTrainer {
  return new CannedTrainer({
    model,
    rewardFuncs: reward as never,
    trainDataset: arithmeticRecords(4),
    config: { ...COMMON, ...config },
    ...options,
  });
}

interface StepOutcome {
  before: Float32Array;
  after: Float32Array;
  gradNorm: number;
  loss: number;
  reward: number | null;
}

async function grpoStep(lossType: LossType, ga: number, alone: boolean, extra: Record<string, unknown> = {}): Promise<StepOutcome> {
  const model = await tinyModel();
  const before = flat(model);
  const trainer = cannedTrainer(
    model,
    {
      lossType,
      numGenerations: 2,
      perDeviceTrainBatchSize: 2,
      gradientAccumulationSteps: alone ? 2 * ga : ga,
      maxCompletionLength: 8,
      outputDir: `${dir}/grpo-${lossType}-${ga}-${compared}${alone ? `-alone-${world.rank}` : ''}`,
      ...extra,
    },
    alone ? { distributed: false } : {},
  );
  await trainer.train();
  const rec = trainer.logHistory.at(-1)!;
  return { before, after: flat(model), gradNorm: rec.grad_norm as number, loss: rec.loss as number, reward: rec.reward as number };
}

async function sftStep(ga: number, alone: boolean): Promise<StepOutcome> {
  const model = await tinyModel();
  const before = flat(model);
  const data = arithmeticRecords(8 * ga).map((r, i) => ({ prompt: r.prompt, completion: `${r.answer}${'0'.repeat(i % 3)}` }));
  const trainer = new SFTTrainer({
    model,
    trainDataset: data,
    config: {
      ...COMMON,
      eosToken: '.',
      perDeviceTrainBatchSize: 2,
      gradientAccumulationSteps: alone ? 2 * ga : ga,
      outputDir: `${dir}/sft-${ga}${alone ? `-alone-${world.rank}` : ''}`,
    },
    ...(alone ? { distributed: false as const } : {}),
  });
  await trainer.train();
  const rec = trainer.logHistory.at(-1)!;
  return { before, after: flat(model), gradNorm: rec.grad_norm as number, loss: rec.loss as number, reward: null };
}

let compared = 0;

/** The job's step on both ranks; the lone run on one of them (they take turns, sharing the work). */
async function compare(name: string, run: (alone: boolean) => Promise<StepOutcome>) {
  const job = await run(false);
  const out: Record<string, unknown> = {
    name,
    rank: world.rank,
    hash: hash(job.after),
    gradNorm: job.gradNorm,
    loss: job.loss,
    reward: job.reward,
  };
  if (compared++ % world.size === world.rank) {
    const alone = await run(true);
    Object.assign(out, {
      aloneGradNorm: alone.gradNorm,
      aloneLoss: alone.loss,
      aloneReward: alone.reward,
      updateDistance: updateDistance(job.before, job.after, alone.after),
    });
  }
  console.log(JSON.stringify(out));
}

if (scenario === 'equivalence') {
  for (const lossType of LOSS_TYPES)
    for (const ga of [1, 2]) await compare(`grpo ${lossType} ga${ga}`, (alone) => grpoStep(lossType, ga, alone));
  // Groups of 4 over 2 + 2 completions: each group straddles the two ranks (advantages come from
  // every rank's rewards), with group and with batch scaling.
  for (const scaleRewards of ['group', 'batch'] as const) {
    await compare(`grpo straddling ${scaleRewards}`, (alone) => grpoStep('dapo', 1, alone, { numGenerations: 4, scaleRewards }));
  }
  for (const ga of [1, 2]) await compare(`sft ga${ga}`, (alone) => sftStep(ga, alone));
} else if (scenario === 'die') {
  const model = await tinyModel();
  const trainer = new CannedTrainer({
    model,
    rewardFuncs: ((i: { completionIds: number[][] }) => {
      if (world.rank === 1) process.exit(3);
      return reward(i);
    }) as never,
    trainDataset: arithmeticRecords(4),
    config: { ...COMMON, numGenerations: 2, perDeviceTrainBatchSize: 2, outputDir: dir },
  });
  try {
    await trainer.train();
    console.log(JSON.stringify({ rank: world.rank, error: null }));
  } catch (e) {
    console.log(JSON.stringify({ rank: world.rank, error: `${(e as Error).name}: ${(e as Error).message}` }));
  }
} else if (scenario === 'resume') {
  // Two steps from one generation (stepsPerGeneration 2), so checkpoint-1 holds each rank's
  // half-used rollout buffer; resuming from it must end where the uninterrupted run ended.
  const make = async (outputDir: string, resume: string | null, distributed?: false) => {
    const model = await tinyModel();
    const trainer = cannedTrainer(
      model,
      {
        maxSteps: 2,
        saveSteps: 1,
        numGenerations: 2,
        perDeviceTrainBatchSize: 2,
        stepsPerGeneration: 2,
        outputDir,
        resumeFromCheckpoint: resume,
      },
      distributed === false ? { distributed } : {},
    );
    return { model, trainer };
  };
  const full = await make(`${dir}/full`, null);
  await full.trainer.train();
  const resumed = await make(`${dir}/resumed`, `${dir}/full/checkpoint-1`);
  await resumed.trainer.train();
  let aloneError: string | null = null;
  if (world.rank === 0) {
    const alone = await make(`${dir}/alone`, `${dir}/full/checkpoint-1`, false);
    await alone.trainer.train().catch((e: Error) => (aloneError = e.message));
  }
  console.log(
    JSON.stringify({
      rank: world.rank,
      full: hash(flat(full.model)),
      resumed: hash(flat(resumed.model)),
      aloneError,
      losses: full.trainer.logHistory.map((r) => r.loss),
    }),
  );
} else if (scenario === 'stop') {
  // Rank 0 alone asks to stop after its first step (as a Ctrl-C that reached it first): both
  // ranks finish the step whose reduction carried the request, stop at the same boundary and
  // save one checkpoint together.
  const model = await tinyModel();
  const stop = new AbortController();
  const trainer = cannedTrainer(
    model,
    { maxSteps: 5, saveSteps: 100, numGenerations: 2, perDeviceTrainBatchSize: 2, outputDir: dir },
    {
      onLog: (r) => {
        if (world.rank === 0 && r.step === 1) stop.abort(new Error('stop requested on rank 0'));
      },
    },
  );
  let error = '';
  await trainer.train({ signal: stop.signal }).catch((e: Error) => (error = `${e.name}: ${e.message}`));
  const saved = await trainer.saveCheckpoint();
  console.log(JSON.stringify({ rank: world.rank, step: trainer.state.globalStep, error, saved, weights: hash(flat(model)) }));
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
cleanup();
