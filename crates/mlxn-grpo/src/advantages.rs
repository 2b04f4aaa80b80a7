//! Group-relative advantages from per-completion rewards, with TRL 1.16's semantics.
//!
//! Rewards arrive as a row-major `[completions, functions]` table where NaN means "this reward
//! function does not apply to this completion" (a JS `null`). Completions are laid out in groups
//! of `num_generations` consecutive rows, one group per prompt.
//!
//! - `sum_then_normalize` (TRL's default): the weighted rewards are summed with NaN skipped
//!   (nansum); a row where every function is NaN is "unscorable" and stays NaN, so it is left out
//!   of its group's mean and std; the advantage is `reward − group mean`, divided by
//!   `std + 1e-4` where std is the group's (`scale = group`) or the whole batch's (`batch`)
//!   Bessel-corrected std, or not divided (`none`).
//! - `normalize_then_sum`: each function is normalised within each group first, then the
//!   weighted sum is normalised over the batch.
//!
//! Any NaN advantage (unscorable rows, groups with a single scorable row) becomes 0.

/// How rewards are scaled (TRL's `scale_rewards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleRewards {
    Group,
    Batch,
    None,
}

/// How several reward functions are combined (TRL's `multi_objective_aggregation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    SumThenNormalize,
    NormalizeThenSum,
}

/// Offset added to the std before dividing, as TRL does.
pub const STD_EPSILON: f64 = 1e-4;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct AdvantageError(pub String);

/// Advantages and the reward statistics TRL logs.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(all(feature = "napi", not(test)), napi_derive::napi(object, js_name = "GrpoAdvantages"))]
pub struct Advantages {
    /// One per completion; never NaN.
    pub advantages: Vec<f64>,
    /// The weighted reward per completion (NaN for unscorable rows), as logged.
    pub rewards: Vec<f64>,
    /// nanmean / nanstd of each function's raw rewards over the rows where it applies.
    pub function_mean: Vec<f64>,
    pub function_std: Vec<f64>,
    /// nanmean / nanstd of `rewards`.
    pub reward_mean: f64,
    pub reward_std: f64,
    /// Fraction of completions whose scaling std is zero (TRL's frac_reward_zero_std).
    pub frac_reward_zero_std: f64,
    /// Rows for which every reward function returned null.
    // u32: indices into a JS array.
    pub unscorable_rows: Vec<u32>,
}

/// Mean over the non-NaN values (NaN when there are none).
pub fn nanmean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values.into_iter().filter(|v| !v.is_nan()).fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Bessel-corrected std over the non-NaN values (NaN with fewer than two), TRL's `nanstd`.
pub fn nanstd(values: &[f64]) -> f64 {
    let mean = nanmean(values.iter().copied());
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.len() < 2 {
        return f64::NAN;
    }
    let var = present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / present.len() as f64;
    (var * present.len() as f64 / (present.len() - 1) as f64).sqrt()
}

/// torch.isclose(x, 0) with its default tolerances (NaN is not close).
fn is_zero(x: f64) -> bool {
    x.abs() <= 1e-8
}

fn weighted_nansum(row: &[f64], weights: &[f64]) -> f64 {
    row.iter().zip(weights).filter(|(r, _)| !r.is_nan()).map(|(r, w)| r * w).sum()
}

/// Computes advantages for `rewards_per_func` (row-major, `num_functions` columns).
pub fn compute(
    rewards_per_func: &[f64],
    num_functions: usize,
    weights: &[f64],
    num_generations: usize,
    scale: ScaleRewards,
    aggregation: Aggregation,
) -> Result<Advantages, AdvantageError> {
    let err = |m: String| Err(AdvantageError(m));
    if num_functions == 0 {
        return err("at least one reward function is needed".into());
    }
    if weights.len() != num_functions {
        return err(format!("{} reward weights for {} reward functions", weights.len(), num_functions));
    }
    if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
        return err(format!("reward weights must be finite, got {w}"));
    }
    if !rewards_per_func.len().is_multiple_of(num_functions) {
        return err(format!("the reward table has {} values, not a multiple of {} functions", rewards_per_func.len(), num_functions));
    }
    if let Some(v) = rewards_per_func.iter().find(|v| v.is_infinite()) {
        return err(format!("rewards must be finite numbers or null (NaN), got {v}"));
    }
    let rows = rewards_per_func.len() / num_functions;
    if num_generations == 0 || !rows.is_multiple_of(num_generations) {
        return err(format!("{rows} completions do not form whole groups of numGenerations = {num_generations}"));
    }
    let row = |i: usize| &rewards_per_func[i * num_functions..(i + 1) * num_functions];
    let unscorable = |i: usize| row(i).iter().all(|v| v.is_nan());
    let unscorable_rows: Vec<u32> = (0..rows).filter(|&i| unscorable(i)).map(|i| i as u32).collect();

    // The logged reward is the weighted nansum in both aggregation modes.
    let rewards: Vec<f64> = (0..rows).map(|i| if unscorable(i) { f64::NAN } else { weighted_nansum(row(i), weights) }).collect();

    let (raw_advantages, std): (Vec<f64>, Vec<f64>) = match aggregation {
        Aggregation::SumThenNormalize => {
            let mut adv = vec![0.0; rows];
            let mut std = vec![0.0; rows];
            let batch_std = if rows > 1 { nanstd(&rewards) } else { 0.0 };
            for (g, group) in rewards.chunks(num_generations).enumerate() {
                let mean = nanmean(group.iter().copied());
                let group_std = match scale {
                    ScaleRewards::Group | ScaleRewards::None => {
                        if num_generations > 1 {
                            nanstd(group)
                        } else {
                            0.0
                        }
                    }
                    ScaleRewards::Batch => batch_std,
                };
                for (k, &r) in group.iter().enumerate() {
                    let i = g * num_generations + k;
                    adv[i] = if scale == ScaleRewards::None { r - mean } else { (r - mean) / (group_std + STD_EPSILON) };
                    std[i] = group_std;
                }
            }
            (adv, std)
        }
        Aggregation::NormalizeThenSum => {
            let mut normalised = vec![f64::NAN; rewards_per_func.len()];
            for g in 0..rows / num_generations {
                for f in 0..num_functions {
                    let column: Vec<f64> =
                        (0..num_generations).map(|k| rewards_per_func[(g * num_generations + k) * num_functions + f]).collect();
                    let mean = nanmean(column.iter().copied());
                    let std = if num_generations > 1 { nanstd(&column) } else { 0.0 };
                    for (k, v) in column.iter().enumerate() {
                        normalised[(g * num_generations + k) * num_functions + f] = (v - mean) / (std + STD_EPSILON);
                    }
                }
            }
            let summed: Vec<f64> = (0..rows)
                .map(|i| {
                    if unscorable(i) { f64::NAN } else { weighted_nansum(&normalised[i * num_functions..(i + 1) * num_functions], weights) }
                })
                .collect();
            let std = if rows > 1 { nanstd(&summed) } else { 0.0 };
            let mean = nanmean(summed.iter().copied());
            (summed.iter().map(|r| (r - mean) / (std + STD_EPSILON)).collect(), vec![std; rows])
        }
    };

    let advantages = raw_advantages.into_iter().map(|a| if a.is_nan() { 0.0 } else { a }).collect();
    let function_mean = (0..num_functions).map(|f| nanmean((0..rows).map(|i| row(i)[f]))).collect();
    let function_std = (0..num_functions).map(|f| nanstd(&(0..rows).map(|i| row(i)[f]).collect::<Vec<_>>())).collect();
    Ok(Advantages {
        advantages,
        reward_mean: nanmean(rewards.iter().copied()),
        reward_std: nanstd(&rewards),
        rewards,
        function_mean,
        function_std,
        frac_reward_zero_std: std.iter().filter(|s| is_zero(**s)).count() as f64 / rows.max(1) as f64,
        unscorable_rows,
    })
}

// napi-derive registers the exports only outside test builds, where they would be dead code.
#[cfg(all(feature = "napi", not(test)))]
mod js {
    use mlxn_core::js::{Result, arg_err};
    use napi_derive::napi;

    use super::{Advantages, Aggregation, ScaleRewards};

    /// Advantages for a row-major `[completions, functions]` reward table (NaN = null).
    #[napi(js_name = "grpoAdvantages", catch_unwind)]
    pub fn grpo_advantages(
        rewards_per_func: Vec<f64>,
        num_functions: u32,
        weights: Vec<f64>,
        num_generations: u32,
        scale_rewards: String,
        aggregation: String,
    ) -> Result<Advantages> {
        let scale = match scale_rewards.as_str() {
            "group" => ScaleRewards::Group,
            "batch" => ScaleRewards::Batch,
            "none" => ScaleRewards::None,
            other => {
                return Err(arg_err(format!("scaleRewards must be group, batch or none, got {other:?}")));
            }
        };
        let aggregation = match aggregation.as_str() {
            "sum_then_normalize" => Aggregation::SumThenNormalize,
            "normalize_then_sum" => Aggregation::NormalizeThenSum,
            other => {
                return Err(arg_err(format!("multiObjectiveAggregation must be sum_then_normalize or normalize_then_sum, got {other:?}")));
            }
        };
        super::compute(&rewards_per_func, num_functions as usize, &weights, num_generations as usize, scale, aggregation)
            .map_err(|e| arg_err(e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 + 1e-9 * y.abs(), "[{i}] {x} vs {y}");
        }
    }

    #[test]
    fn group_scaling_matches_hand_values() {
        // One group of 3: rewards 1, 2, 4 → mean 7/3, std sqrt(7/3).
        let a = compute(&[1.0, 2.0, 4.0], 1, &[1.0], 3, ScaleRewards::Group, Aggregation::SumThenNormalize).unwrap();
        let mean = 7.0 / 3.0;
        let std = (7.0f64 / 3.0).sqrt();
        close(&a.advantages, &[(1.0 - mean) / (std + 1e-4), (2.0 - mean) / (std + 1e-4), (4.0 - mean) / (std + 1e-4)]);
        assert_eq!(a.frac_reward_zero_std, 0.0);
    }

    #[test]
    fn none_only_centres_and_batch_uses_one_std() {
        let r = [1.0, 3.0, 0.0, 0.0];
        let none = compute(&r, 1, &[1.0], 2, ScaleRewards::None, Aggregation::SumThenNormalize).unwrap();
        close(&none.advantages, &[-1.0, 1.0, 0.0, 0.0]);
        // The second group has zero std: half the completions count as zero-std.
        assert_eq!(none.frac_reward_zero_std, 0.5);
        let batch = compute(&r, 1, &[1.0], 2, ScaleRewards::Batch, Aggregation::SumThenNormalize).unwrap();
        let s = nanstd(&r);
        close(&batch.advantages, &[-1.0 / (s + 1e-4), 1.0 / (s + 1e-4), 0.0, 0.0]);
        assert_eq!(batch.frac_reward_zero_std, 0.0);
    }

    #[test]
    fn null_rewards_are_skipped_and_unscorable_rows_get_zero() {
        // Two functions, weights 1 and 2; row 1 has only the second; row 2 has none.
        let r = [1.0, 0.5, NAN, 1.0, NAN, NAN, 0.0, 0.0];
        let a = compute(&r, 2, &[1.0, 2.0], 4, ScaleRewards::None, Aggregation::SumThenNormalize).unwrap();
        close(&a.rewards, &[2.0, 2.0, NAN, 0.0]);
        // The unscorable row is left out of the mean (4/3), and gets advantage 0.
        close(&a.advantages, &[2.0 - 4.0 / 3.0, 2.0 - 4.0 / 3.0, 0.0, -4.0 / 3.0]);
        assert_eq!(a.unscorable_rows, vec![2]);
        close(&a.function_mean, &[0.5, 0.5]);
        close(&[a.reward_mean], &[4.0 / 3.0]);
    }

    #[test]
    fn a_group_with_one_scorable_row_has_zero_advantages() {
        let a = compute(&[1.0, NAN], 1, &[1.0], 2, ScaleRewards::Group, Aggregation::SumThenNormalize).unwrap();
        close(&a.advantages, &[0.0, 0.0]);
    }

    #[test]
    fn normalize_then_sum_normalises_each_function_per_group() {
        // Function 0 varies within the group, function 1 is constant (normalises to 0).
        let r = [0.0, 5.0, 2.0, 5.0];
        let a = compute(&r, 2, &[1.0, 1.0], 2, ScaleRewards::Group, Aggregation::NormalizeThenSum).unwrap();
        let s0 = nanstd(&[0.0, 2.0]);
        let summed = [-1.0 / (s0 + 1e-4), 1.0 / (s0 + 1e-4)];
        let s = nanstd(&summed);
        close(&a.advantages, &[summed[0] / (s + 1e-4), summed[1] / (s + 1e-4)]);
    }

    #[test]
    fn nanstd_is_bessel_corrected_and_nan_below_two_values() {
        close(&[nanstd(&[1.0, 3.0])], &[2.0f64.sqrt()]);
        assert!(nanstd(&[1.0, NAN]).is_nan());
        assert!(nanmean([NAN, NAN]).is_nan());
    }

    #[test]
    fn rejects_bad_shapes_and_values() {
        let e = |r: &[f64], k, w: &[f64], g| compute(r, k, w, g, ScaleRewards::Group, Aggregation::SumThenNormalize).unwrap_err().0;
        assert!(e(&[1.0, 2.0, 3.0], 1, &[1.0], 2).contains("whole groups"));
        assert!(e(&[1.0, 2.0], 1, &[1.0, 1.0], 2).contains("2 reward weights for 1"));
        assert!(e(&[1.0, 2.0, 3.0], 2, &[1.0, 1.0], 1).contains("not a multiple"));
        assert!(e(&[1.0, f64::INFINITY], 1, &[1.0], 2).contains("finite"));
        assert!(e(&[1.0, 2.0], 1, &[f64::NAN], 2).contains("weights must be finite"));
        assert!(e(&[], 0, &[], 2).contains("at least one"));
    }
}
