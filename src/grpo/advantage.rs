//! Group-relative advantages (DeepSeekMath eq. 3, outcome supervision; R1 eq. 3):
//! `Â_i = (r_i − mean(r_group)) / std(r_group)`, the same for every token of completion i.
//!
//! As in TRL, the standard deviation is the unbiased one (ddof = 1) and 1e-4 is added to it, so a
//! group whose rewards are all equal gets zero advantages instead of a division by zero.
//! Dr. GRPO (arXiv 2503.20783) drops the division (`Scale::None`); some implementations scale by
//! the batch's standard deviation instead (`Scale::Batch`).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// How advantages are scaled after subtracting the group mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Divide by the group's std (GRPO, the paper).
    Group,
    /// Divide by the std of all rewards in the batch.
    Batch,
    /// No division (Dr. GRPO).
    None,
}

/// Added to the standard deviation (TRL's value).
pub const STD_EPS: f64 = 1e-4;

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Advantages of `rewards` laid out group after group (`group_size` consecutive completions of one
/// prompt).
pub fn group_advantages(rewards: &[f64], group_size: usize, scale: Scale) -> Result<Vec<f64>> {
    if group_size == 0 || rewards.len() % group_size != 0 {
        bail!(
            "{} rewards do not split into groups of {group_size}",
            rewards.len()
        );
    }
    let batch_std = mean_std(rewards).1;
    let mut out = Vec::with_capacity(rewards.len());
    for group in rewards.chunks(group_size) {
        let (mean, std) = mean_std(group);
        let denom = match scale {
            Scale::Group => std + STD_EPS,
            Scale::Batch => batch_std + STD_EPS,
            Scale::None => 1.0,
        };
        out.extend(group.iter().map(|r| (r - mean) / denom));
    }
    Ok(out)
}

/// Whether every reward of a group is the same (its advantages are all zero: no learning signal;
/// DAPO's dynamic sampling drops such groups).
pub fn zero_variance_groups(rewards: &[f64], group_size: usize) -> Vec<bool> {
    rewards
        .chunks(group_size.max(1))
        .map(|g| g.iter().all(|&r| (r - g[0]).abs() < 1e-12))
        .collect()
}

/// With dynamic sampling, which groups count as carrying no signal (and are dropped). verl:
/// `algorithm.filter_groups.metric`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupFilter {
    /// A group whose total reward is the same for every completion, shaping terms (format,
    /// length penalty) included. Before 2026-12-03 the only filter here; kept as the default so
    /// that the runs made then keep their settings (`reports/LOG.md`).
    #[default]
    Reward,
    /// DAPO's (its eq. 11): a group whose completions are all correct or all wrong, whatever
    /// the other rewards say. verl: `metric: acc`.
    Accuracy,
}

impl GroupFilter {
    pub fn is_reward(&self) -> bool {
        *self == GroupFilter::Reward
    }

    /// For each group of `group_size`, whether `filter` finds it flat: `totals` are the weighted
    /// rewards, `correct` each completion's accuracy.
    pub fn flat_groups(self, totals: &[f64], correct: &[bool], group_size: usize) -> Vec<bool> {
        match self {
            GroupFilter::Reward => zero_variance_groups(totals, group_size),
            GroupFilter::Accuracy => {
                let acc: Vec<f64> = correct.iter().map(|&c| f64::from(u8::from(c))).collect();
                zero_variance_groups(&acc, group_size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accuracy_filter_keeps_groups_by_correctness_alone() {
        // Group 1: all wrong, one long answer penalised (totals differ). Group 2: two right.
        // Group 3: all right, one badly formatted (totals differ).
        let totals = [1.0, 1.0, 1.0, 0.8, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 2.0, 1.5];
        let correct = [
            false, false, false, false, true, true, false, false, true, true, true, true,
        ];
        assert_eq!(
            GroupFilter::Reward.flat_groups(&totals, &correct, 4),
            vec![false, false, false]
        );
        assert_eq!(
            GroupFilter::Accuracy.flat_groups(&totals, &correct, 4),
            vec![true, false, true]
        );
        // The old runs' settings, written without the field, read back as the reward filter.
        #[derive(Deserialize)]
        struct Old {
            #[serde(default)]
            f: GroupFilter,
        }
        let old: Old = serde_json::from_str("{}").unwrap();
        assert_eq!(old.f, GroupFilter::Reward);
    }

    #[test]
    fn hand_computed_group_advantages() {
        // Group [1, 0, 0, 1]: mean 0.5, unbiased std sqrt(1/3) = 0.57735.
        let a =
            group_advantages(&[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0], 4, Scale::Group).unwrap();
        let s = (1.0f64 / 3.0).sqrt() + STD_EPS;
        assert!((a[0] - 0.5 / s).abs() < 1e-12 && (a[1] + 0.5 / s).abs() < 1e-12);
        assert!(a[4..].iter().all(|&x| x == 0.0));
        assert_eq!(
            zero_variance_groups(&[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 2.0], 4),
            vec![false, true]
        );
        let n = group_advantages(&[1.0, 0.0, 0.0, 1.0], 4, Scale::None).unwrap();
        assert_eq!(n, vec![0.5, -0.5, -0.5, 0.5]);
        assert!(group_advantages(&[1.0, 2.0, 3.0], 2, Scale::Group).is_err());
    }
}
