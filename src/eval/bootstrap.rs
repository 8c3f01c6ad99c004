//! Confidence intervals over problems, and the words a comparison earns.
//!
//! Every number a report compares is a mean over held-out problems (pass@1, cons@k, pass@k of
//! each problem), so its uncertainty is that of the problems drawn: the percentile bootstrap
//! resamples the problems with replacement `B` times and takes the 2.5% and 97.5% quantiles of
//! the resampled means (Efron & Tibshirani, *An Introduction to the Bootstrap*, ch. 13). A
//! difference between two models evaluated on the same problems is resampled *paired*: one draw
//! of problems serves both, so what the problems share cancels (the per-problem difference is
//! resampled).
//!
//! A finding is then [`Verdict::Reproduced`] when the interval of its difference excludes zero in
//! the paper's direction, [`Verdict::Contradicted`] when it excludes zero the other way, and
//! [`Verdict::Unresolved`] otherwise — never by the sign of the point estimate alone.
//!
//! Quantiles interpolate linearly between order statistics (numpy's default, "type 7"); the
//! resamples are drawn from a seeded ChaCha stream, so an interval repeats exactly.

use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bootstrap resamples per interval: 10,000 puts the Monte-Carlo error of a 95% bound well under
/// the third decimal for the spreads here.
pub const RESAMPLES: usize = 10_000;

/// The seed of every report's resamples (an interval is a function of the data alone).
pub const SEED: u64 = 0xb007;

/// A point estimate with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Whether the interval lies wholly above (`Some(true)`) or below (`Some(false)`) zero.
    pub fn excludes_zero(&self) -> Option<bool> {
        if self.low > 0.0 {
            Some(true)
        } else if self.high < 0.0 {
            Some(false)
        } else {
            None
        }
    }

    /// `0.501 [0.462, 0.540]`, or with a sign for a difference, `+0.041 [+0.012, +0.070]`.
    pub fn show(&self, signed: bool) -> String {
        let f = |v: f64| {
            if signed {
                format!("{v:+.3}")
            } else {
                format!("{v:.3}")
            }
        };
        format!("{} [{}, {}]", f(self.estimate), f(self.low), f(self.high))
    }
}

/// Which way the paper says a difference goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// A − B > 0 in the paper.
    Positive,
    /// A − B < 0 in the paper.
    Negative,
}

/// What a difference's interval says of a paper's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The interval excludes zero in the paper's direction.
    Reproduced,
    /// The interval excludes zero in the other direction.
    Contradicted,
    /// The interval holds zero: this evaluation cannot tell.
    Unresolved,
}

impl Verdict {
    /// The verdict of a difference `diff` (A − B) for a finding that goes `paper` way.
    pub fn of(diff: &Interval, paper: Direction) -> Verdict {
        match (diff.excludes_zero(), paper) {
            (None, _) => Verdict::Unresolved,
            (Some(true), Direction::Positive) | (Some(false), Direction::Negative) => {
                Verdict::Reproduced
            }
            _ => Verdict::Contradicted,
        }
    }

    /// The word the reports and README use.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::Contradicted => "contradicted",
            Verdict::Unresolved => "unresolved",
        }
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) of ascending `sorted` values, interpolating linearly between
/// order statistics at position `q · (n − 1)`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The mean of `values` with the 2.5% and 97.5% quantiles of its means over the given resamples
/// (each a list of indices into `values`): the bootstrap with its draws made explicit.
pub fn interval_from_resamples(values: &[f64], resamples: &[Vec<usize>]) -> Interval {
    let mean = |idx: &mut dyn Iterator<Item = f64>, n: usize| idx.sum::<f64>() / n as f64;
    let mut means: Vec<f64> = resamples
        .iter()
        .map(|r| mean(&mut r.iter().map(|&i| values[i]), r.len()))
        .collect();
    means.sort_by(f64::total_cmp);
    Interval {
        estimate: mean(&mut values.iter().copied(), values.len()),
        low: quantile(&means, 0.025),
        high: quantile(&means, 0.975),
    }
}

/// `resamples` draws of `n` indices in `0..n` with replacement, from `seed`.
pub fn draw_resamples(n: usize, resamples: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..resamples)
        .map(|_| (0..n).map(|_| rng.random_range(0..n)).collect())
        .collect()
}

/// The mean of per-problem `values` with its 95% percentile-bootstrap interval.
pub fn mean_interval(values: &[f64]) -> Result<Interval> {
    ensure!(
        !values.is_empty(),
        "no problems to bootstrap: evaluate on a held-out set first"
    );
    ensure!(
        values.iter().all(|v| v.is_finite()),
        "a per-problem value is not a finite number: the evaluation is damaged; evaluate again"
    );
    let draws = draw_resamples(values.len(), RESAMPLES, SEED);
    Ok(interval_from_resamples(values, &draws))
}

/// The mean difference `a − b` of two models' per-problem values on the same problems (in the
/// same order), with its 95% paired-bootstrap interval.
pub fn paired_difference(a: &[f64], b: &[f64]) -> Result<Interval> {
    ensure!(
        a.len() == b.len(),
        "a paired comparison needs the same problems on both sides ({} against {}): evaluate \
         both models on the same held-out set",
        a.len(),
        b.len()
    );
    let diff: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    mean_interval(&diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let v = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 8.0);
        // Position 0.5 · 3 = 1.5: halfway between 2 and 4.
        assert_eq!(quantile(&v, 0.5), 3.0);
        // Position 0.025 · 3 = 0.075: 1 + 0.075 · (2 − 1).
        assert!((quantile(&v, 0.025) - 1.075).abs() < 1e-12);
    }

    #[test]
    fn the_interval_of_explicit_resamples_matches_a_hand_computation() {
        // Three problems solved 0, 0.5 and 1 of the time; five resamples written out by hand:
        // their means are 1/6, 1/2, 1/3, 2/3 and 5/6.
        let values = [0.0, 0.5, 1.0];
        let resamples = vec![
            vec![0, 0, 1],
            vec![0, 1, 2],
            vec![0, 0, 2],
            vec![1, 1, 2],
            vec![1, 2, 2],
        ];
        let ci = interval_from_resamples(&values, &resamples);
        assert_eq!(ci.estimate, 0.5);
        // Sorted means 1/6, 1/3, 1/2, 2/3, 5/6; position 0.025 · 4 = 0.1 and 0.975 · 4 = 3.9.
        let low = 1.0 / 6.0 + 0.1 * (1.0 / 3.0 - 1.0 / 6.0);
        let high = 2.0 / 3.0 + 0.9 * (5.0 / 6.0 - 2.0 / 3.0);
        assert!((ci.low - low).abs() < 1e-12, "{} vs {low}", ci.low);
        assert!((ci.high - high).abs() < 1e-12, "{} vs {high}", ci.high);
    }

    #[test]
    fn the_bootstrap_half_width_is_about_two_standard_errors() {
        // 500 problems, a quarter solved: the standard error of the mean is
        // sqrt(0.25 · 0.75 / 500) = 0.01936, so the 95% half-width is about 1.96 · 0.01936.
        let values: Vec<f64> = (0..500).map(|i| (i % 4 == 0) as u8 as f64).collect();
        let ci = mean_interval(&values).unwrap();
        let se = (0.25f64 * 0.75 / 500.0).sqrt();
        let half = (ci.high - ci.low) / 2.0;
        assert_eq!(ci.estimate, 0.25);
        assert!((half / (1.96 * se) - 1.0).abs() < 0.05, "half-width {half}");
        // And it repeats exactly (seeded).
        assert_eq!(ci, mean_interval(&values).unwrap());
    }

    #[test]
    fn pairing_removes_what_the_problems_share() {
        // B solves every problem A solves, and one in twenty more: the unpaired intervals
        // overlap, while the paired difference varies only with how many of those 20 a resample
        // draws.
        let a: Vec<f64> = (0..400).map(|i| (i % 2 == 0) as u8 as f64).collect();
        let b: Vec<f64> = (0..400)
            .map(|i| (i % 2 == 0 || i % 20 == 1) as u8 as f64)
            .collect();
        let (ca, cb) = (mean_interval(&a).unwrap(), mean_interval(&b).unwrap());
        assert!(ca.high > cb.low, "the unpaired intervals overlap");
        let d = paired_difference(&b, &a).unwrap();
        assert!((d.estimate - 0.05).abs() < 1e-12);
        assert!(d.low > 0.0, "paired: {d:?}");
        assert_eq!(Verdict::of(&d, Direction::Positive), Verdict::Reproduced);
        assert_eq!(Verdict::of(&d, Direction::Negative), Verdict::Contradicted);
        let zero = paired_difference(&a, &a).unwrap();
        assert_eq!(Verdict::of(&zero, Direction::Positive), Verdict::Unresolved);
        assert!(paired_difference(&a, &b[..10]).is_err());
    }
}
