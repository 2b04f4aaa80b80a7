/**
 * Qwen3-MoE's router load-balancing loss, as transformers 5.17 computes it
 * (`load_balancing_loss_func` of `modeling_qwen3_moe` / `modeling_mixtral`, Switch Transformer
 * eqs. 4–6): over every sparse layer's router logits, the fraction of top-k assignments each
 * expert receives times its mean routing probability, summed and multiplied by the number of
 * experts. Padding (attention mask 0) is left out of both means. The top-k choice is not
 * differentiated; the routing probabilities are.
 *
 * The router logits are collected with `withRouterLogits`, which switches the MoE blocks'
 * collection on for one call only: a forward without it does no extra work.
 */

import { type AttentionMask, attentionMask } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import type { ParamDict } from '@mlxn/nn';
import { addEmbeddingGradient, GradientSum, headPartsOf, isCheckpointable, recomputeLayer } from './lm/checkpointing.js';
import type { CheckpointableModel, TrainablePart } from './lm/model-interface.js';
import { Qwen3SparseMoeBlock } from './moe.js';

export interface LoadBalancingLossOptions {
  /** Experts per sparse layer (`num_experts`). */
  numExperts: number;
  /** Experts each token is routed to (`num_experts_per_tok`). */
  topK: number;
  /** `[B, L]`, 1 on real tokens and 0 on padding; each layer's logits must have `B · L` rows. Omitted: every row counts. */
  attentionMask?: mx.Array | null;
}

/**
 * The load-balancing loss of a list of router logits (one `[B · L, numExperts]` or
 * `[B, L, numExperts]` array per sparse layer), a float32 scalar. An empty list gives 0, as in
 * transformers.
 *
 * @example
 * const { value: logits, routerLogits } = withRouterLogits(model, () => model.forward(ids));
 * const aux = loadBalancingLoss(routerLogits, { numExperts: 8, topK: 2 });
 */
export function loadBalancingLoss(gateLogits: readonly mx.Array[], options: LoadBalancingLossOptions): mx.Array {
  checkOptionKeys(options, ['numExperts', 'topK', 'attentionMask'], 'loadBalancingLoss');
  const { numExperts, topK } = options;
  if (!Number.isInteger(numExperts) || numExperts < 1)
    throw new RangeError(`loadBalancingLoss: numExperts must be a positive integer, got ${numExperts}`);
  if (!Number.isInteger(topK) || topK < 1 || topK > numExperts)
    throw new RangeError(`loadBalancingLoss: topK must be an integer in [1, ${numExperts}], got ${topK}`);
  if (!Array.isArray(gateLogits)) throw new TypeError('loadBalancingLoss: gateLogits must be a list of arrays (one per sparse layer)');
  if (gateLogits.length === 0) return mx.array(0, 'float32');
  const mask = options.attentionMask ?? null;
  const flatMask = mask === null ? null : mx.reshape(mx.astype(mask, 'float32'), [-1, 1]);
  const experts = mx.arange(0, numExperts, 1, { dtype: 'int32' });
  let tokensPerExpert: mx.Array | number = 0;
  let probPerExpert: mx.Array | number = 0;
  let totalRows: mx.Array | number = 0;
  gateLogits.forEach((layer, i) => {
    if (!(layer instanceof mx.Array) || layer.shape[layer.ndim - 1] !== numExperts) {
      throw new RangeError(
        `loadBalancingLoss: router logits ${i} must end in numExperts (${numExperts}), got ${layer instanceof mx.Array ? `[${layer.shape}]` : typeof layer}`,
      );
    }
    const logits = mx.reshape(layer, [-1, numExperts]);
    const rows = logits.shape[0];
    if (flatMask !== null && flatMask.shape[0] !== rows) {
      throw new RangeError(`loadBalancingLoss: router logits ${i} have ${rows} rows but attentionMask has ${flatMask.shape[0]} entries`);
    }
    const probs = mx.softmax(mx.astype(logits, 'float32'), -1, { precise: true });
    // torch.topk's experts; the choice carries no gradient (one_hot / bincount in transformers).
    const selected = mx.stopGradient(mx.argpartition(probs, numExperts - topK, -1).index('...', mx.sl(numExperts - topK, null)));
    let assigned = mx.sum(mx.astype(mx.equal(mx.expandDims(selected, -1), experts), 'float32'), 1); // [rows, E]
    let weighted = probs;
    if (flatMask !== null) {
      assigned = mx.multiply(assigned, flatMask);
      weighted = mx.multiply(probs, flatMask);
    }
    tokensPerExpert = mx.add(tokensPerExpert, mx.sum(assigned, 0));
    probPerExpert = mx.add(probPerExpert, mx.sum(weighted, 0));
    totalRows = mx.add(totalRows, flatMask === null ? rows : mx.sum(flatMask));
  });
  const t = mx.divide(tokensPerExpert, totalRows);
  const p = mx.divide(probPerExpert, totalRows);
  return mx.multiply(mx.sum(mx.multiply(t, p)), numExperts);
}

/**
 * Runs `fn` (synchronous) with the router logits of every Qwen3-MoE block of `model` collected,
 * in the order the blocks ran (layer order for one forward). transformers' `output_router_logits`.
 *
 * @example
 * const { value: logits, routerLogits } = withRouterLogits(model, () => model.forward(ids));
 */
export function withRouterLogits<T>(model: { modules(): unknown[] }, fn: () => T): { value: T; routerLogits: mx.Array[] } {
  if (typeof fn !== 'function') throw new TypeError('withRouterLogits: fn must be a function');
  const blocks = model.modules().filter((m): m is Qwen3SparseMoeBlock => m instanceof Qwen3SparseMoeBlock);
  const sink: mx.Array[] = [];
  const before = blocks.map((b) => b._routerLogits);
  for (const b of blocks) b._routerLogits = sink;
  try {
    const value = fn();
    if (value instanceof Promise) throw new TypeError('withRouterLogits: fn must be synchronous (it returned a Promise)');
    return { value, routerLogits: sink };
  } finally {
    blocks.forEach((b, i) => {
      b._routerLogits = before[i];
    });
  }
}

/** What the router loss needs from a model's config, or null for a model without MoE layers. */
export interface RouterLossSettings {
  numExperts: number;
  topK: number;
  /** config.json's `router_aux_loss_coef`, or transformers' Qwen3-MoE default 0.001. */
  routerAuxLossCoef: number;
}

/**
 * The router-loss settings of a Qwen3-MoE model (null for a dense Qwen3, which has no router).
 *
 * @example
 * const s = routerLossSettings(model); // { numExperts: 4, topK: 2, routerAuxLossCoef: 0.001 }
 */
export function routerLossSettings(model: {
  config?: { modelType?: string; numExperts?: number; numExpertsPerTok?: number; raw?: Record<string, unknown> };
  modules?(): unknown[];
}): RouterLossSettings | null {
  const c = model.config;
  const numExperts = c?.numExperts;
  if (c === undefined || c.modelType !== 'qwen3_moe' || numExperts === undefined || !(numExperts > 0)) return null;
  if (typeof model.modules === 'function' && !model.modules().some((m) => m instanceof Qwen3SparseMoeBlock)) return null;
  const raw = c.raw?.router_aux_loss_coef;
  return {
    numExperts,
    topK: c.numExpertsPerTok ?? 0,
    routerAuxLossCoef: typeof raw === 'number' && Number.isFinite(raw) ? raw : 0.001,
  };
}

/** A decoder layer as the checkpointed walk sees it. */
interface LayerPart extends TrainablePart {
  forward(x: mx.Array, mask: AttentionMask): mx.Array;
  modules(): unknown[];
}

export interface RouterLossCheckpointOptions {
  /** Attention mask for every layer (as `checkpointedValueAndGrad`'s). */
  mask?: 'causal' | mx.Array | null;
  /** `[B, L]`: the tokens the router loss counts (1) or leaves out (0); every token when null. */
  tokenMask?: mx.Array | null;
  numExperts: number;
  topK: number;
  /** The router loss's weight in the differentiated value. */
  weight: number;
}

/**
 * `checkpointedValueAndGrad` with the router load-balancing loss: the value is
 * `[headLoss's first + weight · aux, ...headLoss's rest, aux]`, and the gradients are those of
 * `valueAndGrad` over the same value, with only the decoder layers' inputs kept between the
 * forward and backward passes.
 *
 * It works because the loss is linear in each layer's routing probabilities once the top-k
 * choices (which are not differentiated) are known: the forward pass counts every layer's
 * assignments, and each layer's share, `numExperts / total² · Σ_e count_e · Σ_t mask_t · p_t,e`,
 * is then differentiated when that layer is recomputed in the backward pass, as a second output
 * of the layer with cotangent `weight`.
 *
 * @example
 * const [[loss, aux], grads] = checkpointedValueAndGradWithRouterLoss(model, (h) => [myLoss(h)], ids, { numExperts: 8, topK: 2, weight: 0.001 });
 */
export function checkpointedValueAndGradWithRouterLoss(
  model: CheckpointableModel,
  headLoss: (hidden: mx.Array) => mx.Array[],
  inputs: mx.Array,
  options: RouterLossCheckpointOptions,
): [mx.Array[], ParamDict] {
  checkOptionKeys(options, ['mask', 'tokenMask', 'numExperts', 'topK', 'weight'], 'checkpointedValueAndGradWithRouterLoss');
  if (!isCheckpointable(model))
    throw new TypeError('checkpointedValueAndGradWithRouterLoss: model must have model.embedTokens, model.layers and model.norm (a Qwen3)');
  if (!(inputs instanceof mx.Array) || inputs.ndim !== 2 || !mx.isInteger(inputs.dtype))
    throw new TypeError('checkpointedValueAndGradWithRouterLoss: inputs must be integer token ids [B, L]');
  const { numExperts, topK, weight } = options;
  if (!Number.isFinite(weight))
    throw new RangeError(`checkpointedValueAndGradWithRouterLoss: weight must be a finite number, got ${weight}`);
  const inner = model.model;
  const layers = inner.layers as unknown as readonly LayerPart[];
  const mask: AttentionMask = options.mask !== undefined ? options.mask : attentionMask(inputs.shape[1], 0);
  const flatMask = options.tokenMask ? mx.reshape(mx.astype(options.tokenMask, 'float32'), [-1, 1]) : null;
  const experts = mx.arange(0, numExperts, 1, { dtype: 'int32' });
  const grads = new GradientSum();
  const probsOf = (logits: mx.Array) => mx.softmax(mx.astype(mx.reshape(logits, [-1, numExperts]), 'float32'), -1, { precise: true });
  const masked = (x: mx.Array) => (flatMask === null ? x : mx.multiply(x, flatMask));
  const blocksOf = (layer: LayerPart) => layer.modules().filter((m): m is Qwen3SparseMoeBlock => m instanceof Qwen3SparseMoeBlock);
  /** Runs `fn` with the router logits of `layer`'s MoE blocks collected. */
  const collecting = <T>(layer: LayerPart, fn: () => T): [T, mx.Array[]] => {
    const { value, routerLogits } = withRouterLogits({ modules: () => blocksOf(layer) }, fn);
    return [value, routerLogits];
  };

  // Forward: the layers' inputs, evaluated and detached, and each expert's masked top-k count.
  const random = mx.random;
  random.getRandomState();
  const hidden: mx.Array[] = [mx.stopGradient(inner.embedTokens.forward(inputs))];
  mx.eval(hidden[0]);
  const keys: (mx.Array | null)[] = [];
  let counts = mx.zeros([numExperts], 'float32');
  let probSum = mx.zeros([numExperts], 'float32');
  let total = mx.array(0, 'float32');
  for (const layer of layers) {
    keys.push(random.saveRandomState());
    const x = hidden[hidden.length - 1];
    const [y, logits] = collecting(layer, () => mx.tidy(() => mx.stopGradient(layer.forward(x, mask))));
    if (logits.length === 0) {
      // A dense layer (mlp_only_layers): no router.
      mx.eval(y);
      hidden.push(y);
      continue;
    }
    const next = mx.tidy(() => {
      let [c, p, t] = [counts, probSum, total];
      for (const l of logits) {
        const probs = mx.stopGradient(probsOf(l));
        const selected = mx.argpartition(probs, numExperts - topK, -1).index('...', mx.sl(numExperts - topK, null));
        c = mx.add(c, mx.sum(masked(mx.sum(mx.astype(mx.equal(mx.expandDims(selected, -1), experts), 'float32'), 1)), 0));
        p = mx.add(p, mx.sum(masked(probs), 0));
        t = mx.add(t, flatMask === null ? probs.shape[0] : mx.sum(flatMask));
      }
      return [c, p, t] as const;
    });
    mx.eval(y, ...next);
    mx.dispose([counts, probSum, total, ...logits]);
    [counts, probSum, total] = next;
    hidden.push(y);
  }
  const keyAfter = random.saveRandomState();
  // aux = E · Σ_e (count_e / total) · (probSum_e / total); each layer's share is linear in its probabilities.
  const aux = mx.multiply(mx.sum(mx.multiply(mx.divide(counts, total), mx.divide(probSum, total))), numExperts);
  const perProb = mx.divide(mx.multiply(counts, numExperts), mx.square(total)); // ∂aux/∂(Σ_t mask_t p_t,e) of any layer
  mx.eval(aux, perProb);
  mx.dispose([counts, probSum, total]);

  // Head: final norm, output head and the loss, differentiated w.r.t. its parameters and its input.
  const headParts = headPartsOf(model, 'checkpointedValueAndGradWithRouterLoss');
  const last = hidden[hidden.length - 1];
  const [value, cotangent, gLeaves] = mx.tidy((): [mx.Array[], mx.Array, mx.Array[]] => {
    try {
      const fn = (h: mx.Array, leaves: mx.Array[]) => {
        headParts.useLeaves(leaves);
        const out = headLoss(inner.norm.forward(h));
        if (!Array.isArray(out) || out.length === 0)
          throw new TypeError('checkpointedValueAndGradWithRouterLoss: headLoss must return a non-empty list of arrays');
        return out;
      };
      if (headParts.leaves.length === 0) {
        // A frozen head (LoRA): differentiate w.r.t. the hidden states only.
        const [v, gh] = mx.valueAndGrad((h: mx.Array) => fn(h, []))(last) as unknown as [mx.Array[], mx.Array];
        mx.eval(v, gh);
        return [v, gh, []];
      }
      const [v, [gh, gl]] = mx.valueAndGrad(fn, [0, 1])(last, headParts.leaves) as unknown as [mx.Array[], [mx.Array, mx.Array[]]];
      mx.eval(v, gh, gl);
      return [v, gh, gl];
    } finally {
      headParts.restore();
    }
  });
  headParts.addGradients(grads, gLeaves);
  let grad = cotangent;

  // Backward: each layer recomputed inside vjp; a MoE layer also outputs its share of the loss.
  const auxCotangent = mx.array(weight, 'float32');
  try {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i];
      const moe = blocksOf(layer).length > 0;
      random.restoreRandomState(keys[i]);
      const g = recomputeLayer(layer, hidden[i], moe ? [grad, auxCotangent] : [grad], (x) => {
        if (!moe) return layer.forward(x, mask);
        const [out, logits] = collecting(layer, () => layer.forward(x, mask));
        let share: mx.Array | number = 0;
        for (const l of logits) share = mx.add(share, mx.sum(mx.multiply(mx.sum(masked(probsOf(l)), 0), perProb)));
        mx.dispose(logits);
        return [out, share as mx.Array];
      });
      mx.eval(g.params, g.input);
      grad.dispose();
      hidden[i + 1].dispose();
      grad = g.input;
      grads.add(`model.layers.${i}`, g.tree, g.params);
    }
  } finally {
    random.restoreRandomState(keyAfter);
  }

  // The embedding table: gradient from the lookup (plus the head's share when tied).
  addEmbeddingGradient(model, inputs, grad, grads);
  grad.dispose();
  hidden[0].dispose();
  mx.dispose([auxCotangent, perProb, experts]);
  if (flatMask !== null) flatMask.dispose();
  if (options.mask === undefined && mask instanceof mx.Array) mask.dispose();

  const gradTree = grads.tree(model, 'checkpointedValueAndGradWithRouterLoss');
  const [first, ...rest] = value;
  return [[mx.add(first, mx.multiply(aux, weight)), ...rest, aux], gradTree];
}
