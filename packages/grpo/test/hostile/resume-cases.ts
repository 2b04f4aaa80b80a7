// Hostile resume inputs: a real GRPO checkpoint (weights, optimizer state, buffered rollouts,
// KL reference, trainer state) with one file damaged or edited, resumed into a fresh trainer.
// Every case must give one Error naming the file and the field, and leave the model and the
// trainer exactly as they were (no half-restored state); a case whose edit is harmless must load.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { loadSync, saveSync } from '@mlxn/io';
import { GRPOTrainer, OPTIMIZER_FILE, ROLLOUTS_FILE, TRAINER_STATE_FILE } from '../../src/index.js';
import { arithmeticRecords, tinyModel } from '../trainer-fixture.js';

const reward = ({ completionIds }: { completionIds: number[][] }) => completionIds.map((ids) => ids.reduce((s, t) => s + (t % 7), 0) / 7);
// Weight decay makes the checkpoint's weights differ from the fresh model's, so a resume that
// fails after loading them is seen as half-restored even when the rewards give no gradient.
const CONFIG = {
  numGenerations: 4,
  perDeviceTrainBatchSize: 4,
  maxCompletionLength: 3,
  stepsPerGeneration: 2,
  beta: 0.05,
  maxSteps: 4,
  saveSteps: 1,
  loggingSteps: 1,
  bf16: false,
  gradientCheckpointing: false,
  seed: 7,
  learningRate: 1e-2,
  weightDecay: 0.1,
} as const;

const scratch = mkdtempSync(join(tmpdir(), 'mlxn-resume-cases-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

async function trainer(outputDir: string): Promise<GRPOTrainer> {
  return new GRPOTrainer({
    model: await tinyModel(),
    rewardFuncs: [reward],
    trainDataset: arithmeticRecords(8),
    config: { ...CONFIG, outputDir },
  });
}

let base: Promise<string> | null = null;
/** checkpoint-1 of a short run: a buffered generation is half used, so every file is there. */
function baseCheckpoint(): Promise<string> {
  base ??= (async () => {
    const out = join(scratch, 'base');
    const t = new GRPOTrainer({
      model: await tinyModel(),
      rewardFuncs: [reward],
      trainDataset: arithmeticRecords(8),
      config: { ...CONFIG, maxSteps: 1, outputDir: out },
    });
    await t.train();
    return join(out, 'checkpoint-1');
  })();
  return base;
}

let copies = 0;
async function damaged(edit: (dir: string) => void): Promise<string> {
  const dir = join(scratch, `case-${copies++}`, 'checkpoint-1');
  cpSync(await baseCheckpoint(), dir, { recursive: true });
  edit(dir);
  return dir;
}

function fingerprint(t: GRPOTrainer): string {
  const h = createHash('sha256');
  for (const [k, a] of [...mx.treeFlattenWithPaths(t.model.parameters()), ...mx.treeFlattenWithPaths(t.optimizer.state)]) {
    h.update(k);
    h.update(a.dtype === 'uint64' ? String(a.item()) : Buffer.from(a.dataSync().buffer));
  }
  h.update(JSON.stringify(t.state));
  return h.digest('hex');
}

/**
 * Resumes a fresh trainer from a damaged copy. Throws the trainer's error when the model and
 * trainer are untouched by the failed resume, else an Error saying what it changed.
 */
async function resume(edit: (dir: string) => void): Promise<string> {
  const dir = await damaged(edit);
  const t = await trainer(join(dir, '..'));
  const before = fingerprint(t);
  try {
    t.loadCheckpoint(dir);
  } catch (e) {
    if (fingerprint(t) !== before)
      throw new Error(`half-restored: the failed resume changed the model or trainer (${(e as Error).message})`);
    throw e;
  }
  return `loaded at step ${t.state.globalStep}`;
}

/** Rewrites one safetensors file of the checkpoint through `edit` (metadata kept). */
const editTensors = (file: string, edit: (flat: Record<string, mx.Array>) => void) => (dir: string) => {
  const path = join(dir, file);
  const { arrays, metadata } = loadSync(path);
  const flat: Record<string, mx.Array> = { ...arrays };
  edit(flat);
  saveSync(path, flat, { metadata });
};
/** trainer_state.json as an edit sees it: any field may be given a value of any type. */
interface StateJson {
  [field: string]: unknown;
  rng: Record<string, unknown>;
  extra: Record<string, unknown>;
  dataset: Record<string, unknown> | null;
}
const editState = (edit: (st: StateJson) => void) => (dir: string) => {
  const path = join(dir, TRAINER_STATE_FILE);
  const st = JSON.parse(readFileSync(path, 'utf8'));
  edit(st);
  writeFileSync(path, JSON.stringify(st));
};

const OPT = join('trainer', OPTIMIZER_FILE);
const ROLL = join('trainer', ROLLOUTS_FILE);
const REF = join('trainer', 'ref_model.safetensors');
/** A weight by checkpoint key (model files) and by property path (optimizer state, KL reference). */
const P = 'model.layers.0.self_attn.q_proj.weight';
const Q = 'model.layers.0.selfAttn.qProj.weight';
const firstKey = (flat: Record<string, mx.Array>, suffix: string) => Object.keys(flat).find((k) => k.endsWith(suffix))!;

export interface ResumeCase {
  name: string;
  class: string;
  regression?: boolean;
  run(): Promise<unknown>;
  /** The message the error must match (it names the file and the field). */
  error: RegExp;
  timeoutMs?: number;
}

/** The right error, and not a half-restore (whose message quotes the error that caused it). */
const judged = (c: ResumeCase) => ({
  ...c,
  error: (e: Error) => !e.message.startsWith('half-restored:') && c.error.test(`${e.name}: ${e.message}`),
});

const opt = (name: string, edit: (flat: Record<string, mx.Array>) => void, error: RegExp): ResumeCase => ({
  name: `optimizer state: ${name}`,
  class: 'optimizer-state',
  run: () => resume(editTensors(OPT, edit)),
  error,
});
const st = (name: string, edit: (s: StateJson) => void, error: RegExp): ResumeCase => ({
  name: `trainer state: ${name}`,
  class: 'trainer-state',
  run: () => resume(editState(edit)),
  error,
});
const file = (name: string, klass: string, f: string, edit: (flat: Record<string, mx.Array>) => void, error: RegExp): ResumeCase => ({
  name,
  class: klass,
  run: () => resume(editTensors(f, edit)),
  error,
});

/** A named regression (each failed on main before the fix: accepted silently, or half-restored). */
const reg = (c: ResumeCase): ResumeCase => ({ ...c, name: `regression: ${c.name}`, regression: true });

const OPTF = /optimizer\.safetensors: invalid Float32StateAdam state/;
const STF = /trainer_state\.json: invalid trainer state/;

const all: ResumeCase[] = [
  reg(
    opt(
      'a moment of the wrong shape',
      (f) => {
        f[`${Q}.m`] = mx.zeros([3], 'float32');
      },
      /optimizer\.safetensors.*'model\.layers\.0\.selfAttn\.qProj\.weight\.m' has shape \[3\]/,
    ),
  ),
  reg(
    opt(
      'a moment of the wrong dtype',
      (f) => {
        f[`${Q}.v`] = mx.astype(f[`${Q}.v`]!, 'float16');
      },
      /optimizer\.safetensors.*'model\.layers\.0\.selfAttn\.qProj\.weight\.v' has dtype float16/,
    ),
  ),
  reg(
    opt(
      'a NaN moment',
      (f) => {
        f[`${Q}.m`] = mx.full(f[`${Q}.m`]!.shape, Number.NaN, 'float32');
      },
      /optimizer\.safetensors.*\.m' holds NaN or infinite values/,
    ),
  ),
  opt(
    'an infinite second moment',
    (f) => {
      f[`${Q}.v`] = mx.full(f[`${Q}.v`]!.shape, Number.POSITIVE_INFINITY, 'float32');
    },
    /\.v' holds NaN or infinite values/,
  ),
  reg(
    opt(
      'a negative step',
      (f) => {
        f.step = mx.array(-1, { dtype: 'int64' });
      },
      new RegExp(`${OPTF.source}: 'step' must be a count of updates, got -1`),
    ),
  ),
  reg(
    opt(
      'an absurd step (2^62)',
      (f) => {
        f.step = mx.array(2n ** 62n, { dtype: 'uint64' });
      },
      /'step' must be a count of updates/,
    ),
  ),
  opt(
    'a float step',
    (f) => {
      f.step = mx.array(1, { dtype: 'float32' });
    },
    /'step' must be an integer scalar, got float32/,
  ),
  opt(
    'a step that is not a scalar',
    (f) => {
      f.step = mx.array([1, 1], { dtype: 'uint64' });
    },
    /'step' must be an integer scalar/,
  ),
  reg(
    opt(
      "a step other than the trainer state's",
      (f) => {
        f.step = mx.array(3, { dtype: 'uint64' });
      },
      /'step' is 3, but 1 updates were made/,
    ),
  ),
  opt(
    'a missing second moment',
    (f) => {
      delete f[`${Q}.v`];
    },
    /weight\.v' is missing/,
  ),
  opt(
    'no state for one parameter',
    (f) => {
      delete f[`${Q}.m`];
      delete f[`${Q}.v`];
    },
    /qProj\.weight\.\*' is missing/,
  ),
  opt(
    'an entry for a parameter the model does not have',
    (f) => {
      f['model.layers.9.mlp.up_proj.weight.m'] = mx.zeros([2], 'float32');
    },
    /'model\.layers\.9\.mlp\.up_proj\.weight\.m' belongs to no trainable parameter/,
  ),
  opt(
    'an extra entry under a real parameter',
    (f) => {
      f[`${Q}.z`] = mx.zeros([2], 'float32');
    },
    /weight\.z' is not an entry this optimizer keeps/,
  ),
  opt(
    'an unknown top-level entry',
    (f) => {
      f.momentum = mx.array(0.9, { dtype: 'float32' });
    },
    /'momentum' is not an entry of this optimizer/,
  ),
  opt(
    'a NaN learning rate',
    (f) => {
      f.learning_rate = mx.array(Number.NaN, { dtype: 'float32' });
    },
    /'learning_rate' holds NaN/,
  ),
  opt(
    'a learning rate that is not a scalar',
    (f) => {
      f.learning_rate = mx.array([0.1, 0.2], { dtype: 'float32' });
    },
    /'learning_rate' must be a scalar/,
  ),
  opt(
    'no step tensor',
    (f) => {
      delete f.step;
    },
    /optimizer\.safetensors: not an optimizer state \(no 'step' tensor\)/,
  ),
  reg(
    st(
      'globalStep 1e12',
      (s) => {
        s.globalStep = 1e12;
      },
      new RegExp(`${STF.source}: globalStep is 1000000000000, past this run's 4 total steps`),
    ),
  ),
  st(
    'globalStep past maxSteps',
    (s) => {
      s.globalStep = 5;
    },
    /globalStep is 5, past this run's 4 total steps/,
  ),
  st(
    'a negative globalStep',
    (s) => {
      s.globalStep = -1;
    },
    /trainer_state\.json: invalid trainer state.*globalStep/,
  ),
  st(
    'a fractional globalStep',
    (s) => {
      s.globalStep = 1.5;
    },
    /trainer_state\.json: invalid trainer state.*globalStep/,
  ),
  st(
    'microStep below globalStep',
    (s) => {
      s.microStep = 0;
    },
    /microStep is 0, fewer than the 1 optimizer steps/,
  ),
  st(
    'a null epoch',
    (s) => {
      s.epoch = null;
    },
    /epoch must be a finite non-negative number, got null/,
  ),
  st(
    'a negative epoch',
    (s) => {
      s.epoch = -2;
    },
    /epoch must be a finite non-negative number, got -2/,
  ),
  st(
    'a negative token count',
    (s) => {
      s.numInputTokensSeen = -5;
    },
    /numInputTokensSeen must be a non-negative integer, got -5/,
  ),
  st(
    'a token count that is a string',
    (s) => {
      s.numInputTokensSeen = 'many';
    },
    /numInputTokensSeen must be a non-negative integer/,
  ),
  st(
    "another trainer's state",
    (s) => {
      s.trainer = 'SFTTrainer';
    },
    /trainer is "SFTTrainer", but GRPOTrainer is resuming/,
  ),
  st(
    'a negative rng counter',
    (s) => {
      s.rng.counter = -1;
    },
    /rng\.counter must be a non-negative integer|invalid trainer state \(rng\)/,
  ),
  st(
    'more skipped steps than steps',
    (s) => {
      s.extra.skippedSteps = 99;
    },
    /extra\.skippedSteps must be an integer from 0 to globalStep \(1\), got 99/,
  ),
  st(
    'a loss sum that is not a number',
    (s) => {
      s.extra.lossSum = 'x';
    },
    /extra\.lossSum must be a finite number/,
  ),
  reg(
    st(
      'a dataset position past the epoch',
      (s) => {
        s.dataset!.batch = 1e9;
      },
      /trainer_state\.json: invalid trainer state: dataset: .*bad position/,
    ),
  ),
  st(
    'a dataset position of another seed',
    (s) => {
      s.dataset!.seed = 8;
    },
    /trainer_state\.json: invalid trainer state: dataset: .*seed is 8/,
  ),
  st(
    'no dataset position',
    (s) => {
      s.dataset = null;
    },
    /invalid trainer state: dataset/,
  ),
  {
    name: 'trainer state: a FIFO instead of a file',
    class: 'trainer-state',
    run: () =>
      resume((d) => {
        rmSync(join(d, TRAINER_STATE_FILE));
        execFileSync('mkfifo', [join(d, TRAINER_STATE_FILE)]);
      }),
    error: /trainer_state\.json: cannot read the trainer state \(.*not a regular file\)/,
    timeoutMs: 60_000,
  },
  {
    name: 'trainer state: not JSON',
    class: 'trainer-state',
    run: () => resume((d) => writeFileSync(join(d, TRAINER_STATE_FILE), '{"globalStep": 1,')),
    error: /trainer_state\.json: cannot read the trainer state/,
  },
  {
    name: 'trainer state: a JSON list',
    class: 'trainer-state',
    run: () => resume((d) => writeFileSync(join(d, TRAINER_STATE_FILE), '[1, 2]')),
    error: /trainer_state\.json: invalid trainer state/,
  },
  {
    name: 'trainer state: larger than 64 MiB',
    class: 'trainer-state',
    run: () => resume((d) => writeFileSync(join(d, TRAINER_STATE_FILE), `{"pad": "${'x'.repeat(65 * 2 ** 20)}"}`)),
    error: /trainer_state\.json: cannot read the trainer state \(.*\d+ bytes exceeds the limit of 67108864 bytes/,
  },
  file(
    'weights: a trainable weight of the wrong dtype',
    'checkpoint-weights',
    'model.safetensors',
    (f) => {
      f[P] = mx.astype(f[P]!, 'float16');
    },
    /weight 'model\.layers\.0\.self_attn\.q_proj\.weight' has dtype float16, the model's is float32/,
  ),
  file(
    'weights: a NaN weight',
    'checkpoint-weights',
    'model.safetensors',
    (f) => {
      f[P] = mx.full(f[P]!.shape, Number.NaN, 'float32');
    },
    /weight 'model\.layers\.0\.self_attn\.q_proj\.weight' holds NaN/,
  ),
  reg(
    file(
      'weights: a trainable weight missing',
      'checkpoint-weights',
      'model.safetensors',
      (f) => {
        delete f[P];
      },
      /'model\.layers\.0\.self_attn\.q_proj\.weight' is missing|missing weights/,
    ),
  ),
  file(
    'weights: a weight of the wrong shape',
    'checkpoint-weights',
    'model.safetensors',
    (f) => {
      f[P] = mx.zeros([2, 2], 'float32');
    },
    /q_proj\.weight' has shape \[2, 2\]|q_proj/,
  ),
  file(
    'rollouts: a tensor of no batch',
    'checkpoint-weights',
    ROLL,
    (f) => {
      f['7.inputIds'] = f[firstKey(f, '.inputIds')]!;
    },
    /rollouts\.safetensors: invalid rollouts file: tensor '7\.inputIds' belongs to no batch/,
  ),
  file(
    'KL reference: a weight of the wrong shape',
    'checkpoint-weights',
    REF,
    (f) => {
      f[Q] = mx.zeros([3], 'float32');
    },
    /ref_model\.safetensors: reference weight 'model\.layers\.0\.selfAttn\.qProj\.weight' has shape \[3\]/,
  ),
  file(
    'KL reference: a NaN weight',
    'checkpoint-weights',
    REF,
    (f) => {
      f[Q] = mx.full(f[Q]!.shape, Number.NaN, 'float32');
    },
    /ref_model\.safetensors: reference weight .* holds NaN/,
  ),
  file(
    'KL reference: a weight missing',
    'checkpoint-weights',
    REF,
    (f) => {
      delete f[Q];
    },
    /ref_model\.safetensors: reference weight 'model\.layers\.0\.selfAttn\.qProj\.weight' is missing/,
  ),
];

export const cases = all.map(judged);
