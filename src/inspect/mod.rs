//! Looking inside a GRPO run (issue 22): what its files hold, drawn so that a workshop participant
//! can *see* the run rather than read its summary numbers.
//!
//! * [`viewer`]: the rollout viewer — a few groups at steps 0, 25, 50, …, every completion with
//!   its reward and advantage, coloured (HTML, inline in evcxr);
//! * [`forms`]: the share of direct answers, derivations and checked guesses
//!   ([`crate::completion::CompletionForm`]) in each step's rollouts, stacked;
//! * [`signals`]: KL to the reference, entropy, zero-variance groups, clip fractions, gradient
//!   norm and rewards from `metrics.csv`;
//! * [`pass_at_k`]: pass@k against k before and after RL, from two evaluations;
//! * [`chart`]: the charts these draw (whole-number step axes, legends above the plot).
//!
//! Everything reads what a run already wrote (`metrics.csv`, `samples.jsonl`, the checkpoint's
//! `trainer_state.json` for the template and the advantage scaling, and the evaluations R1-Zero
//! saves in `<run>/eval_reports/`), so it works on any finished or running run folder:
//! [`inspect_run`] is `r1lab inspect --run runs/r1-zero`, and [`write_inspection`] is what
//! [`crate::experiments::r1_zero`] calls to put the same charts in `reports/`.

//! In a notebook, each view is the value of a cell, rendered inline:
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use r1lab::inspect::{form_shares, forms_chart, read_run, rollout_view, ViewOptions};
//! let run = read_run(std::path::Path::new("runs/r1-zero"))?;
//! let opts = ViewOptions { every: 50, ..Default::default() };
//! let view = rollout_view(&run.samples, &opts, "R1-Zero"); // `view` alone in a cell shows it
//! let shares = form_shares(&run.samples, run.config.template.prompt_opens_think());
//! println!("first step {:?}, last {:?}", shares[0].shares, shares[shares.len() - 1].shares);
//! forms_chart(&shares, 10, "R1-Zero: completion forms").save("reports/forms".as_ref())?;
//! # Ok(()) }
//! ```

pub mod chart;
pub mod forms;
pub mod knob_chart;
pub mod pass_at_k;
pub mod signals;
pub mod viewer;

pub use chart::{Panel, PanelChart, StackedChart};
pub use forms::{form_shares, forms_chart, FormShares};
pub use pass_at_k::{pass_at_k_chart, pass_at_k_curve};
pub use signals::signals_chart;
pub use viewer::{rollout_view, RolloutView, ViewOptions};

use crate::eval::EvalReport;
use crate::grpo::{read_metrics, read_samples, GrpoConfig, SampleRecord, StepMetrics};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a run folder holds for inspection.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub metrics: Vec<StepMetrics>,
    pub samples: Vec<SampleRecord>,
    /// The run's GRPO settings (from its checkpoint; the defaults when it has none yet).
    pub config: GrpoConfig,
}

/// Reads `run`'s `metrics.csv`, `samples.jsonl` and, when present, its checkpoint's settings.
pub fn read_run(run: &Path) -> Result<RunFiles> {
    let metrics_path = run.join("metrics.csv");
    if !metrics_path.exists() {
        bail!(
            "{} has no metrics.csv: give the folder of a GRPO run (e.g. runs/r1-zero, written by \
             r1lab r1-zero)",
            run.display()
        );
    }
    let state = run.join("checkpoint").join("trainer_state.json");
    let config = match std::fs::read_to_string(&state) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", state.display()))?;
            serde_json::from_value(v["config"].clone())
                .with_context(|| format!("{} holds no readable GRPO settings", state.display()))?
        }
        Err(_) => GrpoConfig::default(),
    };
    Ok(RunFiles {
        metrics: read_metrics(&metrics_path)?,
        samples: read_samples(&run.join("samples.jsonl"))?,
        config,
    })
}

/// Reads an evaluation: an [`EvalReport`] as JSON, or a cached one (`runs/r1/evals/*.json`,
/// the report under `"report"`).
pub fn read_eval(path: &Path) -> Result<EvalReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let report = match v.get("report") {
        Some(r) => r.clone(),
        None => v,
    };
    serde_json::from_value(report).with_context(|| {
        format!(
            "{} is not an evaluation report: give one written by r1lab (e.g. runs/r1-zero/eval_reports/base.json)",
            path.display()
        )
    })
}

/// Where a run keeps the evaluations before and after RL that [`inspect_run`] reads: plain
/// reports, not in `evals/`, whose files are cached evaluations with their weights' fingerprint
/// and dtype ([`crate::experiments::EvalSpec::evaluate_cached`]).
pub fn eval_path(run: &Path, label: &str) -> PathBuf {
    run.join("eval_reports").join(format!("{label}.json"))
}

/// Saves `report` as `<run>/eval_reports/<label>.json`, for [`inspect_run`] to find later.
pub fn save_eval(run: &Path, label: &str, report: &EvalReport) -> Result<()> {
    let path = eval_path(run, label);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::checkpoint::atomic_write(&path, serde_json::to_string(report)?.as_bytes())
}

/// Writes, into `out`, `fig_<name>_rollouts.html`, `fig_<name>_completion_forms.{svg,png,csv}`,
/// `fig_<name>_training_signals.{svg,png}` and, given the evaluations before and after RL,
/// `fig_<name>_pass_at_k.{svg,png}`; `label` names the run in the titles, `every` spaces the
/// viewer's steps. Returns the files written.
pub fn write_inspection(
    run: &RunFiles,
    evals: Option<(&EvalReport, &EvalReport)>,
    out: &Path,
    name: &str,
    label: &str,
    every: usize,
) -> Result<Vec<PathBuf>> {
    let stem = |what: &str| out.join(format!("fig_{name}_{what}"));
    let opens = run.config.template.prompt_opens_think();
    let mut written = vec![];
    let opts = ViewOptions {
        every,
        prompts: 2,
        prompt_opens_think: opens,
        scale: run.config.advantage_scale,
        signal_first: true,
    };
    let html = stem("rollouts").with_extension("html");
    rollout_view(
        &run.samples,
        &opts,
        &format!("{label}: rollouts and their advantages"),
    )
    .save(&html)?;
    written.push(html);
    let shares = form_shares(&run.samples, opens);
    let window = if shares.len() >= 50 { 10 } else { 1 };
    let forms = forms_chart(
        &shares,
        window,
        &format!("{label}: completion forms over training"),
    );
    forms.save(&stem("completion_forms"))?;
    let csv = stem("completion_forms").with_extension("csv");
    crate::checkpoint::atomic_write(&csv, forms::shares_csv(&shares).as_bytes())?;
    written.push(csv);
    let signals = signals_chart(&run.metrics, &format!("{label}: training signals"));
    signals.save(&stem("training_signals"))?;
    written.extend(["completion_forms", "training_signals"].map(|w| stem(w).with_extension("svg")));
    if let Some((before, after)) = evals {
        let title = format!("{label}: pass@k against k, before and after RL");
        pass_at_k_chart(&[("before RL", before), ("after RL", after)], &title)?
            .save(&stem("pass_at_k"))?;
        written.push(stem("pass_at_k").with_extension("svg"));
    }
    Ok(written)
}

/// The viewer's spacing for a run of `steps` steps: about eight shown steps (every 25 of 200).
pub fn viewer_every(steps: usize) -> usize {
    (steps / 8).max(1)
}

/// The name of a run's figures: its folder's name without dashes (`runs/r1-zero` → `r1zero`,
/// the experiment's own `fig_r1zero_*`).
pub fn figure_name(run: &Path) -> String {
    let name = run
        .file_name()
        .map(|n| n.to_string_lossy().replace('-', ""))
        .unwrap_or_default();
    if name.is_empty() {
        "run".into()
    } else {
        name
    }
}

/// `r1lab inspect`: reads `run` and writes its figures into `out` (see [`write_inspection`]),
/// with pass@k when both evaluations are found (`before`/`after`, or `<run>/eval_reports/base.json` and
/// `<run>/eval_reports/r1-zero.json`); `every` spaces the viewer's steps (default [`viewer_every`]).
/// Returns the files written.
pub fn inspect_run(
    run: &Path,
    out: &Path,
    before: Option<&Path>,
    after: Option<&Path>,
    every: Option<usize>,
) -> Result<Vec<PathBuf>> {
    let files = read_run(run)?;
    let every = every.unwrap_or_else(|| viewer_every(files.config.steps));
    let before = before.map_or_else(|| eval_path(run, "base"), Path::to_path_buf);
    let after = after.map_or_else(|| eval_path(run, "r1-zero"), Path::to_path_buf);
    let evals = match (before.exists(), after.exists()) {
        (true, true) => Some((read_eval(&before)?, read_eval(&after)?)),
        _ => None,
    };
    let name = figure_name(run);
    write_inspection(
        &files,
        evals.as_ref().map(|(b, a)| (b, a)),
        out,
        &name,
        &run.file_name()
            .map_or_else(|| run.display().to_string(), |n| n.to_string_lossy().into()),
        every,
    )
}

/// A training completion of step `step` for the tests.
#[cfg(test)]
pub(crate) fn test_record(step: usize, completion: &str, reward: f64) -> SampleRecord {
    SampleRecord {
        step,
        problem_id: format!("p{step}"),
        question: "What is 9 + 1?".into(),
        completion: completion.into(),
        reward,
        correct: reward >= 2.0,
        num_tokens: completion.len() / 3,
        advantage: None,
    }
}
