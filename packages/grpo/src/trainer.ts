/**
 * `GRPOTrainer`: TRL 1.16's `GRPOTrainer` loop on MLX. One generation batch (every prompt ×
 * `numGenerations`, one batched generation) is scored, turned into group-relative advantages,
 * shuffled and split into `stepsPerGeneration` micro-batches that are trained on over the next
 * steps (`numIterations` times); `gradientAccumulationSteps` micro-batches make one AdamW update
 * with the global gradient norm clipped. The loop is also exposed as parts (`generateRollouts`,
 * `scoreRollouts`, `computeAdvantages`, `lossAndGrad`, `step`) for custom loops.
 */

import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { paddingAttentionMask, type RouterLossSettings, type RowwiseHeadLoss } from '@mlxn/models-qwen3';
import { adapterParameters, LoRALinear, type Module, type ParamDict } from '@mlxn/nn';
import { type AdvantageResult, computeAdvantages } from './advantages.js';
import { type GRPOConfig, GRPOConfigError, type GRPOConfigInput, grpoConfigWarnings, parseGRPOConfig } from './config.js';
import { DataParallel, DataParallelError, type DistributedOption, resolveGroup } from './data-parallel.js';
import { GenerationBatchSampler, PromptDataset, seededPermutation } from './dataset.js';
import { deriveSeed } from './derive-seed.js';
import { EntropyController } from './entropy-control.js';
import { addLoRAAdapters } from './lora.js';
import { grpoLoss } from './losses.js';
import type { LogRecord, OnLog } from './metrics.js';
import type { ProgressOptions } from './progress.js';
import { type RewardFunction, rewardFunctionNames, runRewardFunctions } from './rewards/index.js';
import { generateRollouts, type PolicyModel, type Prompt, type Rollouts, rolloutTensors, tokenizePrompts } from './rollouts.js';
import { learningRateAt } from './schedule.js';
import { type GRPOTool, toolSchemas, toolTable } from './tools.js';
import { TrainerCore } from './train-core.js';
import { headRowsPerChunk, trainBatchLogprobs, trainBatchLogprobsFromHidden } from './train-logprobs.js';
import { paddingTokenId, resolveRouterLoss, type TrainableModel } from './trainable-model.js';

/** Prompt records (a `prompt` column plus any others), a JSONL file, or a `PromptDataset`. */
export type DatasetInput = PromptDataset | readonly Record<string, unknown>[] | string;

/** What the trainer passes to reward functions as `trainerState`. */
export interface RewardTrainerState {
  globalStep: number;
  epoch: number;
}

/** A policy the GRPO trainer can train: a Module with generation and a tokenizer (e.g. `Qwen3`). */
export type GRPOPolicy = TrainableModel & PolicyModel;

export interface GRPOTrainerOptions {
  model: GRPOPolicy;
  /** Frozen reference for the KL term (beta > 0). Default: the base weights with LoRA adapters
   * disabled, or without LoRA a snapshot of the starting weights. */
  refModel?: TrainableModel | null;
  rewardFuncs: RewardFunction<RewardTrainerState> | readonly RewardFunction<RewardTrainerState>[];
  /** Names for metrics and errors (default: the functions' own names). */
  rewardFuncNames?: readonly string[];
  /** One weight per reward function (default 1 each); `config.rewardWeights` is used when absent. */
  rewardWeights?: readonly number[] | null;
  /** Records with a `prompt` (text or chat messages) and any other columns, or a JSONL file. */
  trainDataset: DatasetInput;
  config?: GRPOConfigInput | GRPOConfig;
  /** Called with every logged record. */
  onLog?: OnLog;
  /** Draw a progress bar (stderr) while training; default off (libraries are silent). */
  progress?: boolean | ProgressOptions;
  /**
   * Tools the model may call in its completions (TRL's `tools`; chat prompts only). Their schemas
   * go into the prompt; calls are run between turns and their results appended as tool turns,
   * which are not trained on.
   */
  tools?: readonly GRPOTool[];
  /**
   * Data-parallel training: the `mx.distributed` group whose processes train together, each on
   * its share of every generation batch, with gradients averaged so the weights stay the same
   * on every rank. Default: `mx.distributed.init()`'s group, so a program started by
   * `mlxn-launch -n N` trains data-parallel and one started alone trains alone. `false`: alone
   * even inside a job. docs/distributed.md has the details.
   */
  distributed?: DistributedOption;
}

/** One micro-batch of a buffered generation batch. */
export interface TrainBatch {
  /** `[b, P + C]` int32. */
  inputIds: mx.Array;
  /** `[b, P + C]` float32. */
  attentionMask: mx.Array;
  /** `[b, C]` float32. */
  completionMask: mx.Array;
  promptLength: number;
  /** `[b]` float32. */
  advantages: mx.Array;
  /** `[b, C]`: the generating policy's log-probabilities, when they must be stored (see TRL). */
  oldLogprobs: mx.Array | null;
  /** `[b, C]`: the reference's log-probabilities (beta > 0). */
  refLogprobs: mx.Array | null;
  /** Loss tokens in the whole generation batch (TRL's `num_items_in_batch`). */
  numItemsInBatch: number;
  /** Real (prompt + completion) tokens of this micro-batch, for tokens/s. */
  tokens: number;
}

/** Rewards of a generation batch: `[completion][function]`, `null` where a function does not apply. */
export type RewardsPerFunc = (number | null)[][];

export interface TrainResult {
  globalStep: number;
  /** The averaged training loss over the run. */
  trainingLoss: number;
  /** Steps whose loss or gradients were not finite (skipped). */
  skippedSteps: number;
  /** Every logged record. */
  logHistory: LogRecord[];
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * @example
 * const trainer = new GRPOTrainer({
 *   model, rewardFuncs: [(i) => i.completions.map((c) => (String(c).includes('7') ? 1 : 0))],
 *   trainDataset: [{ prompt: '3+4=' }], config: { numGenerations: 4, perDeviceTrainBatchSize: 4, maxSteps: 10 },
 * });
 * await trainer.train();
 */
export class GRPOTrainer extends TrainerCore {
  override readonly model: GRPOPolicy;
  readonly refModel: TrainableModel | null;
  readonly config: GRPOConfig;
  readonly rewardFuncs: readonly RewardFunction<RewardTrainerState>[];
  readonly rewardFuncNames: readonly string[];
  readonly rewardWeights: readonly number[];
  readonly dataset: PromptDataset;
  readonly sampler: GenerationBatchSampler;
  /** The entropy bonus's coefficient (static or TRL's adaptive controller); saved with checkpoints. */
  readonly entropyControl: EntropyController;
  #buffer: TrainBatch[] | null = null;
  // The starting weights, kept (not copied: MLX arrays are immutable) as the KL reference when
  // beta > 0 without a refModel or LoRA.
  #refSnapshot: ParamDict | null = null;
  #loraMode: boolean;
  /** The tools by name (empty without tools). */
  readonly tools: ReadonlyMap<string, GRPOTool>;
  /** The router loss's settings and weight when it is on (a Qwen3-MoE with a non-zero coefficient), else null. */
  readonly routerLoss: (RouterLossSettings & { coef: number }) | null;

  constructor(options: GRPOTrainerOptions) {
    checkOptionKeys(
      options,
      [
        'model',
        'refModel',
        'rewardFuncs',
        'rewardFuncNames',
        'rewardWeights',
        'trainDataset',
        'config',
        'onLog',
        'progress',
        'tools',
        'distributed',
      ],
      'GRPOTrainer',
    );
    const group = resolveGroup(options.distributed, 'GRPOTrainer');
    const numProcesses = group?.size ?? 1;
    const config = isParsed(options.config)
      ? checkParsedFor(options.config, numProcesses)
      : parseGRPOConfig((options.config ?? {}) as GRPOConfigInput, { numProcesses });
    const model = options.model;
    if (model === null || typeof model !== 'object' || typeof (model as Module).trainableParameters !== 'function') {
      throw new TypeError('GRPOTrainer: model must be an @mlxn/nn Module (e.g. a Qwen3)');
    }
    if (!model.tokenizer) throw new TypeError('GRPOTrainer: the model has no tokenizer (load it from a folder with tokenizer files)');
    const tools = toolTable(options.tools ?? []);
    let routerLoss: GRPOTrainer['routerLoss'];
    try {
      routerLoss = resolveRouterLoss(model, config.routerAuxLossCoef, 'GRPOTrainer');
    } catch (e) {
      throw new GRPOConfigError((e as Error).message);
    }
    // Everything is checked before the model is touched (LoRA layers are attached in place).
    const funcs = (
      Array.isArray(options.rewardFuncs) ? options.rewardFuncs : [options.rewardFuncs]
    ) as RewardFunction<RewardTrainerState>[];
    if (funcs.length === 0) throw new TypeError('GRPOTrainer: at least one reward function is needed');
    funcs.forEach((f, i) => {
      if (typeof f !== 'function') throw new TypeError(`GRPOTrainer: rewardFuncs[${i}] is not a function`);
    });
    const names = rewardFunctionNames(funcs as RewardFunction<never>[], options.rewardFuncNames);
    const weights = options.rewardWeights ?? config.rewardWeights ?? funcs.map(() => 1);
    if (weights.length !== funcs.length) {
      throw new RangeError(`GRPOTrainer: ${weights.length} reward weights for ${funcs.length} reward functions`);
    }
    if (!weights.every((w) => Number.isFinite(w))) throw new RangeError('GRPOTrainer: reward weights must be finite numbers');
    const data = options.trainDataset;
    const dataset =
      data instanceof PromptDataset
        ? data
        : typeof data === 'string'
          ? PromptDataset.fromJsonl(data)
          : PromptDataset.fromRecords(data as Record<string, unknown>[]);
    const sampler = new GenerationBatchSampler(dataset.length, {
      numGenerations: config.numGenerations,
      generationBatchSize: config.generationBatchSize,
      seed: config.seed,
      shuffle: config.shuffleDataset,
    });
    if (config.lora) addLoRAAdapters(model, config.lora, config.seed);
    super(model, config, 'GRPOTrainer', options.onLog, group === null ? null : new DataParallel(group, 'GRPOTrainer'));
    this.model = model;
    this.config = config;
    this.rewardFuncs = funcs;
    this.rewardFuncNames = names;
    this.rewardWeights = [...weights];
    this.dataset = dataset;
    this.sampler = sampler;
    this.#loraMode = adapterParameters(model).length > 0;
    this.entropyControl = new EntropyController(config);
    this.tools = tools;
    this.routerLoss = routerLoss;
    this.refModel = options.refModel ?? null;
    // Claimed (mx.keep): the optimizer disposes the parameters it replaces unless they are kept.
    if (config.beta !== 0 && this.refModel === null && !this.#loraMode) this.#refSnapshot = mx.keep(model.parameters());
    this.configureProgress(options.progress);
  }

  /** Micro-batches per epoch: generation batches × (numIterations × stepsPerGeneration), as TRL's dataloader. */
  protected microStepsPerEpoch(): number {
    return this.sampler.batchesPerEpoch * this.config.numIterations * this.config.stepsPerGeneration;
  }

  /** Micro-steps between two generations (TRL's `generate_every`). */
  get generateEvery(): number {
    return this.config.stepsPerGeneration * this.config.numIterations;
  }

  /**
   * Generates one completion for each record (records are already repeated per generation)
   * with one batched call, as TRL's `_generate`.
   */
  async generateRollouts(
    records: readonly Record<string, unknown>[],
    options: { signal?: AbortSignal; seed?: number } = {},
  ): Promise<Rollouts> {
    checkOptionKeys(options, ['signal', 'seed'], 'GRPOTrainer.generateRollouts');
    const c = this.config;
    const prompts = records.map((r, i) => {
      const p = r.prompt;
      if (typeof p !== 'string' && !Array.isArray(p)) throw new TypeError(`dataset record ${i} has no 'prompt' (text or chat messages)`);
      return p as Prompt;
    });
    const tools = [...this.tools.values()];
    const tokenizer = this.model.tokenizer;
    if (!tokenizer) throw new TypeError('GRPOTrainer: the model has no tokenizer to encode the prompts with');
    const promptIds = tokenizePrompts(tokenizer, prompts, {
      maxPromptLength: c.maxPromptLength,
      chatTemplateKwargs: c.chatTemplateKwargs,
      tools: tools.length > 0 ? toolSchemas(tools) : null,
    });
    const maxModelLength = (this.model as { config?: { maxPositionEmbeddings?: number } }).config?.maxPositionEmbeddings;
    return this.withEval(() =>
      generateRollouts(this.model, prompts, promptIds, {
        maxCompletionLength: c.maxCompletionLength,
        temperature: c.temperature,
        topP: c.topP,
        topK: c.topK,
        minP: c.minP,
        repetitionPenalty: c.repetitionPenalty,
        seed: options.seed,
        signal: options.signal,
        ...(tools.length === 0
          ? {}
          : {
              toolLoop: {
                tools: this.tools,
                maxToolCallingIterations: c.maxToolCallingIterations,
                toolTimeoutMs: c.toolTimeoutMs,
                maxToolResultChars: c.maxToolResultChars,
                chatTemplateKwargs: c.chatTemplateKwargs,
                ...(maxModelLength === undefined ? {} : { maxModelLength }),
              },
            }),
      }),
    );
  }

  /**
   * Runs every reward function over the rollouts (with every extra dataset column) and returns
   * `[completion][function]` rewards, NaN for `null`. A function that throws or returns a
   * malformed list stops training with an error naming it and the step.
   */
  async scoreRollouts(
    rollouts: Rollouts,
    records: readonly Record<string, unknown>[],
    options: { signal?: AbortSignal } = {},
  ): Promise<RewardsPerFunc> {
    checkOptionKeys(options, ['signal'], 'GRPOTrainer.scoreRollouts');
    const table = await runRewardFunctions<RewardTrainerState>({
      rewardFuncs: this.rewardFuncs,
      rewardFuncNames: this.rewardFuncNames,
      inputs: records,
      completions: rollouts.completions,
      completionIds: rollouts.completionIds,
      completionMessages: rollouts.completionMessages,
      trainerState: { globalStep: this.state.globalStep, epoch: this.state.epoch },
      step: this.state.globalStep,
      warn: (m) => this.note(m),
      signal: options.signal,
    });
    for (const [name, values] of Object.entries(table.loggedMetrics)) for (const v of values) this.metrics.add(name, v);
    return table.rewardsPerFunc;
  }

  /**
   * Group-relative advantages (TRL's `sum_then_normalize` / `normalize_then_sum`, `scaleRewards`
   * group, batch or none); completions every function declined get advantage 0.
   */
  computeAdvantages(rewardsPerFunc: RewardsPerFunc): AdvantageResult {
    return computeAdvantages({
      rewardsPerFunc,
      rewardFuncNames: this.rewardFuncNames,
      rewardWeights: this.rewardWeights,
      numGenerations: this.config.numGenerations,
      scaleRewards: this.config.scaleRewards,
      multiObjectiveAggregation: this.config.multiObjectiveAggregation,
    });
  }

  /**
   * Loss and gradients of one micro-batch (TRL's `_compute_loss`): per-token log-probabilities of
   * the completions at the sampling temperature, the configured GRPO loss, and its metrics. With
   * an entropy bonus, the micro-batch's entropy joins the current accumulation window, which
   * `step()` closes.
   */
  lossAndGrad(batch: TrainBatch): { loss: number; grads: ParamDict; metrics: Record<string, number> } {
    const c = this.config;
    const metricNames: string[] = [];
    const entropyBonusCoef = this.entropyControl.applyCoef();
    let hasStats = false;
    // The head in two halves (see RowwiseHeadLoss): per-token log-probabilities and entropies of
    // a few rows at a time, then the loss of them all. The entropy is differentiated only with a
    // bonus; otherwise it is a metric or a mask, and the backward pass recomputes the
    // log-probabilities alone.
    const score = (hidden: mx.Array, rows: { start: number; end: number }, withEntropy: boolean) => {
      const ids =
        rows.start === 0 && rows.end === batch.inputIds.shape[0] ? batch.inputIds : batch.inputIds.index(mx.sl(rows.start, rows.end));
      const positions = ids.shape[1] - batch.promptLength;
      return trainBatchLogprobsFromHidden(
        this.model,
        hidden,
        { inputIds: ids, promptLength: batch.promptLength },
        { temperature: c.temperature, withEntropy, chunkSize: positions },
      );
    };
    const headLoss: RowwiseHeadLoss<mx.Array[]> = {
      rowsPerChunk: headRowsPerChunk(this.model, batch.inputIds.shape[1] - batch.promptLength),
      tokens: (hidden, rows) => {
        const { logprobs, entropy } = score(hidden, rows, true);
        if (entropy === undefined || entropy === null) throw new Error('GRPOTrainer: the head gave no entropy although it was asked for');
        return [logprobs, entropyBonusCoef === null ? mx.stopGradient(entropy) : entropy];
      },
      ...(entropyBonusCoef === null
        ? {
            differentiated: {
              outputs: [0],
              tokens: (hidden: mx.Array, rows: { start: number; end: number }) => [score(hidden, rows, false).logprobs],
            },
          }
        : {}),
      loss: ([logprobs, entropy]) => {
        const result = grpoLoss({
          logprobs,
          oldLogprobs: batch.oldLogprobs,
          refLogprobs: batch.refLogprobs,
          advantages: batch.advantages,
          completionMask: batch.completionMask,
          entropy,
          config: c,
          gradientAccumulationSteps: c.gradientAccumulationSteps,
          stepsPerGeneration: c.stepsPerGeneration,
          numItemsInBatch: batch.numItemsInBatch,
          numProcesses: this.dataParallel?.size ?? 1,
          entropyBonusCoef,
        });
        const flat = flattenLossMetrics(result.metrics);
        metricNames.length = 0;
        metricNames.push(...flat.map(([k]) => k));
        const stats = result.entropyStats;
        hasStats = stats !== undefined;
        return [result.loss, ...flat.map(([, v]) => v), ...(stats ? [stats.sum, stats.count] : [])];
      },
    };
    const router = this.routerLoss;
    // Everything but the gradients is freed when the step's graph has been evaluated.
    return mx.tidy(() => {
      const mask = paddingAttentionMask(batch.attentionMask);
      let out: mx.Array[];
      let grads: ParamDict;
      if (router === null) {
        [out, grads] = this.autocast(() => this.differentiate(batch.inputIds, mask, headLoss));
      } else {
        // TRL: loss + router_aux_loss_coef · aux_loss / current_gradient_accumulation_steps, the
        // aux loss over every real token (attention mask) of the micro-batch.
        const weight = router.coef / c.gradientAccumulationSteps;
        [out, grads] = this.autocast(() =>
          this.differentiateWithRouterLoss(batch.inputIds, mask, batch.attentionMask, { ...router, weight }, headLoss),
        );
      }
      mx.eval(out, grads);
      const [loss, ...values] = out;
      const metrics: Record<string, number> = {};
      metricNames.forEach((k, i) => {
        metrics[k] = Number(values[i].item());
      });
      if (hasStats)
        this.entropyControl.addMicroBatch(Number(values[metricNames.length].item()), Number(values[metricNames.length + 1].item()));
      if (router !== null) metrics.aux_loss = Number(values[values.length - 1].item());
      return { loss: Number(loss.item()), grads, metrics };
    });
  }

  /**
   * After each optimizer step (see `TrainerCore.step`): closes the accumulation window of the
   * entropy bonus: the adaptive controller updates the coefficient from the
   * window's mean entropy, and `entropy_coef` is logged (as TRL, whether or not the update was
   * skipped).
   */
  protected override afterStep(): void {
    const coef = this.entropyControl.endWindow();
    if (coef !== null) this.metrics.add('entropy_coef', coef);
  }

  // TRL sums the adaptive controller's window over the ranks before updating the coefficient.
  protected override stepScalars(): number[] {
    return this.config.useAdaptiveEntropy ? this.entropyControl.windowTotals() : [];
  }

  protected override applyStepScalars(sums: number[]): void {
    if (sums.length === 2) this.entropyControl.setWindowTotals(sums[0], sums[1]);
  }

  /**
   * Trains until `maxSteps` (or the epochs) are done, or `signal` aborts. An abort takes effect
   * between two optimizer steps (the loop yields to the event loop once per step), so the
   * trainer's state is then whole: `saveCheckpoint()` after the rejection resumes exactly.
   */
  async train(options: { signal?: AbortSignal } = {}): Promise<TrainResult> {
    checkOptionKeys(options, ['signal'], 'GRPOTrainer.train');
    for (const w of grpoConfigWarnings(this.config)) this.note(`GRPOTrainer: ${w}`);
    return this.runLoop(options.signal, async () => {
      const c = this.config;
      let stepLoss = 0;
      let stepTokens = 0;
      let finite = true;
      // A new step starts a new entropy window (what a step that failed midway left is dropped).
      this.entropyControl.discardWindow();
      for (let a = 0; a < c.gradientAccumulationSteps; a++) {
        const micro = this.state.microStep;
        // The random state is a function of the micro-step, so a resumed run draws what the
        // uninterrupted one would have.
        mx.random.seed(deriveSeed(c.seed, micro));
        let buffer = this.#buffer;
        if (micro % this.generateEvery === 0 || buffer === null) {
          buffer = await this.#prepareGeneration(deriveSeed(c.seed ^ 0x5bd1e995, micro), options.signal);
          this.#replaceBuffer(buffer);
        }
        const batch = buffer[micro % c.stepsPerGeneration];
        const { loss, grads, metrics } = this.lossAndGrad(batch);
        if (!Number.isFinite(loss)) finite = false;
        stepLoss += loss;
        stepTokens += batch.tokens;
        this.metrics.addAll(metrics);
        this.accumulate(grads);
        this.state.microStep += 1;
      }
      return { loss: stepLoss, tokens: stepTokens, finite };
    });
  }

  /** One generation batch → buffered micro-batches (TRL's `_generate_and_score_completions` + split). */
  async #prepareGeneration(seed: number, signal: AbortSignal | undefined): Promise<TrainBatch[]> {
    const c = this.config;
    const dp = this.dataParallel;
    const position = this.sampler.position();
    // In a job, rank r takes the r-th contiguous share of the generation batch (TRL's sharding of
    // its RepeatSampler's batches); groups may straddle ranks, since advantages are computed
    // from every rank's rewards.
    const all = this.sampler.next().indices;
    const share = dp === null ? all.length : all.length / dp.size;
    const first = dp === null ? 0 : dp.rank * share;
    const records = all.slice(first, first + share).map((i) => this.dataset.get(i) as Record<string, unknown>);
    let rollouts: Rollouts | undefined;
    let rewardsPerFunc: RewardsPerFunc | undefined;
    let failure: unknown = null;
    try {
      // No signal for generation: a step that has drawn its prompts generates to its end (see
      // `train`). Reward functions are the user's code and may never settle: an abort stops
      // waiting for them — alone only; in a job every rank must reach the step's collectives, so
      // a stop takes effect at the next step boundary (see TrainerCore.runLoop).
      // Rank r > 0 samples from a seed of its own (rank 0's is the one a lone process uses).
      const rankSeed = dp === null || dp.rank === 0 ? seed : deriveSeed(seed, dp.rank);
      rollouts = await this.generateRollouts(records, { seed: rankSeed });
      rewardsPerFunc = await this.scoreRollouts(rollouts, records, { signal: dp === null ? signal : undefined });
    } catch (e) {
      failure = e;
    }
    let rows: GenerationRow[];
    try {
      rows = this.#generationRows(rollouts, rewardsPerFunc, share, failure !== null);
    } catch (e) {
      failure ??= e;
      rows = [];
    }
    if (failure !== null || rows.some((r) => r.failed)) {
      // The step did not happen: the sampler gives the same prompts again (and a checkpoint
      // saved now resumes exactly).
      this.sampler.restore(position);
      if (failure !== null) throw failure;
      const rank = Math.floor(rows.findIndex((r) => r.failed) / share);
      throw new DataParallelError(
        `GRPOTrainer (rank ${dp?.rank ?? 0} of ${dp?.size ?? 1}): rank ${rank} failed to generate or score its completions of step ${this.state.globalStep + 1} (its own error says why)`,
      );
    }
    if (rollouts === undefined) throw new Error('GRPOTrainer: the step generated no rollouts and reported no failure');
    const generated = rollouts;
    const adv = this.computeAdvantages(rows.map((r) => r.rewards));
    const local = { advantages: adv.advantages.slice(first, first + share), rewards: adv.rewards.slice(first, first + share) };

    const n = rollouts.completionIds.length;
    const rowTokens = generated.promptIds.map((p, i) => p.length + generated.completionIds[i].length);
    // TRL counts the prompt and the model's own completion tokens (not tool-turn tokens), of every rank.
    this.state.numInputTokensSeen += rows.reduce((sum, r) => sum + r.promptTokens + r.modelTokens, 0);
    this.#logGeneration(rows, adv, rollouts, local);
    // TRL's num_items_in_batch: loss tokens of the whole generation batch (every rank's).
    const numItemsInBatch = rows.reduce((sum, r) => sum + r.lossTokens, 0);

    // Everything made here but the micro-batches is freed at the end of the scope.
    return mx.tidy(() => {
      const t = rolloutTensors(rollouts.promptIds, rollouts.completionIds, rollouts.truncated, {
        padTokenId: paddingTokenId(this.model),
        maskTruncatedCompletions: c.maskTruncatedCompletions,
        toolMask: rollouts.toolMask,
      });
      // TRL keeps the generating policy's log-probabilities only when updates happen between
      // generation and use (gradientAccumulationSteps not a multiple of generate_every); otherwise
      // the loss uses its own detached log-probabilities, which are the same numbers.
      const needOld = c.gradientAccumulationSteps % this.generateEvery !== 0;
      const chunk = c.perDeviceTrainBatchSize;
      const whole: TrainBatch = {
        inputIds: t.inputIds,
        attentionMask: t.attentionMask,
        completionMask: t.completionMask,
        promptLength: t.promptLength,
        advantages: mx.array(Float32Array.from(local.advantages), { dtype: 'float32' }),
        oldLogprobs: null,
        refLogprobs: null,
        numItemsInBatch,
        tokens: rowTokens.reduce((a, b) => a + b, 0),
      };
      if (needOld) whole.oldLogprobs = this.withEval(() => this.#chunkedLogprobs(this.model, whole, chunk));
      if (c.beta !== 0) whole.refLogprobs = this.withEval(() => this.#referenceLogprobs(whole, chunk));

      // Shuffle the rows, then split into stepsPerGeneration micro-batches (TRL's shuffle_sequence_dict + split_tensor_dict).
      const perm = seededPermutation(n, seed, 1);
      const permArr = mx.array(Int32Array.from(perm), { dtype: 'int32' });
      const per = n / c.stepsPerGeneration;
      const out: TrainBatch[] = [];
      for (let s = 0; s < c.stepsPerGeneration; s++) {
        const idx = mx.index(permArr, mx.sl(s * per, (s + 1) * per));
        const take = (a: mx.Array) => mx.take(a, idx, 0);
        const takeIfAny = (a: mx.Array | null) => (a === null ? null : take(a));
        const rows = perm.slice(s * per, (s + 1) * per);
        out.push({
          inputIds: take(whole.inputIds),
          attentionMask: take(whole.attentionMask),
          completionMask: take(whole.completionMask),
          promptLength: whole.promptLength,
          advantages: take(whole.advantages),
          oldLogprobs: takeIfAny(whole.oldLogprobs),
          refLogprobs: takeIfAny(whole.refLogprobs),
          numItemsInBatch,
          tokens: rows.reduce((a, r) => a + rowTokens[r], 0),
        });
      }
      mx.eval(out.map(batchArrays));
      return mx.keep(out);
    });
  }

  #chunkedLogprobs(model: TrainableModel, batch: TrainBatch, chunk: number): mx.Array {
    const b = batch.inputIds.shape[0];
    const parts: mx.Array[] = [];
    for (let s = 0; s < b; s += chunk) {
      const sl = mx.sl(s, Math.min(b, s + chunk));
      const part: TrainBatch = {
        ...batch,
        inputIds: mx.index(batch.inputIds, sl),
        attentionMask: mx.index(batch.attentionMask, sl),
        completionMask: mx.index(batch.completionMask, sl),
      };
      const lp = mx.stopGradient(trainBatchLogprobs(model, part, { temperature: this.config.temperature }).logprobs);
      mx.eval(lp);
      parts.push(lp);
    }
    return parts.length === 1 ? parts[0] : mx.concatenate(parts, 0);
  }

  #referenceLogprobs(batch: TrainBatch, chunk: number): mx.Array {
    if (this.refModel !== null) return this.#chunkedLogprobs(this.refModel, batch, chunk);
    if (this.#loraMode) return withAdaptersDisabled(this.model, () => this.#chunkedLogprobs(this.model, batch, chunk));
    const current = this.model.parameters();
    const snapshot = this.#refSnapshot;
    if (snapshot === null) throw new Error('GRPOTrainer: reference log-probabilities need a reference (beta is 0 here)');
    this.model.update(snapshot);
    try {
      return this.#chunkedLogprobs(this.model, batch, chunk);
    } finally {
      this.model.update(current);
    }
  }

  #replaceBuffer(next: TrainBatch[]): void {
    if (this.#buffer !== null) for (const b of this.#buffer) mx.dispose(batchArrays(b));
    this.#buffer = next;
  }

  /**
   * What the generation batch's statistics need from each completion, with the rewards: this
   * process's rows alone, or in a job every rank's (one all-gather, in rank order). A rank whose
   * generation or scoring failed sends rows marked `failed`, so every rank stops, not only it.
   */
  #generationRows(
    rollouts: Rollouts | undefined,
    rewardsPerFunc: RewardsPerFunc | undefined,
    share: number,
    failed: boolean,
  ): GenerationRow[] {
    const c = this.config;
    const funcs = this.rewardFuncs.length;
    const local: number[][] = [];
    for (let i = 0; i < share; i++) {
      if (failed || rollouts === undefined || rewardsPerFunc === undefined) {
        local.push([1, ...new Array<number>(6 + funcs).fill(0)]);
        continue;
      }
      const own = modelTokens(rollouts, i);
      const truncated = rollouts.truncated[i];
      local.push([
        0,
        rollouts.promptIds[i].length,
        own,
        truncated ? 1 : 0,
        c.maskTruncatedCompletions && truncated ? 0 : own,
        // The rank's tool counts ride on its first row.
        i === 0 ? rollouts.toolCallCount : 0,
        i === 0 ? rollouts.toolFailureCount : 0,
        ...rewardsPerFunc[i].map((r) => (r === null ? Number.NaN : r)),
      ]);
    }
    const dp = this.dataParallel;
    const table = dp === null ? local : dp.gatherRows(local, 7 + funcs, `the rewards of step ${this.state.globalStep + 1}`);
    return table.map((r) => ({
      failed: r[0] !== 0,
      promptTokens: r[1],
      modelTokens: r[2],
      truncated: r[3] !== 0,
      lossTokens: r[4],
      toolCalls: r[5],
      toolFailures: r[6],
      rewards: r.slice(7).map((v) => (Number.isNaN(v) ? null : v)),
    }));
  }

  #logGeneration(
    rows: readonly GenerationRow[],
    adv: AdvantageResult,
    rollouts: Rollouts,
    local: { advantages: number[]; rewards: (number | null)[] },
  ): void {
    const m = this.metrics;
    // With tools, lengths count the model's own tokens only (TRL: the tool mask's ones).
    const lengths = rows.map((r) => r.modelTokens);
    const truncated = rows.map((r) => r.truncated);
    m.add('num_tokens', this.state.numInputTokensSeen);
    m.add('completions/mean_length', mean(lengths));
    m.add('completions/min_length', Math.min(...lengths));
    m.add('completions/max_length', Math.max(...lengths));
    m.add('completions/clipped_ratio', mean(truncated.map((t) => (t ? 1 : 0))));
    const term = lengths.filter((_, i) => !truncated[i]);
    // TRL reports 0 for the terminated lengths when no completion terminated.
    m.add('completions/mean_terminated_length', term.length ? mean(term) : 0);
    m.add('completions/min_terminated_length', term.length ? Math.min(...term) : 0);
    m.add('completions/max_terminated_length', term.length ? Math.max(...term) : 0);
    if (this.tools.size > 0) {
      const calls = rows.reduce((a, r) => a + r.toolCalls, 0);
      const failures = rows.reduce((a, r) => a + r.toolFailures, 0);
      m.add('tools/call_frequency', calls / Math.max(1, rows.length));
      m.add('tools/failure_frequency', calls > 0 ? failures / calls : 0);
    }
    m.addAll(adv.metrics);
    this.lastRollouts = { rollouts, rewards: local.rewards, advantages: local.advantages };
  }

  /** The buffered micro-batches still to be trained on (saved with a checkpoint taken mid-buffer). */
  protected override bufferState(): { batches: TrainBatch[] } | null {
    if (this.#buffer === null || this.state.microStep % this.generateEvery === 0) return null;
    return { batches: this.#buffer };
  }

  protected override restoreBuffer(batches: TrainBatch[] | null): void {
    this.#replaceBuffer(batches ?? []);
    if (batches === null) this.#buffer = null;
  }

  protected override samplerState(): unknown {
    return this.sampler.position();
  }

  protected override checkSamplerState(state: unknown): void {
    this.sampler.check(state as ReturnType<GenerationBatchSampler['position']>);
  }

  protected override restoreSampler(state: unknown): void {
    this.sampler.restore(state as ReturnType<GenerationBatchSampler['position']>);
  }

  protected override refSnapshot(): ParamDict | null {
    return this.#refSnapshot;
  }

  /** The adaptive entropy controller's state (TRL's entropy_ctrl_state.json), when adaptive. */
  protected override trainerExtraState(): Record<string, unknown> | null {
    return this.config.useAdaptiveEntropy ? { entropyControl: this.entropyControl.state() } : null;
  }

  protected override checkTrainerExtraState(state: unknown): void {
    if (!this.config.useAdaptiveEntropy || state === undefined) return;
    const s = state as { entropyControl?: unknown } | null;
    new EntropyController(this.config).restore(s === null || typeof s !== 'object' ? s : s.entropyControl);
  }

  protected override restoreTrainerExtraState(state: unknown): void {
    if (this.config.useAdaptiveEntropy && state !== undefined)
      this.entropyControl.restore((state as { entropyControl: unknown }).entropyControl);
  }

  protected override restoreRefSnapshot(p: ParamDict): void {
    this.#refSnapshot = mx.keep(p);
  }

  protected override progressInfo(record: LogRecord | null): Record<string, number | string> {
    if (record === null) return {};
    const out: Record<string, number | string> = {};
    if (record.reward !== null && record.reward !== undefined) out.reward = record.reward;
    if (record.loss !== null && record.loss !== undefined) out.loss = record.loss;
    const meanLength = record['completions/mean_length'];
    if (meanLength !== null && meanLength !== undefined) out.len = meanLength;
    return out;
  }

  /** The rollouts of the last generation batch with their rewards and advantages (for inspection). */
  lastRollouts: { rollouts: Rollouts; rewards: (number | null)[]; advantages: number[] } | null = null;

  /** The learning rate of the update after `step` optimizer steps. */
  learningRate(step: number): number {
    return learningRateAt(step, this.config, this.totalSteps);
  }
}

/** One completion of a generation batch, as `#generationRows` shares it between ranks. */
interface GenerationRow {
  failed: boolean;
  promptTokens: number;
  modelTokens: number;
  truncated: boolean;
  /** Tokens the loss counts (0 for a truncated completion with maskTruncatedCompletions). */
  lossTokens: number;
  toolCalls: number;
  toolFailures: number;
  rewards: (number | null)[];
}

/**
 * A config parsed beforehand (`parseGRPOConfig`) is used as is when its generation batch fits
 * the number of processes (TRL derives it from the world size).
 */
function checkParsedFor(config: GRPOConfig, numProcesses: number): GRPOConfig {
  if (numProcesses === 1) return config;
  const perStep = config.perDeviceTrainBatchSize * numProcesses;
  if (config.generationBatchSize !== perStep * config.stepsPerGeneration) {
    throw new GRPOConfigError(
      `GRPOTrainer: the config's generationBatchSize (${config.generationBatchSize}) was derived for another number of processes than this job's ${numProcesses} ` +
        `(perDeviceTrainBatchSize ${config.perDeviceTrainBatchSize} × ${numProcesses} × stepsPerGeneration ${config.stepsPerGeneration} = ${perStep * config.stepsPerGeneration}); ` +
        `pass the config unparsed, or parse it with parseGRPOConfig(input, { numProcesses: ${numProcesses} })`,
    );
  }
  return config;
}

/** Tokens of completion `i` the model generated (all of them without tools). */
function modelTokens(rollouts: Rollouts, i: number): number {
  const mask = rollouts.toolMask?.[i];
  return mask ? mask.reduce((a, b) => a + b, 0) : rollouts.completionIds[i].length;
}

/** The arrays a micro-batch owns. */
function batchArrays(b: TrainBatch): mx.Array[] {
  return [b.inputIds, b.attentionMask, b.completionMask, b.advantages, b.oldLogprobs, b.refLogprobs].filter(
    (x): x is mx.Array => x !== null,
  );
}

function isParsed(c: unknown): c is GRPOConfig {
  return (
    c !== null &&
    typeof c === 'object' &&
    typeof (c as GRPOConfig).generationBatchSize === 'number' &&
    typeof (c as GRPOConfig).stepsPerGeneration === 'number' &&
    (c as GRPOConfig).outputDir !== undefined
  );
}

/** `[name, lazy scalar]` pairs of the loss metrics, with TRL's names. */
function flattenLossMetrics(m: ReturnType<typeof grpoLoss>['metrics']): [string, mx.Array][] {
  const out: [string, mx.Array][] = [];
  if (m.clipRatio) {
    out.push(
      ['clip_ratio/low_mean', m.clipRatio.lowMean],
      ['clip_ratio/high_mean', m.clipRatio.highMean],
      ['clip_ratio/region_mean', m.clipRatio.regionMean],
    );
    out.push(['clip_ratio/low_min', m.clipRatio.lowMin], ['clip_ratio/high_max', m.clipRatio.highMax]);
  }
  if (m.cispoClipRatio) out.push(['cispo_clip_ratio', m.cispoClipRatio]);
  if (m.vespoPhiSeqMean) out.push(['vespo/phi_seq_mean', m.vespoPhiSeqMean]);
  if (m.kl) out.push(['kl', m.kl]);
  if (m.entropy) out.push(['entropy', m.entropy]);
  if (m.policyLoss) out.push(['policy_loss', m.policyLoss]);
  return out;
}

/**
 * Runs `fn` with every LoRA adapter's update switched off (the base model), as PEFT's
 * `disable_adapter()`: the adapters' `loraB` are set to zero for the call and put back after.
 */
export function withAdaptersDisabled<T>(model: Module, fn: () => T): T {
  const adapters = model.modules().filter((m): m is LoRALinear => m instanceof LoRALinear);
  const saved = adapters.map((a) => a.loraB);
  for (const a of adapters) a.loraB = mx.zerosLike(a.loraB);
  try {
    return fn();
  } finally {
    adapters.forEach((a, i) => {
      a.loraB.dispose();
      a.loraB = saved[i];
    });
  }
}
