/**
 * What the trainers need of a model, apart from the training loop: the interface a trainable
 * model implements, the id its padding gets and the router loss it is trained with.
 */
import type * as mx from '@mlxn/core';
import { type RouterLossSettings, routerLossSettings } from '@mlxn/models-qwen3';
import type { Module } from '@mlxn/nn';

/** A model the trainers can differentiate: a Module with hidden states and an output head. */
export interface TrainableModel extends Module {
  hidden(inputs: mx.Array, options?: { mask?: mx.Array | 'causal' | null }): mx.Array;
  logitsFromHidden(h: mx.Array): mx.Array;
  /** Writes a loadable model folder (Qwen3's `save`); without it, `model.safetensors` is written. */
  save?(folder: string): unknown;
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
