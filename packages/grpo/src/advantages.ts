// Group-relative advantages (TRL 1.16's reward aggregation and scale_rewards), computed in Rust
// (crates/mlxn-grpo/src/advantages.rs) on the reward table the reward runner produces.
import { checkOptionKeys, native } from '@mlxn/core/internal';
import type { MultiObjectiveAggregation, ScaleRewards } from './config.js';

export interface AdvantageOptions {
  /** Per completion, one entry per reward function; `null` = "does not apply" (TRL's None). */
  rewardsPerFunc: readonly (readonly (number | null)[])[];
  /** Names for the per-function metrics, in column order. */
  rewardFuncNames: readonly string[];
  /** One weight per function; null/omitted → all 1 (TRL's default). */
  rewardWeights?: readonly number[] | null;
  numGenerations: number;
  scaleRewards?: ScaleRewards;
  multiObjectiveAggregation?: MultiObjectiveAggregation;
}

export interface AdvantageResult {
  /** One per completion, in order; 0 for unscorable completions. */
  advantages: number[];
  /** The weighted reward per completion; null for unscorable ones (every function returned null). */
  rewards: (number | null)[];
  /** Indices of the completions no reward function scored (TRL warns about these). */
  unscorableRows: number[];
  /** TRL's metric names: `rewards/<name>/mean`, `rewards/<name>/std`, `reward`, `reward_std`, `frac_reward_zero_std`. NaN where TRL's would be NaN. */
  metrics: Record<string, number>;
}

/**
 * Advantages for one generation batch (completions grouped by prompt, numGenerations each).
 * @example
 * computeAdvantages({ rewardsPerFunc: [[1], [0], [1], [1]], rewardFuncNames: ['acc'], numGenerations: 2 }).advantages;
 */
export function computeAdvantages(options: AdvantageOptions): AdvantageResult {
  checkOptionKeys(
    options,
    ['rewardsPerFunc', 'rewardFuncNames', 'rewardWeights', 'numGenerations', 'scaleRewards', 'multiObjectiveAggregation'],
    'computeAdvantages',
  );
  const { rewardsPerFunc, rewardFuncNames, numGenerations } = options;
  const k = rewardFuncNames.length;
  if (k === 0) throw new RangeError('computeAdvantages: at least one reward function is needed');
  if (!Number.isInteger(numGenerations) || numGenerations < 1) {
    throw new RangeError(`computeAdvantages: numGenerations must be a positive integer, got ${numGenerations}`);
  }
  const weights = options.rewardWeights ?? new Array<number>(k).fill(1);
  const flat: number[] = [];
  rewardsPerFunc.forEach((row, i) => {
    if (row.length !== k) {
      throw new RangeError(`computeAdvantages: completion ${i} has ${row.length} rewards for ${k} reward functions`);
    }
    for (const r of row) flat.push(r === null ? NaN : r);
  });
  const a = native.grpoAdvantages(
    flat,
    k,
    [...weights],
    numGenerations,
    options.scaleRewards ?? 'group',
    options.multiObjectiveAggregation ?? 'sum_then_normalize',
  );
  const metrics: Record<string, number> = {};
  rewardFuncNames.forEach((name, f) => {
    metrics[`rewards/${name}/mean`] = a.functionMean[f];
    metrics[`rewards/${name}/std`] = a.functionStd[f];
  });
  metrics.reward = a.rewardMean;
  metrics.reward_std = a.rewardStd;
  metrics.frac_reward_zero_std = a.fracRewardZeroStd;
  return {
    advantages: a.advantages,
    rewards: a.rewards.map((r) => (Number.isNaN(r) ? null : r)),
    unscorableRows: a.unscorableRows,
    metrics,
  };
}
