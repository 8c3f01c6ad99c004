//! Why the R1 pipeline's final RL stage (stage 4, §2.3.4) lowers held-out accuracy here. Stage 4
//! starts from the rejection-sampling SFT model (stage 3), whose sampled tokens have little
//! entropy left; at the paper's temperature of 0.7 most groups of G completions come out all
//! right or all wrong and carry no advantage, so each step learns from the one or two groups
//! left, divided by their small std. The probe reruns stage 4 from the same stage-3 checkpoint
//! with one setting changed at a time — at the paper's temperature (0.7) with R1-Zero's learning
//! rate (the stage as first committed), at R1-Zero's temperature (1.0), and at a tenth of the
//! learning rate (the preset since) — each with several seeds, and compares each with stage 3 on
//! the same held-out problems (pooled over seeds, paired): a drop that survives only some
//! settings has found its cause; one that survives every change is the stage's.
//! `reports/final_rl_probe.{csv,md}`; the runs in `<pipeline run>/stage4_probe/`.

use super::findings::{seed_range, write_findings, Finding};
use super::r1_pipeline::R1Config;
use super::report::{Cell, Reports, Table};
use super::{EvalSpec, RunContext, Scale};
use crate::eval::bootstrap::Direction;
use crate::eval::EvalReport;
use crate::grpo::{read_metrics, GrpoConfig};
use crate::rewards::RewardSet;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One setting of stage 4 to try.
#[derive(Debug, Clone)]
pub struct ProbeVariant {
    pub name: String,
    pub grpo: GrpoConfig,
}

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    pub variants: Vec<ProbeVariant>,
    pub seeds: Vec<u64>,
    /// Samples per problem of the probe's evaluations (stage 3 is evaluated alike).
    pub eval_k: usize,
}

impl ProbeConfig {
    /// Stage 4 at the paper's temperature with R1-Zero's learning rate (the committed stage 4
    /// before 2026-12-03), the same at R1-Zero's temperature 1.0, and the preset (the paper's
    /// temperature, a tenth of the learning rate).
    pub fn preset(r1: &R1Config, scale: Scale) -> Self {
        let preset = r1.final_rl.clone();
        let r1_zero_lr = GrpoConfig {
            lr: r1.r1_zero.grpo.lr,
            ..preset.clone()
        };
        let t_one = GrpoConfig {
            temperature: 1.0,
            ..r1_zero_lr.clone()
        };
        // Named by what they are; a setting that equals another (a preset changed by hand) is
        // run once.
        let mut variants: Vec<ProbeVariant> = Vec::new();
        for grpo in [r1_zero_lr, t_one, preset.clone()] {
            if variants.iter().all(|v| v.grpo != grpo) {
                let name = format!(
                    "T {}, lr {:e}{}",
                    grpo.temperature,
                    grpo.lr,
                    if grpo == preset { " (the preset)" } else { "" }
                );
                variants.push(ProbeVariant { name, grpo });
            }
        }
        let (seeds, eval_k) = match scale {
            Scale::Smoke => (vec![0], 2),
            Scale::Workshop => (vec![0, 1, 2], 4),
        };
        Self {
            variants,
            seeds,
            eval_k,
        }
    }
}

/// One variant, pooled over seeds against stage 3.
#[derive(Debug, Clone)]
pub struct ProbeRow {
    pub variant: String,
    pub finding: Finding,
    pub per_seed: Vec<f64>,
    /// Mean over seeds and steps of the share of groups with no signal, and of the entropy.
    pub zero_variance: f64,
    pub entropy: f64,
}

/// Runs (or reuses) every variant × seed from `<run_dir>/stage3_rejection_sft/model` and writes
/// `final_rl_probe.{csv,md}` into `ctx.reports`.
pub fn run(
    r1: &R1Config,
    probe: &ProbeConfig,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<Vec<ProbeRow>> {
    let reports = Reports::writable(&ctx.reports)?;
    let stage3 = run_dir.join("stage3_rejection_sft").join("model");
    anyhow::ensure!(
        stage3.join("config.json").exists(),
        "no stage-3 model in {}: run the R1 pipeline first (`r1lab r1`)",
        stage3.display()
    );
    let stage3 = stage3.to_string_lossy().into_owned();
    let (task, test) = super::task_and_test(ctx, &r1.task, r1.test.as_deref())?;
    let template = r1.final_rl.template;
    let spec = EvalSpec::new(
        &r1.task,
        &test,
        r1.eval_problems,
        probe.eval_k,
        r1.r1_zero.max_new_tokens,
        template,
    );
    let evals = run_dir.join("stage4_probe").join("evals");
    let loaded = ctx.load(&stage3)?;
    let before = spec.evaluate_cached(&evals, "stage3", &loaded.model, loaded.tokenizer()?)?;
    let mut rows = Vec::new();
    let mut afters = Vec::new();
    for v in &probe.variants {
        let mut after = Vec::new();
        let mut signals = Vec::new();
        for &seed in &probe.seeds {
            let grpo = GrpoConfig {
                seed: v.grpo.seed + seed * super::r1_pipeline::SEED_STRIDE,
                ..v.grpo.clone()
            };
            let dir = probe_dir(run_dir, &grpo, seed);
            log(format!(
                "stage 4 probe: {} (seed {seed}) in {}",
                v.name,
                dir.display()
            ));
            let trainer = super::rl_stage(
                ctx,
                &stage3,
                task.clone(),
                Arc::new(RewardSet::r1(template.prompt_opens_think(), r1.target)),
                crate::tasks::questions(&test),
                &grpo,
                &dir,
                None,
                grpo.steps,
                |_| {},
            )?;
            let policy = ctx.for_evaluation(trainer.policy, &dir.join("checkpoint"))?;
            after.push(spec.evaluate_cached(&evals, &label(&dir), &policy, &trainer.tokenizer)?);
            signals.extend(
                read_metrics(&dir.join("metrics.csv"))?
                    .into_iter()
                    .filter(|m| m.step > 0),
            );
        }
        rows.push(row(v, &after, &before, &signals)?);
        log(rows[rows.len() - 1].finding.line());
        afters.push(after);
    }
    let direct = against_the_preset(probe, &afters)?;
    write_reports(&rows, &direct, &before, &reports)?;
    Ok(rows)
}

/// The preset's stage 4 against each other setting, directly: per-problem values pooled over the
/// seeds, paired over the problems (a cause is read from this difference, not from one setting's
/// verdict against stage 3 being reproduced and another's not).
fn against_the_preset(probe: &ProbeConfig, afters: &[Vec<EvalReport>]) -> Result<Vec<Finding>> {
    let Some(p) = probe
        .variants
        .iter()
        .position(|v| v.name.ends_with("(the preset)"))
    else {
        return Ok(vec![]);
    };
    let preset: Vec<&EvalReport> = afters[p].iter().collect();
    (probe.variants.iter().zip(afters).enumerate())
        .filter(|(i, _)| *i != p)
        .map(|(_, (v, after))| {
            let other: Vec<&EvalReport> = after.iter().collect();
            let claim = format!("the preset's stage 4 − stage 4 at {}", v.name);
            Finding::pooled(
                &claim,
                ("preset", &preset),
                (&v.name, &other),
                "pass@1",
                Direction::Positive,
            )
            .map(|(f, _)| f)
        })
        .collect()
}

fn probe_dir(run_dir: &Path, grpo: &GrpoConfig, seed: u64) -> PathBuf {
    let mut key = grpo.clone();
    key.seed = 0;
    let name = format!("stage4-{}", super::run_key::settings_hash(&key));
    super::r1_zero::seeded_dir(&run_dir.join("stage4_probe").join(name), seed)
}

fn label(dir: &Path) -> String {
    dir.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn row(
    v: &ProbeVariant,
    after: &[EvalReport],
    before: &EvalReport,
    signals: &[crate::grpo::StepMetrics],
) -> Result<ProbeRow> {
    let befores: Vec<&EvalReport> = after.iter().map(|_| before).collect();
    let afters: Vec<&EvalReport> = after.iter().collect();
    let (finding, per_seed) = Finding::pooled(
        &format!("stage 4 ({}) − stage 3", v.name),
        ("stage 4", &afters),
        ("stage 3", &befores),
        "pass@1",
        Direction::Positive,
    )
    .context("the probe's evaluations")?;
    let n = signals.len().max(1) as f64;
    Ok(ProbeRow {
        variant: v.name.clone(),
        finding,
        per_seed,
        zero_variance: signals.iter().map(|m| m.zero_variance_frac).sum::<f64>() / n,
        entropy: signals.iter().map(|m| m.entropy).sum::<f64>() / n,
    })
}

fn write_reports(
    rows: &[ProbeRow],
    direct: &[Finding],
    before: &EvalReport,
    reports: &Reports,
) -> Result<()> {
    let mut t = Table::new([
        "stage 4 setting",
        "seeds",
        "stage 3 pass@1",
        "stage 4 pass@1",
        "stage 4 − stage 3",
        "95% CI low",
        "95% CI high",
        "seed min",
        "seed max",
        "zero-variance groups",
        "entropy",
        "verdict (paper: stage 4 ≥ stage 3)",
    ]);
    for r in rows {
        let f = &r.finding;
        let (min, max) = seed_range(&r.per_seed);
        t.row(vec![
            r.variant.as_str().into(),
            (r.per_seed.len() as u64).into(),
            f.b_value.into(),
            f.a_value.into(),
            f.difference.estimate.into(),
            f.difference.low.into(),
            f.difference.high.into(),
            Cell::Number(min),
            Cell::Number(max),
            r.zero_variance.into(),
            r.entropy.into(),
            f.verdict().word().into(),
        ]);
    }
    let title = format!(
        "# Stage 4 probe: the final RL stage rerun from the same stage-3 model\n\n\
         Each setting changes one thing in stage 4; each seed is a run. pass@1 on \
         the {} held-out problems at k = {}; stage 4 − stage 3 pooled over the seeds with its \
         95% paired bootstrap interval; `seed min`/`seed max`: the seeds' own differences. \
         Zero-variance groups and entropy: means over the runs' training steps.",
        before.problems, before.k
    );
    reports.table("final_rl_probe", &t.frame()?, Some(&title))?;
    let mut findings: Vec<Finding> = rows.iter().map(|r| r.finding.clone()).collect();
    findings.extend(direct.iter().cloned());
    write_findings(
        reports,
        "findings_final_rl_probe",
        &findings,
        "# Stage 4 probe: each setting's stage 4 − stage 3, and the preset against each other \
         setting (pooled over seeds: the intervals are over problems, not over seeds)",
    )
}
