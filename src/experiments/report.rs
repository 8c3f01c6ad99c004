//! The report writer every experiment shares. An experiment's `write_reports` says *what* it
//! shows (which rows, which curves, which claims); this module writes it into `reports/`:
//!
//! * [`Reports::table`]: a table as `<name>.csv` and `<name>.md`, its title above the Markdown;
//!   [`Table`] builds one row by row, the paper's rows below ours;
//! * [`Reports::chart`] with [`over_steps`], [`step_series`] and [`moving_average`]: line charts
//!   of metric series against RL steps (SVG and PNG, drawn by [`crate::report`]);
//! * [`Reports::copy`]: a run's `metrics.csv` beside the figures drawn from it;
//!   [`Reports::stage_metrics`]: the metrics of several runs in one file, a `stage` column first;
//! * [`Reports::targets`]: the claims an experiment checks on its own result ([`Target`]), each
//!   with what was required, what was measured and whether it was met.

use crate::eval::table;
use crate::grpo::StepMetrics;
use crate::report::{LineChart, Series};
use anyhow::{bail, Context, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The reports folder (`reports/`, or `--reports`).
#[derive(Debug, Clone)]
pub struct Reports {
    dir: PathBuf,
}

impl Reports {
    /// The reports folder `dir`, checked writable now, so that a run that cannot write its
    /// reports fails before it trains rather than after.
    pub fn writable(dir: &Path) -> Result<Self> {
        crate::checkpoint::ensure_writable(dir, "the --reports folder")?;
        Ok(Self::at(dir))
    }

    /// The reports folder `dir` (created by the first write).
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `file` in the folder, the folder created if needed.
    fn file(&self, file: &str) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        Ok(self.dir.join(file))
    }

    /// Writes `<name>.csv` and `<name>.md` (`title`, if any, above the Markdown table).
    pub fn table(&self, name: &str, df: &DataFrame, title: Option<&str>) -> Result<()> {
        table::write_table(df, &self.file(name)?, title)
    }

    /// Writes `<name>.svg` and `<name>.png`.
    pub fn chart(&self, name: &str, chart: &LineChart) -> Result<()> {
        chart.save(&self.file(name)?)
    }

    /// Writes `text` as `file` (Markdown with prose around its tables).
    pub fn text(&self, file: &str, text: &str) -> Result<()> {
        crate::checkpoint::atomic_write(&self.file(file)?, text.as_bytes())
    }

    /// Copies `from` (a run's `metrics.csv`) to `file` when it exists.
    pub fn copy(&self, from: &Path, file: &str) -> Result<()> {
        if !from.exists() {
            return Ok(());
        }
        let bytes =
            std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
        crate::checkpoint::atomic_write(&self.file(file)?, &bytes)
    }

    /// Writes the metrics rows of several runs, each tagged with its stage, as `file`
    /// ([`stage_metrics_csv`]).
    pub fn stage_metrics(&self, file: &str, rows: &[(String, StepMetrics)]) -> Result<()> {
        self.text(file, &stage_metrics_csv(rows))
    }

    /// Writes the targets as the table `<name>` (target, required, measured, met).
    pub fn targets(&self, name: &str, targets: &[Target], title: &str) -> Result<()> {
        let mut t = Table::new(["target", "required", "measured", "met"]);
        for x in targets {
            t.row(vec![
                x.name.as_str().into(),
                x.required.as_str().into(),
                x.measured.as_str().into(),
                x.met.into(),
            ]);
        }
        self.table(name, &t.frame()?, Some(title))
    }
}

/// What a subcommand prints: `heading`, each of `lines` on a line of its own, then where the
/// reports are.
pub fn summary(heading: String, lines: impl IntoIterator<Item = String>, reports: &Path) -> String {
    let mut out = heading;
    for line in lines {
        out.push('\n');
        out.push_str(&line);
    }
    out.push_str(&format!("\nreports in {}", reports.display()));
    out
}

/// A claim an experiment checks on its own result, measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub required: String,
    pub measured: String,
    pub met: bool,
}

impl Target {
    /// `[met] <name>: <measured> (required <required>)`: the target's line in a summary.
    pub fn line(&self) -> String {
        format!(
            "[{}] {}: {} (required {})",
            if self.met { "met" } else { "NOT met" },
            self.name,
            self.measured,
            self.required
        )
    }
}

/// One cell of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// Shown with 3 decimals in Markdown; NaN (a number the row does not report) as `NaN`.
    Number(f64),
    Count(u64),
    Flag(bool),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Number(v)
    }
}

impl From<u64> for Cell {
    fn from(n: u64) -> Self {
        Cell::Count(n)
    }
}

impl From<bool> for Cell {
    fn from(b: bool) -> Self {
        Cell::Flag(b)
    }
}

/// A table built a row at a time: ours first, then the paper's. A row gives its cells in the
/// order of the columns; one shorter than the header ends in NaN (the paper reports fewer
/// numbers than we measure), so its missing cells must fall in number columns.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Self {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: vec![],
        }
    }

    /// Adds a row (see the type's docs for a short one).
    pub fn row(&mut self, cells: Vec<Cell>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    /// The table as a DataFrame: each column of one kind (text, numbers, counts or flags).
    pub fn frame(&self) -> Result<DataFrame> {
        let mut columns = Vec::with_capacity(self.columns.len());
        for (j, name) in self.columns.iter().enumerate() {
            let cells: Vec<Cell> = self
                .rows
                .iter()
                .map(|r| r.get(j).cloned().unwrap_or(Cell::Number(f64::NAN)))
                .collect();
            columns.push(column(name, &cells)?);
        }
        for (i, r) in self.rows.iter().enumerate() {
            if r.len() > self.columns.len() {
                bail!(
                    "row {i} of a table has {} cells for {} columns: give one per column",
                    r.len(),
                    self.columns.len()
                );
            }
        }
        Ok(DataFrame::new_infer_height(columns)?)
    }
}

/// One column of cells of the first cell's kind.
fn column(name: &str, cells: &[Cell]) -> Result<Column> {
    match cells.first() {
        None | Some(Cell::Text(_)) => typed(name, cells, |c| match c {
            Cell::Text(s) => Some(s.clone()),
            _ => None,
        }),
        Some(Cell::Number(_)) => typed(name, cells, |c| match c {
            Cell::Number(v) => Some(*v),
            _ => None,
        }),
        Some(Cell::Count(_)) => typed(name, cells, |c| match c {
            Cell::Count(n) => Some(*n),
            _ => None,
        }),
        Some(Cell::Flag(_)) => typed(name, cells, |c| match c {
            Cell::Flag(b) => Some(*b),
            _ => None,
        }),
    }
}

/// The column `name` of the values `value` reads from `cells`; an error names the first cell
/// of another kind.
fn typed<T>(name: &str, cells: &[Cell], value: impl Fn(&Cell) -> Option<T>) -> Result<Column>
where
    polars::prelude::Series: NamedFrom<Vec<T>, [T]>,
{
    let values = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            value(c).with_context(|| {
                format!(
                    "column {name:?}: row {i} holds {c:?}, unlike the column's first row: \
                     give every row of a column the same kind of cell"
                )
            })
        })
        .collect::<Result<Vec<T>>>()?;
    Ok(Column::new(name.into(), values))
}

/// A committed model's folder as the repository names it (`data/checkpoints/r1-10M`), however
/// the data folder was reached (a notebook passes an absolute one): a report carries no path of
/// the machine that wrote it. Other paths are shown as given.
pub fn repo_path(model: &str) -> String {
    let model = model.replace('\\', "/");
    match model.rfind("data/checkpoints/") {
        Some(i) => model[i..].to_string(),
        None => model,
    }
}

/// A line chart of `series` against RL steps, without reference lines, its y range from the
/// data (set `y_range` for shares: `LineChart { y_range: Some((0.0, 1.0)), ..over_steps(…) }`).
pub fn over_steps(title: impl Into<String>, y_label: &str, series: Vec<Series>) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "RL step".into(),
        y_label: y_label.into(),
        series,
        ref_lines: vec![],
        y_range: None,
    }
}

/// `f` of each metrics row against the row's step, the rows where `f` is not a number (an
/// evaluation row's training metrics, a training row's held-out ones) left out.
pub fn step_series<'m>(
    name: &str,
    rows: impl IntoIterator<Item = &'m StepMetrics>,
    f: impl Fn(&StepMetrics) -> f64,
    solid: bool,
) -> Series {
    Series {
        name: name.into(),
        points: rows
            .into_iter()
            .map(|m| (m.step as f64, f(m)))
            .filter(|p| p.1.is_finite())
            .collect(),
        solid,
    }
}

/// The moving average over the last `w` points (fewer at the start), for noisy per-step curves.
pub fn moving_average(points: &[(f64, f64)], w: usize) -> Vec<(f64, f64)> {
    (0..points.len())
        .map(|i| {
            let lo = i.saturating_sub(w - 1);
            let win = &points[lo..=i];
            (
                points[i].0,
                win.iter().map(|p| p.1).sum::<f64>() / win.len() as f64,
            )
        })
        .collect()
}

/// The metrics rows of several runs as one CSV, a `stage` column first, then the union of the
/// runs' columns: runs with other rewards have other `reward_*` columns (R1's ablation has no
/// `reward_language_consistency`), so each value goes under its own name, and a cell is empty
/// where a run lacks the column or its value is not a number. A column one run adds stands after
/// the column it follows in that run.
pub fn stage_metrics_csv(rows: &[(String, StepMetrics)]) -> String {
    let mut names: Vec<String> = vec![];
    for (_, m) in rows {
        let mut at = 0;
        for (name, _) in m.columns() {
            match names.iter().position(|n| *n == name) {
                Some(i) => at = i + 1,
                None => {
                    names.insert(at, name);
                    at += 1;
                }
            }
        }
    }
    let mut csv = format!("stage,{}\n", names.join(","));
    for (stage, m) in rows {
        let cols = m.columns();
        csv.push_str(stage);
        for name in &names {
            csv.push(',');
            if let Some((_, v)) = cols.iter().find(|(n, _)| n == name) {
                if v.is_finite() {
                    csv.push_str(&format!("{v}"));
                }
            }
        }
        csv.push('\n');
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_model_is_named_from_the_repository_root() {
        assert_eq!(
            repo_path("/home/me/r1lab/data/checkpoints/r1-10M"),
            "data/checkpoints/r1-10M"
        );
        assert_eq!(
            repo_path("data/checkpoints/base-10M"),
            "data/checkpoints/base-10M"
        );
        assert_eq!(
            repo_path("runs/r1-smoke/checkpoint"),
            "runs/r1-smoke/checkpoint"
        );
    }

    fn step(step: usize, rewards: &[&str], lr: f64) -> StepMetrics {
        StepMetrics {
            step,
            reward_mean: 1.0,
            reward_std: 0.5,
            rewards: rewards.iter().map(|r| (r.to_string(), 0.5)).collect(),
            accuracy: 0.25,
            format_rate: 0.75,
            completion_len_mean: 40.0,
            completion_len_max: 64.0,
            reflection_rate: 0.5,
            truncation_rate: 0.0,
            zero_variance_frac: 0.0,
            sampled_groups: 2.0,
            kl: 0.0,
            clip_low: 0.0,
            clip_high: 0.0,
            entropy: 0.2,
            loss: 0.0,
            grad_norm: 1.0,
            lr,
            tokens_per_s: 1234.0,
            wall_s: 0.5,
            eval_pass_at_1: f64::NAN,
            eval_cons_at_k: f64::NAN,
        }
    }

    /// The cell of `column` in data row `row` of `csv`.
    fn cell(csv: &str, row: usize, column: &str) -> String {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let i = header.iter().position(|h| *h == column).unwrap();
        lines
            .nth(row)
            .unwrap()
            .split(',')
            .nth(i)
            .unwrap()
            .to_string()
    }

    #[test]
    fn stage_metrics_put_every_value_under_its_own_column() {
        let full = ["accuracy", "format", "language_consistency"];
        let rows = vec![
            ("with".to_string(), step(1, &full, 2e-5)),
            // The ablation has one reward column fewer: its cells must not shift left.
            ("without".to_string(), step(1, &full[..2], 3e-5)),
            // A reward no earlier stage had stands after the one it follows.
            (
                "more".to_string(),
                step(2, &["accuracy", "format", "overlong"], 4e-5),
            ),
        ];
        let csv = stage_metrics_csv(&rows);
        let header = csv.lines().next().unwrap();
        assert!(
            header.starts_with("stage,step,reward_mean,reward_std,reward_accuracy,reward_format,reward_overlong,reward_language_consistency,accuracy"),
            "{header}"
        );
        let width = header.split(',').count();
        assert!(csv.lines().all(|l| l.split(',').count() == width), "{csv}");
        for (row, lr) in [(0, "0.00002"), (1, "0.00003"), (2, "0.00004")] {
            assert_eq!(cell(&csv, row, "lr"), lr, "{csv}");
            assert_eq!(cell(&csv, row, "tokens_per_s"), "1234", "{csv}");
            assert_eq!(cell(&csv, row, "eval_pass_at_1"), "", "{csv}");
        }
        assert_eq!(cell(&csv, 0, "reward_language_consistency"), "0.5");
        assert_eq!(cell(&csv, 1, "reward_language_consistency"), "");
        assert_eq!(cell(&csv, 1, "reward_format"), "0.5");
        assert_eq!(cell(&csv, 2, "reward_overlong"), "0.5");
        assert_eq!(cell(&csv, 0, "reward_overlong"), "");
    }

    #[test]
    fn a_table_is_built_row_by_row_with_nan_for_what_the_paper_does_not_report() {
        let mut t = Table::new(["model", "pass@1", "cons@4", "count", "met"]);
        t.row(vec![
            "ours".into(),
            0.5.into(),
            0.25.into(),
            3u64.into(),
            true.into(),
        ]);
        t.row(vec!["paper".into(), 0.71.into(), f64::NAN.into()]);
        // The short row ends in number columns only where the columns hold numbers.
        assert!(t.frame().is_err());
        let mut t = Table::new(["model", "pass@1", "cons@4"]);
        t.row(vec!["ours".into(), 0.5.into(), 0.25.into()]);
        t.row(vec!["paper".into(), 0.71.into()]);
        let df = t.frame().unwrap();
        assert_eq!(
            table::to_markdown(&df),
            "| model | pass@1 | cons@4 |\n|---|---|---|\n| ours | 0.500 | 0.250 |\n| paper | 0.710 | NaN |\n"
        );
        let mut wrong = Table::new(["model"]);
        wrong.row(vec!["a".into()]).row(vec![1.0.into()]);
        let err = wrong.frame().unwrap_err().to_string();
        assert!(
            err.contains("\"model\"") && err.contains("same kind"),
            "{err}"
        );
    }

    #[test]
    fn the_writer_puts_tables_targets_and_copies_in_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let reports = Reports::at(&tmp.path().join("reports"));
        let targets = [Target {
            name: "pass@1 rises".into(),
            required: "+0.25".into(),
            measured: "0.1 -> 0.4".into(),
            met: true,
        }];
        reports.targets("t", &targets, "# T").unwrap();
        let csv = std::fs::read_to_string(reports.dir().join("t.csv")).unwrap();
        assert_eq!(
            csv,
            "target,required,measured,met\npass@1 rises,+0.25,0.1 -> 0.4,true\n"
        );
        assert_eq!(
            targets[0].line(),
            "[met] pass@1 rises: 0.1 -> 0.4 (required +0.25)"
        );
        // A missing source is no error (a run without metrics), an existing one is copied.
        reports
            .copy(&tmp.path().join("missing.csv"), "m.csv")
            .unwrap();
        assert!(!reports.dir().join("m.csv").exists());
        std::fs::write(tmp.path().join("metrics.csv"), "step\n1\n").unwrap();
        reports
            .copy(&tmp.path().join("metrics.csv"), "m.csv")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(reports.dir().join("m.csv")).unwrap(),
            "step\n1\n"
        );
    }

    #[test]
    fn moving_averages_use_fewer_points_at_the_start() {
        let pts = [(1.0, 1.0), (2.0, 3.0), (3.0, 5.0)];
        assert_eq!(
            moving_average(&pts, 2),
            vec![(1.0, 1.0), (2.0, 2.0), (3.0, 4.0)]
        );
    }
}
