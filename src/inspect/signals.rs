//! The training signals of a GRPO run, from its `metrics.csv`: what the update saw at each step,
//! beside what it earned. Each on its own axis, since they differ by orders of magnitude:
//!
//! * the KL to the reference (the k3 estimate the loss penalises with β): how far the policy has
//!   moved from the base model;
//! * the entropy of the sampled tokens (mean −log π, a Monte-Carlo estimate recorded by the
//!   rollout): a collapsing policy samples ever surer tokens;
//! * the share of zero-variance groups: groups whose G completions all scored alike get zero
//!   advantages and teach nothing (DAPO's dynamic sampling drops them);
//! * the clip fractions: the share of tokens whose ratio ρ the clip held below 1 − ε or above
//!   1 + ε_high. With μ = 1 and one minibatch ρ is exactly 1 and the clip never binds;
//! * the gradient norm (before clipping) and the mean reward, for scale.

use super::chart::{Panel, PanelChart};
use crate::experiments::report::moving_average;
use crate::grpo::StepMetrics;
use crate::report::Series;

/// Steps averaged for the noisy share of zero-variance groups.
pub const SMOOTHING: usize = 10;

/// `f` of the training rows against their step (the evaluation-only row 0, and any row where
/// `f` is not a number, left out).
fn over_steps(name: &str, rows: &[StepMetrics], f: impl Fn(&StepMetrics) -> f64) -> Series {
    Series {
        name: name.into(),
        points: rows
            .iter()
            .filter(|m| m.completion_len_mean.is_finite())
            .map(|m| (m.step as f64, f(m)))
            .filter(|p| p.1.is_finite())
            .collect(),
        solid: true,
    }
}

fn panel(title: &str, y_label: &str, series: Vec<Series>, y_range: Option<(f64, f64)>) -> Panel {
    Panel {
        title: title.into(),
        y_label: y_label.into(),
        series,
        y_range,
    }
}

/// The six panels of the training signals of `rows` (a run's metrics).
pub fn signals_chart(rows: &[StepMetrics], title: &str) -> PanelChart {
    let clip_low = over_steps("below 1 − ε", rows, |m| m.clip_low);
    let clip_high = over_steps("above 1 + ε_high", rows, |m| m.clip_high);
    let never_clipped = clip_low
        .points
        .iter()
        .chain(&clip_high.points)
        .all(|p| p.1 == 0.0);
    let clip_title = match never_clipped {
        true => "clip fractions: 0 throughout (μ = 1: ρ = 1)",
        false => "clip fractions (share of tokens)",
    };
    let zero_var = Series {
        solid: false,
        ..over_steps("each step", rows, |m| m.zero_variance_frac)
    };
    let zero_var_mean = Series {
        name: format!("{SMOOTHING}-step moving average"),
        points: moving_average(&zero_var.points, SMOOTHING),
        solid: true,
    };
    let kl = over_steps("KL", rows, |m| m.kl);
    let kl_title = match kl.points.iter().all(|p| p.1 == 0.0) {
        true => "KL to the reference: 0 throughout (β = 0 keeps no reference)",
        false => "KL to the reference (k3)",
    };
    let mut rewards = vec![over_steps("mean reward", rows, |m| m.reward_mean)];
    rewards.extend(
        rows.iter()
            .flat_map(|m| m.rewards.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|name| {
                over_steps(name, rows, |m| {
                    m.rewards.get(name).copied().unwrap_or(f64::NAN)
                })
            }),
    );
    PanelChart {
        title: title.into(),
        x_label: "RL step".into(),
        columns: 3,
        panels: vec![
            panel(kl_title, "KL (nats per token)", vec![kl], None),
            panel(
                "entropy of the sampled tokens",
                "mean −log π (nats)",
                vec![over_steps("entropy", rows, |m| m.entropy)],
                None,
            ),
            panel(
                "zero-variance groups (no signal)",
                "share of the groups",
                vec![zero_var, zero_var_mean],
                Some((0.0, 1.0)),
            ),
            panel(
                clip_title,
                "share of tokens",
                vec![clip_low, clip_high],
                never_clipped.then_some((0.0, 1.0)),
            ),
            panel(
                "gradient norm (before clipping)",
                "L2 norm",
                vec![over_steps("grad norm", rows, |m| m.grad_norm)],
                None,
            ),
            panel("rewards", "mean per completion", rewards, None),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_come_from_the_training_rows() {
        let mut eval_row = StepMetrics::blank(0, ["accuracy".to_string()]);
        eval_row.eval_pass_at_1 = 0.2;
        let rows: Vec<StepMetrics> = std::iter::once(eval_row)
            .chain((1..=3).map(|s| {
                let mut m = StepMetrics::blank(s, ["accuracy".to_string()]);
                m.completion_len_mean = 20.0;
                m.kl = [1e-4, 2e-4, 3e-4][s - 1];
                m.entropy = 0.3;
                m.zero_variance_frac = 0.25;
                m.clip_low = 0.0;
                m.clip_high = 0.0;
                m.grad_norm = 0.5;
                m.reward_mean = 1.0;
                m.rewards.insert("accuracy".into(), 0.5);
                m
            }))
            .collect();
        let chart = signals_chart(&rows, "signals");
        let kl = &chart.panels[0].series[0].points;
        assert_eq!(kl, &vec![(1.0, 1e-4), (2.0, 2e-4), (3.0, 3e-4)]);
        assert!(chart.panels[3].title.contains("0 throughout"));
        assert_eq!(chart.panels[0].title, "KL to the reference (k3)");
        assert_eq!(chart.panels[3].y_range, Some((0.0, 1.0)));
        let smoothed = &chart.panels[2].series[1].points;
        assert_eq!(smoothed, &vec![(1.0, 0.25), (2.0, 0.25), (3.0, 0.25)]);
        assert_eq!(chart.panels[5].series.len(), 2);
        assert_eq!(chart.panels[5].series[1].name, "accuracy");
        let dir = tempfile::tempdir().unwrap();
        chart.save(&dir.path().join("s")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("s.svg")).unwrap();
        assert!(svg.contains("KL to the reference") && svg.contains("zero-variance"));
        assert!(std::fs::metadata(dir.path().join("s.png")).unwrap().len() > 1000);
    }
}
