//! GRPO and two of its successors on the same task and budget (beyond the paper; notebook
//! `06_grpo_variants`):
//!
//! * **GRPO** — the paper's objective (R1 eq. 1–3) with the R1-Zero settings: group-std
//!   advantages, per-sequence mean, ε = 0.2 on both sides, β = 0.001. This is the R1-Zero run
//!   itself, reused.
//! * **Dr. GRPO** (Liu et al., arXiv 2503.20783) — no division by the group's std, a constant
//!   normaliser (completions × maximum length) instead of the 1/|o_i| of each completion, no KL.
//! * **DAPO** (Yu et al., arXiv 2503.14476) — clip-higher (ε_high = 0.28), token-level mean,
//!   dynamic sampling (groups whose answers are all right or all wrong are dropped, DAPO eq. 11,
//!   and fresh questions refill the batch, at most [`DAPO_SAMPLING_ROUNDS`] rounds), overlong
//!   filtering (truncated completions leave the loss), the soft overlong penalty, no KL.
//!
//! Same base checkpoint, task, steps, G, questions per step, completion length, learning rate,
//! seeds and held-out evaluation for all three; each variant changes only what its authors
//! changed. Writes `grpo_variants_{reward,length,accuracy}` (charts) and `grpo_variants` (table).
//!
//! Departures: DAPO's refill is capped at [`DAPO_SAMPLING_ROUNDS`] rounds (verl's
//! `max_num_gen_batches`), so a step may train on fewer than `prompts_per_step` groups. The
//! budget is the same number of updates; the table gives each variant's sampled completions and
//! wall time. (Until 2026-12-03 a group counted as flat only when its *total* rewards were all
//! equal; the overlong penalty then made groups of wrong answers count, and DAPO collapsed to
//! direct answers: `reports/LOG.md`.)

use super::findings::{write_findings, Finding};
use super::report::{self, moving_average, over_steps, step_series, Reports};
use super::{r1_zero, rl_stage, task_by_name, EvalSpec, RunContext, Scale};
use crate::eval::bootstrap::Direction;
use crate::grpo::{GroupFilter, GrpoConfig, LossAggregation, StepMetrics};
use crate::report::{LineChart, Series};
use crate::rewards::{OverlongPenalty, RewardSet};
use crate::tasks;
use anyhow::{Context, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// DAPO's refill cap: rollout rounds per step at most.
pub const DAPO_SAMPLING_ROUNDS: usize = 3;
/// DAPO's soft overlong penalty starts this many tokens before the maximum length (DAPO: 4,096 of
/// 20,480, a fifth; ours a quarter of 128).
pub const DAPO_OVERLONG_CACHE: usize = 32;

/// One variant: its name, what it changes, and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    /// What differs from GRPO, in words.
    pub changes: String,
    pub grpo: GrpoConfig,
    /// DAPO's soft overlong penalty, starting this many tokens before the maximum length.
    pub overlong_cache: Option<usize>,
}

impl Variant {
    /// The variant's rewards: R1-Zero's accuracy + format, plus the overlong penalty if any.
    pub fn rewards(&self) -> Result<RewardSet> {
        let set = RewardSet::r1_zero(self.grpo.template.prompt_opens_think());
        match self.overlong_cache {
            None => Ok(set),
            Some(cache) => set.with(
                OverlongPenalty::new(self.grpo.max_completion_length, cache)?,
                1.0,
            ),
        }
    }

    /// A folder name for the variant.
    pub fn slug(&self) -> String {
        self.name
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    }
}

/// The three variants on the R1-Zero settings `grpo`.
pub fn variants(grpo: &GrpoConfig) -> Vec<Variant> {
    vec![
        Variant {
            name: "GRPO".into(),
            changes: "the paper: group-std advantages, per-sequence mean, ε 0.2, β 0.001".into(),
            grpo: grpo.clone(),
            overlong_cache: None,
        },
        Variant {
            name: "Dr. GRPO".into(),
            changes: "no std division, constant normaliser (completions × max length), β 0".into(),
            grpo: GrpoConfig {
                advantage_scale: crate::grpo::Scale::None,
                aggregation: LossAggregation::ConstantNorm,
                beta: 0.0,
                ..grpo.clone()
            },
            overlong_cache: None,
        },
        Variant {
            name: "DAPO".into(),
            changes: format!(
                "ε_high 0.28, token-level mean, dynamic sampling on accuracy (≤ {DAPO_SAMPLING_ROUNDS} rounds), overlong filtering and soft penalty ({DAPO_OVERLONG_CACHE} tokens), β 0"
            ),
            grpo: GrpoConfig {
                eps_high: 0.28,
                aggregation: LossAggregation::TokenMean,
                dynamic_sampling: true,
                group_filter: GroupFilter::Accuracy,
                max_sampling_rounds: DAPO_SAMPLING_ROUNDS,
                mask_truncated: true,
                beta: 0.0,
                ..grpo.clone()
            },
            overlong_cache: Some(DAPO_OVERLONG_CACHE),
        },
    ]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantsConfig {
    /// The shared settings (base, task, budget, evaluation): the R1-Zero preset. The GRPO
    /// variant is the R1-Zero run.
    pub r1_zero: r1_zero::R1ZeroConfig,
    /// Where the R1-Zero run is (run there first when it is not finished).
    pub r1_zero_run_dir: PathBuf,
    pub variants: Vec<Variant>,
}

/// The run folder's name ([`RunContext::run_dir`]).
pub const RUN_NAME: &str = "grpo-variants";

impl VariantsConfig {
    /// The preset of `scale`, its GRPO run being the R1-Zero run of `ctx` at that scale.
    pub fn preset(scale: Scale, ctx: &RunContext) -> Self {
        let r1_zero = r1_zero::R1ZeroConfig::preset(scale);
        Self {
            variants: variants(&r1_zero.grpo),
            r1_zero,
            r1_zero_run_dir: ctx.run_dir(r1_zero::RUN_NAME, scale),
        }
    }
}

/// One variant's run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    pub changes: String,
    pub run_dir: PathBuf,
    /// Every row of its `metrics.csv` (evaluation rows included).
    pub metrics: Vec<StepMetrics>,
    /// The final model on the whole held-out set (the tables' 500 problems), for the intervals.
    pub report: crate::eval::EvalReport,
}

impl VariantResult {
    fn training(&self) -> Vec<&StepMetrics> {
        self.metrics
            .iter()
            .filter(|m| m.reward_mean.is_finite())
            .collect()
    }

    fn evals(&self) -> Vec<&StepMetrics> {
        self.metrics
            .iter()
            .filter(|m| m.eval_pass_at_1.is_finite())
            .collect()
    }

    /// Held-out pass@1 at the first and last evaluation.
    pub fn pass_at_1(&self) -> (f64, f64) {
        let e = self.evals();
        (
            e.first().map_or(f64::NAN, |m| m.eval_pass_at_1),
            e.last().map_or(f64::NAN, |m| m.eval_pass_at_1),
        )
    }

    /// Held-out cons@k at the last evaluation.
    pub fn cons_at_k(&self) -> f64 {
        self.evals().last().map_or(f64::NAN, |m| m.eval_cons_at_k)
    }

    /// Mean of `f` over the first (`last` = false) or last `w` training steps.
    pub fn window_mean(&self, w: usize, last: bool, f: impl Fn(&StepMetrics) -> f64) -> f64 {
        let t = self.training();
        let w = w.min(t.len());
        let rows = if last { &t[t.len() - w..] } else { &t[..w] };
        rows.iter().map(|m| f(m)).sum::<f64>() / w as f64
    }

    /// Question groups sampled over the run (G completions each).
    pub fn sampled_groups(&self, prompts_per_step: usize) -> f64 {
        self.training()
            .iter()
            .map(|m| {
                if m.sampled_groups.is_finite() {
                    m.sampled_groups
                } else {
                    prompts_per_step as f64
                }
            })
            .sum()
    }

    /// Training wall time (the trainer's clock at the last row).
    pub fn wall_s(&self) -> f64 {
        self.metrics.last().map_or(f64::NAN, |m| m.wall_s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantsResult {
    pub variants: Vec<VariantResult>,
    /// Held-out problems of every evaluation.
    pub problems: usize,
    pub k: usize,
    pub group_size: usize,
    pub prompts_per_step: usize,
    /// μ and minibatches per rollout (shared by the variants).
    pub mu: usize,
    pub minibatches: usize,
    pub wall_s: f64,
}

/// Runs every variant (the GRPO one is the R1-Zero run: reused when finished), or resumes the
/// unfinished ones, then writes the reports. `log` receives progress lines.
pub fn run(
    cfg: &VariantsConfig,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<VariantsResult> {
    let reports = Reports::writable(&ctx.reports)?;
    let start = std::time::Instant::now();
    let base = &cfg.r1_zero;
    let test = tasks::read_test_set(&ctx.data.join("tasks"), &base.task)?;
    let held_out = tasks::questions(&test);
    let spec = EvalSpec::new(
        &base.task,
        &test,
        base.eval_problems,
        base.eval_k,
        base.max_new_tokens,
        base.grpo.template,
    );
    let periodic = spec.during_training(base.eval_every);
    let mut out = Vec::new();
    for v in &cfg.variants {
        v.grpo
            .validate()
            .with_context(|| format!("variant {}", v.name))?;
        let dir = if v.grpo == base.grpo && v.overlong_cache.is_none() {
            r1_zero::ensure_finished(base, ctx, &cfg.r1_zero_run_dir, &mut log)?;
            cfg.r1_zero_run_dir.clone()
        } else {
            let dir = run_dir.join(v.slug());
            log(format!(
                "{}: {} steps in {}",
                v.name,
                v.grpo.steps,
                dir.display()
            ));
            rl_stage(
                ctx,
                &base.base,
                task_by_name(&base.task)?,
                Arc::new(v.rewards()?),
                held_out.clone(),
                &v.grpo,
                &dir,
                Some(&periodic),
                base.checkpoint_every,
                |m| {
                    if m.eval_pass_at_1.is_finite() {
                        log(format!(
                            "{} step {}: held-out pass@1 {:.3}",
                            v.name, m.step, m.eval_pass_at_1
                        ))
                    }
                },
            )?;
            dir
        };
        let metrics = crate::grpo::read_metrics(&dir.join("metrics.csv"))?;
        // The R1-Zero run's own cached evaluation for GRPO (same spec, same label).
        let label = match dir == cfg.r1_zero_run_dir {
            true => "r1-zero",
            false => "final",
        };
        let model = ctx.load(&dir.join("checkpoint").to_string_lossy())?;
        let report =
            spec.evaluate_cached(&dir.join("evals"), label, &model.model, model.tokenizer()?)?;
        out.push(VariantResult {
            name: v.name.clone(),
            changes: v.changes.clone(),
            run_dir: dir,
            metrics,
            report,
        });
    }
    let result = VariantsResult {
        variants: out,
        problems: periodic.problems.len(),
        k: base.eval_k,
        group_size: base.grpo.group_size,
        prompts_per_step: base.grpo.prompts_per_step,
        mu: base.grpo.mu,
        minibatches: base.grpo.minibatches,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(&result, &reports)?;
    Ok(result)
}

/// Steps averaged at the start and the end of training in the table (fewer in shorter runs).
const WINDOW: usize = 20;

/// The number of training steps of each variant.
fn training_steps(r: &VariantsResult) -> impl Iterator<Item = usize> + '_ {
    r.variants.iter().map(|v| v.training().len())
}

fn window(r: &VariantsResult) -> usize {
    WINDOW.min(training_steps(r).min().unwrap_or(0)).max(1)
}

/// `f` of each training step of `v`, as its moving average over `smooth` steps.
fn curve(v: &VariantResult, f: impl Fn(&StepMetrics) -> f64, smooth: usize) -> Series {
    let s = step_series(&v.name, v.training(), f, true);
    Series {
        points: moving_average(&s.points, smooth),
        ..s
    }
}

/// The comparison as a table (one row per variant).
pub fn table(r: &VariantsResult) -> Result<DataFrame> {
    let v = &r.variants;
    let col = |f: &dyn Fn(&VariantResult) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let k = r.k;
    let w = window(r);
    Ok(df!(
        "variant" => v.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        "changes from GRPO" => v.iter().map(|x| x.changes.clone()).collect::<Vec<_>>(),
        "pass@1 start" => col(&|x| x.pass_at_1().0),
        "pass@1 end" => col(&|x| x.pass_at_1().1),
        format!("cons@{k} end") => col(&|x| x.cons_at_k()),
        "final pass@1, all problems" => col(&|x| x.report.pass_at_1),
        "final pass@1 low" => col(&|x| x.report.interval("pass@1").map_or(f64::NAN, |c| c.low)),
        "final pass@1 high" => col(&|x| x.report.interval("pass@1").map_or(f64::NAN, |c| c.high)),
        format!("train accuracy last {w}") => col(&|x| x.window_mean(w, true, |m| m.accuracy)),
        format!("length first {w}") => col(&|x| x.window_mean(w, false, |m| m.completion_len_mean)),
        format!("length last {w}") => col(&|x| x.window_mean(w, true, |m| m.completion_len_mean)),
        format!("truncated last {w}") => col(&|x| x.window_mean(w, true, |m| m.truncation_rate)),
        "zero-variance groups" => col(&|x| x.window_mean(usize::MAX, true, |m| m.zero_variance_frac)),
        "clip_high" => col(&|x| x.window_mean(usize::MAX, true, |m| m.clip_high)),
        "completions sampled" => v.iter().map(|x| (x.sampled_groups(r.prompts_per_step) * r.group_size as f64) as u64).collect::<Vec<u64>>(),
        "train wall_s" => col(&|x| x.wall_s())
    )?)
}

/// Each variant against GRPO on the final models' held-out pass@1 (all the problems, paired):
/// its authors claim it does at least as well.
pub fn paired_findings(r: &VariantsResult) -> Result<Vec<Finding>> {
    let Some(grpo) = r.variants.iter().find(|v| v.name == "GRPO") else {
        return Ok(vec![]);
    };
    (r.variants.iter().filter(|v| v.name != "GRPO"))
        .map(|v| {
            Finding::new(
                &format!("{} ≥ GRPO (its authors' claim)", v.name),
                (&v.name, &v.report),
                ("GRPO", &grpo.report),
                "pass@1",
                Direction::Positive,
            )
        })
        .collect()
}

/// What the comparison shows, in sentences with the measured numbers.
pub fn findings(r: &VariantsResult) -> Vec<String> {
    let Some(grpo) = r.variants.iter().find(|v| v.name == "GRPO") else {
        return vec![];
    };
    let w = window(r);
    let (g0, g1) = grpo.pass_at_1();
    let glen = grpo.window_mean(w, true, |m| m.completion_len_mean);
    let mut out = vec![format!(
        "GRPO: held-out pass@1 {g0:.3} → {g1:.3}; mean training length over the last {w} steps {glen:.1} tokens."
    )];
    for v in r.variants.iter().filter(|v| v.name != "GRPO") {
        let (_, p1) = v.pass_at_1();
        let len = v.window_mean(w, true, |m| m.completion_len_mean);
        let sampled =
            v.sampled_groups(r.prompts_per_step) / grpo.sampled_groups(r.prompts_per_step);
        out.push(format!(
            "{}: pass@1 {p1:.3} ({:+.3} vs GRPO); last-{w}-step length {len:.1} tokens ({:+.1}); {sampled:.2}× GRPO's rollouts; {:.0} s vs {:.0} s of training.",
            v.name,
            p1 - g1,
            len - glen,
            v.wall_s(),
            grpo.wall_s()
        ));
    }
    let never_clipped = r.variants.iter().all(|v| {
        v.training()
            .iter()
            .all(|m| m.clip_low == 0.0 && m.clip_high == 0.0)
    });
    if never_clipped {
        let mut line = "The clip never bound (clip_low = clip_high = 0 at every step of every run)"
            .to_string();
        if r.mu == 1 && r.minibatches == 1 {
            line.push_str(
                ": with μ = 1 and one minibatch per rollout each update is on-policy (ρ = 1), so ε and \
                 DAPO's clip-higher change nothing at these settings; the paper splits each rollout \
                 into 16 minibatches",
            );
        }
        line.push('.');
        out.push(line);
    }
    out
}

/// Writes the three curves and the table into `reports`.
pub fn write_reports(r: &VariantsResult, reports: &Reports) -> Result<()> {
    let smooth = 10.min(training_steps(r).max().unwrap_or(0).max(1));
    let curves = |f: fn(&StepMetrics) -> f64| {
        r.variants
            .iter()
            .map(|v| curve(v, f, smooth))
            .collect::<Vec<_>>()
    };
    reports.chart(
        "grpo_variants_reward",
        &LineChart {
            y_range: Some((0.0, 1.0)),
            ..over_steps(
                format!("GRPO variants: accuracy reward on the training batches ({smooth}-step moving average)"),
                "share of correct completions",
                curves(|m| m.accuracy),
            )
        },
    )?;
    reports.chart(
        "grpo_variants_length",
        &over_steps(
            format!("GRPO variants: mean response length on the training batches ({smooth}-step moving average)"),
            "completion length (tokens)",
            curves(|m| m.completion_len_mean),
        ),
    )?;
    let held_out = r
        .variants
        .iter()
        .map(|v| step_series(&v.name, v.evals(), |m| m.eval_pass_at_1, true))
        .collect();
    reports.chart(
        "grpo_variants_accuracy",
        &LineChart {
            y_range: Some((0.0, 1.0)),
            ..over_steps(
                format!(
                    "GRPO variants: held-out pass@1 ({} problems, k = {})",
                    r.problems, r.k
                ),
                "pass@1 (fraction of problems)",
                held_out,
            )
        },
    )?;
    let mut title = format!(
        "# GRPO vs Dr. GRPO vs DAPO (ours; not a table of the paper)\n\n\
         Same base model, task, steps, G = {}, {} questions per step, learning rate and held-out \
         evaluation (pass@1 and cons@{} with k = {}: `start`/`end` on the curves' first {} \
         problems; `final pass@1` on all {} with its 95% bootstrap interval); lengths in tokens on \
         the training batches; `zero-variance groups` and `clip_high` are means over all steps.\n",
        r.group_size,
        r.prompts_per_step,
        r.k,
        r.k,
        r.problems,
        r.variants.first().map_or(0, |v| v.report.problems)
    );
    for f in findings(r) {
        title.push_str(&format!("\n- {f}"));
    }
    let paired = paired_findings(r)?;
    for f in &paired {
        title.push_str(&format!("\n- {}", f.line()));
    }
    reports.table("grpo_variants", &table(r)?, Some(&title))?;
    write_findings(
        reports,
        "findings_variants",
        &paired,
        &format!(
            "# GRPO variants: each final model against GRPO's, on all {} held-out problems",
            r.variants.first().map_or(0, |v| v.report.problems)
        ),
    )
}

/// What `r1lab variants` prints.
pub fn summary(r: &VariantsResult, reports: &Path) -> String {
    report::summary(
        format!("GRPO variants ({:.0} s):", r.wall_s),
        findings(r).into_iter().map(|f| format!("  {f}")),
        reports,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_changes_only_what_its_authors_changed() {
        let base = r1_zero::R1ZeroConfig::preset(Scale::Workshop).grpo;
        let v = variants(&base);
        assert_eq!(v[0].grpo, base);
        let dr = &v[1].grpo;
        assert_eq!(
            GrpoConfig {
                advantage_scale: base.advantage_scale,
                aggregation: base.aggregation,
                beta: base.beta,
                ..dr.clone()
            },
            base
        );
        let dapo = &v[2].grpo;
        assert_eq!(
            GrpoConfig {
                eps_high: base.eps_high,
                aggregation: base.aggregation,
                dynamic_sampling: false,
                group_filter: GroupFilter::Reward,
                max_sampling_rounds: 1,
                mask_truncated: false,
                beta: base.beta,
                ..dapo.clone()
            },
            base
        );
        // DAPO's dynamic sampling drops the groups that are all right or all wrong (its eq. 11),
        // not those whose length-penalised reward happens to tie.
        assert_eq!(dapo.group_filter, GroupFilter::Accuracy);
        assert_eq!(v[2].rewards().unwrap().names().len(), 3);
        assert_eq!(
            v.iter().map(Variant::slug).collect::<Vec<_>>(),
            ["grpo", "drgrpo", "dapo"]
        );
    }
}
