import { describe, expect, it } from 'vitest';
import { computeAdvantages } from '../src/index.js';
import { expectClose, golden } from './golden.js';

// Rust computes in float64 like the numpy reference: agreement to rounding.
const RTOL = 1e-12;
const ATOL = 1e-12;
const adv = golden.advantages;
const names = ['f0', 'f1', 'f2'];

describe('computeAdvantages against TRL 1.16 golden values', () => {
  for (const c of adv.cases) {
    it(`${c.aggregation} / scaleRewards ${c.scaleRewards}`, () => {
      const r = computeAdvantages({
        rewardsPerFunc: adv.rewardsPerFunc,
        rewardFuncNames: names,
        rewardWeights: adv.rewardWeights,
        numGenerations: adv.numGenerations,
        scaleRewards: c.scaleRewards,
        multiObjectiveAggregation: c.aggregation,
      });
      expectClose(r.advantages, c.advantages, RTOL, ATOL, 'advantages');
      names.forEach((n, f) => {
        expectClose(r.metrics[`rewards/${n}/mean`], c.metrics.perFunction[f].mean ?? NaN, RTOL, ATOL, `${n} mean`);
        expectClose(r.metrics[`rewards/${n}/std`], c.metrics.perFunction[f].std ?? NaN, RTOL, ATOL, `${n} std`);
      });
      expectClose(r.metrics.reward, c.metrics.reward, RTOL, ATOL, 'reward');
      expectClose(r.metrics.reward_std, c.metrics.rewardStd, RTOL, ATOL, 'reward_std');
      expectClose(r.metrics.frac_reward_zero_std, c.metrics.fracRewardZeroStd, RTOL, ATOL, 'frac_reward_zero_std');
      expect(r.unscorableRows).toEqual([8]);
      expect(r.rewards[8]).toBeNull();
      expect(r.advantages[8]).toBe(0);
    });
  }

  it('the scaling modes give different answers on this batch (the cases are not vacuous)', () => {
    const [group, batch, none] = adv.cases;
    expect(group.advantages).not.toEqual(batch.advantages);
    expect(group.advantages).not.toEqual(none.advantages);
  });

  it('defaults to weight 1, group scaling and sum_then_normalize', () => {
    const r = computeAdvantages({ rewardsPerFunc: [[1], [0], [2], [2]], rewardFuncNames: ['a'], numGenerations: 2 });
    const s = Math.SQRT1_2; // std of {1, 0} with Bessel's correction
    expectClose(r.advantages, [0.5 / (s + 1e-4), -0.5 / (s + 1e-4), 0, 0], 1e-12, 1e-12, 'advantages');
    expect(r.metrics.frac_reward_zero_std).toBe(0.5);
  });

  it('rejects bad tables with clear messages', () => {
    expect(() => computeAdvantages({ rewardsPerFunc: [[1], [0], [1]], rewardFuncNames: ['a'], numGenerations: 2 })).toThrow(
      /do not form whole groups of numGenerations = 2/,
    );
    expect(() => computeAdvantages({ rewardsPerFunc: [[1, 2], [0]], rewardFuncNames: ['a', 'b'], numGenerations: 2 })).toThrow(
      /completion 1 has 1 rewards for 2/,
    );
    expect(() =>
      computeAdvantages({ rewardsPerFunc: [[1], [0]], rewardFuncNames: ['a'], rewardWeights: [1, 2], numGenerations: 2 }),
    ).toThrow(/2 reward weights for 1/);
    expect(() =>
      computeAdvantages({ rewardsPerFunc: [[1], [0]], rewardFuncNames: ['a'], numGenerations: 2, scaleRewards: 'x' as never }),
    ).toThrow(/scaleRewards must be group, batch or none/);
  });
});
