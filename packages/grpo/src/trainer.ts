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
import { paddingAttentionMask, type RouterLossSettings } from '@mlxn/models-qwen3';
import { adapterParameters, type ParamDict } from '@mlxn/nn';
import { type AdvantageResult, computeAdvantages } from './advantages.js';
import { type GRPOConfig, grpoConfigWarnings } from './config.js';
import { DataParallel, DataParallelError } from './data-parallel.js';
import type { GenerationBatchSampler, PromptDataset } from './dataset.js';
import { deriveSeed } from './derive-seed.js';
import { EntropyController } from './entropy-control.js';
import {
  batchArrays,
  chunkedLogprobs,
  type GenerationRow,
  generationRows,
  logGenerationMetrics,
  type RewardsPerFunc,
  shuffleIntoMicroBatches,
  type TrainBatch,
} from './generation-batch.js';
import { grpoHeadLoss } from './grpo-head-loss.js';
import { type GRPOPolicy, type GRPOTrainerOptions, type RewardTrainerState, resolveGRPOTrainerOptions } from './grpo-trainer-options.js';
import { addLoRAAdapters, withAdaptersDisabled } from './lora.js';
import type { LogRecord } from './metrics.js';
import { type RewardFunction, runRewardFunctions } from './rewards/index.js';
import { generateRollouts, type Prompt, type Rollouts, rolloutTensors, tokenizePrompts } from './rollouts.js';
import { learningRateAt } from './schedule.js';
import { type GRPOTool, toolSchemas } from './tools.js';
import { TrainerCore } from './train-core.js';
import { paddingTokenId, type TrainableModel } from './trainable-model.js';

export interface TrainResult {
  globalStep: number;
  /** The averaged training loss over the run. */
  trainingLoss: number;
  /** Steps whose loss or gradients were not finite (skipped). */
  skippedSteps: number;
  /** Every logged record. */
  logHistory: LogRecord[];
}

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
    // Everything is checked before the model is touched (LoRA layers are attached in place).
    const { group, config, model, tools, routerLoss, funcs, names, weights, dataset, sampler } = resolveGRPOTrainerOptions(options);
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
    const entropyBonusCoef = this.entropyControl.applyCoef();
    const { head: headLoss, layout } = grpoHeadLoss(this.model, batch, c, {
      entropyBonusCoef,
      numProcesses: this.dataParallel?.size ?? 1,
    });
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
      const { metricNames } = layout;
      metricNames.forEach((k, i) => {
        metrics[k] = Number(values[i].item());
      });
      if (layout.hasStats)
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
      rows = generationRows(rollouts, rewardsPerFunc, share, failure !== null, {
        maskTruncatedCompletions: c.maskTruncatedCompletions,
        numRewardFuncs: this.rewardFuncs.length,
        dataParallel: dp,
        step: this.state.globalStep + 1,
      });
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
    logGenerationMetrics(this.metrics, rows, adv, this.state.numInputTokensSeen, this.tools.size > 0);
    this.lastRollouts = { rollouts, rewards: local.rewards, advantages: local.advantages };
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
      if (needOld) whole.oldLogprobs = this.withEval(() => chunkedLogprobs(this.model, whole, chunk, c.temperature));
      if (c.beta !== 0) whole.refLogprobs = this.withEval(() => this.#referenceLogprobs(whole, chunk));

      return mx.keep(shuffleIntoMicroBatches(whole, { n, seed, stepsPerGeneration: c.stepsPerGeneration, rowTokens }));
    });
  }

  #referenceLogprobs(batch: TrainBatch, chunk: number): mx.Array {
    if (this.refModel !== null) return chunkedLogprobs(this.refModel, batch, chunk, this.config.temperature);
    if (this.#loraMode) return withAdaptersDisabled(this.model, () => chunkedLogprobs(this.model, batch, chunk, this.config.temperature));
    const current = this.model.parameters();
    const snapshot = this.#refSnapshot;
    if (snapshot === null) throw new Error('GRPOTrainer: reference log-probabilities need a reference (beta is 0 here)');
    this.model.update(snapshot);
    try {
      return chunkedLogprobs(this.model, batch, chunk, this.config.temperature);
    } finally {
      this.model.update(current);
    }
  }

  #replaceBuffer(next: TrainBatch[]): void {
    if (this.#buffer !== null) for (const b of this.#buffer) mx.dispose(batchArrays(b));
    this.#buffer = next;
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
