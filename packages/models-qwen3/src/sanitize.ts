/**
 * Every checkpoint quirk in one place: the key plan comes from the Rust planner
 * (`mlxn-qwen3::checkpoint_keys`: drop rotary buffers and a tied `lm_head`, stack per-expert MoE
 * weights, report every missing / unexpected / mis-shaped weight at once); this file applies it.
 * The plan is the load's one check of names and shapes: what `sanitize` returns goes into the
 * model with `assignCheckedWeights`, not checked again by `loadWeights`.
 */
import * as mx from '@mlxn/core';
import { native } from '@mlxn/core/internal';
import type { Module } from '@mlxn/nn';

/** What the model needs to know to plan: tied embeddings and the expert count. */
export interface SanitizeTarget {
  tieWordEmbeddings: boolean;
  numExperts: number;
}

/**
 * Turns checkpoint tensors into exactly the parameters `model` has (by checkpoint key), or
 * throws one error listing everything wrong. Takes ownership of the given arrays: dropped and
 * stacked sources are released (the input record itself is not modified).
 */
export function sanitize(model: Module, weights: Record<string, mx.Array>, target: SanitizeTarget): Record<string, mx.Array> {
  const expected = model.namedParameters().map(([name, a]) => ({ name, shape: a.shape }));
  const given = Object.entries(weights).map(([name, a]) => ({ name, shape: a.shape }));
  const plan = native.qwen3PlanCheckpoint(expected, given, target.tieWordEmbeddings, target.numExperts);
  if (!plan.ok) throw new Error(plan.message);
  const out: Record<string, mx.Array> = { ...weights };
  for (const name of plan.drop) {
    out[name].dispose();
    delete out[name];
  }
  for (const { target: name, sources } of plan.stack) {
    const parts = sources.map((s) => out[s]);
    out[name] = mx.stack(parts, 0);
    for (const s of sources) {
      out[s].dispose();
      delete out[s];
    }
  }
  return out;
}
