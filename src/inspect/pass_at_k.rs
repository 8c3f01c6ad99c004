//! pass@k against k, before and after RL, from two evaluations' samples: for each problem the
//! unbiased estimate from its n samples of which c are right ([`pass_at_k`]), averaged over the
//! problems, for every k from 1 to n. RL that only sharpens what the base already does raises
//! pass@1 far more than pass@n: the two curves meet, or cross, at large k (Yue et al. 2025, "Does
//! reinforcement learning really incentivize reasoning capacity…").

use super::chart::{Panel, PanelChart};
use crate::eval::metrics::pass_at_k;
use crate::eval::EvalReport;
use crate::report::Series;
use anyhow::{bail, Result};

/// `(k, mean pass@k over the problems)` for k = 1..=n, from `report`'s samples (n per problem).
/// An error when the report holds no samples or problems with different numbers of samples.
pub fn pass_at_k_curve(report: &EvalReport) -> Result<Vec<(usize, f64)>> {
    // (problem, samples, right) in the order the problems first appear.
    let mut per_problem: Vec<(&str, usize, usize)> = Vec::new();
    for s in &report.samples {
        match per_problem.iter_mut().find(|p| p.0 == s.problem_id) {
            Some(p) => {
                p.1 += 1;
                p.2 += s.correct as usize;
            }
            None => per_problem.push((&s.problem_id, 1, s.correct as usize)),
        }
    }
    let Some(&(_, n, _)) = per_problem.first() else {
        bail!(
            "the evaluation of {} holds no samples: evaluate it again with r1lab eval",
            report.model
        );
    };
    if per_problem.iter().any(|p| p.1 != n) {
        bail!(
            "the evaluation of {} has problems with different numbers of samples: pass@k needs \
             the same n for every problem; evaluate it again",
            report.model
        );
    }
    Ok((1..=n)
        .map(|k| {
            let sum: f64 = per_problem.iter().map(|p| pass_at_k(n, p.2, k)).sum();
            (k, sum / per_problem.len() as f64)
        })
        .collect())
}

/// The chart of pass@k against k of each `(label, evaluation)`, one curve each.
pub fn pass_at_k_chart(evals: &[(&str, &EvalReport)], title: &str) -> Result<PanelChart> {
    let series = evals
        .iter()
        .map(|(label, report)| {
            Ok(Series {
                name: label.to_string(),
                points: (pass_at_k_curve(report)?.into_iter())
                    .map(|(k, p)| (k as f64, p))
                    .collect(),
                solid: true,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let problems = evals.first().map_or(0, |e| e.1.problems);
    Ok(PanelChart {
        title: title.into(),
        x_label: "k (samples drawn of the n per problem)".into(),
        columns: 1,
        panels: vec![Panel {
            title: format!("unbiased pass@k, mean over {problems} held-out problems"),
            y_label: "pass@k".into(),
            series,
            y_range: Some((0.0, 1.0)),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::by_hand::pass_at_k_by_hand;
    use crate::eval::SampleResult;

    /// An evaluation of two problems, four samples each: `right[p]` of problem p right.
    pub(crate) fn report(model: &str, right: [usize; 2]) -> EvalReport {
        let samples = (0..2)
            .flat_map(|p| {
                (0..4).map(move |i| SampleResult {
                    problem_id: format!("p{p}"),
                    sample_index: i,
                    text: String::new(),
                    answer: None,
                    correct: i < right[p],
                    format_ok: true,
                    mixed: false,
                    reflection: false,
                    num_tokens: 1,
                    truncated: false,
                })
            })
            .collect();
        EvalReport {
            model: model.into(),
            task: "arithmetic".into(),
            k: 4,
            problems: 2,
            pass_at_1: 0.0,
            pass_at_k: 0.0,
            cons_at_k: 0.0,
            mean_length: 0.0,
            format_rate: 0.0,
            mixing_rate: 0.0,
            reflection_rate: 0.0,
            truncation_rate: 0.0,
            samples,
        }
    }

    #[test]
    fn the_curve_averages_each_problems_estimate() {
        let curve = pass_at_k_curve(&report("base", [1, 0])).unwrap();
        assert_eq!(curve.len(), 4);
        // pass@1 = (1/4 + 0) / 2; pass@2 = (1 − C(3,2)/C(4,2)) / 2 = 0.25; pass@4 = 0.5.
        assert!((curve[0].1 - 0.125).abs() < 1e-12);
        assert!((curve[1].1 - pass_at_k_by_hand(4, 1, 2) / 2.0).abs() < 1e-12);
        assert!((curve[1].1 - 0.25).abs() < 1e-12);
        assert!((curve[3].1 - 0.5).abs() < 1e-12);
        let mut uneven = report("x", [1, 1]);
        uneven.samples.pop();
        assert!(pass_at_k_curve(&uneven).is_err());
        uneven.samples.clear();
        assert!(pass_at_k_curve(&uneven).is_err());
        let (before, after) = (report("base", [1, 0]), report("rl", [4, 2]));
        let chart = pass_at_k_chart(&[("before RL", &before), ("after RL", &after)], "t").unwrap();
        assert_eq!(chart.panels[0].series[1].points[0], (1.0, 0.75));
        let svg = chart.to_svg().unwrap();
        assert!(svg.contains("before RL") && svg.contains("after RL"));
    }
}
