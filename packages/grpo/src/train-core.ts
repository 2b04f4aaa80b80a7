/**
 * The training loop the GRPO and SFT trainers share, with Hugging Face `Trainer`'s semantics
 * (which TRL builds on): gradient accumulation, global-norm clipping, AdamW with bias correction
 * and decoupled weight decay (not on norms and biases) and float32 state, the learning-rate
 * schedule, NaN/inf steps skipped and reported, logging every `loggingSteps`, checkpoints every
 * `saveSteps` (and at the end), and exact resumption. The arithmetic of a step
 * (optimizer-update.ts), the backward pass (differentiate.ts) and the checkpoint files
 * (trainer-checkpoint.ts) live in their own modules; this class holds the loop and its state.
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type HeadLoss, isCheckpointable, type RowwiseHeadLoss } from '@mlxn/models-qwen3';
import { Adam, adapterParameters, type ParamDict } from '@mlxn/nn';
import type { TrainerState } from './checkpoint.js';
import type { GRPOConfig } from './config.js';
import { type DataParallel, PeerStopError } from './data-parallel.js';
import { valueAndGradOfHead, valueAndGradWithRouterLoss } from './differentiate.js';
import { Float32StateAdam } from './float32-adam.js';
import { type LogRecord, MetricsLog, type OnLog } from './metrics.js';
import { addGradients, applyGradients } from './optimizer-update.js';
import { mapTree } from './param-trees.js';
import { ProgressBar, type ProgressOptions } from './progress.js';
import { learningRateAt } from './schedule.js';
import type { TrainableModel } from './trainable-model.js';
import { readCheckpoint, resolveResumeCheckpoint, saveTrainerCheckpoint } from './trainer-checkpoint.js';

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
    const checkpointing = this.#core.gradientCheckpointing;
    if (checkpointing && !isCheckpointable(this.model) && !this.#warnedCheckpointing) {
      this.#warnedCheckpointing = true;
      this.note(
        `${this.#name}: gradientCheckpointing needs a model with model.embedTokens / model.layers / model.norm (a Qwen3); training without it`,
      );
    }
    return valueAndGradOfHead(this.model, inputIds, mask, head, checkpointing);
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
    return valueAndGradWithRouterLoss(this.model, inputIds, mask, tokenMask, router, head, this.#core.gradientCheckpointing);
  }

  /**
   * Adds one micro-batch's gradients to the accumulated ones: in float32, or with
   * `optimizerStateDtype: 'parameter'` in each parameter's dtype (torch's `.grad` sums; under
   * bf16 autocast the gradients come in bfloat16 and float32 weights sum them in float32).
   */
  accumulate(grads: ParamDict): void {
    this.#acc = addGradients(this.#acc, grads, this.model, this.#core.optimizerStateDtype === 'parameter');
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
    const { gradNorm, skipped } = applyGradients(this.model, this.optimizer, grads, {
      finite,
      learningRate: lr,
      maxGradNorm: c.maxGradNorm,
      weightDecay: c.weightDecay,
      reference: () => this.refSnapshot(),
    });
    if (skipped) this.#skipped += 1;
    this.state.globalStep += 1;
    this.state.epoch = this.state.globalStep / this.updateStepsPerEpoch;
    return { gradNorm, learningRate: lr, skipped };
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
    const resume = resolveResumeCheckpoint(c, this.dataParallel, this.#name);
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
    return saveTrainerCheckpoint(
      state,
      { model: this.model, optimizer: this.optimizer, lora: this.#isLora(), buffer: this.bufferState(), ref: this.refSnapshot() },
      { outputDir: c.outputDir, saveTotalLimit: c.saveTotalLimit, dataParallel: this.dataParallel, trainer: this.#name },
    );
  }

  /**
   * Restores weights (or adapters), optimizer, loop position, sampler, buffer and reference.
   * Every file is read and checked against the model and the config first (shapes, dtypes,
   * finite values, step counts); only then is anything applied, so a bad checkpoint throws one
   * Error naming the file and the field and leaves the model and the trainer as they were.
   */
  loadCheckpoint(dir: string): TrainerState {
    const {
      state: st,
      extra,
      weights,
      unused,
      optimizer,
      buffer,
      ref,
    } = readCheckpoint(dir, {
      name: this.#name,
      totalSteps: this.totalSteps,
      model: this.model,
      optimizer: this.optimizer,
      lora: this.#isLora(),
      dataParallel: this.dataParallel,
      metrics: this.metrics,
      checkSamplerState: (state) => this.checkSamplerState(state),
      checkTrainerExtraState: (state) => this.checkTrainerExtraState(state),
    });
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

/** Resolves after pending timers and I/O callbacks have had a turn (setImmediate runs after them). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const nonNull = (key: string, v: unknown): Record<string, unknown> => (v === null || v === undefined ? {} : { [key]: v });
