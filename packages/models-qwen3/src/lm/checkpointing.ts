/**
 * Gradient checkpointing by layer-wise recomputation, built on `mx.vjp` / `mx.valueAndGrad`
 * alone. Differentiating the whole network at once keeps every layer's intermediates (attention
 * scores, the MLP's wide activations, …) alive until the backward pass; here only each decoder
 * layer's input hidden state is kept. The backward pass then walks the layers in reverse and
 * recomputes one layer at a time inside `mx.vjp`, so at most one layer's intermediates exist.
 * The gradients are those of `valueAndGrad(model, …)` over the same loss (same tree, trainable
 * parameters only).
 */

import { type AttentionMask, attentionMask } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { scheduleEval } from '@mlxn/core/internal';
import type { ParamDict } from '@mlxn/nn';
import type { CheckpointableModel, TrainablePart } from './model-interface.js';

/** Whether `model` has the embeddings / layers / norm structure `checkpointedValueAndGrad` walks. */
export function isCheckpointable(model: unknown): model is CheckpointableModel {
  const inner = (model as { model?: { layers?: unknown; embedTokens?: unknown; norm?: unknown } } | null)?.model;
  return (
    inner !== undefined &&
    inner !== null &&
    Array.isArray(inner.layers) &&
    inner.layers.length > 0 &&
    typeof (inner.embedTokens as TrainablePart | undefined)?.trainableParameters === 'function' &&
    typeof (inner.norm as TrainablePart | undefined)?.trainableParameters === 'function' &&
    typeof (model as CheckpointableModel).logitsFromHidden === 'function'
  );
}

export interface CheckpointOptions {
  /** Attention mask for every layer: `'causal'` (default), a boolean/additive array, or none. */
  mask?: 'causal' | mx.Array | null;
}

/** The loss of the head part: the final-normed hidden states `[B, L, hidden]` → loss, or `[loss, ...aux]`. */
export type HeadLoss<R> = (hidden: mx.Array) => R;

/**
 * A head loss in two halves, so the output head runs over a few batch rows at a time in the
 * backward pass as well as the forward: the full-vocabulary intermediates of one chunk of rows
 * exist at a time, where a `HeadLoss` keeps every row's until its gradient is taken (for a
 * 151,936-word vocabulary, 155 MB of float32 logits per 256 positions, several times over).
 * The head is run twice (the loss needs every row's values before any chunk's gradient is
 * known); the gradients are those of `(h) => loss(tokens(h, { start: 0, end: B }))`.
 */
export interface RowwiseHeadLoss<R> {
  /** Per-token values (each `[end − start, …]`) from the final-normed hidden states of rows `start … end − 1`. */
  tokens(hidden: mx.Array, rows: { start: number; end: number }): mx.Array[];
  /** The loss, or `[loss, ...aux]`, of every row's per-token values (`tokens`' outputs, the chunks joined on axis 0). */
  loss(tokens: mx.Array[]): R;
  /** Batch rows per chunk of the head (≥ 1). */
  rowsPerChunk: number;
  /**
   * When the loss depends differentiably on only some of `tokens`' outputs (the others are
   * constants to it: a metric, a mask): their positions among `tokens`' outputs, and a function
   * giving only those, in that order. The backward pass then recomputes only what they need.
   * Default: every output is differentiated.
   */
  differentiated?: { outputs: readonly number[]; tokens(hidden: mx.Array, rows: { start: number; end: number }): mx.Array[] };
}

/** Whether `head` is the two-half form (`RowwiseHeadLoss`) rather than a function. */
export function isRowwiseHeadLoss<R>(head: HeadLoss<R> | RowwiseHeadLoss<R>): head is RowwiseHeadLoss<R> {
  return typeof head === 'object' && head !== null && typeof head.tokens === 'function' && typeof head.loss === 'function';
}

/** A `RowwiseHeadLoss` as one function of the whole batch (for paths that differentiate at once). */
export function wholeHeadLoss<R>(head: HeadLoss<R> | RowwiseHeadLoss<R>): HeadLoss<R> {
  if (!isRowwiseHeadLoss(head)) return head;
  return (hidden) => head.loss(head.tokens(hidden, { start: 0, end: hidden.shape[0] }));
}

/**
 * The gradients of a checkpointed walk, summed by parameter path: a tied embedding gets one from
 * the lookup and one from the head. Each sum is evaluated as it is made, so the parts' gradients
 * can be freed.
 */
export class GradientSum {
  readonly #grads = new Map<string, mx.Array>();

  /** Adds `g`, the gradients of `tree`'s leaves in `treeFlatten` order, under the path `prefix`. */
  add(prefix: string, tree: ParamDict, g: mx.Array[]): void {
    mx.treeFlattenWithPaths(tree, prefix).forEach(([path], i) => {
      const prev = this.#grads.get(path);
      if (prev === undefined) this.#grads.set(path, g[i]);
      else {
        const sum = mx.add(prev, g[i]);
        this.#grads.set(path, sum);
        mx.eval(sum);
        prev.dispose();
        g[i].dispose();
      }
    });
  }

  /**
   * The gradient tree in the order and structure of `model.trainableParameters()`. A trainable
   * parameter the walk did not reach (outside the parts it knows) is an error naming `what`.
   */
  tree(model: { trainableParameters(): ParamDict }, what: string): ParamDict {
    const params = model.trainableParameters();
    const paths = mx.treeFlattenWithPaths(params);
    const missing = paths.filter(([p]) => !this.#grads.has(p)).map(([p]) => p);
    if (missing.length > 0) {
      throw new Error(`${what}: trainable parameters outside the embeddings, layers, norm and head: ${missing.slice(0, 5).join(', ')}`);
    }
    return mx.treeUnflatten(
      params,
      paths.map(([p]) => this.#at(p)),
    ) as ParamDict;
  }

  #at(path: string): mx.Array {
    const g = this.#grads.get(path);
    if (g === undefined) throw new Error(`checkpointed gradients: no gradient reached ${path}`);
    return g;
  }
}

/** The head's trainable parts (final norm, then the tied embedding table or `lmHead`) as one list of leaves. */
export interface HeadParts {
  /** Every part's leaves, in order. */
  leaves: mx.Array[];
  /** Puts `leaves` (one per `HeadParts.leaves`) in place of the parts' parameters, for differentiating w.r.t. them. */
  useLeaves(leaves: mx.Array[]): void;
  /** Puts the parts' own parameters back. */
  restore(): void;
  /** Adds the gradients of `leaves` (one per `HeadParts.leaves`) to `sum`, each under its part's path. */
  addGradients(sum: GradientSum, gLeaves: mx.Array[]): void;
}

/** The `HeadParts` of `model`; `what` names the caller in the error for a model without a head. */
export function headPartsOf(model: CheckpointableModel, what: string): HeadParts {
  const inner = model.model;
  const parts: [string, TrainablePart][] = [['model.norm', inner.norm]];
  if (model.lmHead === undefined) parts.push(['model.embedTokens', inner.embedTokens]);
  else if (model.lmHead) parts.push(['lmHead', model.lmHead]);
  else throw new TypeError(`${what}: the model has neither tied embeddings nor an lmHead`);
  const trees = parts.map(([, p]) => p.trainableParameters());
  const counts = trees.map((t) => mx.treeFlatten(t).length);
  // Each part's slice of a list of leaves (or of their gradients).
  const slices = <T>(list: T[]): T[][] => {
    let off = 0;
    return counts.map((n) => {
      off += n;
      return list.slice(off - n, off);
    });
  };
  return {
    leaves: trees.flatMap((t) => mx.treeFlatten(t)),
    useLeaves: (leaves) => {
      for (const [k, part] of slices(leaves).entries()) parts[k][1].update(mx.treeUnflatten(trees[k], part));
    },
    restore: () => {
      for (const [k, [, p]] of parts.entries()) p.update(trees[k]);
    },
    addGradients: (sum, gLeaves) => {
      for (const [k, part] of slices(gLeaves).entries()) if (part.length > 0) sum.add(parts[k][0], trees[k], part);
    },
  };
}

/**
 * Adds the embedding table's gradient to `sum`: the lookup of `inputs` differentiated with the
 * cotangent `grad` of its output (nothing when the table is frozen).
 */
export function addEmbeddingGradient(model: CheckpointableModel, inputs: mx.Array, grad: mx.Array, sum: GradientSum): void {
  const embed = model.model.embedTokens;
  const tree = embed.trainableParameters();
  const leaves = mx.treeFlatten(tree);
  if (leaves.length === 0) return;
  const vjps = mx.tidy(() => {
    try {
      const [, v] = mx.vjp(
        (...xs: mx.Array[]) => {
          embed.update(mx.treeUnflatten(tree, xs));
          return embed.forward(inputs);
        },
        leaves,
        [grad],
      );
      mx.eval(v);
      return v;
    } finally {
      embed.update(tree);
    }
  });
  sum.add('model.embedTokens', tree, vjps);
}

/** One decoder layer's gradients from its recomputation (`recomputeLayer`). */
export interface LayerGradients {
  /** The layer's trainable parameters, whose leaves `params` are the gradients of. */
  tree: ParamDict;
  /** The gradients of `tree`'s leaves, in `treeFlatten` order. */
  params: mx.Array[];
  /** The gradient of the layer's input. */
  input: mx.Array;
}

/**
 * A decoder layer recomputed from its kept input `x` inside `mx.vjp` (its random key already
 * restored): `forward(x)` with the layer's trainable parameters as inputs, differentiated against
 * `cotangents` (one per output). The layer keeps its own parameters afterwards. The tidy frees
 * the handles of the recomputed intermediates (they would pin this layer's activations until the
 * caller's scope ends, which is what checkpointing avoids); the gradients are not evaluated.
 */
export function recomputeLayer(
  layer: TrainablePart,
  x: mx.Array,
  cotangents: mx.Array[],
  forward: (x: mx.Array) => mx.Array | mx.Array[],
): LayerGradients {
  const tree = layer.trainableParameters();
  const leaves = mx.treeFlatten(tree);
  const vjps = mx.tidy(() => {
    try {
      const [, v] = mx.vjp(
        (...xs: mx.Array[]) => {
          layer.update(mx.treeUnflatten(tree, xs.slice(0, leaves.length)));
          return forward(xs[leaves.length]);
        },
        [...leaves, x],
        cotangents,
      );
      return v;
    } finally {
      layer.update(tree);
    }
  });
  return { tree, params: vjps.slice(0, leaves.length), input: vjps[leaves.length] };
}

/**
 * `[value, grads]` as `valueAndGrad(model, () => headLoss(model.hidden(inputs, { mask })))()`
 * gives them, with only the decoder layers' inputs kept between the forward and backward passes.
 * `grads` has the structure of `model.trainableParameters()`; frozen parameters (LoRA's base
 * weights) get none. Random draws inside the layers (dropout) are replayed exactly when a layer
 * is recomputed.
 *
 * @example
 * const [loss, grads] = checkpointedValueAndGrad(model, (h) => myLoss(h), ids);
 */
export function checkpointedValueAndGrad<R extends mx.Array | mx.Array[]>(
  model: CheckpointableModel,
  headLoss: HeadLoss<R> | RowwiseHeadLoss<R>,
  inputs: mx.Array,
  options: CheckpointOptions = {},
): [R, ParamDict] {
  if (!isCheckpointable(model))
    throw new TypeError('checkpointedValueAndGrad: model must have model.embedTokens, model.layers and model.norm (a Qwen3)');
  if (isRowwiseHeadLoss(headLoss)) {
    const n = headLoss.rowsPerChunk;
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`checkpointedValueAndGrad: headLoss.rowsPerChunk must be a positive integer, got ${n}`);
  } else if (typeof headLoss !== 'function') {
    throw new TypeError('checkpointedValueAndGrad: headLoss must be a function of the hidden states, or { tokens, loss, rowsPerChunk }');
  }
  if (!(inputs instanceof mx.Array) || inputs.ndim !== 2 || !mx.isInteger(inputs.dtype)) {
    throw new TypeError(
      `checkpointedValueAndGrad: inputs must be integer token ids [B, L], got ${inputs instanceof mx.Array ? `${inputs.dtype} [${inputs.shape}]` : typeof inputs}`,
    );
  }
  const inner = model.model;
  const layers = inner.layers;
  const mask: AttentionMask = options.mask !== undefined ? options.mask : attentionMask(inputs.shape[1], 0);
  const grads = new GradientSum();

  // Forward: the layers' inputs only, evaluated and detached (no graph reaches back).
  const random = mx.random;
  // A key that exists now (not created from the clock on first draw) is one that can be replayed.
  random.getRandomState();
  const hidden: mx.Array[] = [mx.stopGradient(inner.embedTokens.forward(inputs))];
  mx.eval(hidden[0]);
  const keys: (mx.Array | null)[] = [];
  const forwardPace = new Pacer();
  for (const layer of layers) {
    keys.push(random.saveRandomState());
    const x = hidden[hidden.length - 1];
    const y = mx.tidy(() => mx.stopGradient(layer.forward(x, mask)));
    forwardPace.schedule([y]);
    hidden.push(y);
  }
  forwardPace.finish();
  const keyAfter = random.saveRandomState();

  // Head: final norm, output head and the loss, differentiated w.r.t. its parameters and its input.
  const headParts = headPartsOf(model, 'checkpointedValueAndGrad');
  const last = hidden[hidden.length - 1];
  const head: HeadStep = {
    last,
    leaves: headParts.leaves,
    norm: (h) => inner.norm.forward(h),
    useLeaves: headParts.useLeaves,
    restoreHead: headParts.restore,
  };
  const [value, cotangent, gLeaves] = isRowwiseHeadLoss(headLoss) ? rowwiseHead(headLoss, head) : wholeHead(headLoss, head);
  headParts.addGradients(grads, gLeaves);
  let grad = cotangent;

  // Backward: each layer recomputed inside vjp from its kept input, with the random key it drew from.
  const backwardPace = new Pacer();
  try {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i];
      random.restoreRandomState(keys[i]);
      const g = recomputeLayer(layer, hidden[i], [grad], (x) => layer.forward(x, mask));
      grad.dispose();
      hidden[i + 1].dispose();
      grad = g.input;
      // The layer's parameter gradients live until the end (the input gradient does not: the
      // next layer disposes it), so they are what the pacer waits on; with none, wait at once.
      if (g.params.length > 0) backwardPace.schedule(g.params, [grad]);
      else mx.eval(grad);
      grads.add(`model.layers.${i}`, g.tree, g.params);
    }
    backwardPace.finish();
  } finally {
    random.restoreRandomState(keyAfter);
  }

  // The embedding table: gradient from the lookup (plus the head's share when tied).
  addEmbeddingGradient(model, inputs, grad, grads);
  grad.dispose();
  hidden[0].dispose();
  if (options.mask === undefined && mask instanceof mx.Array) mask.dispose();

  return [value, grads.tree(model, 'checkpointedValueAndGrad')];
}

/** What differentiating the head needs: its input, its leaves, the final norm, and swapping the leaves in and back. */
interface HeadStep {
  /** The last decoder layer's output `[B, L, hidden]`. */
  last: mx.Array;
  leaves: mx.Array[];
  norm: (h: mx.Array) => mx.Array;
  useLeaves: (leaves: mx.Array[]) => void;
  restoreHead: () => void;
}

/** `[value, gradient w.r.t. the last hidden states, gradients w.r.t. the head's leaves]` of a `HeadLoss`, at once. */
function wholeHead<R extends mx.Array | mx.Array[]>(
  headLoss: HeadLoss<R>,
  { last, leaves, norm, useLeaves, restoreHead }: HeadStep,
): [R, mx.Array, mx.Array[]] {
  return mx.tidy((): [R, mx.Array, mx.Array[]] => {
    try {
      if (leaves.length > 0) {
        const [v, [gh, gl]] = mx.valueAndGrad(
          (h: mx.Array, ls: mx.Array[]) => {
            useLeaves(ls);
            return headLoss(norm(h));
          },
          [0, 1],
        )(last, leaves);
        mx.eval(v, gh, gl);
        return [v, gh, gl];
      }
      const [v, gh] = mx.valueAndGrad((h: mx.Array) => headLoss(norm(h)))(last);
      mx.eval(v, gh);
      return [v, gh, []];
    } finally {
      restoreHead();
    }
  });
}

/**
 * The same for a `RowwiseHeadLoss`: the per-token values chunk by chunk (no graph kept), the
 * loss and its gradient w.r.t. them, then each chunk's head again inside `vjp` with its rows of
 * that gradient. The head leaves' gradients are summed over the chunks in float32 and cast back
 * once, so the chunking does not round them more than one matmul would.
 */
function rowwiseHead<R extends mx.Array | mx.Array[]>(
  head: RowwiseHeadLoss<R>,
  { last, leaves, norm, useLeaves, restoreHead }: HeadStep,
): [R, mx.Array, mx.Array[]] {
  const b = last.shape[0];
  const chunks: { start: number; end: number }[] = [];
  for (let start = 0; start < b; start += head.rowsPerChunk) chunks.push({ start, end: Math.min(b, start + head.rowsPerChunk) });
  const rowsOf = (a: mx.Array, r: { start: number; end: number }) => (chunks.length === 1 ? a : a.index(mx.sl(r.start, r.end)));
  const join = (xs: mx.Array[]) => (xs.length === 1 ? xs[0] : mx.concatenate(xs, 0));

  // Each chunk is evaluated before the next is built: MLX would otherwise schedule every chunk's
  // head before the reductions that consume them, and all their logits would coexist.
  const perChunk = chunks.map((r) => {
    const t = mx.tidy(() => head.tokens(mx.stopGradient(norm(rowsOf(last, r))), r).map((x) => mx.stopGradient(x)));
    mx.eval(t);
    return t;
  });
  const count = perChunk[0].length;
  const outputs = head.differentiated?.outputs ?? perChunk[0].map((_, i) => i);
  if (new Set(outputs).size !== outputs.length || !outputs.every((i) => Number.isInteger(i) && i >= 0 && i < count)) {
    mx.dispose(perChunk);
    throw new RangeError(
      `checkpointedValueAndGrad: headLoss.differentiated.outputs must be distinct positions among the ${count} outputs of tokens, got [${outputs}]`,
    );
  }
  const gradTokens = head.differentiated?.tokens ?? head.tokens;
  const [value, gTokens] = mx.tidy((): [R, mx.Array[]] => {
    const tokens = perChunk[0].map((_, i) => join(perChunk.map((p) => p[i])));
    // The loss as a function of the differentiated outputs alone (the others held fixed).
    const lossOf = (ds: mx.Array[]) => head.loss(tokens.map((t, i) => (outputs.includes(i) ? ds[outputs.indexOf(i)] : t)));
    const [v, g] = mx.valueAndGrad(lossOf)(outputs.map((i) => tokens[i]));
    mx.eval(v, g);
    return [v, g as mx.Array[]];
  });
  mx.dispose(perChunk);

  const gHidden: mx.Array[] = [];
  let gSums: mx.Array[] | null = null;
  try {
    for (const r of chunks) {
      const [gh, sums] = mx.tidy((): [mx.Array, mx.Array[]] => {
        try {
          const [, v] = mx.vjp(
            (h: mx.Array, ...ls: mx.Array[]) => {
              useLeaves(ls);
              const out = gradTokens(norm(h), r);
              if (out.length !== outputs.length)
                throw new Error(
                  `checkpointedValueAndGrad: headLoss.differentiated.tokens gave ${out.length} arrays for ${outputs.length} outputs`,
                );
              return out;
            },
            [rowsOf(last, r), ...leaves],
            gTokens.map((g) => rowsOf(g, r)),
          );
          const next = v.slice(1).map((g, i) => (gSums === null ? mx.astype(g, 'float32') : mx.add(gSums[i], mx.astype(g, 'float32'))));
          mx.eval(v[0], next);
          return [v[0], next];
        } finally {
          restoreHead();
        }
      });
      if (gSums !== null) mx.dispose(gSums);
      gSums = sums;
      gHidden.push(gh);
    }
  } finally {
    mx.dispose(gTokens);
  }
  const cotangent = join(gHidden);
  if (gHidden.length > 1) mx.dispose(gHidden);
  const gLeaves = (gSums ?? []).map((g, i) => (g.dtype === leaves[i].dtype ? g : mx.astype(g, leaves[i].dtype)));
  mx.eval(cotangent, gLeaves);
  if (gSums !== null) for (const [i, g] of gSums.entries()) if (g !== gLeaves[i]) g.dispose();
  return [value, cotangent, gLeaves];
}

/**
 * Layers in flight beyond the one just scheduled (`MLXN_CHECKPOINT_PACE`, default 2; 0 waits for
 * each layer as it is scheduled): for measuring the time a deeper pace saves against the memory
 * its in-flight layers hold.
 */
const PACE_DEPTH = paceDepth(process.env.MLXN_CHECKPOINT_PACE);

function paceDepth(value: string | undefined): number {
  if (value === undefined || value === '') return 2;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new RangeError(`MLXN_CHECKPOINT_PACE must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * Evaluation paced a few layers deep, where a loop over layers used to evaluate each at once:
 * each layer's arrays are scheduled as soon as they are built, and the layer scheduled two before
 * is waited for. The device computes one layer while this thread builds the next, and only a few
 * layers' kernels are in flight (MLX's GPU back ends keep every kernel's inputs alive until its
 * batch of kernels completes, so an unpaced loop would keep every layer's intermediates).
 */
class Pacer {
  readonly #waiting: mx.Array[][] = [];

  /** Schedules `wait` and `alsoSchedule` (the latter may be disposed before this waits); waits for the step two back. */
  schedule(wait: mx.Array[], alsoSchedule: mx.Array[] = []): void {
    scheduleEval([...wait, ...alsoSchedule], false);
    this.#waiting.push(wait);
    if (this.#waiting.length > PACE_DEPTH) mx.eval(this.#waiting.shift() ?? []);
  }

  /** Waits for everything scheduled. */
  finish(): void {
    for (const w of this.#waiting.splice(0)) mx.eval(w);
  }
}
