//! The paper's findings as this reproduction tests them: each a difference A − B of one metric
//! between two models evaluated on the same held-out problems, with its 95% paired-bootstrap
//! interval ([`crate::eval::bootstrap`]) and the verdict that interval earns — "reproduced",
//! "contradicted" or "unresolved", never a sign alone. Every table of evaluated models also ends
//! with the 95% interval of its compared metrics ([`interval_columns`], [`interval_cells`]).

use super::report::{Cell, Reports, Table};
use crate::eval::bootstrap::{Direction, Interval, Verdict};
use crate::eval::EvalReport;
use anyhow::Result;
use serde::{Deserialize, Serialize};

/// One finding tested: `a − b` on `metric`, and which way the paper says it goes.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The paper's claim, in a few words ("Table 4: R1 ≥ R1-Zero").
    pub claim: String,
    pub a: String,
    pub b: String,
    pub metric: String,
    pub paper: Direction,
    pub a_value: f64,
    pub b_value: f64,
    pub difference: Interval,
}

impl Finding {
    /// `a − b` on `metric` over the same problems, paired.
    pub fn new(
        claim: &str,
        (a_name, a): (&str, &EvalReport),
        (b_name, b): (&str, &EvalReport),
        metric: &str,
        paper: Direction,
    ) -> Result<Self> {
        let difference = a.difference(b, metric)?;
        let mean = |r: &EvalReport| {
            let v = r.per_problem(metric)?;
            Ok::<f64, anyhow::Error>(v.iter().sum::<f64>() / v.len() as f64)
        };
        Ok(Self {
            claim: claim.to_string(),
            a: a_name.to_string(),
            b: b_name.to_string(),
            metric: metric.to_string(),
            paper,
            a_value: mean(a)?,
            b_value: mean(b)?,
            difference,
        })
    }

    /// `a − b` on `metric` pooled over seeds: `a[i]` and `b[i]` are seed `i`'s two models, all
    /// evaluated on the same problems. Each problem's value is averaged over the seeds on each
    /// side, and the paired bootstrap runs over the problems of those averages (so the interval
    /// is of the seed-mean difference). With one seed this is [`Finding::new`]. Also returns
    /// each seed's own `a − b`, the spread across seeds.
    pub fn pooled(
        claim: &str,
        (a_name, a): (&str, &[&EvalReport]),
        (b_name, b): (&str, &[&EvalReport]),
        metric: &str,
        paper: Direction,
    ) -> Result<(Self, Vec<f64>)> {
        let values = |side: &[&EvalReport]| -> Result<Vec<ProblemValues>> {
            side.iter().map(|r| ProblemValues::of(r, metric)).collect()
        };
        let (a, b) = (values(a)?, values(b)?);
        Self::pooled_values(claim, (a_name, &a), (b_name, &b), paper)
    }

    /// [`Finding::pooled`] from each model's per-problem values (what a seed's record keeps).
    pub fn pooled_values(
        claim: &str,
        (a_name, a): (&str, &[ProblemValues]),
        (b_name, b): (&str, &[ProblemValues]),
        paper: Direction,
    ) -> Result<(Self, Vec<f64>)> {
        anyhow::ensure!(
            !a.is_empty() && a.len() == b.len(),
            "{claim}: {} seeds of {a_name} against {} of {b_name}: pool the same seeds on both sides",
            a.len(),
            b.len()
        );
        let first = &a[0];
        for v in a.iter().chain(b) {
            anyhow::ensure!(
                v.problem_ids == first.problem_ids && v.values.len() == first.problem_ids.len(),
                "{claim}: {} was evaluated on other problems than {}: evaluate every seed on the \
                 same held-out set",
                v.model,
                first.model
            );
            anyhow::ensure!(
                v.metric == first.metric,
                "{claim}: {} holds {}, {} holds {}: compare one metric",
                v.model,
                v.metric,
                first.model,
                first.metric
            );
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let per_seed = a
            .iter()
            .zip(b)
            .map(|(x, y)| mean(&x.values) - mean(&y.values))
            .collect();
        let seed_mean = |side: &[ProblemValues]| -> Vec<f64> {
            let mut sum = vec![0.0; first.values.len()];
            for r in side {
                for (s, v) in sum.iter_mut().zip(&r.values) {
                    *s += v / side.len() as f64;
                }
            }
            sum
        };
        let (a_mean, b_mean) = (seed_mean(a), seed_mean(b));
        let finding = Self {
            claim: claim.to_string(),
            a: a_name.to_string(),
            b: b_name.to_string(),
            metric: first.metric.clone(),
            paper,
            a_value: mean(&a_mean),
            b_value: mean(&b_mean),
            difference: crate::eval::bootstrap::paired_difference(&a_mean, &b_mean)?,
        };
        Ok((finding, per_seed))
    }

    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.difference, self.paper)
    }

    /// `Table 4: R1 ≥ R1-Zero — R1 − R1-Zero, pass@1: −0.122 [−0.190, −0.055]: contradicted`.
    pub fn line(&self) -> String {
        format!(
            "{} — {} − {}, {}: {}: {}",
            self.claim,
            self.a,
            self.b,
            self.metric,
            self.difference.show(true),
            self.verdict().word()
        )
    }
}

/// One evaluated model's value of one metric on each held-out problem: all a pooled finding
/// needs of an evaluation, small enough to commit (the seeds' records of `sizes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemValues {
    pub model: String,
    pub metric: String,
    pub problem_ids: Vec<String>,
    pub values: Vec<f64>,
}

impl ProblemValues {
    pub fn of(report: &EvalReport, metric: &str) -> Result<Self> {
        Ok(Self {
            model: report.model.clone(),
            metric: metric.to_string(),
            problem_ids: report.problem_ids()?,
            values: report.per_problem(metric)?,
        })
    }

    /// The mean over the problems (the report's value of the metric).
    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len().max(1) as f64
    }
}

/// The smallest and largest of the seeds' own estimates (the spread shown beside a pooled
/// finding's interval).
pub fn seed_range(per_seed: &[f64]) -> (f64, f64) {
    let min = per_seed.iter().copied().fold(f64::INFINITY, f64::min);
    let max = per_seed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// Writes `findings` as the table `<name>` (claim, A, B, metric, both values, the difference
/// with its interval, the paper's direction, the verdict).
pub fn write_findings(
    reports: &Reports,
    name: &str,
    findings: &[Finding],
    title: &str,
) -> Result<()> {
    let mut t = Table::new([
        "claim",
        "A",
        "B",
        "metric",
        "A value",
        "B value",
        "A − B",
        "95% CI low",
        "95% CI high",
        "paper",
        "verdict",
    ]);
    for f in findings {
        t.row(vec![
            f.claim.as_str().into(),
            f.a.as_str().into(),
            f.b.as_str().into(),
            f.metric.as_str().into(),
            f.a_value.into(),
            f.b_value.into(),
            f.difference.estimate.into(),
            f.difference.low.into(),
            f.difference.high.into(),
            match f.paper {
                Direction::Positive => "A > B",
                Direction::Negative => "A < B",
            }
            .into(),
            f.verdict().word().into(),
        ]);
    }
    let title = format!(
        "{title}\n\nEach row: A − B over the same held-out problems, with its 95% paired-bootstrap \
         interval ({} resamples of the problems). A finding is reproduced when the interval \
         excludes zero in the paper's direction, contradicted when it excludes zero the other \
         way, unresolved otherwise.",
        crate::eval::bootstrap::RESAMPLES
    );
    reports.table(name, &t.frame()?, Some(&title))
}

/// A table of evaluated models with these `columns`, then the 95% interval columns of the
/// `compared` metrics ([`interval_columns`]); a row ends with [`interval_cells`].
pub fn table_with_intervals(columns: &[&str], compared: &[&str]) -> Table {
    Table::new(
        columns
            .iter()
            .map(|c| c.to_string())
            .chain(interval_columns(compared)),
    )
}

/// The column names of the 95% intervals of `metrics`: `<metric> low`, `<metric> high` each.
pub fn interval_columns(metrics: &[&str]) -> Vec<String> {
    metrics
        .iter()
        .flat_map(|m| [format!("{m} low"), format!("{m} high")])
        .collect()
}

/// `report`'s 95% interval of each of `metrics`, as the cells of [`interval_columns`].
pub fn interval_cells(report: &EvalReport, metrics: &[&str]) -> Result<Vec<Cell>> {
    let mut cells = Vec::with_capacity(2 * metrics.len());
    for m in metrics {
        let ci = report.interval(m)?;
        cells.extend([Cell::Number(ci.low), Cell::Number(ci.high)]);
    }
    Ok(cells)
}
