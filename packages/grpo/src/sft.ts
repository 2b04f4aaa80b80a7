/**
 * `SFTTrainer`: supervised fine-tuning with TRL 1.16's `SFTTrainer` semantics on the machinery
 * the GRPO trainer uses (AdamW, schedule, clipping, accumulation, checkpoints, metrics). Datasets
 * are prompt–completion records (the loss counts completion tokens only by default), chat
 * `messages` (the whole conversation counts, or only assistant turns with
 * `assistantOnlyLoss`), or plain `text`. With `packing`, examples are packed best-fit-decreasing
 * into rows of `maxLength` tokens with a block-diagonal attention mask, so packed examples never
 * see each other and the loss equals the unpacked one.
 */

import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import type { ChatMessage, Tokenizer } from '@mlxn/io';
import type { ParamDict } from '@mlxn/nn';
import { z } from 'zod';
import { trainingArgumentFields } from './config.js';
import { DataParallel, type DistributedOption, resolveGroup } from './data-parallel.js';
import { seededPermutation } from './dataset.js';
import { deriveSeed } from './derive-seed.js';
import { addLoRAAdapters } from './lora.js';
import type { OnLog } from './metrics.js';
import type { ProgressOptions } from './progress.js';
import { TrainerCore } from './train-core.js';
import { paddingTokenId, resolveRouterLoss, type TrainableModel } from './trainable-model.js';

const positiveInt = z.number().int().positive();

const sftSchema = z
  .object({
    /** Longest tokenized example (longer ones are cut on the right, as TRL); the packed row length. */
    maxLength: positiveInt.nullable().default(1024),
    packing: z.boolean().default(false),
    /** Loss on completion tokens only (prompt–completion data). Default: on when the data has completions. */
    completionOnlyLoss: z.boolean().nullable().default(null),
    /** Chat data: loss on assistant turns only. */
    assistantOnlyLoss: z.boolean().default(false),
    /** The token appended to text completions (TRL's eos_token); default the tokenizer's eos. */
    eosToken: z.string().min(1).nullable().default(null),
    perDeviceTrainBatchSize: positiveInt.default(8),
    learningRate: z.number().nonnegative().finite().default(2e-5),
    ...trainingArgumentFields,
  })
  .strict();

/** The keys an SFT config takes (for did-you-mean messages of config files). */
export const SFT_CONFIG_KEYS: readonly string[] = Object.keys(sftSchema.shape);

export type SFTConfigInput = z.input<typeof sftSchema>;
export type SFTConfig = z.output<typeof sftSchema>;

/** Fills TRL 1.16's SFTConfig defaults (camelCase) and validates. */
export function parseSFTConfig(input: SFTConfigInput = {}): SFTConfig {
  const r = sftSchema.safeParse(input ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(config)'}: ${i.message}`);
    throw new Error(`invalid SFT config:\n  ${problems.join('\n  ')}`);
  }
  return r.data;
}

/** One SFT record: `{ prompt, completion }` (text or messages), `{ messages }` or `{ text }`. */
export type SFTRecord =
  | { prompt: string | ChatMessage[]; completion: string | ChatMessage[] }
  | { messages: ChatMessage[] }
  | { text: string };

/** A tokenized example: ids and which of them the loss counts. */
export interface SFTExample {
  ids: number[];
  /** 1 where the token is a training target. */
  lossMask: number[];
}

export interface SFTTrainerOptions {
  model: TrainableModel & { readonly tokenizer?: Tokenizer; readonly eosTokenIds: readonly number[] };
  trainDataset: readonly SFTRecord[];
  config?: SFTConfigInput;
  onLog?: OnLog;
  progress?: boolean | ProgressOptions;
  /**
   * Data-parallel training: the `mx.distributed` group whose processes train together, each on
   * its share of the micro-batches (as GRPOTrainer's option). Default: `mx.distributed.init()`'s
   * group (size 1 outside a job); `false`: alone even inside a job.
   */
  distributed?: DistributedOption;
}

/** One micro-batch: `[b, L]` ids, the counted target positions (position t scores token t + 1), optional packed mask. */
export interface SFTBatch {
  inputIds: mx.Array;
  /** `[b, 1, L, L]` boolean mask (padding and packing); null when plain causal suffices. */
  attention: mx.Array | null;
  /** Counted target tokens. */
  numTargets: number;
  /** Flat indices `row · (L − 1) + position` of the counted positions (host-side, for the gather). */
  targetRows: Int32Array;
  /** Real tokens (for tokens/s). */
  tokens: number;
  /** `[b, L]` float32, 1 on real tokens and 0 on padding; null when no row is padded. */
  tokenMask?: mx.Array | null;
}

const isMessages = (v: unknown): v is ChatMessage[] =>
  Array.isArray(v) && v.every((m) => m !== null && typeof m === 'object' && 'role' in m);

/**
 * Tokenizes one record as TRL does: prompt + completion with an end-of-sequence token appended
 * when missing (text data), the chat template for messages; the loss mask covers the completion
 * (or everything, or the assistant turns).
 */
export function tokenizeSFTRecord(
  tokenizer: Tokenizer,
  record: SFTRecord,
  options: { eosTokenId: number; completionOnlyLoss: boolean; assistantOnlyLoss: boolean; maxLength: number | null },
  where = 'record',
): SFTExample {
  let ids: number[];
  let mask: number[];
  const r = record as Record<string, unknown>;
  if ('prompt' in r && 'completion' in r) {
    let promptIds: number[];
    let fullIds: number[];
    if (isMessages(r.prompt) && isMessages(r.completion)) {
      promptIds = tokenizer.applyChatTemplate(r.prompt, { addGenerationPrompt: true, tokenize: true });
      fullIds = tokenizer.applyChatTemplate([...r.prompt, ...r.completion], { tokenize: true });
      if (fullIds.slice(0, promptIds.length).some((t, i) => t !== promptIds[i])) {
        throw new Error(`${where}: the chat template renders the prompt differently alone and with its completion`);
      }
    } else if (typeof r.prompt === 'string' && typeof r.completion === 'string') {
      promptIds = tokenizer.encode(r.prompt, { addSpecialTokens: false });
      fullIds = [...promptIds, ...tokenizer.encode(r.completion, { addSpecialTokens: false })];
      if (fullIds[fullIds.length - 1] !== options.eosTokenId) fullIds.push(options.eosTokenId);
    } else {
      throw new TypeError(`${where}: prompt and completion must both be strings or both be chat messages`);
    }
    ids = fullIds;
    mask = fullIds.map((_, i) => (!options.completionOnlyLoss || i >= promptIds.length ? 1 : 0));
  } else if ('messages' in r) {
    if (!isMessages(r.messages)) throw new TypeError(`${where}: messages must be a list of { role, content }`);
    const msgs = r.messages;
    ids = tokenizer.applyChatTemplate(msgs, { tokenize: true });
    mask = ids.map(() => 1);
    if (options.assistantOnlyLoss) {
      // An assistant turn's tokens are what its prefix-with-the-turn adds over the prefix alone.
      mask = ids.map(() => 0);
      for (let k = 0; k < msgs.length; k++) {
        if (msgs[k].role !== 'assistant') continue;
        const before = tokenizer.applyChatTemplate(msgs.slice(0, k), { addGenerationPrompt: true, tokenize: true }).length;
        const upTo = tokenizer.applyChatTemplate(msgs.slice(0, k + 1), { tokenize: true }).length;
        for (let i = before; i < Math.min(upTo, ids.length); i++) mask[i] = 1;
      }
    }
  } else if ('text' in r && typeof r.text === 'string') {
    ids = tokenizer.encode(r.text, { addSpecialTokens: false });
    if (ids[ids.length - 1] !== options.eosTokenId) ids.push(options.eosTokenId);
    mask = ids.map(() => 1);
  } else {
    throw new TypeError(`${where}: expected { prompt, completion }, { messages } or { text }`);
  }
  if (options.maxLength !== null && ids.length > options.maxLength) {
    ids = ids.slice(0, options.maxLength);
    mask = mask.slice(0, options.maxLength);
  }
  if (ids.length < 2) throw new Error(`${where}: fewer than two tokens after tokenization`);
  return { ids, lossMask: mask };
}

/** Best-fit-decreasing packing of examples into rows of at most `maxLength` tokens (TRL's "bfd"). */
export function packExamples(examples: readonly SFTExample[], maxLength: number): SFTExample[][] {
  const order = examples.map((e, i) => [e.ids.length, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const bins: { free: number; items: SFTExample[] }[] = [];
  for (const [len, i] of order) {
    let best = -1;
    for (let b = 0; b < bins.length; b++) if (bins[b].free >= len && (best === -1 || bins[b].free < bins[best].free)) best = b;
    if (best === -1) bins.push({ free: maxLength - len, items: [examples[i]] });
    else {
      bins[best].free -= len;
      bins[best].items.push(examples[i]);
    }
  }
  return bins.map((b) => b.items);
}

/** Rows (each one example, or several packed) → padded tensors and masks. */
export function sftBatch(rows: readonly (readonly SFTExample[])[], padTokenId: number): SFTBatch {
  const b = rows.length;
  const lengths = rows.map((r) => r.reduce((n, e) => n + e.ids.length, 0));
  const l = Math.max(...lengths);
  const ids = new Int32Array(b * l).fill(padTokenId);
  const target = new Uint8Array(b * (l - 1));
  const segment = new Int32Array(b * l).fill(-1);
  let packed = false;
  let numTargets = 0;
  rows.forEach((row, i) => {
    let off = 0;
    if (row.length > 1) packed = true;
    row.forEach((e, s) => {
      for (let j = 0; j < e.ids.length; j++) {
        ids[i * l + off + j] = e.ids[j];
        segment[i * l + off + j] = s;
        // Position off + j − 1 predicts token off + j, within the same example only.
        if (j > 0 && e.lossMask[j]) {
          target[i * (l - 1) + off + j - 1] = 1;
          numTargets++;
        }
      }
      off += e.ids.length;
    });
  });
  const padded = lengths.some((n) => n < l);
  let attention: mx.Array | null = null;
  const tokenMask = padded
    ? mx.tidy(() =>
        mx.reshape(
          mx.array(
            Float32Array.from(segment, (v) => (v >= 0 ? 1 : 0)),
            { dtype: 'float32' },
          ),
          [b, l],
        ),
      )
    : null;
  if (packed || padded) {
    attention = mx.tidy(() => {
      const seg = mx.array(segment, { dtype: 'int32' }).reshape([b, l]);
      const same = mx.equal(mx.expandDims(seg, 2), mx.expandDims(seg, 1)); // [b, L, L]
      const causal = mx.greaterEqual(mx.expandDims(mx.arange(l), 1), mx.expandDims(mx.arange(l), 0));
      // Padding (segment −1) queries see each other so their rows stay finite; they are never scored.
      return mx.expandDims(mx.logicalAnd(same, causal), 1);
    });
  }
  const targetRows = new Int32Array(numTargets);
  let k = 0;
  for (let i = 0; i < target.length; i++) if (target[i] === 1) targetRows[k++] = i;
  return {
    inputIds: mx.tidy(() => mx.array(ids, { dtype: 'int32' }).reshape([b, l])),
    attention,
    tokenMask,
    numTargets,
    targetRows,
    tokens: lengths.reduce((a, n) => a + n, 0),
  };
}

/**
 * Next-token log-probabilities, argmax hits and entropies at the counted positions only: the
 * hidden states of the positions whose next token is a target are gathered first, so the output
 * head (the costly full-vocabulary part) runs on those alone, in chunks.
 */
function targetStats(
  model: TrainableModel,
  h: mx.Array,
  batch: SFTBatch,
  chunk = 64,
): { logprobs: mx.Array; correct: mx.Array; entropy: mx.Array } {
  const [b, l] = batch.inputIds.shape;
  const dims = h.shape[2];
  const flatH = mx.reshape(mx.index(h, mx.sl(), mx.sl(0, l - 1)), [b * (l - 1), dims]);
  const flatT = mx.reshape(mx.index(batch.inputIds, mx.sl(), mx.sl(1, l)), [b * (l - 1)]);
  const rows = batch.targetRows;
  const lps: mx.Array[] = [];
  const hits: mx.Array[] = [];
  const ents: mx.Array[] = [];
  for (let s = 0; s < rows.length; s += chunk) {
    const idx = mx.array(rows.subarray(s, Math.min(rows.length, s + chunk)), { dtype: 'int32' });
    const logits = mx.astype(model.logitsFromHidden(mx.take(flatH, idx, 0)), 'float32');
    const tgt = mx.take(flatT, idx, 0);
    const lse = mx.logsumexp(logits, -1, true);
    lps.push(mx.squeeze(mx.subtract(mx.takeAlongAxis(logits, mx.expandDims(tgt, -1), -1), lse), -1));
    const sg = mx.stopGradient(logits);
    const sgLse = mx.stopGradient(lse);
    hits.push(mx.astype(mx.equal(mx.argmax(sg, -1), tgt), 'float32'));
    ents.push(mx.subtract(mx.squeeze(sgLse, -1), mx.sum(mx.multiply(mx.exp(mx.subtract(sg, sgLse)), sg), -1)));
  }
  const cat = (xs: mx.Array[]) => (xs.length === 1 ? xs[0] : mx.concatenate(xs, 0));
  return { logprobs: cat(lps), correct: cat(hits), entropy: cat(ents) };
}

/** The id of `eosToken` (a vocabulary entry, or text that encodes to one token), else the tokenizer's eos. */
function resolveEos(tokenizer: Tokenizer, eosToken: string | null): number | undefined {
  if (eosToken === null) return tokenizer.eos?.id;
  const direct = tokenizer.tokenToId(eosToken);
  if (direct !== undefined) return direct;
  const ids = tokenizer.encode(eosToken, { addSpecialTokens: false });
  if (ids.length !== 1)
    throw new Error(`SFTTrainer: eosToken ${JSON.stringify(eosToken)} is not a single token (it encodes to ${ids.length})`);
  return ids[0];
}

/**
 * @example
 * const sft = new SFTTrainer({ model, trainDataset: [{ prompt: '3+4=', completion: '7' }], config: { maxSteps: 20 } });
 * await sft.train();
 */
export class SFTTrainer extends TrainerCore {
  override readonly model: SFTTrainerOptions['model'];
  readonly config: SFTConfig;
  readonly examples: readonly SFTExample[];
  /** Rows: one example each, or packed groups. */
  readonly rows: readonly (readonly SFTExample[])[];
  /** The router load-balancing loss's settings and weight when it is on (a Qwen3-MoE), else null. */
  readonly routerLoss: ReturnType<typeof resolveRouterLoss>;
  #epoch = 0;
  #batch = 0;

  constructor(options: SFTTrainerOptions) {
    checkOptionKeys(options, ['model', 'trainDataset', 'config', 'onLog', 'progress', 'distributed'], 'SFTTrainer');
    const group = resolveGroup(options.distributed, 'SFTTrainer');
    const config = parseSFTConfig(options.config ?? {});
    const model = options.model;
    const tokenizer = model?.tokenizer;
    if (!tokenizer) throw new TypeError('SFTTrainer: the model needs a tokenizer');
    const data = options.trainDataset;
    if (!Array.isArray(data) || data.length === 0) throw new TypeError('SFTTrainer: trainDataset must be a non-empty array of records');
    const eos = resolveEos(tokenizer, config.eosToken) ?? model.eosTokenIds[0];
    if (eos === undefined) throw new Error('SFTTrainer: the tokenizer has no end-of-sequence token (set eosToken)');
    const hasCompletions = data.every((r) => 'completion' in (r as object));
    const completionOnlyLoss = config.completionOnlyLoss ?? hasCompletions;
    // Tokenized (and so checked) before the model is touched: LoRA layers are attached in place.
    const examples = data.map((r, i) =>
      tokenizeSFTRecord(
        tokenizer,
        r,
        { eosTokenId: eos, completionOnlyLoss, assistantOnlyLoss: config.assistantOnlyLoss, maxLength: config.maxLength },
        `trainDataset[${i}]`,
      ),
    );
    if (config.packing && config.maxLength === null) throw new Error('SFTTrainer: packing needs maxLength');
    const routerLoss = resolveRouterLoss(model, config.routerAuxLossCoef, 'SFTTrainer');
    if (config.lora) addLoRAAdapters(model, config.lora, config.seed);
    super(model, config, 'SFTTrainer', options.onLog, group === null ? null : new DataParallel(group, 'SFTTrainer'));
    this.model = model;
    this.config = config;
    this.routerLoss = routerLoss;
    this.examples = examples;
    this.rows = config.packing && config.maxLength !== null ? packExamples(examples, config.maxLength) : examples.map((e) => [e]);
    this.configureProgress(options.progress);
  }

  /** Micro-batches of the whole job per epoch (the last one may be smaller, as a DataLoader without drop_last). */
  #globalBatchesPerEpoch(): number {
    return Math.ceil(this.rows.length / this.config.perDeviceTrainBatchSize);
  }

  /** This process's micro-batches per epoch: in a job of N ranks, a 1/N share, rounded up. */
  protected microStepsPerEpoch(): number {
    return Math.ceil(this.#globalBatchesPerEpoch() / (this.dataParallel?.size ?? 1));
  }

  /**
   * The next micro-batch of rows in the seeded epoch order. In a job, rank r takes the epoch's
   * micro-batches r, r + N, r + 2N, … (accelerate's sharding of the data loader); when their
   * number is not a multiple of N, the ranks left without one take the epoch's first ones
   * again, so every rank does the same number of steps (accelerate's `even_batches`).
   */
  nextBatch(): SFTBatch {
    const per = this.config.perDeviceTrainBatchSize;
    if (this.#batch >= this.microStepsPerEpoch()) {
      this.#epoch++;
      this.#batch = 0;
    }
    const dp = this.dataParallel;
    const total = this.#globalBatchesPerEpoch();
    const index = dp === null ? this.#batch : (this.#batch * dp.size + dp.rank) % total;
    const order = seededPermutation(this.rows.length, this.config.seed, this.#epoch, this.config.shuffleDataset);
    const pick = order.slice(index * per, (index + 1) * per).map((i) => this.rows[i]);
    this.#batch++;
    return sftBatch(pick, paddingTokenId(this.model));
  }

  /**
   * Loss (summed target negative log-likelihood divided by `numItems`, the targets of the whole
   * accumulation window, as Hugging Face's trainer normalises) and gradients of one micro-batch.
   */
  lossAndGrad(batch: SFTBatch, numItems: number = batch.numTargets): { loss: number; grads: ParamDict; metrics: Record<string, number> } {
    const headLoss = (hidden: mx.Array) => {
      const { logprobs, correct, entropy } = targetStats(this.model, hidden, batch);
      // (numItems is fractional in a job: the job's count over the processes, see `train`.)
      const loss = mx.divide(mx.negative(mx.sum(logprobs)), numItems > 0 ? numItems : 1);
      return [loss, mx.mean(correct), mx.mean(entropy)];
    };
    // Everything but the gradients is freed when the step's graph has been evaluated.
    return mx.tidy(() => {
      const router = this.routerLoss;
      const mask = batch.attention ?? 'causal';
      // TRL: loss + router_aux_loss_coef · aux_loss / gradient_accumulation_steps, over the real tokens.
      const [out, grads] = this.autocast(() =>
        router === null
          ? this.differentiate(batch.inputIds, mask, headLoss)
          : this.differentiateWithRouterLoss(
              batch.inputIds,
              mask,
              batch.tokenMask ?? null,
              { ...router, weight: router.coef / this.config.gradientAccumulationSteps },
              headLoss,
            ),
      );
      mx.eval(out, grads);
      const [loss, acc, ent, aux] = (out as mx.Array[]).map((a) => Number(a.item()));
      return { loss, grads, metrics: { mean_token_accuracy: acc, entropy: ent, ...(router === null ? {} : { aux_loss: aux }) } };
    });
  }

  /** Trains until `maxSteps` (or the epochs) are done, or `signal` aborts (between two steps, like GRPOTrainer's). */
  async train(options: { signal?: AbortSignal } = {}): Promise<{ globalStep: number; trainingLoss: number; skippedSteps: number }> {
    checkOptionKeys(options, ['signal'], 'SFTTrainer.train');
    return this.runLoop(options.signal, async () => {
      const c = this.config;
      const batches: SFTBatch[] = [];
      for (let a = 0; a < c.gradientAccumulationSteps; a++) batches.push(this.nextBatch());
      let numItems = batches.reduce((n, b) => n + b.numTargets, 0);
      let windowTokens = batches.reduce((n, b) => n + b.tokens, 0);
      const dp = this.dataParallel;
      if (dp !== null) {
        // Hugging Face's trainer (average_tokens_across_devices): the loss is normalised by the
        // targets of every rank's window, times the number of ranks (which the gradient average
        // divides out again), so the update is the job-wide mean.
        const [items, tokens] = dp.sum([numItems, windowTokens], `the target counts of step ${this.state.globalStep + 1}`);
        numItems = Math.max(1, items) / dp.size;
        windowTokens = tokens;
      }
      let loss = 0;
      let tokens = 0;
      let finite = true;
      for (const batch of batches) {
        mx.random.seed(deriveSeed(c.seed, this.state.microStep));
        const r = this.lossAndGrad(batch, numItems);
        if (!Number.isFinite(r.loss)) finite = false;
        loss += r.loss;
        tokens += batch.tokens;
        this.metrics.addAll(r.metrics);
        this.accumulate(r.grads);
        this.state.microStep += 1;
        mx.dispose([batch.inputIds, batch.attention, batch.tokenMask ?? null].filter((x): x is mx.Array => x !== null));
      }
      this.state.numInputTokensSeen += windowTokens;
      this.metrics.add('num_tokens', this.state.numInputTokensSeen);
      return { loss, tokens, finite };
    });
  }

  protected override samplerState(): unknown {
    return { epoch: this.#epoch, batch: this.#batch, rows: this.rows.length };
  }

  protected override checkSamplerState(state: unknown): void {
    const s = state as { epoch?: number; batch?: number; rows?: number } | null;
    const position = (v: number | undefined) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (!s || typeof s !== 'object' || !position(s.epoch) || !position(s.batch)) {
      throw new Error('SFTTrainer: the checkpoint has no dataset position (epoch and batch, non-negative integers)');
    }
    if (s.rows !== this.rows.length)
      throw new Error(`SFTTrainer: the checkpoint was taken on ${s.rows} rows, the dataset now has ${this.rows.length}`);
  }

  protected override restoreSampler(state: unknown): void {
    const s = state as { epoch: number; batch: number };
    this.#epoch = s.epoch;
    this.#batch = s.batch;
  }
}
