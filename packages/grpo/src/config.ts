// GRPO configuration: TRL 1.16's GRPOConfig (and the TrainingArguments fields it uses) with the
// same meanings and defaults, in camelCase. `parseGRPOConfig` fills defaults, validates, and derives
// generationBatchSize / stepsPerGeneration exactly as TRL's __post_init__ does (for `numProcesses`).
import { z } from 'zod';

const LOSS_TYPES = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo', 'luspo', 'vespo'] as const;
const SCALE_REWARDS = ['group', 'batch', 'none'] as const;
const SCHEDULERS = ['constant', 'constant_with_warmup', 'linear', 'cosine'] as const;

export type LossType = (typeof LOSS_TYPES)[number];
export type ScaleRewards = (typeof SCALE_REWARDS)[number];
export type LrSchedulerType = (typeof SCHEDULERS)[number];
export type ImportanceSamplingLevel = 'token' | 'sequence';
export type MultiObjectiveAggregation = 'sum_then_normalize' | 'normalize_then_sum';

const positiveInt = z.number().int().positive();
const nonNegative = z.number().nonnegative();
const finite = z.number().finite();

/** LoRA options with PEFT's defaults; shared by the GRPO and SFT configs. */
const loraSchema = z
  .object({
    /** Adapter rank r (PEFT's default 8). */
    rank: positiveInt.default(8),
    /** PEFT's lora_alpha; the update is scaled by alpha / rank unless `scale` is given. */
    alpha: z.number().positive().default(8),
    /** Explicit scale (overrides alpha / rank). */
    scale: z.number().positive().nullable().default(null),
    dropout: z.number().min(0).max(1).default(0),
    /** Module paths (suffixes) that get adapters; PEFT's default for Qwen models is q_proj and v_proj. */
    targetModules: z.array(z.string().min(1)).nonempty().default(['self_attn.q_proj', 'self_attn.v_proj']),
  })
  .strict()
  .transform((l) => ({ ...l, scale: l.scale ?? l.alpha / l.rank }));

/**
 * The TrainingArguments fields that the GRPO and SFT trainers read alike (through `TrainerCore`),
 * with the same meanings and defaults in both.
 */
export const trainingArgumentFields = {
  // -- batch, optimizer and schedule -------------------------------------------------------
  gradientAccumulationSteps: positiveInt.default(1),
  shuffleDataset: z.boolean().default(true),
  lrSchedulerType: z.enum(SCHEDULERS).default('linear'),
  warmupRatio: z.number().min(0).max(1).default(0),
  /** Wins over warmupRatio when > 0 (HF's rule). */
  warmupSteps: z.number().int().nonnegative().default(0),
  adamBeta1: z.number().min(0).lt(1).default(0.9),
  adamBeta2: z.number().min(0).lt(1).default(0.999),
  adamEpsilon: z.number().positive().default(1e-8),
  weightDecay: nonNegative.finite().default(0),
  /** Clip the global gradient norm to this; 0 disables clipping. */
  maxGradNorm: nonNegative.finite().default(1.0),
  // -- run length, logging, checkpoints ---------------------------------------------------
  numTrainEpochs: z.number().positive().finite().default(3),
  /** > 0 overrides numTrainEpochs; -1 means "derive from epochs" (HF). */
  maxSteps: z.number().int().min(-1).default(-1),
  seed: z.number().int().nonnegative().default(42),
  loggingSteps: positiveInt.default(10),
  saveSteps: positiveInt.default(500),
  saveTotalLimit: positiveInt.nullable().default(null),
  outputDir: z.string().min(1).default('trainer_output'),
  /** A checkpoint folder, or `true` for the newest checkpoint in outputDir. */
  resumeFromCheckpoint: z
    .union([z.string().min(1), z.boolean()])
    .nullable()
    .default(null),
  // -- model and precision -----------------------------------------------------------------
  lora: loraSchema.nullable().default(null),
  /** Recompute each decoder layer in the backward pass instead of keeping its activations (TRL's default: on). */
  gradientCheckpointing: z.boolean().default(true),
  /** TRL's default is on (bfloat16 weights/activations, float32 optimizer state). */
  bf16: z.boolean().default(true),
  /**
   * The dtype of AdamW's moments and of the gradient sums over micro-batches: 'float32' (the
   * default) whatever the weights' dtype, or 'parameter', the weights' own dtype, as torch keeps
   * them. With bfloat16 weights 'parameter' holds half the memory, and updates smaller than a
   * bfloat16 step of a weight round away.
   */
  optimizerStateDtype: z.enum(['float32', 'parameter']).default('float32'),
  /**
   * Weight of the MoE router load-balancing loss added to the loss. null: the model config's
   * `router_aux_loss_coef` (transformers' Qwen3-MoE default 0.001; none for a dense model);
   * 0 turns it off. A non-zero value with a model that has no router is an error (TRL).
   */
  routerAuxLossCoef: finite.nullable().default(null),
};

const schema = z
  .object({
    // -- batch shape --------------------------------------------------------------------------
    numGenerations: positiveInt.default(8),
    /** Completions per micro-batch (TRL counts completions, not prompts). */
    perDeviceTrainBatchSize: positiveInt.default(8),
    generationBatchSize: positiveInt.nullable().default(null),
    stepsPerGeneration: positiveInt.nullable().default(null),
    // -- generation ---------------------------------------------------------------------------
    /** Not a TRL 1.16 option (TRL removed it): left-truncates prompt tokens when set. */
    maxPromptLength: positiveInt.nullable().default(null),
    maxCompletionLength: positiveInt.default(512),
    temperature: z.number().positive().finite().default(1.0),
    topP: z.number().gt(0).max(1).default(1.0),
    /** 0 disables top-k, as in TRL. */
    topK: z.number().int().nonnegative().default(0),
    minP: z.number().min(0).max(1).nullable().default(null),
    repetitionPenalty: z.number().positive().finite().default(1.0),
    // -- optimizer (the rest of it and the schedule: trainingArgumentFields) --------------------
    learningRate: nonNegative.finite().default(1e-6),
    // -- GRPO objective -----------------------------------------------------------------------
    numIterations: positiveInt.default(1),
    epsilon: nonNegative.finite().default(0.2),
    epsilonHigh: nonNegative.finite().nullable().default(null),
    delta: z.number().positive().finite().nullable().default(null),
    beta: nonNegative.finite().default(0.0),
    /** Multiplies the k3 KL term by the importance ratio (TRL 1.16 default: on). */
    useBiasCorrectionKl: z.boolean().default(true),
    lossType: z.enum(LOSS_TYPES).default('dapo'),
    importanceSamplingLevel: z.enum(['token', 'sequence']).default('token'),
    sapoTemperatureNeg: z.number().positive().finite().default(1.05),
    sapoTemperaturePos: z.number().positive().finite().default(1.0),
    /** `true` means 'group' and `false` means 'none', as in TRL. */
    scaleRewards: z
      .union([z.enum(SCALE_REWARDS), z.boolean()])
      .default('group')
      .transform((v): ScaleRewards => (v === true ? 'group' : v === false ? 'none' : v)),
    multiObjectiveAggregation: z.enum(['sum_then_normalize', 'normalize_then_sum']).default('sum_then_normalize'),
    rewardWeights: z.array(finite).nullable().default(null),
    maskTruncatedCompletions: z.boolean().default(false),
    topEntropyQuantile: z.number().min(0).max(1).default(1.0),
    // -- loss options of TRL 1.16 (issue 18): VESPO, off-policy masking, entropy bonus --------
    /** VESPO's Gamma weighting φ(w) = e^λ·w^k·e^(−λw): k for non-negative advantages. */
    vespoKPos: finite.default(2.0),
    /** λ for non-negative advantages (TRL clamps λ to ≥ 1e-4). */
    vespoLambdaPos: nonNegative.finite().default(3.0),
    vespoKNeg: finite.default(3.0),
    vespoLambdaNeg: nonNegative.finite().default(2.0),
    /** DeepSeek-V3.2's off-policy sequence mask: drop a negative-advantage completion whose mean KL to the sampling policy exceeds this; null = off. */
    offPolicyMaskThreshold: nonNegative.finite().nullable().default(null),
    /** Entropy bonus: loss − entropyCoef · mean token entropy; the initial coefficient when adaptive. */
    entropyCoef: finite.default(0.0),
    /** Skywork-OR1's controller: after each optimizer step, entropyCoef ± entropyCoefDelta toward entropyTarget. */
    useAdaptiveEntropy: z.boolean().default(false),
    entropyCoefMin: finite.default(0.0),
    entropyCoefMax: finite.default(1.0),
    entropyCoefDelta: nonNegative.finite().default(0.005),
    /** Nats; the adaptive bonus applies only while the last window's mean entropy is at or below it. */
    entropyTarget: finite.default(0.2),
    // -- batch, optimizer, schedule, run length, checkpoints, model and MoE router loss -------
    ...trainingArgumentFields,
    // -- tool turns (TRL 1.16) -----------------------------------------------------------------
    /** Rounds of tool calls per completion; null: no limit (TRL's default). */
    maxToolCallingIterations: z.number().int().nonnegative().nullable().default(null),
    /** The chat template's extra variables (e.g. `{ enable_thinking: false }`), for prompts and tool turns. */
    chatTemplateKwargs: z.record(z.string(), z.unknown()).nullable().default(null),
    /** Not a TRL option: a tool call still running after this many milliseconds fails with a timeout result. */
    toolTimeoutMs: z.number().int().positive().default(30_000),
    /** Not a TRL option: tool results longer than this many characters are cut (with a note). */
    maxToolResultChars: z.number().int().positive().default(10_000),
  })
  .strict();

/** The keys a GRPO config and its `lora` entry take (for did-you-mean messages of config files). */
export const GRPO_CONFIG_KEYS: readonly string[] = Object.keys(schema.shape);
export const LORA_CONFIG_KEYS: readonly string[] = Object.keys(loraSchema.in.shape);

export type GRPOConfigInput = z.input<typeof schema>;
type Parsed = z.output<typeof schema>;
export type LoRAConfig = NonNullable<Parsed['lora']>;

/** A validated config: every field filled, generationBatchSize / stepsPerGeneration derived. */
export type GRPOConfig = Omit<Parsed, 'generationBatchSize' | 'stepsPerGeneration' | 'epsilonHigh'> & {
  generationBatchSize: number;
  stepsPerGeneration: number;
  /** Resolved: epsilon when not given (TRL's rule). */
  epsilonHigh: number;
};

export class GRPOConfigError extends Error {
  override name = 'GRPOConfigError';
}

/**
 * Fills TRL 1.16's defaults, validates, and derives the generation batch.
 * @example const config = parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 4 });
 */
export function parseGRPOConfig(partial: GRPOConfigInput = {}, options: { numProcesses?: number } = {}): GRPOConfig {
  const numProcesses = options.numProcesses ?? 1;
  if (!Number.isInteger(numProcesses) || numProcesses < 1)
    throw new GRPOConfigError(`numProcesses must be a positive integer, got ${numProcesses}`);
  const result = schema.safeParse(partial ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(config)'}: ${i.message}`);
    throw new GRPOConfigError(`invalid GRPO config:\n  ${problems.join('\n  ')}`);
  }
  const c = result.data;
  // TRL: the global batch of one micro-step is the per-device batch times the processes.
  const perStep = c.perDeviceTrainBatchSize * numProcesses;
  let generationBatchSize: number;
  let stepsPerGeneration: number;
  if (c.generationBatchSize === null && c.stepsPerGeneration === null) {
    stepsPerGeneration = c.gradientAccumulationSteps;
    generationBatchSize = perStep * stepsPerGeneration;
  } else if (c.generationBatchSize !== null && c.stepsPerGeneration === null) {
    if (c.generationBatchSize % perStep !== 0) {
      throw new GRPOConfigError(
        `generationBatchSize (${c.generationBatchSize}) must be divisible by the global batch size ` +
          (numProcesses === 1
            ? `perDeviceTrainBatchSize (${perStep}).`
            : `perDeviceTrainBatchSize × processes (${c.perDeviceTrainBatchSize} × ${numProcesses} = ${perStep}).`),
      );
    }
    generationBatchSize = c.generationBatchSize;
    stepsPerGeneration = c.generationBatchSize / perStep;
  } else if (c.generationBatchSize === null && c.stepsPerGeneration !== null) {
    stepsPerGeneration = c.stepsPerGeneration;
    generationBatchSize = perStep * stepsPerGeneration;
  } else {
    throw new GRPOConfigError('generationBatchSize and stepsPerGeneration cannot both be set: give one of them.');
  }
  if (generationBatchSize % c.numGenerations !== 0) {
    throw new GRPOConfigError(
      `generationBatchSize (${generationBatchSize}) must be divisible by numGenerations (${c.numGenerations}) ` +
        'so that every prompt group is complete.',
    );
  }
  if (c.numGenerations < 2) {
    throw new GRPOConfigError(`GRPO needs at least 2 generations per prompt to compute advantages; numGenerations is ${c.numGenerations}.`);
  }
  if (c.useAdaptiveEntropy && c.entropyCoefMin > c.entropyCoefMax) {
    throw new GRPOConfigError(`entropyCoefMin (${c.entropyCoefMin}) must not exceed entropyCoefMax (${c.entropyCoefMax}).`);
  }
  if (c.rewardWeights !== null && c.rewardWeights.length === 0) {
    throw new GRPOConfigError('rewardWeights must not be empty (leave it null for equal weights).');
  }
  return {
    ...c,
    generationBatchSize,
    stepsPerGeneration,
    epsilonHigh: c.epsilonHigh ?? c.epsilon,
  };
}

/**
 * The advice TRL logs for a valid but questionable config (the trainer prints these once).
 * @example grpoConfigWarnings(parseGRPOConfig({ importanceSamplingLevel: 'sequence', lossType: 'dapo' })); // one warning
 */
export function grpoConfigWarnings(config: GRPOConfig): string[] {
  const out: string[] = [];
  if (config.importanceSamplingLevel === 'sequence' && ['bnpo', 'dr_grpo', 'dapo', 'cispo'].includes(config.lossType)) {
    out.push(
      `importanceSamplingLevel 'sequence' with lossType '${config.lossType}' sums per-token terms, so each sequence ` +
        "is weighted by its length rather than optimising the per-sequence objective; GSPO's setup uses lossType 'grpo'.",
    );
  }
  if (config.lossType === 'luspo' && config.importanceSamplingLevel !== 'sequence') {
    out.push("lossType 'luspo' is meant for importanceSamplingLevel 'sequence' (the LUSPO paper's setup).");
  }
  if (config.lossType === 'vespo' && config.importanceSamplingLevel !== 'token') {
    out.push("lossType 'vespo' computes sequence-level weights itself: importanceSamplingLevel should be 'token' (the default).");
  }
  if (config.useAdaptiveEntropy && (config.entropyCoef < config.entropyCoefMin || config.entropyCoef > config.entropyCoefMax)) {
    out.push(
      `entropyCoef (${config.entropyCoef}) is outside [entropyCoefMin, entropyCoefMax]; the controller clamps it after the first step.`,
    );
  }
  if (config.delta !== null && config.delta <= 1 + config.epsilonHigh) {
    out.push(`delta (${config.delta}) should be greater than 1 + epsilonHigh (${1 + config.epsilonHigh}) to act as an upper clip.`);
  }
  return out;
}
