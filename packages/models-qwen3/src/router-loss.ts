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
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
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
  if (!Number.isInteger(numExperts) || numExperts < 1) throw new RangeError(`loadBalancingLoss: numExperts must be a positive integer, got ${numExperts}`);
  if (!Number.isInteger(topK) || topK < 1 || topK > numExperts) throw new RangeError(`loadBalancingLoss: topK must be an integer in [1, ${numExperts}], got ${topK}`);
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
      throw new RangeError(`loadBalancingLoss: router logits ${i} must end in numExperts (${numExperts}), got ${layer instanceof mx.Array ? `[${layer.shape}]` : typeof layer}`);
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
export function routerLossSettings(model: { config?: { modelType?: string; numExperts?: number; numExpertsPerTok?: number; raw?: Record<string, unknown> }; modules?(): unknown[] }): RouterLossSettings | null {
  const c = model.config;
  if (c === undefined || c.modelType !== 'qwen3_moe' || !(c.numExperts! > 0)) return null;
  if (typeof model.modules === 'function' && !model.modules().some((m) => m instanceof Qwen3SparseMoeBlock)) return null;
  const raw = c.raw?.router_aux_loss_coef;
  return { numExperts: c.numExperts!, topK: c.numExpertsPerTok!, routerAuxLossCoef: typeof raw === 'number' && Number.isFinite(raw) ? raw : 0.001 };
}
