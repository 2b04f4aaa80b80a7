/**
 * A trainer's checkpoint files, written and read for `TrainerCore`: the weights (or adapters),
 * the optimizer state, the rollout buffers and the KL reference, alone or in a data-parallel
 * job, and on resume every file read and checked before the trainer applies any of it.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as mx from '@mlxn/core';
import { loadSync, saveSync } from '@mlxn/io';
import { type Adam, adapterParameters, type ParamDict, type PreparedState, saveAdapters, unflattenPaths } from '@mlxn/nn';
import {
  ADAPTERS_FILE,
  OPTIMIZER_FILE,
  ROLLOUTS_FILE,
  readTrainerState,
  resolveCheckpoint,
  TRAINER_STATE_FILE,
  type TrainerState,
  writeCheckpoint,
} from './checkpoint.js';
import type { GRPOConfig } from './config.js';
import { type DataParallel, DataParallelError } from './data-parallel.js';
import type { MetricsLog } from './metrics.js';
import { checkArrays, checkTrainerState } from './resume-check.js';
import { loadBuffer, rankRolloutsFile, saveBuffer } from './rollout-buffer.js';
import type { TrainableModel } from './trainable-model.js';

/** Trainer-only files of a checkpoint live here, so the checkpoint folder itself loads as a model. */
export const TRAINER_FOLDER = 'trainer';
const REF_FILE = 'ref_model.safetensors';
const MODEL_FILE = 'model.safetensors';

/** What a checkpoint holds besides `trainer_state.json`. */
interface CheckpointContents {
  model: TrainableModel;
  optimizer: Adam;
  /** True when the model trains LoRA adapters (only they are saved). */
  lora: boolean;
  /** This process's rollout buffer, when a generation batch is partly trained on. */
  buffer: { batches: object[] } | null;
  ref: ParamDict | null;
}

/** Where and how a trainer writes its checkpoints. */
interface CheckpointTarget extends Pick<GRPOConfig, 'outputDir' | 'saveTotalLimit'> {
  dataParallel: DataParallel | null;
  /** The trainer's name, for errors. */
  trainer: string;
}

/** Writes `checkpoint-<state.globalStep>` into `outputDir` (atomically) and rotates old ones. */
export function saveTrainerCheckpoint(state: TrainerState, contents: CheckpointContents, target: CheckpointTarget): Promise<string> {
  const dp = target.dataParallel;
  if (dp !== null) return saveCheckpointInJob(dp, state, contents, target);
  return writeCheckpoint(
    target.outputDir,
    state,
    async (tmp) => {
      await writeCheckpointFiles(tmp, contents);
    },
    { saveTotalLimit: target.saveTotalLimit },
  );
}

/**
 * Fills a checkpoint's temporary folder: weights (or adapters), the optimizer state, this
 * process's rollout buffer and the reference snapshot. Returns the trainer folder inside it.
 */
async function writeCheckpointFiles(tmp: string, { model, optimizer, lora, buffer, ref }: CheckpointContents): Promise<string> {
  if (lora) await saveAdapters(model, join(tmp, ADAPTERS_FILE));
  else if (typeof model.save === 'function') await model.save(tmp);
  else model.saveWeightsSync(join(tmp, MODEL_FILE));
  const trainerDir = join(tmp, TRAINER_FOLDER);
  mkdirSync(trainerDir, { recursive: true });
  optimizer.saveStateSync(join(trainerDir, OPTIMIZER_FILE));
  if (buffer !== null) saveBuffer(join(trainerDir, ROLLOUTS_FILE), buffer.batches);
  if (ref !== null) saveSync(join(trainerDir, REF_FILE), Object.fromEntries(mx.treeFlattenWithPaths(ref)));
  return trainerDir;
}

/**
 * A checkpoint of a data-parallel job. The weights, optimizer state and reference are the same
 * on every rank, so rank 0 writes them; the rollout buffers are each rank's own, so the other
 * ranks first write theirs to a hidden file in `outputDir`, which rank 0 moves into the
 * checkpoint before it is swapped into place. Every rank returns only when the checkpoint is
 * whole (or throws when rank 0 could not write it).
 */
async function saveCheckpointInJob(
  dp: DataParallel,
  state: TrainerState,
  contents: CheckpointContents,
  target: CheckpointTarget,
): Promise<string> {
  const { buffer } = contents;
  const root = resolve(target.outputDir);
  const staged = (rank: number) => join(root, `.rollouts-rank-${rank}.staged.safetensors`);
  let error: unknown = null;
  if (!dp.isMain && buffer !== null) {
    try {
      mkdirSync(root, { recursive: true });
      saveBuffer(staged(dp.rank), buffer.batches);
    } catch (e) {
      error = e;
    }
  }
  let failed = dp.barrier(`the rollout buffers for checkpoint-${state.globalStep}`, error !== null);
  if (error !== null) throw error;
  if (failed > 0)
    throw new DataParallelError(
      `${target.trainer} (rank ${dp.rank}): another rank could not write its rollout buffer for checkpoint-${state.globalStep}`,
    );
  let path = join(root, `checkpoint-${state.globalStep}`);
  if (dp.isMain) {
    try {
      path = await writeCheckpoint(
        target.outputDir,
        state,
        async (tmp) => {
          const trainerDir = await writeCheckpointFiles(tmp, contents);
          if (buffer !== null) for (let r = 1; r < dp.size; r++) renameSync(staged(r), join(trainerDir, rankRolloutsFile(r)));
        },
        { saveTotalLimit: target.saveTotalLimit },
      );
    } catch (e) {
      error = e;
    }
  }
  failed = dp.barrier(`checkpoint-${state.globalStep} (written by rank 0)`, error !== null);
  if (error !== null) throw error;
  if (failed > 0) throw new DataParallelError(`${target.trainer} (rank ${dp.rank}): rank 0 could not write checkpoint-${state.globalStep}`);
  return path;
}

/** The checkpoint to resume from; in a job, rank 0 recovers interrupted writes first, alone. */
export function resolveResumeCheckpoint(
  c: Pick<GRPOConfig, 'resumeFromCheckpoint' | 'outputDir'>,
  dp: DataParallel | null,
  trainer: string,
): string | null {
  if (dp === null) return resolveCheckpoint(c.resumeFromCheckpoint, c.outputDir);
  let found: string | null = null;
  let error: unknown = null;
  if (dp.isMain) {
    try {
      found = resolveCheckpoint(c.resumeFromCheckpoint, c.outputDir);
    } catch (e) {
      error = e;
    }
  }
  const failed = dp.barrier('the resume checkpoint (rank 0 looks first)', error !== null);
  if (error !== null) throw error;
  if (failed > 0) throw new DataParallelError(`${trainer} (rank ${dp.rank}): rank 0 could not find the checkpoint to resume from`);
  return dp.isMain ? found : resolveCheckpoint(c.resumeFromCheckpoint, c.outputDir);
}

/** The parts of a checkpoint that `readCheckpoint` checked, for the trainer to apply. */
interface ReadCheckpoint {
  state: TrainerState;
  extra: { skippedSteps?: number; lossSum?: number; trainer?: unknown; numProcesses?: unknown };
  weights: [string, mx.Array][];
  /** Arrays of the weights file the model has no slot for (to be disposed). */
  unused: mx.Array[];
  optimizer: PreparedState;
  buffer: Record<string, unknown>[] | null;
  ref: ParamDict | null;
}

/**
 * Reads every file of checkpoint `dir` and checks it against the model and the config (shapes,
 * dtypes, finite values, step counts, the trainer's own checks of its sampler and extra state)
 * without applying anything; a bad checkpoint throws one Error naming the file and the field,
 * and what was loaded is freed. Its last step drops the metrics file's lines past the checkpoint.
 */
export function readCheckpoint(
  dir: string,
  trainer: {
    name: string;
    totalSteps: number;
    model: TrainableModel;
    optimizer: Adam;
    lora: boolean;
    dataParallel: DataParallel | null;
    metrics: MetricsLog;
    checkSamplerState(state: unknown): void;
    checkTrainerExtraState(state: unknown): void;
  },
): ReadCheckpoint {
  const st = readTrainerState(dir);
  checkTrainerState(st, join(dir, TRAINER_STATE_FILE), { trainer: trainer.name, totalSteps: trainer.totalSteps });
  const extra = (st.extra ?? {}) as ReadCheckpoint['extra'];
  // Each rank's share of the data (and its rollout buffer) depends on the number of ranks.
  const wrote = extra.numProcesses ?? 1;
  const now = trainer.dataParallel?.size ?? 1;
  if (wrote !== now) {
    throw new Error(
      `${join(dir, TRAINER_STATE_FILE)}: written by a job of ${String(wrote)} process(es); resume it with the same number (this run has ${now})`,
    );
  }
  try {
    trainer.checkSamplerState(st.dataset);
  } catch (e) {
    throw new Error(`${join(dir, TRAINER_STATE_FILE)}: invalid trainer state: dataset: ${(e as Error).message}`);
  }
  try {
    trainer.checkTrainerExtraState(extra.trainer);
  } catch (e) {
    throw new Error(`${join(dir, TRAINER_STATE_FILE)}: invalid trainer state: extra.trainer: ${(e as Error).message}`);
  }
  const model = trainer.model;
  const loaded: mx.Array[] = [];
  const take = <T extends Record<string, mx.Array>>(arrays: T): T => {
    loaded.push(...Object.values(arrays));
    return arrays;
  };
  let weights: [string, mx.Array][];
  let unused: mx.Array[] = [];
  let optimizer: PreparedState | null = null;
  let buffer: Record<string, unknown>[] | null = null;
  let ref: ParamDict | null = null;
  try {
    const lora = existsSync(join(dir, ADAPTERS_FILE));
    if (lora) {
      if (!trainer.lora) throw new Error(`${dir}: holds LoRA adapters but the model has none (configure the same LoRA options)`);
      const file = join(dir, ADAPTERS_FILE);
      const arrays = take(loadSync(file).arrays);
      checkArrays(file, 'adapter', adapterParameters(model), arrays, { complete: true });
      weights = Object.entries(arrays);
    } else {
      if (trainer.lora) throw new Error(`${dir}: holds full weights but the model trains LoRA adapters`);
      const arrays = take(loadSync(dir).arrays);
      const slots = model.namedParameters();
      const trainable = new Set(model.namedTrainableParameters().map(([k]) => k));
      // Every trainable weight must come from the checkpoint (a tied head is the embedding).
      checkArrays(dir, 'weight', slots, arrays, { complete: false, optional: (k) => !trainable.has(k) || k === 'lm_head.weight' });
      const known = new Set(slots.map(([k]) => k));
      weights = Object.entries(arrays).filter(([k]) => known.has(k));
      unused = Object.entries(arrays)
        .filter(([k]) => !known.has(k))
        .map(([, a]) => a);
    }
    const trainerDir = join(dir, TRAINER_FOLDER);
    optimizer = trainer.optimizer.prepareStateSync(join(trainerDir, OPTIMIZER_FILE), {
      parameters: model.trainableParameters(),
      step: st.globalStep - (extra.skippedSteps ?? 0),
    });
    const rank = trainer.dataParallel?.rank ?? 0;
    const rolloutsPath = join(trainerDir, rank === 0 ? ROLLOUTS_FILE : rankRolloutsFile(rank));
    if (existsSync(rolloutsPath)) {
      buffer = loadBuffer(rolloutsPath);
      for (const b of buffer) for (const v of Object.values(b)) if (v instanceof mx.Array) loaded.push(v);
    }
    const refPath = join(trainerDir, REF_FILE);
    if (existsSync(refPath)) {
      const arrays = take(loadSync(refPath).arrays);
      checkArrays(refPath, 'reference weight', mx.treeFlattenWithPaths(model.parameters()), arrays, { complete: true });
      ref = unflattenPaths(arrays) as ParamDict;
    }
    // The last step that can fail: log lines past the checkpoint are dropped from the file.
    trainer.metrics.truncateAfter(st.globalStep);
  } catch (e) {
    optimizer?.dispose();
    mx.dispose(loaded);
    throw e;
  }
  return { state: st, extra, weights, unused, optimizer, buffer, ref };
}
