/**
 * The machinery the GRPO and SFT trainers share, with Hugging Face `Trainer`'s semantics (which
 * TRL builds on): gradient accumulation, global-norm clipping, AdamW with bias correction and
 * decoupled weight decay (not on norms and biases) and float32 state, the learning-rate
 * schedule, NaN/inf steps skipped and reported, logging every `loggingSteps`, checkpoints every
 * `saveSteps` (and at the end), and exact resumption.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { loadSync, saveSync } from '@mlxn/io';
import {
  checkpointedValueAndGrad,
  checkpointedValueAndGradWithRouterLoss,
  type HeadLoss,
  isCheckpointable,
  type LogprobsModel,
  loadBalancingLoss,
  paddingAttentionMask,
  type RouterLossSettings,
  type RowwiseHeadLoss,
  routerLossSettings,
  tokenLogprobsFromHidden,
  wholeHeadLoss,
  withRouterLogits,
} from '@mlxn/models-qwen3';
import {
  Adam,
  adapterParameters,
  clipGradNorm,
  type Module,
  type ParamDict,
  type ParamState,
  type PreparedState,
  saveAdapters,
  unflattenPaths,
  valueAndGrad,
} from '@mlxn/nn';
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
import { type DataParallel, DataParallelError, PeerStopError } from './data-parallel.js';
import { type LogRecord, MetricsLog, type OnLog } from './metrics.js';
import { ProgressBar, type ProgressOptions } from './progress.js';
import { checkArrays, checkTrainerState } from './resume-check.js';
import { learningRateAt } from './schedule.js';

/** Trainer-only files of a checkpoint live here, so the checkpoint folder itself loads as a model. */
export const TRAINER_FOLDER = 'trainer';
const REF_FILE = 'ref_model.safetensors';
const MODEL_FILE = 'model.safetensors';

/** A model the trainers can differentiate: a Module with hidden states and an output head. */
export interface TrainableModel extends Module {
  hidden(inputs: mx.Array, options?: { mask?: mx.Array | 'causal' | null }): mx.Array;
  logitsFromHidden(h: mx.Array): mx.Array;
  /** Writes a loadable model folder (Qwen3's `save`); without it, `model.safetensors` is written. */
  save?(folder: string): unknown;
}

/** The config fields the shared machinery reads (GRPOConfig has them all). */
export type CoreConfig = Pick<
  GRPOConfig,
  | 'seed'
  | 'maxSteps'
  | 'numTrainEpochs'
  | 'loggingSteps'
  | 'saveSteps'
  | 'saveTotalLimit'
  | 'outputDir'
  | 'resumeFromCheckpoint'
  | 'learningRate'
  | 'lrSchedulerType'
  | 'warmupRatio'
  | 'warmupSteps'
  | 'adamBeta1'
  | 'adamBeta2'
  | 'adamEpsilon'
  | 'weightDecay'
  | 'maxGradNorm'
  | 'gradientAccumulationSteps'
  | 'bf16'
  | 'gradientCheckpointing'
  | 'optimizerStateDtype'
>;

/** The result of one optimizer step. */
export interface StepResult {
  /** Global gradient norm before clipping (NaN/inf when the step was skipped for it). */
  gradNorm: number;
  learningRate: number;
  /** True when the loss or gradients were not finite and no update was made. */
  skipped: boolean;
}

/**
 * Adam whose moments are float32 whatever the parameter's dtype: the update is computed in
 * float32 and cast back. With float32 weights under bf16 autocast (mixed precision) this is
 * torch's AdamW; with bfloat16 weights torch keeps its moments in bfloat16, and this keeps
 * twice their memory for updates that do not lose small steps to rounding (the trainers'
 * `optimizerStateDtype: 'parameter'` uses MLX's `Adam` instead, torch's behaviour). Weight decay
 * is applied by the trainer (it knows which parameters decay).
 */
export class Float32StateAdam extends Adam {
  protected override initSingle(parameter: mx.Array, state: ParamState): void {
    state.m = mx.zeros(parameter.shape, 'float32');
    state.v = mx.zeros(parameter.shape, 'float32');
  }

  protected override applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array {
    if (parameter.dtype === 'float32' && gradient.dtype === 'float32') return super.applySingle(gradient, parameter, state);
    const out = super.applySingle(mx.astype(gradient, 'float32'), mx.astype(parameter, 'float32'), state);
    return mx.astype(out, parameter.dtype);
  }
}

/**
 * Float32 logits per chunk of the output head in training (see RowwiseHeadLoss): 512 MiB, a few
 * rows of a long completion over a large vocabulary, whose backward pass holds a few copies.
 */
const HEAD_CHUNK_BYTES = 512 * 2 ** 20;

/** Batch rows per chunk of the training head: `positions` scored per row over the model's vocabulary. */
export function headRowsPerChunk(model: TrainableModel, positions: number): number {
  const vocab = (model as unknown as LogprobsModel).config.vocabSize;
  return Math.max(1, Math.floor(HEAD_CHUNK_BYTES / (Math.max(1, positions) * vocab * 4)));
}

/** A 32-bit seed from a base seed and a counter (splitmix-style mixing; deterministic). */
export function deriveSeed(seed: number, counter: number): number {
  let z = (Math.imul(seed ^ 0x2545f491, 0x9e3779b1) + Math.imul(counter + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Per-token log-probabilities (and optionally entropies) of a training batch's completion tokens
 * at the sampling temperature from the model's final hidden states `h` of `batch.inputIds`, through
 * @mlxn/models-qwen3's chunked head (token t scored by the logits at t − 1; full-vocabulary
 * logits exist for one chunk of positions at a time).
 */
export function trainBatchLogprobsFromHidden(
  model: TrainableModel,
  h: mx.Array,
  batch: { inputIds: mx.Array; promptLength: number },
  options: { temperature: number; withEntropy?: boolean; chunkSize?: number },
): { logprobs: mx.Array; entropy: mx.Array | null } {
  const r = tokenLogprobsFromHidden(model as unknown as LogprobsModel, h, batch.inputIds, {
    start: batch.promptLength,
    temperature: options.temperature,
    withEntropy: options.withEntropy ?? false,
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
  });
  return { logprobs: r.logprobs, entropy: r.entropy ?? null };
}

/**
 * Per-token log-probabilities (and optionally entropies) of a training batch's completion tokens
 * at the sampling temperature, in one forward of the padded batch: each row of `inputIds` holds a
 * prompt (the first `promptLength` positions) and its completion, padding marked by
 * `attentionMask`, as in a `TrainBatch`. Padded positions keep their values (the loss masks them);
 * @mlxn/models-qwen3's `completionLogprobs` takes prompts and completions apart instead and
 * zeroes padding.
 */
export function trainBatchLogprobs(
  model: TrainableModel,
  batch: { inputIds: mx.Array; attentionMask: mx.Array; promptLength: number },
  options: { temperature: number; withEntropy?: boolean; chunkSize?: number },
): { logprobs: mx.Array; entropy: mx.Array | null } {
  const mask = paddingAttentionMask(batch.attentionMask);
  const h = model.hidden(batch.inputIds, { mask });
  const out = trainBatchLogprobsFromHidden(model, h, batch, options);
  h.dispose();
  mask.dispose();
  return out;
}

/**
 * The id padding positions get: the tokenizer's pad token (as TRL), unless the model's
 * vocabulary does not reach it; then the first end-of-sequence id. Padding is masked either way.
 */
export function paddingTokenId(model: {
  tokenizer?: { pad?: { id?: number } };
  eosTokenIds: readonly number[];
  config?: { vocabSize?: number };
}): number {
  const pad = model.tokenizer?.pad?.id;
  const vocab = model.config?.vocabSize ?? Number.POSITIVE_INFINITY;
  if (pad !== undefined && pad < vocab) return pad;
  const eos = model.eosTokenIds.find((id) => id < vocab);
  return eos ?? 0;
}

// HF's get_decay_parameter_names: no weight decay on biases and normalisation weights.
const NO_DECAY = /(^|\.)(bias|[a-z_]*norm[a-z_]*\.weight)$|layernorm|rmsnorm/i;

/** `tree` with `fn` applied to each array (given its dotted path); the structure is kept. */
function mapTree<T>(tree: T, fn: (a: mx.Array, path: string) => mx.Array, prefix = ''): T {
  if (tree instanceof mx.Array) return fn(tree, prefix) as T;
  if (Array.isArray(tree)) return tree.map((v, i) => mapTree(v, fn, prefix ? `${prefix}.${i}` : `${i}`)) as T;
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tree)) out[k] = mapTree(v, fn, prefix ? `${prefix}.${k}` : k);
    return out as T;
  }
  return tree;
}

/** `fn` of the arrays at the same places of two trees of one structure. */
function zipTrees<T>(a: T, b: T, fn: (x: mx.Array, y: mx.Array) => mx.Array): T {
  if (a instanceof mx.Array) return fn(a, b as mx.Array) as T;
  if (Array.isArray(a)) return a.map((v, i) => zipTrees(v, (b as unknown[])[i], fn)) as T;
  if (a !== null && typeof a === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) out[k] = zipTrees(v, (b as Record<string, unknown>)[k], fn);
    return out as T;
  }
  return a;
}

/** Disposes the arrays of `tree` that are not in `keep`. */
function disposeExcept(tree: unknown, keep: unknown): void {
  const kept = new Set(mx.treeFlattenWithPaths(keep).map(([, a]) => a));
  for (const [, a] of mx.treeFlattenWithPaths(tree)) if (!kept.has(a)) a.dispose();
}

/** The loop state a checkpoint restores. */
export interface LoopState {
  globalStep: number;
  microStep: number;
  epoch: number;
  numInputTokensSeen: number;
}

/** What one training step's micro-batches produced (summed loss, tokens, all finite?). */
export interface MicroLoopResult {
  loss: number;
  tokens: number;
  finite: boolean;
}

export abstract class TrainerCore {
  readonly model: TrainableModel;
  /** `Float32StateAdam`, or MLX's `Adam` (state in the parameters' dtype) with `optimizerStateDtype: 'parameter'`. */
  readonly optimizer: Adam;
  readonly metrics: MetricsLog;
  readonly state: LoopState = { globalStep: 0, microStep: 0, epoch: 0, numInputTokensSeen: 0 };
  readonly logHistory: LogRecord[] = [];
  readonly #core: CoreConfig;
  readonly #name: string;
  #acc: ParamDict | null = null;
  #skipped = 0;
  #lossSum = 0;
  #warnedCheckpointing = false;
  /** Set when a step failed after using some of its micro-batches (see `runLoop`). */
  #interrupted: string | null = null;
  #progress: ProgressOptions | null = null;
  #bar: ProgressBar | null = null;
  /** The data-parallel job this trainer is a rank of; null when it trains alone. */
  readonly dataParallel: DataParallel | null;
  /** Set when the last step's reduction carried a stop request from some rank. */
  #peerStop = false;
  /** Scalars runLoop hands to the next `step` to be summed over the ranks, and their sums. */
  #stepShared: number[] = [];
  #stepSums: number[] = [];

  protected constructor(model: TrainableModel, config: CoreConfig, name: string, onLog?: OnLog, dataParallel: DataParallel | null = null) {
    this.model = model;
    this.#core = config;
    this.#name = name;
    this.dataParallel = dataParallel;
    const Optimizer = config.optimizerStateDtype === 'parameter' ? Adam : Float32StateAdam;
    this.optimizer = new Optimizer({
      learningRate: config.learningRate,
      betas: [config.adamBeta1, config.adamBeta2],
      eps: config.adamEpsilon,
      biasCorrection: true,
    });
    // Rank 0 writes the job's metrics file; every rank logs the same (job-wide) records.
    this.metrics = new MetricsLog({
      outputDir: dataParallel === null || dataParallel.isMain ? config.outputDir : null,
      onLog: (r) => {
        this.logHistory.push(r);
        onLog?.(r);
      },
    });
  }

  /** Optimizer micro-batches in one pass over the dataset. */
  protected abstract microStepsPerEpoch(): number;
  /** Trainer-specific state saved with a checkpoint. */
  protected samplerState(): unknown {
    return null;
  }
  /** Throws when a checkpoint's sampler state cannot be restored (checked before anything is applied). */
  protected checkSamplerState(_state: unknown): void {}
  protected restoreSampler(_state: unknown): void {}
  protected bufferState(): { batches: object[] } | null {
    return null;
  }
  protected restoreBuffer(_batches: unknown[] | null): void {}
  protected refSnapshot(): ParamDict | null {
    return null;
  }
  /** Trainer-specific scalar state saved in trainer_state.json's `extra.trainer` (null: none). */
  protected trainerExtraState(): Record<string, unknown> | null {
    return null;
  }
  /** Throws when a checkpoint's `extra.trainer` cannot be restored (checked before anything is applied). */
  protected checkTrainerExtraState(_state: unknown): void {}
  protected restoreTrainerExtraState(_state: unknown): void {}
  protected restoreRefSnapshot(_p: ParamDict): void {}
  protected progressInfo(record: LogRecord | null): Record<string, number | string> {
    return record?.loss != null ? { loss: record.loss } : {};
  }

  protected configureProgress(progress: boolean | ProgressOptions | undefined): void {
    // One progress bar per job: rank 0's.
    if (this.dataParallel !== null && !this.dataParallel.isMain) progress = false;
    this.#progress = progress === true ? {} : progress ? progress : null;
  }

  /**
   * Scalars a trainer combines across ranks with each step's gradients (summed over the ranks),
   * e.g. the adaptive entropy controller's window; `applyStepScalars` gets the sums back.
   */
  protected stepScalars(): number[] {
    return [];
  }
  protected applyStepScalars(_sums: number[]): void {}
  /** Runs after every optimizer step (applied or skipped). */
  protected afterStep(): void {}

  /** Optimizer steps per epoch (HF: micro-batches per epoch // gradientAccumulationSteps, at least 1). */
  get updateStepsPerEpoch(): number {
    return Math.max(1, Math.floor(this.microStepsPerEpoch() / this.#core.gradientAccumulationSteps));
  }

  /** Optimizer steps of the whole run (`maxSteps`, or the epochs' worth). */
  get totalSteps(): number {
    const c = this.#core;
    return c.maxSteps > 0 ? c.maxSteps : Math.max(1, Math.ceil(c.numTrainEpochs * this.updateStepsPerEpoch));
  }

  /** Steps skipped because the loss or gradients were not finite. */
  get skippedSteps(): number {
    return this.#skipped;
  }

  /** Runs `fn` (sync or async) with the model in evaluation mode (no dropout), restoring the mode after. */
  protected withEval<T>(fn: () => T): T {
    const was = this.model.training;
    this.model.eval();
    try {
      const out = fn();
      if (out instanceof Promise) {
        return out.finally(() => this.model.train(was)) as T;
      }
      this.model.train(was);
      return out;
    } catch (e) {
      this.model.train(was);
      throw e;
    }
  }

  /**
   * With `bf16`, runs `fn` on bfloat16 copies of the float32 weights and puts the float32 ones
   * back after: the optimizer keeps float32 weights and state, and the gradients (taken with
   * respect to the bfloat16 copies) are what torch's autocast gives, cast up when accumulated.
   */
  protected autocast<T>(fn: () => T): T {
    if (!this.#core.bf16) return fn();
    const all = this.model.parameters();
    this.model.update(mapTree(all, (a) => (a.dtype === 'float32' ? mx.astype(a, 'bfloat16') : a)));
    try {
      return fn();
    } finally {
      this.model.update(all);
    }
  }

  /**
   * The value of `headLoss(model.hidden(inputIds, { mask }))` and its gradients with respect to
   * the trainable parameters. With `gradientCheckpointing` (and a model with Qwen3's layer
   * structure) only the decoder layers' inputs are kept and each layer is recomputed in the
   * backward pass; the gradients are the same, the memory peak lower.
   */
  protected differentiate<R extends mx.Array | mx.Array[]>(
    inputIds: mx.Array,
    mask: mx.Array | 'causal',
    head: HeadLoss<R> | RowwiseHeadLoss<R>,
  ): [R, ParamDict] {
    if (this.#core.gradientCheckpointing) {
      if (isCheckpointable(this.model)) return checkpointedValueAndGrad(this.model, head, inputIds, { mask });
      if (!this.#warnedCheckpointing) {
        this.#warnedCheckpointing = true;
        this.note(
          `${this.#name}: gradientCheckpointing needs a model with model.embedTokens / model.layers / model.norm (a Qwen3); training without it`,
        );
      }
    }
    const headLoss = wholeHeadLoss(head);
    return valueAndGrad(this.model, () => headLoss(this.model.hidden(inputIds, { mask })))();
  }

  /**
   * `differentiate` with the MoE router load-balancing loss: the value's first entry becomes
   * `headLoss`'s first + `weight` · aux loss, and the aux loss is appended. The aux loss counts the
   * tokens where `tokenMask` (`[B, L]`) is 1, every token when it is null. With
   * `gradientCheckpointing`, each layer's share of the router loss is differentiated when the layer
   * is recomputed (@mlxn/models-qwen3's `checkpointedValueAndGradWithRouterLoss`).
   */
  protected differentiateWithRouterLoss(
    inputIds: mx.Array,
    mask: mx.Array | 'causal',
    tokenMask: mx.Array | null,
    router: { numExperts: number; topK: number; weight: number },
    head: HeadLoss<mx.Array[]> | RowwiseHeadLoss<mx.Array[]>,
  ): [mx.Array[], ParamDict] {
    const headLoss = wholeHeadLoss(head);
    if (this.#core.gradientCheckpointing && isCheckpointable(this.model)) {
      return checkpointedValueAndGradWithRouterLoss(this.model, headLoss, inputIds, {
        mask,
        tokenMask,
        numExperts: router.numExperts,
        topK: router.topK,
        weight: router.weight,
      });
    }
    return valueAndGrad(this.model, () => {
      const { value: hidden, routerLogits } = withRouterLogits(this.model, () => this.model.hidden(inputIds, { mask }));
      const aux = loadBalancingLoss(routerLogits, { numExperts: router.numExperts, topK: router.topK, attentionMask: tokenMask });
      mx.dispose(routerLogits);
      const [first, ...rest] = headLoss(hidden);
      return [mx.add(first, mx.multiply(aux, router.weight)), ...rest, aux];
    })() as [mx.Array[], ParamDict];
  }

  /**
   * Adds one micro-batch's gradients to the accumulated ones: in float32, or with
   * `optimizerStateDtype: 'parameter'` in each parameter's dtype (torch's `.grad` sums; under
   * bf16 autocast the gradients come in bfloat16 and float32 weights sum them in float32).
   */
  accumulate(grads: ParamDict): void {
    const dtypes =
      this.#core.optimizerStateDtype === 'parameter'
        ? new Map(mx.treeFlattenWithPaths(this.model.trainableParameters()).map(([k, p]) => [k, p.dtype]))
        : null;
    const widen = (g: mx.Array, path: string) => {
      const dtype = dtypes?.get(path) ?? 'float32';
      return g.dtype === dtype ? g : mx.astype(g, dtype);
    };
    if (this.#acc === null) {
      const g32 = mapTree(grads, widen);
      this.#acc = mx.keep(g32);
      if (g32 !== grads) disposeExcept(grads, g32);
    } else {
      const next = mx.keep(mx.tidy(() => zipTrees(this.#acc, mapTree(grads, widen), mx.add)));
      mx.eval(next);
      mx.dispose([this.#acc, grads]);
      this.#acc = next;
    }
  }

  /** The learning rate of the update after `step` optimizer steps (HF's scheduler). */
  learningRate(step: number): number {
    return learningRateAt(step, this.#core as GRPOConfig, this.totalSteps);
  }

  /**
   * Applies the accumulated gradients: clips them to `maxGradNorm` (reporting the norm before
   * clipping), decays the weights (not norms and biases) and updates with AdamW. A non-finite
   * loss (`finite: false`) or gradient norm skips the update; the step still counts. In a
   * data-parallel job every rank calls it: the gradients are first averaged over the ranks (and
   * a non-finite loss on any rank skips the step on all), so the update is the same everywhere.
   */
  step(options: { finite?: boolean } = {}): StepResult {
    checkOptionKeys(options, ['finite'], 'step');
    // The training loop's scalars for the job (see runLoop), set just before it calls step.
    const shared = this.#stepShared;
    this.#stepShared = [];
    const { result, sums } = this.#syncedStep(options.finite !== false, shared);
    this.#stepSums = sums;
    return result;
  }

  /**
   * `step`, combining the gradients across the ranks of a data-parallel job first: the
   * accumulated gradients are averaged (one all-reduce for models up to 1 GiB, see
   * `DataParallel.averageGradients`) together with `shared` scalars, whether each rank's loss
   * was finite and the trainer's `stepScalars`, which are summed. Alone, nothing is combined.
   */
  #syncedStep(finite: boolean, shared: readonly number[]): { result: StepResult; sums: number[] } {
    let grads = this.#acc;
    this.#acc = null;
    if (grads === null) throw new Error(`${this.#name}.step: no gradients were accumulated (call lossAndGrad and accumulate first)`);
    let sums = [...shared];
    const dp = this.dataParallel;
    if (dp !== null) {
      const extra = this.stepScalars();
      let reduced: { grads: ParamDict; scalars: number[] };
      try {
        reduced = dp.averageGradients(grads, [finite ? 0 : 1, ...shared, ...extra], `the gradients of step ${this.state.globalStep + 1}`);
      } finally {
        mx.dispose(grads);
      }
      grads = reduced.grads;
      finite = reduced.scalars[0] === 0;
      sums = reduced.scalars.slice(1, 1 + shared.length);
      this.applyStepScalars(reduced.scalars.slice(1 + shared.length));
    }
    const result = this.#applyUpdate(grads, finite);
    this.afterStep();
    return { result, sums };
  }

  #applyUpdate(grads: ParamDict, finite: boolean): StepResult {
    const c = this.#core;
    const lr = this.learningRate(this.state.globalStep);
    let result: StepResult;
    // Only the norm is evaluated here (whether to skip depends on it). The clipped gradients
    // stay lazy inside the update's graph, so no clipped copy of every gradient is held beside
    // the sums (for Qwen3-0.6B, 2.4 GB of float32).
    const [clipped, norm] = mx.tidy(() => {
      const [cl, n] =
        c.maxGradNorm > 0
          ? clipGradNorm(grads, c.maxGradNorm)
          : [
              grads,
              mx.sqrt(
                mx.treeFlattenWithPaths(grads).reduce<mx.Array | number>((s, [, g]) => mx.add(s, mx.sum(mx.square(g))), 0) as mx.Array,
              ),
            ];
      mx.eval(n);
      return [cl, n] as const;
    });
    const gradNorm = Number(norm.item());
    if (!finite || !Number.isFinite(gradNorm)) {
      this.#skipped += 1;
      result = { gradNorm, learningRate: lr, skipped: true };
    } else {
      this.optimizer.learningRate = lr;
      const old = this.model.trainableParameters();
      mx.tidy(() => {
        if (c.weightDecay > 0) {
          const decay = 1 - lr * c.weightDecay;
          this.model.update(mapTree(old, (p, path) => (NO_DECAY.test(path) ? p : mx.astype(mx.multiply(p, decay), p.dtype))));
        }
        this.optimizer.update(this.model, clipped);
        // The sums are referenced by the update's graph alone from here, so each is freed as
        // soon as its parameter's update has used it.
        if (clipped !== grads) mx.dispose(grads);
        mx.eval(this.model.trainableParameters(), this.optimizer.state);
      });
      // The replaced weights are garbage now, unless they are the KL reference's.
      const keep = new Set(mx.treeFlattenWithPaths(this.refSnapshot()).map(([, a]) => a));
      for (const [, a] of mx.treeFlattenWithPaths(this.model.trainableParameters())) keep.add(a);
      for (const [, a] of mx.treeFlattenWithPaths(old)) if (!keep.has(a)) a.dispose();
      result = { gradNorm, learningRate: lr, skipped: false };
    }
    mx.dispose([grads, clipped, norm]);
    this.state.globalStep += 1;
    this.state.epoch = this.state.globalStep / this.updateStepsPerEpoch;
    return result;
  }

  /**
   * The shared outer loop: resume, then steps with logging, progress and checkpoints. `signal`
   * is checked before each step only, so an abort never leaves a step half done.
   */
  protected async runLoop(
    signal: AbortSignal | undefined,
    microLoop: () => Promise<MicroLoopResult>,
  ): Promise<{ globalStep: number; trainingLoss: number; skippedSteps: number; logHistory: LogRecord[] }> {
    const c = this.#core;
    if (this.#interrupted !== null)
      throw new Error(
        `${this.#name}.train: ${this.#interrupted}, so the trainer's state is not whole; make a new trainer (resuming from the last checkpoint)`,
      );
    this.#peerStop = false; // a request that came with a run's last step ended that run
    const resume = this.#resolveResume();
    if (resume !== null) this.loadCheckpoint(resume);
    else this.metrics.truncateAfter(-1);
    const total = this.totalSteps;
    this.model.train();
    const bar = this.#progress ? new ProgressBar(total, { label: this.#name.replace('Trainer', ''), ...this.#progress }) : null;
    this.#bar = bar;
    let last: LogRecord | null = null;
    bar?.update(this.state.globalStep, {});
    try {
      while (this.state.globalStep < total) {
        // One event-loop turn per optimizer step (a step is otherwise synchronous work): a SIGINT
        // handler or timer gets to abort the signal, and the loop stops here, between two steps,
        // where its state is whole and checkpointable.
        await yieldToEventLoop();
        if (this.dataParallel === null) signal?.throwIfAborted();
        else if (this.#peerStop) {
          // Every rank learnt of the stop from the same reduction, so all stop here, together.
          this.#peerStop = false;
          throw signal?.aborted ? signal.reason : new PeerStopError();
        }
        const t0 = performance.now();
        const microBefore = this.state.microStep;
        let micro: MicroLoopResult;
        try {
          micro = await microLoop();
        } catch (e) {
          // A step that failed midway (a reward function threw or an abort stopped waiting for
          // one): its gradients are dropped; when it had already used micro-batches, the state
          // is not whole and may not be checkpointed.
          if (this.#acc !== null) mx.dispose(this.#acc);
          this.#acc = null;
          if (this.state.microStep !== microBefore) {
            this.#interrupted = `step ${this.state.globalStep + 1} stopped after ${this.state.microStep - microBefore} of its micro-batches`;
          }
          throw e;
        }
        let { loss, tokens } = micro;
        // A stop request travels with the step's gradients, so every rank sees the same requests.
        const stopRequested = signal?.aborted ? 1 : 0;
        this.#stepShared = [loss, tokens, stopRequested];
        const res = this.step({ finite: micro.finite });
        const sums = this.#stepSums;
        if (this.dataParallel !== null) {
          // The job's loss is the ranks' mean (each rank's loss is already normalised as its
          // share of the average gradient), its tokens their sum.
          loss = sums[0] / this.dataParallel.size;
          tokens = sums[1];
          this.#peerStop = sums[2] > 0;
        }
        const dt = (performance.now() - t0) / 1000;
        if (res.skipped) {
          this.metrics.add('skipped_steps', 1);
          bar?.log(`${this.#name}: step ${this.state.globalStep} skipped (loss ${loss}, grad norm ${res.gradNorm})`);
        } else {
          this.#lossSum += loss;
        }
        this.metrics.add('loss', loss);
        this.metrics.add('grad_norm', res.gradNorm);
        this.metrics.add('learning_rate', res.learningRate);
        this.metrics.add('step_time', dt);
        this.metrics.add('tokens_per_sec', tokens / dt);
        const step = this.state.globalStep;
        if (step % c.loggingSteps === 0 || step === total)
          last = this.metrics.flush({ step, epoch: this.state.epoch }, this.#combineMetrics());
        bar?.update(step, this.progressInfo(last));
        if (c.outputDir && (step % c.saveSteps === 0 || step === total)) await this.saveCheckpoint();
      }
    } finally {
      bar?.done();
      this.#bar = null;
    }
    // The loss sum and the skipped count are restored from a checkpoint, so the mean is over every
    // non-skipped step of the run, resumed or not.
    const done = this.state.globalStep - this.#skipped;
    return {
      globalStep: this.state.globalStep,
      trainingLoss: done > 0 ? this.#lossSum / done : Number.NaN,
      skippedSteps: this.#skipped,
      logHistory: this.logHistory,
    };
  }

  /** The checkpoint to resume from; in a job, rank 0 recovers interrupted writes first, alone. */
  #resolveResume(): string | null {
    const c = this.#core;
    const dp = this.dataParallel;
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
    if (failed > 0) throw new DataParallelError(`${this.#name} (rank ${dp.rank}): rank 0 could not find the checkpoint to resume from`);
    return dp.isMain ? found : resolveCheckpoint(c.resumeFromCheckpoint, c.outputDir);
  }

  /** In a job: sums and counts of every metric over all ranks (names agreed first). */
  #combineMetrics(): ((totals: Record<string, [number, number]>) => Record<string, [number, number]>) | undefined {
    const dp = this.dataParallel;
    if (dp === null) return undefined;
    return (totals) => {
      const names = [...new Set(dp.gatherStrings(Object.keys(totals), 'the metric names').flat())];
      const sums = dp.sum(
        names.flatMap((k) => totals[k] ?? [0, 0]),
        'the metrics',
      );
      const out: Record<string, [number, number]> = {};
      names.forEach((k, i) => {
        out[k] = [sums[2 * i], sums[2 * i + 1]];
      });
      return out;
    };
  }

  /** Prints a line above the progress bar (or to stderr when progress is on without a bar yet). */
  protected note(message: string): void {
    if (this.#bar) this.#bar.log(message);
    else if (this.#progress) (this.#progress.stream ?? process.stderr).write(`${message}\n`);
  }

  #isLora(): boolean {
    return adapterParameters(this.model).length > 0;
  }

  /** Writes `checkpoint-<globalStep>` into `outputDir` (atomically) and rotates old ones. */
  async saveCheckpoint(): Promise<string> {
    if (this.#interrupted !== null)
      throw new Error(
        `${this.#name}.saveCheckpoint: ${this.#interrupted}, so the trainer's state is not whole; resume from the last checkpoint instead`,
      );
    const c = this.#core;
    const state: TrainerState = {
      globalStep: this.state.globalStep,
      epoch: this.state.epoch,
      numInputTokensSeen: this.state.numInputTokensSeen,
      dataset: this.samplerState(),
      rng: { seed: c.seed, counter: this.state.microStep },
      microStep: this.state.microStep,
      trainer: this.#name,
      config: JSON.parse(JSON.stringify(c)) as Record<string, unknown>,
      extra: {
        skippedSteps: this.#skipped,
        lossSum: this.#lossSum,
        lora: this.#isLora(),
        ...nonNull('trainer', this.trainerExtraState()),
        ...(this.dataParallel === null ? {} : { numProcesses: this.dataParallel.size }),
      },
    };
    const buffer = this.bufferState();
    const ref = this.refSnapshot();
    const dp = this.dataParallel;
    if (dp !== null) return this.#saveCheckpointInJob(dp, state, buffer);
    return writeCheckpoint(
      c.outputDir,
      state,
      async (tmp) => {
        await this.#writeCheckpointFiles(tmp, buffer, ref);
      },
      { saveTotalLimit: c.saveTotalLimit },
    );
  }

  /**
   * Fills a checkpoint's temporary folder: weights (or adapters), the optimizer state, this
   * process's rollout buffer and the reference snapshot. Returns the trainer folder inside it.
   */
  async #writeCheckpointFiles(tmp: string, buffer: { batches: object[] } | null, ref: ParamDict | null): Promise<string> {
    if (this.#isLora()) await saveAdapters(this.model, join(tmp, ADAPTERS_FILE));
    else if (typeof this.model.save === 'function') await this.model.save(tmp);
    else this.model.saveWeightsSync(join(tmp, MODEL_FILE));
    const trainerDir = join(tmp, TRAINER_FOLDER);
    mkdirSync(trainerDir, { recursive: true });
    this.optimizer.saveStateSync(join(trainerDir, OPTIMIZER_FILE));
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
  async #saveCheckpointInJob(dp: DataParallel, state: TrainerState, buffer: { batches: object[] } | null): Promise<string> {
    const c = this.#core;
    const root = resolve(c.outputDir);
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
        `${this.#name} (rank ${dp.rank}): another rank could not write its rollout buffer for checkpoint-${state.globalStep}`,
      );
    let path = join(root, `checkpoint-${state.globalStep}`);
    if (dp.isMain) {
      const ref = this.refSnapshot();
      try {
        path = await writeCheckpoint(
          c.outputDir,
          state,
          async (tmp) => {
            const trainerDir = await this.#writeCheckpointFiles(tmp, buffer, ref);
            if (buffer !== null) for (let r = 1; r < dp.size; r++) renameSync(staged(r), join(trainerDir, rankRolloutsFile(r)));
          },
          { saveTotalLimit: c.saveTotalLimit },
        );
      } catch (e) {
        error = e;
      }
    }
    failed = dp.barrier(`checkpoint-${state.globalStep} (written by rank 0)`, error !== null);
    if (error !== null) throw error;
    if (failed > 0) throw new DataParallelError(`${this.#name} (rank ${dp.rank}): rank 0 could not write checkpoint-${state.globalStep}`);
    return path;
  }

  /**
   * Restores weights (or adapters), optimizer, loop position, sampler, buffer and reference.
   * Every file is read and checked against the model and the config first (shapes, dtypes,
   * finite values, step counts); only then is anything applied, so a bad checkpoint throws one
   * Error naming the file and the field and leaves the model and the trainer as they were.
   */
  loadCheckpoint(dir: string): TrainerState {
    const st = readTrainerState(dir);
    checkTrainerState(st, join(dir, TRAINER_STATE_FILE), { trainer: this.#name, totalSteps: this.totalSteps });
    const extra = (st.extra ?? {}) as { skippedSteps?: number; lossSum?: number; trainer?: unknown; numProcesses?: unknown };
    // Each rank's share of the data (and its rollout buffer) depends on the number of ranks.
    const wrote = extra.numProcesses ?? 1;
    const now = this.dataParallel?.size ?? 1;
    if (wrote !== now) {
      throw new Error(
        `${join(dir, TRAINER_STATE_FILE)}: written by a job of ${String(wrote)} process(es); resume it with the same number (this run has ${now})`,
      );
    }
    try {
      this.checkSamplerState(st.dataset);
    } catch (e) {
      throw new Error(`${join(dir, TRAINER_STATE_FILE)}: invalid trainer state: dataset: ${(e as Error).message}`);
    }
    try {
      this.checkTrainerExtraState(extra.trainer);
    } catch (e) {
      throw new Error(`${join(dir, TRAINER_STATE_FILE)}: invalid trainer state: extra.trainer: ${(e as Error).message}`);
    }
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
        if (!this.#isLora()) throw new Error(`${dir}: holds LoRA adapters but the model has none (configure the same LoRA options)`);
        const file = join(dir, ADAPTERS_FILE);
        const arrays = take(loadSync(file).arrays);
        checkArrays(file, 'adapter', adapterParameters(this.model), arrays, { complete: true });
        weights = Object.entries(arrays);
      } else {
        if (this.#isLora()) throw new Error(`${dir}: holds full weights but the model trains LoRA adapters`);
        const arrays = take(loadSync(dir).arrays);
        const slots = this.model.namedParameters();
        const trainable = new Set(this.model.namedTrainableParameters().map(([k]) => k));
        // Every trainable weight must come from the checkpoint (a tied head is the embedding).
        checkArrays(dir, 'weight', slots, arrays, { complete: false, optional: (k) => !trainable.has(k) || k === 'lm_head.weight' });
        const known = new Set(slots.map(([k]) => k));
        weights = Object.entries(arrays).filter(([k]) => known.has(k));
        unused = Object.entries(arrays)
          .filter(([k]) => !known.has(k))
          .map(([, a]) => a);
      }
      const trainerDir = join(dir, TRAINER_FOLDER);
      optimizer = this.optimizer.prepareStateSync(join(trainerDir, OPTIMIZER_FILE), {
        parameters: this.model.trainableParameters(),
        step: st.globalStep - (extra.skippedSteps ?? 0),
      });
      const rank = this.dataParallel?.rank ?? 0;
      const rolloutsPath = join(trainerDir, rank === 0 ? ROLLOUTS_FILE : rankRolloutsFile(rank));
      if (existsSync(rolloutsPath)) {
        buffer = loadBuffer(rolloutsPath);
        for (const b of buffer) for (const v of Object.values(b)) if (v instanceof mx.Array) loaded.push(v);
      }
      const refPath = join(trainerDir, REF_FILE);
      if (existsSync(refPath)) {
        const arrays = take(loadSync(refPath).arrays);
        checkArrays(refPath, 'reference weight', mx.treeFlattenWithPaths(this.model.parameters()), arrays, { complete: true });
        ref = unflattenPaths(arrays) as ParamDict;
      }
      // The last step that can fail: log lines past the checkpoint are dropped from the file.
      this.metrics.truncateAfter(st.globalStep);
    } catch (e) {
      optimizer?.dispose();
      mx.dispose(loaded);
      throw e;
    }
    // Everything is checked: apply it all.
    mx.dispose(unused);
    this.model.loadWeights(weights, { strict: false });
    optimizer.apply();
    this.state.globalStep = st.globalStep;
    this.state.microStep = st.microStep;
    this.state.epoch = st.epoch;
    this.state.numInputTokensSeen = st.numInputTokensSeen;
    this.#skipped = extra.skippedSteps ?? 0;
    this.#lossSum = extra.lossSum ?? 0;
    this.restoreSampler(st.dataset);
    this.restoreTrainerExtraState(extra.trainer);
    this.restoreBuffer(buffer);
    if (ref !== null) this.restoreRefSnapshot(ref);
    this.metrics.discard();
    return st;
  }
}

/** The rollout buffer of rank `rank` > 0 in a checkpoint's trainer folder (rank 0's is ROLLOUTS_FILE). */
const rankRolloutsFile = (rank: number) => ROLLOUTS_FILE.replace(/\.safetensors$/, `-rank-${rank}.safetensors`);

const nonNull = (key: string, v: unknown): Record<string, unknown> => (v === null || v === undefined ? {} : { [key]: v });

/** The per-batch scalars of a rollouts file, after checking that every array belongs to a batch. */
function checkBufferLayout(path: string, arrays: Record<string, mx.Array>, batches: string | undefined): Record<string, number>[] {
  const bad = (why: string) => new Error(`${path}: invalid rollouts file: ${why}`);
  let scalars: unknown;
  try {
    scalars = JSON.parse(batches ?? '[]');
  } catch (e) {
    throw bad(`metadata 'batches' is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(scalars)) throw bad("metadata 'batches' must be a list");
  scalars.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw bad(`batch ${i} must be an object of numbers`);
    for (const [k, v] of Object.entries(s))
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`batch ${i}: '${k}' must be a finite number`);
  });
  for (const k of Object.keys(arrays)) {
    const dot = k.indexOf('.');
    const i = Number(k.slice(0, dot));
    if (dot <= 0 || !Number.isInteger(i) || i < 0 || i >= scalars.length)
      throw bad(`tensor '${k}' belongs to no batch of ${scalars.length}`);
  }
  return scalars as Record<string, number>[];
}

/** Resolves after pending timers and I/O callbacks have had a turn (setImmediate runs after them). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Buffered micro-batches → one safetensors file (arrays by `i.name`, scalars in the metadata). */
function saveBuffer(path: string, batches: readonly object[]): void {
  const arrays: Record<string, mx.Array> = {};
  const scalars: Record<string, number>[] = [];
  batches.forEach((b, i) => {
    const s: Record<string, number> = {};
    for (const [k, v] of Object.entries(b)) {
      if (v instanceof mx.Array) arrays[`${i}.${k}`] = v;
      else if (typeof v === 'number') s[k] = v;
    }
    scalars.push(s);
  });
  saveSync(path, arrays, { metadata: { batches: JSON.stringify(scalars) } });
}

function loadBuffer(path: string): Record<string, unknown>[] {
  const { arrays, metadata } = loadSync(path);
  let scalars: Record<string, number>[];
  try {
    scalars = checkBufferLayout(path, arrays, metadata.batches);
  } catch (e) {
    mx.dispose(arrays);
    throw e;
  }
  return scalars.map((s, i) => {
    const b: Record<string, unknown> = { ...s, oldLogprobs: null, refLogprobs: null };
    for (const [k, v] of Object.entries(arrays)) {
      const dot = k.indexOf('.');
      if (Number(k.slice(0, dot)) !== i) continue;
      const field = k.slice(dot + 1);
      // Names come from the file: one that would set `b`'s prototype is an error, not a silent drop.
      if (field === '__proto__' || field === 'constructor' || field === 'prototype')
        throw new Error(`${path}: rollout buffer entry '${k}' uses a reserved name`);
      b[field] = mx.keep(v);
    }
    return b;
  });
}

/**
 * The router load-balancing loss a trainer applies (TRL's rule): the coefficient is the config's
 * `routerAuxLossCoef`, or the model config's when null (transformers' Qwen3-MoE default 0.001);
 * null when it is 0 or the model has no router. A non-zero coefficient with a model that has no
 * router is an error.
 */
export function resolveRouterLoss(
  model: unknown,
  routerAuxLossCoef: number | null,
  trainer: string,
): (RouterLossSettings & { coef: number }) | null {
  const router = routerLossSettings(model as Parameters<typeof routerLossSettings>[0]);
  if (routerAuxLossCoef !== null && routerAuxLossCoef !== 0 && router === null) {
    throw new TypeError(
      `${trainer}: routerAuxLossCoef is set to ${routerAuxLossCoef} but the model is not a Mixture-of-Experts model that returns its router logits, so there is no auxiliary loss to weight.`,
    );
  }
  const coef = routerAuxLossCoef ?? router?.routerAuxLossCoef ?? 0;
  return router !== null && coef !== 0 ? { ...router, coef } : null;
}
