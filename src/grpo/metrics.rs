//! What a GRPO run writes as it goes, in one place: the schema of `metrics.csv` (one
//! [`StepMetrics`] row per step; `reports/README.md` defines every column) with its writer and its
//! reader, the completions of `samples.jsonl` ([`SampleRecord`]), and the cutting back of both to
//! a checkpoint's step when a run resumes.
//!
//! The columns are listed once ([`FIXED_BEFORE`], [`FIXED_AFTER`]; the per-reward columns
//! `reward_<name>` between them): the writer, the reader and the all-NaN evaluation row all walk
//! that list.

use crate::checkpoint;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// One row of `metrics.csv`; `reports/README.md` defines every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub reward_mean: f64,
    pub reward_std: f64,
    /// Mean of each reward function (unweighted), by name.
    pub rewards: BTreeMap<String, f64>,
    pub accuracy: f64,
    pub format_rate: f64,
    pub completion_len_mean: f64,
    pub completion_len_max: f64,
    pub reflection_rate: f64,
    pub truncation_rate: f64,
    pub zero_variance_frac: f64,
    /// Question groups sampled this step (more than `prompts_per_step` when dynamic sampling refilled the batch).
    pub sampled_groups: f64,
    pub kl: f64,
    pub clip_low: f64,
    pub clip_high: f64,
    /// Monte-Carlo entropy estimate: mean −log π of the sampled tokens.
    pub entropy: f64,
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    pub tokens_per_s: f64,
    pub wall_s: f64,
    /// Held-out pass@1 and cons@k when evaluated at this step (NaN otherwise).
    pub eval_pass_at_1: f64,
    pub eval_cons_at_k: f64,
}

/// One fixed column of `metrics.csv`: its name, how a row gives its value, how a read sets it.
pub type Column = (
    &'static str,
    fn(&StepMetrics) -> f64,
    fn(&mut StepMetrics, f64),
);

macro_rules! columns {
    ($($field:ident),* $(,)?) => {
        [$((
            stringify!($field),
            (|m: &StepMetrics| m.$field) as fn(&StepMetrics) -> f64,
            (|m: &mut StepMetrics, v: f64| m.$field = v) as fn(&mut StepMetrics, f64),
        )),*]
    };
}

/// The columns before the per-reward ones.
pub const FIXED_BEFORE: [Column; 3] = [
    (
        "step",
        |m: &StepMetrics| m.step as f64,
        |m: &mut StepMetrics, v: f64| m.step = v as usize,
    ),
    columns!(reward_mean)[0],
    columns!(reward_std)[0],
];

/// The columns after the per-reward ones, in file order.
pub const FIXED_AFTER: [Column; 19] = columns!(
    accuracy,
    format_rate,
    completion_len_mean,
    completion_len_max,
    reflection_rate,
    truncation_rate,
    zero_variance_frac,
    sampled_groups,
    kl,
    clip_low,
    clip_high,
    entropy,
    loss,
    grad_norm,
    lr,
    tokens_per_s,
    wall_s,
    eval_pass_at_1,
    eval_cons_at_k,
);

impl StepMetrics {
    /// A row of step `step` with every value NaN (an empty cell) and the named rewards.
    pub fn blank(step: usize, reward_names: impl IntoIterator<Item = String>) -> Self {
        let mut m = StepMetrics {
            step,
            reward_mean: 0.0,
            reward_std: 0.0,
            rewards: reward_names.into_iter().map(|n| (n, f64::NAN)).collect(),
            accuracy: 0.0,
            format_rate: 0.0,
            completion_len_mean: 0.0,
            completion_len_max: 0.0,
            reflection_rate: 0.0,
            truncation_rate: 0.0,
            zero_variance_frac: 0.0,
            sampled_groups: 0.0,
            kl: 0.0,
            clip_low: 0.0,
            clip_high: 0.0,
            entropy: 0.0,
            loss: 0.0,
            grad_norm: 0.0,
            lr: 0.0,
            tokens_per_s: 0.0,
            wall_s: 0.0,
            eval_pass_at_1: 0.0,
            eval_cons_at_k: 0.0,
        };
        for (_, _, set) in FIXED_BEFORE[1..].iter().chain(&FIXED_AFTER) {
            set(&mut m, f64::NAN);
        }
        m
    }

    /// Column names and values in file order (rewards by name after the first three columns).
    pub fn columns(&self) -> Vec<(String, f64)> {
        let fixed = |cols: &[Column]| -> Vec<(String, f64)> {
            cols.iter()
                .map(|(name, get, _)| (name.to_string(), get(self)))
                .collect()
        };
        let mut out = fixed(&FIXED_BEFORE);
        out.extend(
            self.rewards
                .iter()
                .map(|(k, v)| (format!("reward_{k}"), *v)),
        );
        out.extend(fixed(&FIXED_AFTER));
        out
    }

    /// Columns that depend on the machine's speed, not on the run's numbers.
    pub const TIMING_COLUMNS: [&'static str; 2] = ["tokens_per_s", "wall_s"];
}

/// One scored completion, as written to `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub step: usize,
    pub problem_id: String,
    pub question: String,
    pub completion: String,
    pub reward: f64,
    pub correct: bool,
    pub num_tokens: usize,
    /// The group-relative advantage the update gave this completion (every token of it), as the
    /// trainer computed it over the step's sampled groups. Absent in files written before it
    /// was recorded (read back as `None`; [`crate::inspect`] then recomputes it from the
    /// rewards). With dynamic sampling, a group left out of the batch still has one, though it
    /// entered no loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advantage: Option<f64>,
}

fn csv_value(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

/// Appends one row to `metrics.csv` (header first when the file is new).
pub fn append_metrics(path: &Path, m: &StepMetrics) -> Result<()> {
    let cols = m.columns();
    let header = cols
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    if !new {
        use std::io::BufRead;
        let mut existing = String::new();
        std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .read_line(&mut existing)?;
        let existing = existing.trim_end();
        if existing != header {
            bail!(
                "{} has other columns than this version writes ({existing:?}): \
                 finish that run with the version that started it, or move the run folder away and start again",
                path.display()
            );
        }
    }
    let mut text = String::new();
    if new {
        writeln!(text, "{header}")?;
    }
    writeln!(
        text,
        "{}",
        cols.iter()
            .map(|(_, v)| csv_value(*v))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    checkpoint::append_file(path, text.as_bytes())
}

/// Reads `metrics.csv` back into rows (empty cells are NaN); a malformed row is an error naming
/// its line.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("cannot read the header of {}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    if header.iter().all(|h| h.is_empty()) {
        bail!("{} is empty", path.display());
    }
    let rewards: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            h.strip_prefix("reward_")
                .filter(|n| *n != "mean" && *n != "std")
                .map(|n| (i, n.to_string()))
        })
        .collect();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("cannot read {}", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let cells: Vec<&str> = record.iter().collect();
        let step = row_step(&cells, header.len()).map_err(|e| {
            anyhow::anyhow!(
                "{} line {line}: {e}: the file was edited or damaged; run the experiment again in a \
                 fresh run folder",
                path.display()
            )
        })?;
        let value = |i: usize| cells[i].parse::<f64>().unwrap_or(f64::NAN);
        let mut m = StepMetrics::blank(step, std::iter::empty());
        m.rewards = rewards
            .iter()
            .map(|(i, n)| (n.clone(), value(*i)))
            .collect();
        for (name, _, set) in FIXED_BEFORE[1..].iter().chain(&FIXED_AFTER) {
            if let Some(i) = header.iter().position(|h| h == name) {
                set(&mut m, value(i));
            }
        }
        out.push(m);
    }
    Ok(out)
}

/// The step of one row's cells, given the header's column count, or why the row is malformed.
fn row_step(cells: &[&str], columns: usize) -> std::result::Result<usize, String> {
    if cells.len() != columns {
        return Err(format!(
            "{} values where the header has {columns} columns",
            cells.len()
        ));
    }
    for (i, c) in cells.iter().enumerate() {
        if !c.is_empty() && c.parse::<f64>().is_err() {
            return Err(format!("value {} ({c:?}) is not a number", i + 1));
        }
    }
    match cells[0].parse::<f64>() {
        Ok(s) if s >= 0.0 && s.fract() == 0.0 => Ok(s as usize),
        _ => Err(format!("the step {:?} is not a whole number", cells[0])),
    }
}

/// The step of one `metrics.csv` line with `columns` columns, or why it is malformed.
pub fn metrics_row_step(line: &str, columns: usize) -> std::result::Result<usize, String> {
    row_step(&line.split(',').collect::<Vec<_>>(), columns)
}

/// Appends a step's completions to `samples.jsonl`.
pub fn append_samples(path: &Path, samples: &[SampleRecord]) -> Result<()> {
    let mut text = String::new();
    for s in samples {
        writeln!(text, "{}", serde_json::to_string(s)?)?;
    }
    checkpoint::append_file(path, text.as_bytes())
}

/// Reads `samples.jsonl` back (no file: no samples; a last line cut short by a kill is dropped
/// with a message); a malformed line is an error naming it.
pub fn read_samples(path: &Path) -> Result<Vec<SampleRecord>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    complete_lines(path, &text)
        .into_iter()
        .map(|(n, l)| {
            serde_json::from_str(&l).with_context(|| {
                format!(
                    "{} line {n} is not a sample record: the file was edited or damaged; move the \
                     run folder away to start again",
                    path.display()
                )
            })
        })
        .collect()
}

/// The lines of a file the run appends to, each with its 1-based line number; a last line
/// without its newline (a write cut short by a kill) is left out and reported.
fn complete_lines(path: &Path, text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    if !text.is_empty() && !text.ends_with('\n') {
        if let Some((n, _)) = lines.pop() {
            eprintln!(
                "r1lab: {} line {n} was cut short (a write stopped by a kill): dropped",
                path.display()
            );
        }
    }
    lines
}

/// Keeps the completions sampled before the checkpoint's step (atomically): a resumed run samples
/// the later ones again. Returns how many were dropped; a malformed line is an error naming it.
pub(super) fn truncate_samples(path: &Path, step: usize) -> Result<usize> {
    keep_lines(path, |n, line| {
        let record: SampleRecord = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {n} is not a sample record: the file was edited or damaged; move the run \
                 folder away to start again",
                path.display()
            )
        })?;
        Ok(record.step < step)
    })
}

/// Keeps the header and the rows of steps ≤ `step` (atomically). Returns how many rows were
/// dropped; a malformed row is an error naming the line.
pub(super) fn truncate_metrics(path: &Path, step: usize) -> Result<usize> {
    let mut columns = 0;
    keep_lines(path, |n, line| {
        if n == 1 {
            columns = line.split(',').count();
            return Ok(true);
        }
        let s = metrics_row_step(line, columns).map_err(|e| {
            anyhow::anyhow!(
                "{} line {n}: {e}: the file was edited or damaged; move the run folder away to \
                 start again",
                path.display()
            )
        })?;
        Ok(s <= step)
    })
}

/// Rewrites `path` (atomically) with the complete lines `keep(line number, line)` keeps; no file:
/// nothing to do. Returns how many lines were dropped.
fn keep_lines(path: &Path, mut keep: impl FnMut(usize, &str) -> Result<bool>) -> Result<usize> {
    if !path.exists() {
        return Ok(0);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = String::new();
    let mut dropped = 0;
    for (n, line) in complete_lines(path, &text) {
        if keep(n, &line)? {
            out.push_str(&line);
            out.push('\n');
        } else {
            dropped += 1;
        }
    }
    checkpoint::atomic_write(path, out.as_bytes())?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_without_an_advantage_still_read_and_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.jsonl");
        // A line as written before advantages were recorded, then two with one.
        let old = r#"{"step":0,"problem_id":"p","question":"q","completion":" </think> <answer> 1 </answer>","reward":2.0,"correct":true,"num_tokens":9}"#;
        std::fs::write(&path, format!("{old}\n")).unwrap();
        let new = |step, advantage| SampleRecord {
            step,
            problem_id: "p".into(),
            question: "q".into(),
            completion: "c".into(),
            reward: 1.0,
            correct: false,
            num_tokens: 3,
            advantage,
        };
        append_samples(&path, &[new(1, Some(-0.5)), new(2, Some(0.25))]).unwrap();
        let read = read_samples(&path).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].advantage, None);
        assert_eq!(read[0].reward, 2.0);
        assert_eq!(read[1], new(1, Some(-0.5)));
        // A record without an advantage is written without the field, as before.
        let line = serde_json::to_string(&new(0, None)).unwrap();
        assert!(!line.contains("advantage"), "{line}");
        assert_eq!(truncate_samples(&path, 2).unwrap(), 1);
        let kept = read_samples(&path).unwrap();
        assert_eq!(kept.iter().map(|s| s.step).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(kept[1].advantage, Some(-0.5));
    }
}
