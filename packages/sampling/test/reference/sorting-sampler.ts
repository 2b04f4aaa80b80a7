// mlx-lm's make_sampler over a batch of rows, built from the full-sort filters of
// sorting-filters.ts applied one after the other: the reference that the partial-selection
// sampler must match draw for draw (js-draws.test.ts). The options are checked by the production
// planSampler, so both samplers read them the same way.

import { checkTokenIds, checkTopK, planSampler, type SamplerOptions } from '../../src/options.js';
import { categorical, minP, topK, topP, xtc } from './sorting-filters.js';

/** The index of the first largest entry (temperature 0). */
const argmax = (row: Float32Array): number => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

/**
 * Top-p, min-p, XTC, top-k (mlx-lm's order), then a categorical draw per row; every uniform number
 * comes from `random`: XTC's coin first (one per call, shared by the batch), then a draw per row.
 */
export function makeSortingSampler(options: SamplerOptions, random: () => number): (rows: readonly Float32Array[]) => number[] {
  const plan = planSampler(options);
  return (rows) => {
    if (plan.temperature === 0) return rows.map(argmax);
    const vocab = rows[0].length;
    if (plan.topK !== null) checkTopK(plan.topK, vocab);
    if (plan.xtc !== null) checkTokenIds(plan.xtc.specialTokens, vocab, 'xtcSpecialTokens');
    let filtered = rows.map((row) => {
      let x = row;
      if (plan.topP !== null) x = topP(x, plan.topP);
      if (plan.minP !== null) x = minP(x, plan.minP, plan.minTokensToKeep);
      return x;
    });
    const { xtc: xtcPlan, topK: k } = plan;
    if (xtcPlan !== null && random() <= xtcPlan.probability)
      filtered = filtered.map((x) => xtc(x, xtcPlan.threshold, xtcPlan.specialTokens));
    if (k !== null) filtered = filtered.map((x) => topK(x, k));
    return filtered.map((x) => categorical(x, plan.temperature, random));
  };
}
