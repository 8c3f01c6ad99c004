//! Each report metric per problem, so that it can carry a confidence interval
//! ([`super::bootstrap`]): a report's pass@1, pass@k, cons@k and rates are means over its
//! problems of these per-problem values (every problem has k samples, so a per-sample rate is
//! also the mean of its per-problem rates), and two reports on the same problems are compared
//! problem by problem.

use super::bootstrap::{mean_interval, paired_difference, Interval};
use super::metrics::{majority_vote, pass_at_k};
use super::{EvalReport, SampleResult};
use anyhow::{bail, Result};

impl EvalReport {
    /// The problems' ids in the order they were evaluated.
    pub fn problem_ids(&self) -> Result<Vec<String>> {
        Ok(self
            .groups()?
            .iter()
            .map(|g| g[0].problem_id.clone())
            .collect())
    }

    /// The value of `metric` (a name of [`EvalReport::metrics`]) for each problem, in the order
    /// of [`EvalReport::problem_ids`]; their mean is the report's value.
    pub fn per_problem(&self, metric: &str) -> Result<Vec<f64>> {
        let k = self.k;
        let groups = self.groups()?;
        let per_sample = |f: fn(&SampleResult) -> f64| -> Vec<f64> {
            groups
                .iter()
                .map(|g| g.iter().map(f).sum::<f64>() / g.len() as f64)
                .collect()
        };
        Ok(match metric {
            "pass@1" => per_sample(|s| s.correct as u8 as f64),
            "mean_length" => per_sample(|s| s.num_tokens as f64),
            "format_rate" => per_sample(|s| s.format_ok as u8 as f64),
            "mixing_rate" => per_sample(|s| s.mixed as u8 as f64),
            "reflection_rate" => per_sample(|s| s.reflection as u8 as f64),
            "truncation_rate" => per_sample(|s| s.truncated as u8 as f64),
            m if m == format!("pass@{k}") => groups
                .iter()
                .map(|g| pass_at_k(k, g.iter().filter(|s| s.correct).count(), k))
                .collect(),
            m if m == format!("cons@{k}") => groups
                .iter()
                .map(|g| {
                    let answers: Vec<Option<String>> = g.iter().map(|s| s.answer.clone()).collect();
                    // The winner as first written is that sample's answer, and a sample is
                    // correct exactly when its answer verifies.
                    majority_vote(&answers).is_some_and(|(i, _)| g[i].correct) as u8 as f64
                })
                .collect(),
            other => bail!(
                "no per-problem values for the metric {other:?}: use one of {}",
                self.metrics()
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// `metric` with its 95% bootstrap interval over the problems.
    pub fn interval(&self, metric: &str) -> Result<Interval> {
        mean_interval(&self.per_problem(metric)?)
    }

    /// `self − other` on `metric`, with its 95% paired-bootstrap interval; both reports must be
    /// of the same problems in the same order.
    pub fn difference(&self, other: &EvalReport, metric: &str) -> Result<Interval> {
        if self.k != other.k {
            bail!(
                "{} and {} were evaluated with different k ({} and {}): evaluate both with the same k",
                self.model,
                other.model,
                self.k,
                other.k
            );
        }
        if self.problem_ids()? != other.problem_ids()? {
            bail!(
                "{} and {} were evaluated on different problems: a paired comparison needs the \
                 same held-out set for both",
                self.model,
                other.model
            );
        }
        paired_difference(&self.per_problem(metric)?, &other.per_problem(metric)?)
    }

    /// The samples of each problem, in evaluation order: `k` per problem, as `evaluate` writes
    /// them (a report cut short or edited is refused rather than grouped wrongly).
    fn groups(&self) -> Result<Vec<&[SampleResult]>> {
        if self.k == 0 || self.samples.len() != self.problems * self.k {
            bail!(
                "the report of {} holds {} samples for {} problems at k = {}: its samples do not \
                 come k per problem (cut short or edited?); evaluate again",
                self.model,
                self.samples.len(),
                self.problems,
                self.k
            );
        }
        Ok(self.samples.chunks(self.k).collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::{evaluate, EvalConfig};
    use candle_core::{DType, Device};

    #[test]
    fn per_problem_values_average_to_the_report_and_compare_paired() {
        let loaded =
            crate::checkpoint::load("data/checkpoints/base-1M", DType::F32, &Device::Cpu).unwrap();
        let tk = loaded.tokenizer().unwrap().clone();
        let problems =
            crate::tasks::read_test_set(std::path::Path::new("data/tasks"), "arithmetic").unwrap();
        let cfg = EvalConfig {
            k: 4,
            ..Default::default()
        };
        let eval = |seed| {
            let cfg = EvalConfig {
                seed,
                ..cfg.clone()
            };
            evaluate(
                &loaded.model,
                &tk,
                "base",
                "arithmetic",
                &problems[..16],
                &cfg,
                |_, _| {},
            )
            .unwrap()
        };
        let report = eval(1);
        assert_eq!(report.problem_ids().unwrap().len(), 16);
        for (name, value) in report.metrics() {
            let per = report.per_problem(&name).unwrap();
            let mean = per.iter().sum::<f64>() / per.len() as f64;
            assert!((mean - value).abs() < 1e-9, "{name}: {mean} vs {value}");
            let ci = report.interval(&name).unwrap();
            assert!(ci.low <= value && value <= ci.high, "{name}: {ci:?}");
        }
        assert!(report.per_problem("pass@7").is_err());
        // A report whose samples do not come k per problem is refused, not grouped wrongly.
        let mut cut = report.clone();
        cut.samples.pop();
        assert!(cut.interval("pass@1").is_err());
        // Against itself the paired difference is exactly zero; against another draw of samples it
        // is the difference of the two means.
        let same = report.difference(&report, "pass@1").unwrap();
        assert_eq!((same.estimate, same.low, same.high), (0.0, 0.0, 0.0));
        let other = eval(2);
        let d = report.difference(&other, "pass@1").unwrap();
        assert!((d.estimate - (report.pass_at_1 - other.pass_at_1)).abs() < 1e-9);
        let fewer = EvalConfig {
            seed: 1,
            ..cfg.clone()
        };
        let short = evaluate(
            &loaded.model,
            &tk,
            "b",
            "arithmetic",
            &problems[..8],
            &fewer,
            |_, _| {},
        )
        .unwrap();
        assert!(report.difference(&short, "pass@1").is_err());
    }
}
