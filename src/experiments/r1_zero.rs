//! R1-Zero (paper §2.2): pure RL with GRPO and rule-based rewards (accuracy + format, equal
//! weights), from the base model, with the R1-Zero template and no supervised data.
//!
//! Writes, into the reports folder, the counterparts of Figure 2 (held-out pass@1 and cons@16
//! against RL steps), Figure 3 (mean response length on the training batches), Table 2 (base vs
//! R1-Zero) and Table 3 (the "aha moment": the reflection marker's frequency over training, with
//! real completions).
//!
//! Departures from the paper: the scale (see [`crate::grpo`]); the held-out set is 200 synthetic
//! problems instead of AIME 2024; the short template.

use super::findings::{interval_cells, table_with_intervals, write_findings, Finding};
pub use super::report::Target;
use super::report::{moving_average, over_steps, step_series, Cell, Reports};
use super::{EvalSpec, RunContext, Scale};
use crate::completion;
use crate::eval::bootstrap::Direction;
use crate::eval::{table, EvalReport};
use crate::grpo::{read_metrics, read_samples, SampleRecord};
use crate::grpo::{GrpoConfig, StepMetrics};
use crate::report::{LineChart, RefLine, Series};
use crate::rewards::RewardSet;
use crate::tasks;
use anyhow::{Context, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The run folder's name ([`RunContext::run_dir`]).
pub const RUN_NAME: &str = "r1-zero";

/// The run folder of seed `seed` of an experiment whose seed-0 folder is `dir`: `dir` itself for
/// seed 0 (the committed runs), `<dir>-seed<N>` otherwise.
pub fn seeded_dir(dir: &Path, seed: u64) -> PathBuf {
    match seed {
        0 => dir.to_path_buf(),
        s => PathBuf::from(format!("{}-seed{s}", dir.display())),
    }
}

/// Figure 2: AIME pass@1 at the start and end of R1-Zero training, cons@16 at the end, o1-0912.
pub const PAPER_PASS1_START: f64 = 0.156;
pub const PAPER_PASS1_END: f64 = 0.710;
pub const PAPER_CONS_END: f64 = 0.867;
pub const PAPER_O1_0912_PASS1: f64 = 0.744;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct R1ZeroConfig {
    /// The base checkpoint (a folder or Hub id).
    pub base: String,
    /// `arithmetic` or `countdown`, or a word-problem file (`.jsonl` / `.parquet`) to train on.
    pub task: String,
    /// The held-out word problems of a word-problem `task` (unused for a synthetic task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    pub grpo: GrpoConfig,
    /// The format reward's weight beside accuracy's 1. Paper: 1 (the two summed, §2.2.2);
    /// TinyZero: 0.1. A weight that pays more for the tags than for the answer invites the
    /// format hack (`reports/LOG.md`; `r1lab knobs --knob format-weight`). TRL: `reward_weights`.
    #[serde(default = "one")]
    pub format_weight: f32,
    /// Held-out problems of the tables (the first N of the test set: all 500 at the workshop
    /// scale); the evaluations during training use the first `experiments::CURVE_PROBLEMS`.
    pub eval_problems: usize,
    /// k of pass@1 / cons@k during training (the paper's Figure 2 uses 16).
    pub eval_k: usize,
    pub eval_every: usize,
    pub max_new_tokens: usize,
    pub checkpoint_every: usize,
}

impl R1ZeroConfig {
    pub fn preset(scale: Scale) -> Self {
        let grpo = match scale {
            Scale::Smoke => GrpoConfig {
                steps: 2,
                group_size: 4,
                prompts_per_step: 2,
                // Room for a first answer checked by working (~70 tokens), the base model's
                // commonest derivation: at 48 the smoke R1 teacher finished too few to distil.
                max_completion_length: 96,
                ..Default::default()
            },
            Scale::Workshop => GrpoConfig {
                steps: 200,
                group_size: 8,
                prompts_per_step: 8,
                max_completion_length: 128,
                lr: 1e-4,
                ..Default::default()
            },
        };
        let (eval_problems, eval_k, eval_every) = match scale {
            Scale::Smoke => (4, 4, 1),
            // The whole held-out set (tasks::TEST_SET_SIZE), for intervals of about ±0.04 on
            // pass@1; the curves during training use its first CURVE_PROBLEMS.
            Scale::Workshop => (500, 16, 25),
        };
        Self {
            base: "data/checkpoints/base-1M".into(),
            task: "arithmetic".into(),
            test: None,
            max_new_tokens: grpo.max_completion_length,
            grpo,
            format_weight: 1.0,
            eval_problems,
            eval_k,
            eval_every,
            checkpoint_every: 25,
        }
    }
}

fn one() -> f32 {
    1.0
}

/// What a run folder is keyed by ([`keyed_run_dir`]): every setting that changes what training
/// does, but not the number of steps (a run may be continued for longer), the micro-batch
/// (memory only) or the seed (its own `-seed<N>` suffix).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingKey {
    pub grpo: GrpoConfig,
    pub format_weight: f32,
}

impl R1ZeroConfig {
    pub fn training_key(&self) -> TrainingKey {
        TrainingKey {
            grpo: GrpoConfig {
                steps: 0,
                micro_batch_size: 0,
                seed: 0,
                ..self.grpo.clone()
            },
            format_weight: self.format_weight,
        }
    }

    /// R1-Zero's rule-based reward: accuracy (weight 1) + format (`format_weight`).
    pub fn rewards(&self) -> Result<RewardSet> {
        RewardSet::r1_zero_weighted(self.grpo.template.prompt_opens_think(), self.format_weight)
    }
}

/// Refuses to continue a run in `run_dir` with another format weight than it was trained with
/// (`reward_weights.json`; the GRPO settings are checked by the trainer), and records the weight
/// of a new run. A run from before the file existed gets it.
pub fn check_reward_weights(run_dir: &Path, format_weight: f32) -> Result<()> {
    let path = run_dir.join("reward_weights.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let saved = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["format"].as_f64());
        anyhow::ensure!(
            saved.map(|w| w as f32) == Some(format_weight),
            "the run in {} was trained with format weight {}, not {format_weight}: give the same \
             weight to continue it, or another run folder",
            run_dir.display(),
            saved.map_or("unreadable".into(), |w| w.to_string())
        );
        return Ok(());
    }
    std::fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;
    let json = serde_json::json!({ "accuracy": 1.0, "format": format_weight });
    crate::checkpoint::atomic_write(&path, json.to_string().as_bytes())
}

/// The run folder of `cfg`: `dir` when its training settings are `reference`'s (the preset the
/// flags were applied to), `dir-<hash>` when a setting was changed ([`super::run_key`]), then
/// [`seeded_dir`] for its seed. So a changed setting starts a new run beside the old one.
pub fn keyed_run_dir(dir: &Path, cfg: &R1ZeroConfig, reference: &R1ZeroConfig) -> PathBuf {
    let keyed = super::run_key::keyed_dir(dir, &cfg.training_key(), &reference.training_key());
    seeded_dir(&keyed, cfg.grpo.seed)
}

impl R1ZeroConfig {
    /// Seed `seed` of this experiment: the RL seed (training problems and sampling; `0` is the
    /// committed run). See [`seeded_dir`] for its run folder.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.grpo.seed = seed;
        self
    }

    /// Trains on `task`: a synthetic task by name, or a word-problem file with its held-out file
    /// `test`, prompted with `template` (default: the paper's Table 1 text for a word-problem
    /// file, what a real model gets; the short one is the in-repo models').
    pub fn set_task(
        &mut self,
        task: &str,
        test: Option<&Path>,
        template: Option<tasks::Template>,
    ) -> Result<()> {
        // Whether `test` fits `task` is checked where both are read (`task_and_test`).
        let words = crate::tasks::word_problems::WordProblemTask::is_file_name(task);
        self.task = task.into();
        self.test = test.map(Path::to_path_buf);
        if let Some(t) = template.or(words.then_some(tasks::Template::R1ZeroPaper)) {
            self.grpo.template = t;
        }
        Ok(())
    }
}

/// What the experiment measured (owned, for notebooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct R1ZeroResult {
    pub base: EvalReport,
    pub r1_zero: EvalReport,
    pub metrics: Vec<StepMetrics>,
    pub wall_s: f64,
}

/// Runs R1-Zero: evaluates the base model, trains with GRPO, evaluates the result, writes the
/// reports. `run_dir` holds metrics.csv, samples.jsonl and the checkpoint (resumable).
pub fn run(
    cfg: &R1ZeroConfig,
    ctx: &RunContext,
    run_dir: &Path,
    mut on_step: impl FnMut(&StepMetrics),
) -> Result<R1ZeroResult> {
    let reports = Reports::writable(&ctx.reports)?;
    let start = std::time::Instant::now();
    let (task, test) = super::task_and_test(ctx, &cfg.task, cfg.test.as_deref())?;
    let held_out = tasks::questions(&test);
    let template = cfg.grpo.template;
    let rewards = Arc::new(cfg.rewards()?);
    check_reward_weights(run_dir, cfg.format_weight)?;
    let spec = EvalSpec::new(
        &cfg.task,
        &test,
        cfg.eval_problems,
        cfg.eval_k,
        cfg.max_new_tokens,
        template,
    );
    let base_loaded = ctx.load(&cfg.base)?;
    // Cached by weights in the run folder, so a rerun of a finished run evaluates nothing.
    let evals = run_dir.join("evals");
    let base_report =
        spec.evaluate_cached(&evals, "base", &base_loaded.model, base_loaded.tokenizer()?)?;
    let trainer = super::rl_stage(
        ctx,
        &cfg.base,
        task,
        rewards,
        held_out,
        &cfg.grpo,
        run_dir,
        Some(&spec.during_training(cfg.eval_every)),
        cfg.checkpoint_every,
        &mut on_step,
    )?;
    let policy = ctx.for_evaluation(trainer.policy, &run_dir.join("checkpoint"))?;
    let final_report = spec.evaluate_cached(&evals, "r1-zero", &policy, &trainer.tokenizer)?;
    // Kept beside the run for `r1lab inspect` (pass@k against k before and after RL).
    crate::inspect::save_eval(run_dir, "base", &base_report)?;
    crate::inspect::save_eval(run_dir, "r1-zero", &final_report)?;
    let metrics = read_metrics(&run_dir.join("metrics.csv"))?;
    let result = R1ZeroResult {
        base: base_report,
        r1_zero: final_report,
        metrics,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(&result, run_dir, &reports)?;
    Ok(result)
}

/// Steps averaged at each end of training for the length and reflection comparisons.
pub const ENDS_WINDOW: usize = 10;

fn mean_of(rows: &[StepMetrics], f: impl Fn(&StepMetrics) -> f64) -> f64 {
    let v: Vec<f64> = rows.iter().map(f).filter(|x| x.is_finite()).collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The metrics rows of GRPO steps (row 0, the starting model's evaluation, has no training batch).
fn training_rows(r: &R1ZeroResult) -> Vec<StepMetrics> {
    r.metrics
        .iter()
        .filter(|m| m.completion_len_mean.is_finite())
        .cloned()
        .collect()
}

/// The workshop targets of the R1-Zero experiment (the counterparts of the paper's claims),
/// checked on a result: held-out pass@1 up by at least 25 points; cons@k above pass@1 at the end;
/// mean response length on the training batches at least 1.5× its start (means of the first and
/// last [`ENDS_WINDOW`] steps); the reflection marker more frequent in the last third of training
/// than in the first.
pub fn targets(r: &R1ZeroResult) -> Vec<Target> {
    let train = training_rows(r);
    let w = ENDS_WINDOW.min(train.len() / 2).max(1);
    let (len0, len1) = if train.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (
            mean_of(&train[..w], |m| m.completion_len_mean),
            mean_of(&train[train.len() - w..], |m| m.completion_len_mean),
        )
    };
    let third = (train.len() / 3).max(1).min(train.len());
    let (refl0, refl1) = if train.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (
            mean_of(&train[..third], |m| m.reflection_rate),
            mean_of(&train[train.len() - third..], |m| m.reflection_rate),
        )
    };
    let k = r.base.k;
    let gain = r.r1_zero.pass_at_1 - r.base.pass_at_1;
    vec![
        Target {
            name: "held-out pass@1 rises".into(),
            required: "+0.25 or more".into(),
            measured: format!(
                "{:.3} -> {:.3} ({:+.3})",
                r.base.pass_at_1, r.r1_zero.pass_at_1, gain
            ),
            met: gain >= 0.25,
        },
        Target {
            name: format!("cons@{k} ends above pass@1"),
            required: format!("cons@{k} > pass@1"),
            measured: format!("{:.3} vs {:.3}", r.r1_zero.cons_at_k, r.r1_zero.pass_at_1),
            met: r.r1_zero.cons_at_k > r.r1_zero.pass_at_1,
        },
        Target {
            name: "responses grow longer".into(),
            required: "x1.5 or more".into(),
            measured: format!("{len0:.1} -> {len1:.1} tokens (x{:.2})", len1 / len0),
            met: len1 >= 1.5 * len0,
        },
        Target {
            name: "reflection becomes more frequent".into(),
            required: "last third > first third".into(),
            measured: format!("{refl0:.3} -> {refl1:.3}"),
            met: refl1 > refl0,
        },
    ]
}

/// Writes fig2, fig3, table2, the targets, table3, the run's metrics (from `run_dir`) and the
/// views inside the run ([`crate::inspect`]: `fig_r1zero_rollouts.html`,
/// `fig_r1zero_completion_forms`, `fig_r1zero_training_signals`, `fig_r1zero_pass_at_k`).
pub fn write_reports(r: &R1ZeroResult, run_dir: &Path, reports: &Reports) -> Result<()> {
    let train = training_rows(r);
    write_figures(r, &train, reports)?;
    let run = crate::inspect::read_run(run_dir)?;
    let every = crate::inspect::viewer_every(run.config.steps);
    let evals = Some((&r.base, &r.r1_zero));
    crate::inspect::write_inspection(&run, evals, reports.dir(), "r1zero", "R1-Zero", every)?;

    write_table2(r, reports)?;
    reports.targets(
        "r1zero_targets",
        &targets(r),
        &format!(
            "# R1-Zero: the workshop targets, measured ({} RL steps; training wall time {:.0} s, held-out evaluations excluded)",
            r.metrics.iter().map(|m| m.step).max().unwrap_or(0),
            r.metrics
                .iter()
                .map(|m| m.wall_s)
                .filter(|w| w.is_finite())
                .fold(0.0, f64::max)
        ),
    )?;
    write_aha_moment(
        &train,
        &read_samples(&run_dir.join("samples.jsonl"))?,
        reports,
    )?;
    // The run's per-step metrics beside the figures drawn from them.
    reports.copy(&run_dir.join("metrics.csv"), "r1zero_metrics.csv")
}

/// Table 2: base vs R1-Zero with the 95% intervals of the compared metrics, the paper's AIME rows
/// below; and the findings R1-Zero tests (`findings_r1zero`).
fn write_table2(r: &R1ZeroResult, reports: &Reports) -> Result<()> {
    let k = r.base.k;
    let (cons, passk) = (format!("cons@{k}"), format!("pass@{k}"));
    let compared = ["pass@1", cons.as_str(), passk.as_str()];
    let mut t = table_with_intervals(
        &[
            "model",
            "pass@1",
            &cons,
            &passk,
            "format_rate",
            "mean_length",
        ],
        &compared,
    );
    for (name, e) in [("base (ours)", &r.base), ("R1-Zero (ours)", &r.r1_zero)] {
        let mut row: Vec<Cell> = vec![
            name.into(),
            e.pass_at_1.into(),
            e.cons_at_k.into(),
            e.pass_at_k.into(),
            e.format_rate.into(),
            e.mean_length.into(),
        ];
        row.extend(interval_cells(e, &compared)?);
        t.row(row);
    }
    t.row(vec![
        "DeepSeek-V3-Base (paper)".into(),
        PAPER_PASS1_START.into(),
    ]);
    t.row(vec![
        "DeepSeek-R1-Zero (paper)".into(),
        PAPER_PASS1_END.into(),
        PAPER_CONS_END.into(),
    ]);
    reports.table(
        "table2_r1zero",
        &t.frame()?,
        Some(&format!(
            "# Table 2 (ours): base vs R1-Zero on {} held-out {} problems, k = {k}, temperature 0.6, top-p 0.95\n\nPaper rows: AIME 2024 (cons@64 for R1-Zero). `low`/`high`: the 95% bootstrap interval over the problems.",
            r.base.problems, r.base.task
        )),
    )?;
    let rl = ("R1-Zero", &r.r1_zero);
    let base = ("base", &r.base);
    let findings = [
        Finding::new(
            "Figure 2: RL raises pass@1",
            rl,
            base,
            "pass@1",
            Direction::Positive,
        )?,
        Finding::new(
            "Table 2: RL raises cons@k",
            rl,
            base,
            &cons,
            Direction::Positive,
        )?,
        Finding::new(
            "Figure 3: responses grow longer",
            rl,
            base,
            "mean_length",
            Direction::Positive,
        )?,
        Finding::new(
            "Table 3: reflection grows",
            rl,
            base,
            "reflection_rate",
            Direction::Positive,
        )?,
    ];
    write_findings(
        reports,
        "findings_r1zero",
        &findings,
        &format!(
            "# R1-Zero's findings, tested on {} held-out {} problems (k = {k})",
            r.base.problems, r.base.task
        ),
    )
}

/// Figure 2 (held-out accuracy during RL, the paper's numbers as reference lines) and Figure 3
/// (response length on the training batches, `train`).
fn write_figures(r: &R1ZeroResult, train: &[StepMetrics], reports: &Reports) -> Result<()> {
    let k = r.base.k;
    let paper = |what: &str, y: f64| RefLine {
        label: format!("paper AIME {what} {y}"),
        y,
    };
    let fig2 = over_steps(
        format!(
            "Figure 2 (ours): held-out accuracy of R1-Zero during RL ({})",
            r.base.task
        ),
        "accuracy (fraction of problems)",
        vec![
            step_series("pass@1 (ours)", &r.metrics, |m| m.eval_pass_at_1, true),
            step_series(
                &format!("cons@{k} (ours)"),
                &r.metrics,
                |m| m.eval_cons_at_k,
                true,
            ),
        ],
    );
    reports.chart(
        "fig2_r1zero_accuracy",
        &LineChart {
            ref_lines: vec![
                paper("pass@1 start", PAPER_PASS1_START),
                paper("pass@1 end", PAPER_PASS1_END),
                paper("cons@64 end (Table 2)", PAPER_CONS_END),
            ],
            y_range: Some((0.0, 1.0)),
            ..fig2
        },
    )?;

    let len = step_series(
        "mean response length (tokens)",
        train,
        |m| m.completion_len_mean,
        false,
    );
    let smoothed = Series {
        name: "10-step moving average".into(),
        points: moving_average(&len.points, 10),
        solid: true,
    };
    reports.chart(
        "fig3_r1zero_response_length",
        &over_steps(
            "Figure 3 (ours): mean response length on the training batches (paper: ≈500 → ≈10,000 tokens)",
            "completion length (tokens)",
            vec![len, smoothed],
        ),
    )
}

/// What the completions of one phase of training show about the reflection marker.
struct Phase {
    /// Share right among those with the marker, and among those without.
    accuracy_with: f64,
    accuracy_without: f64,
    /// Share that skip the chain of thought, and the share right among those.
    direct_rate: f64,
    accuracy_direct: f64,
    /// Among those with the marker, the share that state an answer before it and end on a
    /// different, right one: the "aha" proper.
    revised_to_right: f64,
}

/// The samples of steps `lo..hi` read for [`Phase`]: why the marker rises or falls (is a
/// completion with it right more often than one without?) and how many skip the chain of thought.
fn phase(records: &[SampleRecord], lo: usize, hi: usize) -> Phase {
    let in_phase: Vec<&SampleRecord> = records
        .iter()
        .filter(|s| s.step >= lo && s.step < hi)
        .collect();
    let acc = |f: &dyn Fn(&SampleRecord) -> bool| {
        let v: Vec<&&SampleRecord> = in_phase.iter().filter(|s| f(s)).collect();
        let right = v.iter().filter(|s| s.correct).count();
        (right as f64 / v.len().max(1) as f64, v.len())
    };
    let (acc_with, n_with) = acc(&|s| completion::has_reflection(&s.completion));
    let (acc_without, _) = acc(&|s| !completion::has_reflection(&s.completion));
    let (acc_direct, n_direct) = acc(&|s| is_direct_answer(&s.completion));
    // Checks that overturn an answer already given and end right: the "aha" proper.
    let revised_right = in_phase
        .iter()
        .filter(|s| s.correct && completion::revises_answer(&s.completion))
        .count();
    let n = in_phase.len().max(1) as f64;
    Phase {
        accuracy_with: acc_with,
        accuracy_without: acc_without,
        direct_rate: n_direct as f64 / n,
        accuracy_direct: acc_direct,
        revised_to_right: revised_right as f64 / n_with.max(1) as f64,
    }
}

/// Writes Table 3: the reflection marker over training (`train`, the GRPO steps' metrics), with
/// real completions from the run's `records`.
fn write_aha_moment(
    train: &[StepMetrics],
    records: &[SampleRecord],
    reports: &Reports,
) -> Result<()> {
    let third = (train.len() / 3).max(1);
    let rate = |rows: &[StepMetrics]| {
        rows.iter().map(|m| m.reflection_rate).sum::<f64>() / rows.len().max(1) as f64
    };
    let early = rate(&train[..third.min(train.len())]);
    let late = rate(&train[train.len().saturating_sub(third)..]);
    let mut md = format!(
        "# Table 3 (ours): the \"aha moment\" — the reflection marker over training\n\nShare of training completions whose chain of thought contains the reflection marker (\"wait\" / its language-B counterpart): first third of training {early:.3}, last third {late:.3}.\n\nPaper: \"Wait, wait. Wait. That's an aha moment I can flag here.\" (Table 3); the frequency of \"wait\" is near zero early and rises sharply late in training (Nature, Extended Data Fig. 1b).\n\n"
    );
    let with_marker = |s: &&SampleRecord| completion::has_reflection(&s.completion) && s.correct;
    let max_step = records.iter().map(|s| s.step).max().unwrap_or(0);
    for (label, pick) in [
        (
            "An early",
            records
                .iter()
                .filter(|s| s.step < (max_step / 3).max(1))
                .find(with_marker),
        ),
        (
            "A late",
            records
                .iter()
                .rev()
                .filter(|s| s.step >= 2 * max_step / 3)
                .find(with_marker),
        ),
    ] {
        match pick {
            Some(s) => md.push_str(&format!("## {label} completion with reflection (step {}, correct)\n\n**{}**\n\n```\n{}\n```\n\n", s.step, s.question, s.completion)),
            None => md.push_str(&format!("## {label} completion: no correct completion with the reflection marker was sampled\n\n")),
        }
    }
    let cut = (max_step + 1) / 3;
    let first = phase(records, 0, cut.max(1));
    let last = phase(records, max_step + 1 - cut.max(1), max_step + 1);
    let rows = df!(
        "phase" => ["first third", "last third"],
        "reflection_rate" => [early, late],
        "accuracy_with_marker" => [first.accuracy_with, last.accuracy_with],
        "accuracy_without_marker" => [first.accuracy_without, last.accuracy_without],
        "revised_to_right" => [first.revised_to_right, last.revised_to_right],
        "direct_answer_rate" => [first.direct_rate, last.direct_rate],
        "accuracy_direct" => [first.accuracy_direct, last.accuracy_direct]
    )?;
    md.push_str(&table::to_markdown(&rows));
    md.push_str("\n`reflection_rate`: from the per-step metrics. The other columns are computed from the run's samples: the share of training completions that are right among those with and without the marker; `revised_to_right`, among those with the marker, the share that state an answer before it and end on a different, right one (the check overturned a wrong answer); the share that skip the chain of thought (`<think> </think>` empty) and how many of those are right.\n");
    reports.text("table3_aha_moment.md", &md)?;
    reports.table("table3_aha_moment_rates", &rows, None)
}

/// A completion that closes the think block the prompt opened without writing anything in it.
/// (With the paper's template the completion opens the block itself: `<think> </think>`.)
pub fn is_direct_answer(completion: &str) -> bool {
    let c = completion.trim_start();
    c.strip_prefix("<think>")
        .unwrap_or(c)
        .trim_start()
        .starts_with("</think>")
}

/// The checkpoint of a finished R1-Zero run in `run_dir`, running (or resuming) it first when it
/// is not finished; `reports` receives its reports only when it runs.
pub fn ensure_finished(
    cfg: &R1ZeroConfig,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<PathBuf> {
    let ckpt = run_dir.join("checkpoint");
    let state_path = ckpt.join("trainer_state.json");
    let finished = super::recorded(&state_path, "step") == cfg.grpo.steps as f64;
    if finished {
        let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state_path)?)
            .with_context(|| format!("{} is not valid JSON", state_path.display()))?;
        crate::grpo::config::check_same_settings(&ckpt, &state, &cfg.grpo)?;
    }
    if !finished {
        log(format!(
            "R1-Zero: no finished run in {}, running it",
            run_dir.display()
        ));
        run(cfg, ctx, run_dir, |_| {})?;
    }
    Ok(ckpt)
}

/// Share of the completions of the last `window` training steps in `samples` whose chain of
/// thought mixes both languages (NaN without samples).
pub fn late_training_mixing(
    samples: &Path,
    template: tasks::Template,
    window: usize,
) -> Result<f64> {
    let records = read_samples(samples)?;
    let last = records.iter().map(|s| s.step).max().unwrap_or(0);
    let late: Vec<&SampleRecord> = records.iter().filter(|s| s.step + window > last).collect();
    if late.is_empty() {
        return Ok(f64::NAN);
    }
    let mixed = late
        .iter()
        .filter(|s| {
            completion::language_mixing(completion::chain_of_thought(
                &s.completion,
                template.prompt_opens_think(),
            ))
        })
        .count();
    Ok(mixed as f64 / late.len() as f64)
}

/// What `r1lab r1-zero` prints: the before/after line and each target.
pub fn summary(cfg: &R1ZeroConfig, r: &R1ZeroResult, reports: &Path) -> String {
    let mut out = format!(
        "R1-Zero on {}: pass@1 {:.3} -> {:.3}, cons@{k} {:.3} -> {:.3}, mean length {:.1} -> {:.1} ({:.0} s); reports in {}",
        cfg.task,
        r.base.pass_at_1,
        r.r1_zero.pass_at_1,
        r.base.cons_at_k,
        r.r1_zero.cons_at_k,
        r.base.mean_length,
        r.r1_zero.mean_length,
        r.wall_s,
        reports.display(),
        k = cfg.eval_k
    );
    for t in targets(r) {
        out.push_str(&format!("\n  {}", t.line()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_answers_are_empty_think_blocks() {
        assert!(is_direct_answer(" </think> <answer> 12 </answer>"));
        assert!(is_direct_answer("<think> </think> <answer> 12 </answer>"));
        assert!(!is_direct_answer(
            " column 1: 7 + 5 = 12, write 12. </think> <answer> 12 </answer>"
        ));
        assert!(!is_direct_answer(" <answer> 12 </answer>"));
    }
}
