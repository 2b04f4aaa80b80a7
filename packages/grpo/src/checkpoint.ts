/**
 * Trainer checkpoints: `<outputDir>/checkpoint-N` folders written atomically (everything goes
 * into a hidden temporary folder that is swapped into place when complete, crash-safe through
 * @mlxn/io's folder replace), the newest `saveTotalLimit` kept, and found again for
 * `resumeFromCheckpoint`. Finding and ordering the folders is `mlxn-grpo`'s job
 * (crates/mlxn-grpo/src/checkpoints.rs).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { native } from '@mlxn/core/internal';
import { readTextFileSync } from '@mlxn/io';
import { beginFolderReplace, recoverFolder, recoverFolders, removeFolder, writeFileAtomic } from '@mlxn/io/internal';

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
    recoverCheckpoints(outputDir);
    const latest = latestCheckpoint(outputDir);
    if (latest === null) throw new Error(`resumeFromCheckpoint: no valid checkpoint found in ${outputDir}`);
    return latest;
  }
  if (typeof resumeFromCheckpoint !== 'string')
    throw new TypeError(`resumeFromCheckpoint must be a path or a boolean, got ${typeof resumeFromCheckpoint}`);
  const dir = resolve(resumeFromCheckpoint);
  recoverFolder(dir, holdsTrainerState);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`resumeFromCheckpoint: ${dir} is not a folder`);
  if (!existsSync(join(dir, TRAINER_STATE_FILE)))
    throw new Error(`resumeFromCheckpoint: ${dir} is not a finished checkpoint (no ${TRAINER_STATE_FILE})`);
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

const CHECKPOINT_NAME = /^checkpoint-\d+$/;

/** A hidden copy of a checkpoint is complete when it holds the trainer state (written last). */
const holdsTrainerState = (dir: string) => existsSync(join(dir, TRAINER_STATE_FILE));

/**
 * Puts back the newest complete copy of every checkpoint whose replace was interrupted (a
 * process killed between two renames) and deletes the leftovers of interrupted writes and
 * deletions. Run before resuming, saving and rotating.
 */
export function recoverCheckpoints(outputDir: string): void {
  recoverFolders(resolve(outputDir), (name) => CHECKPOINT_NAME.test(name), holdsTrainerState);
}

/**
 * Keeps the newest `keep` finished checkpoints of `outputDir` (0: all) and those in `protect`.
 * Each one removed is first renamed to a hidden name, so a kill midway never leaves a partial
 * folder that looks like a checkpoint. Returns the removed paths.
 */
export function rotateCheckpoints(outputDir: string, keep: number, protect: readonly string[] = []): string[] {
  if (!Number.isInteger(keep) || keep < 0) throw new RangeError(`saveTotalLimit must be a non-negative integer, got ${keep}`);
  if (keep === 0) return [];
  const all = listCheckpoints(outputDir);
  const spared = new Set(protect.map((p) => resolve(p)));
  const removed: string[] = [];
  for (const c of all.slice(0, Math.max(0, all.length - keep))) {
    if (spared.has(resolve(c.path))) continue;
    removeFolder(c.path);
    removed.push(c.path);
  }
  return removed;
}

/**
 * Writes `checkpoint-<step>` in `outputDir`: `write(tmp)` fills a hidden temporary folder, then
 * the trainer state is written last and the folder swapped into place (replacing an older
 * checkpoint of the same step; crash-safe, see @mlxn/io's folder replace). Afterwards only the
 * newest `saveTotalLimit` are kept (0 or undefined: all). Returns the checkpoint's path.
 */
export async function writeCheckpoint(
  outputDir: string,
  state: TrainerState,
  write: (tmpDir: string) => void | Promise<void>,
  options: { saveTotalLimit?: number | null } = {},
): Promise<string> {
  const limit = options.saveTotalLimit ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`saveTotalLimit must be a non-negative integer, got ${limit}`);
  const root = resolve(outputDir);
  mkdirSync(root, { recursive: true });
  recoverCheckpoints(root);
  const final = join(root, `checkpoint-${state.globalStep}`);
  const replace = beginFolderReplace(final);
  try {
    await write(replace.temp);
    writeFileAtomic(join(replace.temp, TRAINER_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    replace.commit();
  } catch (e) {
    replace.abort();
    throw e;
  }
  rotateCheckpoints(root, limit, [final]);
  return final;
}
