// Prompt datasets (arrays of records or JSONL files) and the order the GRPO trainer visits them
// in: TRL's RepeatSampler layout over a seeded, resumable shuffle (crates/mlxn-grpo/src/dataset.rs).
import { checkOptionKeys, native } from '@mlxn/core/internal';
import type { ChatMessage } from '@mlxn/io';
import type { GRPOConfig } from './config.js';

/** One dataset row: the prompt plus any other columns (passed to reward functions by name). */
export interface PromptRecord {
  prompt: string | ChatMessage[];
  [column: string]: unknown;
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

const CONVERSATIONAL_KEYS = ['prompt', 'chosen', 'rejected', 'completion', 'messages'];

/**
 * TRL's is_conversational: the record's prompt-like column holds a list of `{ role, content }` messages.
 * @example isConversational({ prompt: [{ role: 'user', content: 'Hi' }] }); // true
 */
export function isConversational(record: Record<string, unknown>): boolean {
  const key = CONVERSATIONAL_KEYS.find((k) => Object.hasOwn(record, k));
  if (key === undefined) return false;
  const value = record[key];
  return Array.isArray(value) && typeof value[0] === 'object' && value[0] !== null && 'role' in value[0];
}

function checkMessages(messages: unknown[], where: string): void {
  if (messages.length === 0) throw new DatasetError(`${where}: the prompt has no messages`);
  messages.forEach((m, j) => {
    const msg = m as Record<string, unknown>;
    if (typeof m !== 'object' || m === null || typeof msg.role !== 'string') {
      throw new DatasetError(`${where}: message ${j} needs a string "role"`);
    }
    if (typeof msg.content !== 'string' && !Array.isArray(msg.content)) {
      throw new DatasetError(`${where}: message ${j} needs "content" (a string or a list of parts)`);
    }
  });
}

export interface DatasetOptions {
  /** The column holding the prompt; it is exposed as `prompt`. Default 'prompt'. */
  promptColumn?: string;
}

/** A validated, immutable list of prompt records; all string prompts or all chat prompts. */
export class PromptDataset {
  readonly #records: readonly PromptRecord[];
  /** Whether the prompts are chat messages (decided like TRL, and the same for every record). */
  readonly conversational: boolean;
  /** Where the records came from, for messages. */
  readonly source: string;

  private constructor(records: PromptRecord[], conversational: boolean, source: string) {
    this.#records = Object.freeze(records);
    this.conversational = conversational;
    this.source = source;
  }

  /**
   * @example const ds = PromptDataset.fromRecords([{ prompt: 'What is 2+3?', answer: '5' }]);
   */
  static fromRecords(records: readonly Record<string, unknown>[], options: DatasetOptions & { source?: string } = {}): PromptDataset {
    checkOptionKeys(options, ['promptColumn', 'source'], 'PromptDataset.fromRecords');
    const source = options.source ?? 'records';
    if (!Array.isArray(records)) throw new DatasetError(`${source}: expected an array of records`);
    if (records.length === 0) throw new DatasetError(`${source}: the dataset is empty`);
    const column = options.promptColumn ?? 'prompt';
    let conversational: boolean | undefined;
    const out = records.map((r, i) => {
      const where = `${source}: record ${i}`;
      if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new DatasetError(`${where}: expected an object`);
      if (!Object.hasOwn(r, column)) throw new DatasetError(`${where}: no "${column}" column`);
      const p = r[column];
      const isChat = Array.isArray(p);
      if (isChat) checkMessages(p, where);
      else if (typeof p !== 'string') throw new DatasetError(`${where}: "${column}" must be a string or a list of chat messages`);
      conversational ??= isChat;
      if (isChat !== conversational) {
        throw new DatasetError(`${where}: mixes chat-message and plain-text prompts (record 0 is ${conversational ? 'chat' : 'text'})`);
      }
      const rec: Record<string, unknown> = { ...r };
      if (column !== 'prompt') {
        if (Object.hasOwn(rec, 'prompt')) throw new DatasetError(`${where}: has both "prompt" and the prompt column "${column}"`);
        delete rec[column];
      }
      rec.prompt = p;
      return rec as PromptRecord;
    });
    return new PromptDataset(out, conversational ?? false, source);
  }

  /**
   * Reads one JSON object per line (blank lines skipped); a bad line is reported with its number.
   * @example const ds = PromptDataset.fromJsonl('train.jsonl');
   */
  static fromJsonl(path: string, options: DatasetOptions = {}): PromptDataset {
    checkOptionKeys(options, ['promptColumn'], 'PromptDataset.fromJsonl');
    let lines: string[];
    try {
      lines = native.grpoReadJsonl(path);
    } catch (e) {
      throw new DatasetError((e as Error).message);
    }
    return PromptDataset.fromRecords(
      lines.map((l) => JSON.parse(l) as Record<string, unknown>),
      { ...options, source: path },
    );
  }

  get length(): number {
    return this.#records.length;
  }

  get(index: number): PromptRecord {
    if (!Number.isInteger(index) || index < 0 || index >= this.#records.length) {
      throw new RangeError(`dataset index ${index} is out of range [0, ${this.#records.length})`);
    }
    return this.#records[index];
  }

  /** The column names of the first record (TRL passes these to reward functions). */
  get columns(): string[] {
    return Object.keys(this.#records[0]);
  }
}

/**
 * A seeded permutation of 0..n−1 for `(seed, stream)`, from the Rust generator (the same on every
 * platform). The sampler uses stream = epoch; the trainer can use it for TRL's shuffle of a
 * generation batch before splitting it into micro-batches.
 * @example seededPermutation(5, 42, 0); // a fixed order of 0..4
 */
export function seededPermutation(n: number, seed: number, stream: number, shuffle = true): number[] {
  for (const [name, v] of [
    ['n', n],
    ['seed', seed],
    ['stream', stream],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`seededPermutation: ${name} must be a non-negative integer, got ${v}`);
  }
  if (n > 0xffffffff || stream > 0xffffffff) throw new RangeError('seededPermutation: n and stream must fit in 32 bits');
  return native.grpoEpochOrder(n, seed, stream, shuffle);
}

/** Where the sampler is: the next generation batch to produce. JSON-serialisable for checkpoints. */
export interface SamplerPosition {
  epoch: number;
  /** Index of the next generation batch within the epoch. */
  batch: number;
  /** What the position was taken with; restoring with different values is refused. */
  seed: number;
  datasetSize: number;
  promptsPerBatch: number;
  shuffle: boolean;
}

export interface GenerationBatch {
  epoch: number;
  /** Index of this batch within its epoch. */
  batch: number;
  /** The distinct records of this batch, in order. */
  promptIndices: number[];
  /** Record index per completion: each prompt repeated numGenerations times consecutively (one group per prompt). */
  indices: number[];
}

export interface SamplerOptions {
  numGenerations: number;
  /** Completions per generation batch (numGenerations × prompts per batch). */
  generationBatchSize: number;
  seed: number;
  /** TRL's shuffle_dataset. Default true. */
  shuffle?: boolean;
  /** Continue from a saved position. */
  position?: SamplerPosition;
}

/**
 * TRL's RepeatSampler for one process: each epoch visits the records in a seeded order, in
 * batches of generationBatchSize / numGenerations distinct prompts (an incomplete last batch is
 * dropped), each prompt repeated numGenerations times. Reusing a batch for numIterations ×
 * stepsPerGeneration micro-steps (TRL's repeat_count) is the trainer's loop; this yields each
 * generation batch once.
 */
export class GenerationBatchSampler {
  readonly promptsPerBatch: number;
  readonly batchesPerEpoch: number;
  readonly #size: number;
  readonly #opts: Required<Omit<SamplerOptions, 'position'>>;
  #epoch = 0;
  #batch = 0;
  #order: number[] | null = null;

  constructor(datasetSize: number, options: SamplerOptions) {
    checkOptionKeys(options, ['numGenerations', 'generationBatchSize', 'seed', 'shuffle', 'position'], 'GenerationBatchSampler');
    const { numGenerations, generationBatchSize, seed } = options;
    const shuffle = options.shuffle ?? true;
    if (!Number.isInteger(datasetSize) || datasetSize < 1)
      throw new RangeError(`the dataset size must be a positive integer, got ${datasetSize}`);
    if (!Number.isInteger(numGenerations) || numGenerations < 1)
      throw new RangeError(`numGenerations must be a positive integer, got ${numGenerations}`);
    if (!Number.isInteger(generationBatchSize) || generationBatchSize % numGenerations !== 0 || generationBatchSize < 1) {
      throw new RangeError(
        `generationBatchSize (${generationBatchSize}) must be a positive multiple of numGenerations (${numGenerations})`,
      );
    }
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    this.promptsPerBatch = generationBatchSize / numGenerations;
    this.batchesPerEpoch = Math.floor(datasetSize / this.promptsPerBatch);
    if (this.batchesPerEpoch === 0) {
      throw new RangeError(
        `the dataset has ${datasetSize} prompts, fewer than one generation batch needs (${this.promptsPerBatch} = generationBatchSize / numGenerations)`,
      );
    }
    this.#size = datasetSize;
    this.#opts = { numGenerations, generationBatchSize, seed, shuffle };
    if (options.position) this.restore(options.position);
  }

  /** The next generation batch (crossing into the next epoch when one ends). */
  next(): GenerationBatch {
    if (this.#batch >= this.batchesPerEpoch) {
      this.#epoch++;
      this.#batch = 0;
      this.#order = null;
    }
    this.#order ??= seededPermutation(this.#size, this.#opts.seed, this.#epoch, this.#opts.shuffle);
    const start = this.#batch * this.promptsPerBatch;
    const promptIndices = this.#order.slice(start, start + this.promptsPerBatch);
    const indices = promptIndices.flatMap((i) => new Array<number>(this.#opts.numGenerations).fill(i));
    const out = { epoch: this.#epoch, batch: this.#batch, promptIndices, indices };
    this.#batch++;
    return out;
  }

  /** The position of the next batch; save it with a checkpoint. */
  position(): SamplerPosition {
    const rolled = this.#batch >= this.batchesPerEpoch;
    return {
      epoch: rolled ? this.#epoch + 1 : this.#epoch,
      batch: rolled ? 0 : this.#batch,
      seed: this.#opts.seed,
      datasetSize: this.#size,
      promptsPerBatch: this.promptsPerBatch,
      shuffle: this.#opts.shuffle,
    };
  }

  /** Continues from a saved position (the same dataset and batch shape are required). */
  restore(p: SamplerPosition): void {
    this.check(p);
    this.#epoch = p.epoch;
    this.#batch = p.batch;
    this.#order = null;
  }

  /** Throws when `p` is not a position this sampler can continue from (nothing changes). */
  check(p: SamplerPosition): void {
    if (p === null || typeof p !== 'object') throw new RangeError('cannot resume the sampler: the checkpoint has no dataset position');
    const mismatch = (what: string, saved: unknown, now: unknown) =>
      new RangeError(`cannot resume the sampler: the checkpoint's ${what} is ${String(saved)} but now it is ${String(now)}`);
    if (p.seed !== this.#opts.seed) throw mismatch('seed', p.seed, this.#opts.seed);
    if (p.datasetSize !== this.#size) throw mismatch('dataset size', p.datasetSize, this.#size);
    if (p.promptsPerBatch !== this.promptsPerBatch) throw mismatch('prompts per generation batch', p.promptsPerBatch, this.promptsPerBatch);
    if (p.shuffle !== this.#opts.shuffle) throw mismatch('shuffle setting', p.shuffle, this.#opts.shuffle);
    if (!Number.isInteger(p.epoch) || p.epoch < 0 || !Number.isInteger(p.batch) || p.batch < 0 || p.batch > this.batchesPerEpoch) {
      throw new RangeError(`cannot resume the sampler: bad position epoch ${p.epoch}, batch ${p.batch}`);
    }
  }
}

export interface TrainingPlan {
  promptsPerGenerationBatch: number;
  generationBatchesPerEpoch: number;
  /** Micro-steps per epoch: each generation batch is used numIterations × stepsPerGeneration times. */
  microStepsPerEpoch: number;
  optimizerStepsPerEpoch: number;
  /** maxSteps when > 0, else ceil(numTrainEpochs × optimizerStepsPerEpoch) (HF's rule). */
  totalSteps: number;
}

/**
 * How long a run is, as HF's Trainer counts it with TRL's GRPO dataloader.
 * @example trainingPlan(parseGRPOConfig({ numGenerations: 4, perDeviceTrainBatchSize: 8 }), 100).totalSteps;
 */
export function trainingPlan(
  config: Pick<
    GRPOConfig,
    | 'numGenerations'
    | 'generationBatchSize'
    | 'stepsPerGeneration'
    | 'numIterations'
    | 'gradientAccumulationSteps'
    | 'maxSteps'
    | 'numTrainEpochs'
  >,
  datasetSize: number,
): TrainingPlan {
  const prompts = config.generationBatchSize / config.numGenerations;
  const batches = Math.floor(datasetSize / prompts);
  if (batches === 0) {
    throw new RangeError(`the dataset has ${datasetSize} prompts, fewer than one generation batch needs (${prompts})`);
  }
  const micro = batches * config.numIterations * config.stepsPerGeneration;
  const perEpoch = Math.max(1, Math.floor(micro / config.gradientAccumulationSteps));
  return {
    promptsPerGenerationBatch: prompts,
    generationBatchesPerEpoch: batches,
    microStepsPerEpoch: micro,
    optimizerStepsPerEpoch: perEpoch,
    totalSteps: config.maxSteps > 0 ? config.maxSteps : Math.ceil(config.numTrainEpochs * perEpoch),
  };
}
