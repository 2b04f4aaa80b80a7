/**
 * Trainer checkpoints: `<outputDir>/checkpoint-N` folders written atomically (everything goes
 * into a hidden temporary folder that is renamed into place when complete), the newest
 * `saveTotalLimit` kept, and found again for `resumeFromCheckpoint`. Finding, ordering and
 * rotating the folders is `mlxn-grpo`'s job (crates/mlxn-grpo/src/checkpoints.rs).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { readTextFileSync } from '@mlxn/io';
import { join, resolve } from 'node:path';
import { native } from '@mlxn/core/internal';
import { writeAtomic } from './metrics.js';

/** The file every finished checkpoint holds; written last. */
export const TRAINER_STATE_FILE = 'trainer_state.json';
/** Optimizer state (safetensors, the layout of `tree_flatten(opt.state)`). */
export const OPTIMIZER_FILE = 'optimizer.safetensors';
/** LoRA adapters, when only adapters are trained. */
export const ADAPTERS_FILE = 'adapters.safetensors';
/** Buffered rollouts still to be trained on (generation batches reused over several steps). */
export const ROLLOUTS_FILE = 'rollouts.safetensors';

/**
 * What a trainer needs besides weights and optimizer state to continue exactly:
 * the step, the epoch, the dataset position and the random state, and the log history.
 */
export interface TrainerState {
  /** Optimizer updates done. */
  globalStep: number;
  /** Fractional epoch (dataset passes), as Hugging Face's trainer reports it. */
  epoch: number;
  /** Prompt + completion tokens seen so far (TRL's `num_input_tokens_seen`). */
  numInputTokensSeen: number;
  /** The dataset sampler's position (opaque to the checkpoint code). */
  dataset: unknown;
  /** The random state: the seed and how many draws of derived seeds were made. */
  rng: { seed: number; counter: number };
  /** Micro-batches done (TRL's `_step`), which selects the slice of a buffered generation. */
  microStep: number;
  /** The trainer that wrote it (`GRPOTrainer`, `SFTTrainer`). */
  trainer: string;
  /** The configuration of the run that wrote it (for the record; not re-applied). */
  config?: Record<string, unknown>;
  /** Anything else the trainer wants back. */
  extra?: Record<string, unknown>;
}

/** A finished checkpoint folder and its step. */
export interface CheckpointEntry {
  step: number;
  path: string;
}

/** The finished `checkpoint-N` folders of `outputDir`, oldest first. */
export function listCheckpoints(outputDir: string): CheckpointEntry[] {
  return native.grpoListCheckpoints(resolve(outputDir)).map(([step, path]) => ({ step, path }));
}

/** The newest finished checkpoint of `outputDir`, or `null`. */
export function latestCheckpoint(outputDir: string): string | null {
  const all = listCheckpoints(outputDir);
  return all.length === 0 ? null : all[all.length - 1].path;
}

/**
 * The folder `resumeFromCheckpoint` names: a path (which must be a finished checkpoint), `true`
 * for the newest in `outputDir`, or nothing. `true` with no checkpoint is an error, as in TRL.
 */
export function resolveCheckpoint(resumeFromCheckpoint: string | boolean | null | undefined, outputDir: string | null): string | null {
  if (resumeFromCheckpoint === undefined || resumeFromCheckpoint === null || resumeFromCheckpoint === false) return null;
  if (resumeFromCheckpoint === true) {
    if (!outputDir) throw new Error('resumeFromCheckpoint: true needs an outputDir to look for checkpoints in');
    const latest = latestCheckpoint(outputDir);
    if (latest === null) throw new Error(`resumeFromCheckpoint: no valid checkpoint found in ${outputDir}`);
    return latest;
  }
  if (typeof resumeFromCheckpoint !== 'string') throw new TypeError(`resumeFromCheckpoint must be a path or a boolean, got ${typeof resumeFromCheckpoint}`);
  const dir = resolve(resumeFromCheckpoint);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`resumeFromCheckpoint: ${dir} is not a folder`);
  if (!existsSync(join(dir, TRAINER_STATE_FILE))) throw new Error(`resumeFromCheckpoint: ${dir} is not a finished checkpoint (no ${TRAINER_STATE_FILE})`);
  return dir;
}

/** Reads and checks a checkpoint's trainer state. */
export function readTrainerState(dir: string): TrainerState {
  const path = join(dir, TRAINER_STATE_FILE);
  let state: TrainerState;
  try {
    // A regular file only (a FIFO would block the read forever), and a bounded one.
    state = JSON.parse(readTextFileSync(path, { maxBytes: 64 * 2 ** 20, what: 'trainer state files' })) as TrainerState;
  } catch (e) {
    throw new Error(`${path}: cannot read the trainer state (${(e as Error).message})`);
  }
  const bad = (what: string) => new Error(`${path}: invalid trainer state (${what})`);
  if (state === null || typeof state !== 'object') throw bad('not an object');
  if (!Number.isInteger(state.globalStep) || state.globalStep < 0) throw bad('globalStep');
  if (!Number.isInteger(state.microStep) || state.microStep < 0) throw bad('microStep');
  if (!state.rng || !Number.isInteger(state.rng.seed) || !Number.isInteger(state.rng.counter)) throw bad('rng');
  return state;
}

let counter = 0;

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot open a folder for syncing; the rename is still atomic there.
  }
}

/**
 * Writes `checkpoint-<step>` in `outputDir`: `write(tmp)` fills a hidden temporary folder, then
 * the trainer state is written last and the folder renamed into place (replacing an older
 * checkpoint of the same step). Afterwards only the newest `saveTotalLimit` are kept (0 or
 * undefined: all). Returns the checkpoint's path.
 */
export async function writeCheckpoint(
  outputDir: string,
  state: TrainerState,
  write: (tmpDir: string) => void | Promise<void>,
  options: { saveTotalLimit?: number | null } = {},
): Promise<string> {
  const root = resolve(outputDir);
  mkdirSync(root, { recursive: true });
  const step = state.globalStep;
  const tmp = join(root, native.grpoCheckpointTempName(step, process.pid, counter++));
  const final = join(root, `checkpoint-${step}`);
  mkdirSync(tmp);
  try {
    await write(tmp);
    writeAtomic(join(tmp, TRAINER_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    fsyncDir(tmp);
    if (existsSync(final)) {
      // Move the old one aside first: a rename cannot replace a non-empty folder.
      const old = join(root, native.grpoCheckpointTempName(step, process.pid, counter++));
      renameSync(final, old);
      renameSync(tmp, final);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, final);
    }
    fsyncDir(root);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const limit = options.saveTotalLimit ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`saveTotalLimit must be a non-negative integer, got ${limit}`);
  native.grpoRotateCheckpoints(root, limit, [final]);
  return final;
}
