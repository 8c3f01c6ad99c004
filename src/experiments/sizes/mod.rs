//! Each finding across model sizes (beyond the paper; issue 18's figure). The paper reports its
//! second half at one teacher size (671B) and students of 1.5B–70B; TinyZero saw a 0.5B base
//! "guess and stop" where 1.5B+ learnt to search. Here every finding is measured at every size
//! the project has, with its interval, so one sees where it appears and where it does not:
//!
//! * **R1-Zero gain** (Table 2, Figure 2): pass@1 after R1-Zero's RL − before, at every size;
//! * **distilled − RL** (Table 6): on each student, SFT on the R1 teacher's traces − the R1-Zero
//!   recipe applied to that student;
//! * **R1 − R1-Zero** (Table 4): the whole R1 pipeline's final model − R1-Zero, from the same
//!   base, at each pipeline size.
//!
//! The teacher is the R1 pipeline run from the "V3-Base" stand-in (`teacher`, several times the
//! largest student), its cold start collected from its R1-Zero's outputs as the paper collects it.
//! Each finding is pooled over `seeds` ([`Finding::pooled`]: per-problem values averaged over
//! seeds, a paired bootstrap over problems) and the spread of the seeds' own estimates is shown
//! beside it.
//!
//! The pipelines here run without the consistency reward's ablations (those are Table 4's,
//! `r1lab r1`). Every run is one the CLI names the same way (`runs/r1-zero-base-<size>[-seed<N>]`,
//! `runs/r1-base-<size>-cold-r1-zero[-seed<N>]`), so a run made by hand is reused; the sub-runs'
//! own tables go to `<runs>/sizes/reports/`, never over the committed Tables 4–6.

mod plan;
pub mod record;

use super::cold_start::ColdStart;
use super::findings::{seed_range, Finding, ProblemValues};
use super::report::{Cell, Reports, Table};
use super::{r1_zero, RunContext, Scale};
use crate::eval::bootstrap::Direction;
use crate::report::effects::{Effect, EffectChart, EffectSeries};
use anyhow::{Context, Result};
use plan::Plan;
use record::Records;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const RUN_NAME: &str = "sizes";

/// The three findings, as the table and the figure name them.
pub const R1_ZERO_GAIN: &str = "R1-Zero gain (after − before RL)";
pub const DISTILLED_MINUS_RL: &str = "distilled − RL on the same student";
pub const R1_MINUS_R1_ZERO: &str = "R1 − R1-Zero";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizesConfig {
    /// The "V3-Base" stand-in's size, the teacher's base (paper: DeepSeek-V3-Base).
    pub teacher: String,
    /// The students' base sizes (paper: Qwen2.5-Math-1.5B … Llama-3.3-70B).
    pub students: Vec<String>,
    /// Sizes the whole R1 pipeline runs at, for R1 − R1-Zero (the teacher's is always run).
    pub pipeline_sizes: Vec<String>,
    /// Seeds of every training stage (0 is the committed runs'); the paper: one run each.
    pub seeds: Vec<u64>,
    /// The pipelines' cold-start source (the paper's: R1-Zero's outputs).
    pub cold_start: ColdStart,
}

impl SizesConfig {
    pub fn preset(scale: Scale) -> Self {
        match scale {
            Scale::Smoke => Self {
                teacher: "1M".into(),
                students: vec!["0.5M".into()],
                pipeline_sizes: vec![],
                seeds: vec![0],
                cold_start: ColdStart::FromR1Zero,
            },
            Scale::Workshop => Self {
                teacher: "10M".into(),
                students: vec!["0.5M".into(), "1M".into(), "2M".into()],
                pipeline_sizes: vec!["1M".into(), "2M".into()],
                seeds: vec![0, 1, 2],
                cold_start: ColdStart::FromR1Zero,
            },
        }
    }

    /// Every size R1-Zero runs at (students, pipeline sizes and the teacher), smallest first.
    pub fn r1_zero_sizes(&self, data: &Path) -> Result<Vec<String>> {
        let mut all: Vec<String> = self.students.clone();
        all.extend(self.pipeline_sizes.iter().cloned());
        all.push(self.teacher.clone());
        all.sort();
        all.dedup();
        let mut sized = Vec::new();
        for s in all {
            sized.push((params(data, &s)?, s));
        }
        sized.sort();
        Ok(sized.into_iter().map(|(_, s)| s).collect())
    }

    /// Sizes the pipeline runs at: `pipeline_sizes` and the teacher.
    pub fn pipelines(&self) -> Vec<String> {
        let mut p = self.pipeline_sizes.clone();
        if !p.contains(&self.teacher) {
            p.push(self.teacher.clone());
        }
        p
    }

    fn validate(&self, data: &Path) -> Result<()> {
        anyhow::ensure!(
            !self.seeds.is_empty() && !self.students.is_empty(),
            "the sizes experiment needs at least one seed and one student"
        );
        anyhow::ensure!(
            !self.students.contains(&self.teacher),
            "the teacher ({}) must not also be a student: a student learns from a larger model",
            self.teacher
        );
        for s in self.r1_zero_sizes(data)? {
            params(data, &s)?;
        }
        Ok(())
    }
}

/// The base checkpoint of `size`: `<data>/checkpoints/base-<size>`.
pub fn base_of(data: &Path, size: &str) -> PathBuf {
    data.join("checkpoints").join(format!("base-{size}"))
}

fn params(data: &Path, size: &str) -> Result<usize> {
    let config = base_of(data, size).join("config.json");
    let c = crate::model::ModelConfig::from_file(&config).with_context(|| {
        format!(
            "no base model of size {size} ({}): pretrain it with `r1lab pretrain --size {size}`",
            config.display()
        )
    })?;
    Ok(c.num_parameters())
}

/// `<dir><-base-<size> unless 1M, the default base>`, as the CLI names a run from another base.
fn from_base(dir: PathBuf, size: &str) -> PathBuf {
    if size == "1M" {
        dir
    } else {
        PathBuf::from(format!("{}-base-{size}", dir.display()))
    }
}

/// One finding at one size, pooled over the seeds.
#[derive(Debug, Clone)]
pub struct SizePoint {
    pub claim: String,
    pub size: String,
    pub params: usize,
    pub finding: Finding,
    /// Each seed's own estimate of `A − B`.
    pub per_seed: Vec<f64>,
}

/// What the experiment measured (owned, for notebooks).
#[derive(Debug, Clone)]
pub struct SizesResult {
    pub points: Vec<SizePoint>,
    pub wall_s: f64,
}

/// The evaluated models of one seed, each as its per-problem pass@1: R1-Zero's before/after per
/// size, the pipelines' final and R1-Zero stages per size, the distilled students per size.
#[derive(Default)]
struct Seed {
    base: BTreeMap<String, ProblemValues>,
    r1_zero: BTreeMap<String, ProblemValues>,
    r1: BTreeMap<String, (ProblemValues, ProblemValues)>,
    distilled: BTreeMap<String, ProblemValues>,
}

/// Runs (or reuses) every run of `cfg` at `scale` and writes `findings_vs_size.{csv,md}` and
/// `fig_findings_vs_size.{svg,png}` into `ctx.reports`. Each finished unit is kept in its
/// seed's record ([`record`]), so a seed resumes on another machine from what finished.
pub fn run(
    cfg: &SizesConfig,
    ctx: &RunContext,
    scale: Scale,
    mut log: impl FnMut(String),
) -> Result<SizesResult> {
    let start = std::time::Instant::now();
    cfg.validate(&ctx.data)?;
    let reports = Reports::writable(&ctx.reports)?;
    let mut seeds = Vec::new();
    for &seed in &cfg.seeds {
        log(format!("== sizes: seed {seed}"));
        let mut records = Records::open(&Records::path(ctx, scale, seed), seed)?;
        seeds.push(run_seed(cfg, ctx, scale, seed, &mut records, &mut log)?);
    }
    let points = findings(cfg, &ctx.data, &seeds)?;
    write_reports(cfg, &points, &reports)?;
    Ok(SizesResult {
        points,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

/// The sub-runs write their own tables here, not over the committed ones.
fn side_context(ctx: &RunContext, scale: Scale, run: &str) -> RunContext {
    ctx.with_reports(ctx.run_dir(RUN_NAME, scale).join("reports").join(run))
}

fn r1_zero_dir(ctx: &RunContext, scale: Scale, size: &str, seed: u64) -> PathBuf {
    let dir = from_base(ctx.run_dir(r1_zero::RUN_NAME, scale), size);
    r1_zero::seeded_dir(&dir, seed)
}

/// The unit `name` from `records` when it was recorded with `settings`, else `run` it and
/// record what it measured.
fn unit(
    records: &mut Records,
    name: &str,
    settings: &str,
    log: &mut impl FnMut(String),
    run: impl FnOnce(&mut dyn FnMut(String)) -> Result<BTreeMap<String, ProblemValues>>,
) -> Result<BTreeMap<String, ProblemValues>> {
    if let Some(u) = records.get(name, settings) {
        log(format!("{name}: recorded in {}", records.file().display()));
        return Ok(u.values.clone());
    }
    if records.stale(name, settings) {
        log(format!(
            "{name}: recorded in {} with other settings; running it again",
            records.file().display()
        ));
    }
    let start = std::time::Instant::now();
    let values = run(&mut |line| log(line))?;
    records.put(
        name,
        record::Unit {
            settings: settings.to_string(),
            wall_s: start.elapsed().as_secs_f64(),
            values: values.clone(),
        },
    )?;
    Ok(values)
}

fn take(values: &mut BTreeMap<String, ProblemValues>, role: &str) -> Result<ProblemValues> {
    values
        .remove(role)
        .with_context(|| format!("a unit's record has no model \"{role}\": delete the record"))
}

fn run_seed(
    cfg: &SizesConfig,
    ctx: &RunContext,
    scale: Scale,
    seed: u64,
    records: &mut Records,
    log: &mut impl FnMut(String),
) -> Result<Seed> {
    let mut out = Seed::default();
    // The teacher's chain first (its R1-Zero, its pipeline, then distillation from it): the
    // longest run of stages that need each other's folders, so a session that ends leaves it
    // finished or not begun.
    let mut zero_sizes = vec![cfg.teacher.clone()];
    zero_sizes.extend(
        cfg.r1_zero_sizes(&ctx.data)?
            .into_iter()
            .filter(|s| *s != cfg.teacher),
    );
    for (i, size) in zero_sizes.iter().enumerate() {
        let plan = Plan::new(cfg, ctx, scale, size, seed);
        let mut v = unit(
            records,
            &format!("r1-zero base-{size}"),
            &plan.r1_zero_settings()?,
            log,
            |log| plan.r1_zero(log),
        )?;
        out.base.insert(size.clone(), take(&mut v, "base")?);
        out.r1_zero.insert(size.clone(), take(&mut v, "r1_zero")?);
        if i == 0 {
            let mut v = unit(
                records,
                &format!("r1 base-{size}"),
                &plan.pipeline_settings()?,
                log,
                |log| plan.pipeline(log).map(|p| p.0),
            )?;
            out.r1.insert(
                size.clone(),
                (take(&mut v, "r1")?, take(&mut v, "r1_zero")?),
            );
            let mut v = unit(
                records,
                &format!("distill from base-{size}"),
                &plan.distillation_settings()?,
                log,
                |log| plan.distillation(log),
            )?;
            for student in &cfg.students {
                let d = take(&mut v, &format!("distilled {student}"))?;
                out.distilled.insert(student.clone(), d);
            }
        }
    }
    for size in cfg.pipelines() {
        if size != cfg.teacher {
            let plan = Plan::new(cfg, ctx, scale, &size, seed);
            let mut v = unit(
                records,
                &format!("r1 base-{size}"),
                &plan.pipeline_settings()?,
                log,
                |log| plan.pipeline(log).map(|p| p.0),
            )?;
            out.r1
                .insert(size, (take(&mut v, "r1")?, take(&mut v, "r1_zero")?));
        }
    }
    Ok(out)
}

/// Each finding at each size, pooled over the seeds.
fn findings(cfg: &SizesConfig, data: &Path, seeds: &[Seed]) -> Result<Vec<SizePoint>> {
    let mut points = Vec::new();
    let mut add =
        |claim: &str, size: &str, a: (&str, Vec<ProblemValues>), b: (&str, Vec<ProblemValues>)| {
            let (finding, per_seed) =
                Finding::pooled_values(claim, (a.0, &a.1), (b.0, &b.1), Direction::Positive)?;
            points.push(SizePoint {
                claim: claim.into(),
                size: size.into(),
                params: params(data, size)?,
                finding,
                per_seed,
            });
            Ok::<(), anyhow::Error>(())
        };
    let all = |f: &dyn Fn(&Seed) -> Option<&ProblemValues>| -> Result<Vec<ProblemValues>> {
        seeds
            .iter()
            .map(|s| f(s).cloned().context("a seed is missing a run"))
            .collect()
    };
    for size in cfg.r1_zero_sizes(data)? {
        let after = all(&|s| s.r1_zero.get(&size))?;
        let before = all(&|s| s.base.get(&size))?;
        add(R1_ZERO_GAIN, &size, ("R1-Zero", after), ("base", before))?;
    }
    for size in &cfg.students {
        let distilled = all(&|s| s.distilled.get(size))?;
        let rl = all(&|s| s.r1_zero.get(size))?;
        add(
            DISTILLED_MINUS_RL,
            size,
            ("distilled", distilled),
            ("RL", rl),
        )?;
    }
    for size in cfg.pipelines() {
        let r1 = all(&|s| s.r1.get(&size).map(|p| &p.0))?;
        let zero = all(&|s| s.r1.get(&size).map(|p| &p.1))?;
        add(R1_MINUS_R1_ZERO, &size, ("R1", r1), ("R1-Zero", zero))?;
    }
    Ok(points)
}

fn write_reports(cfg: &SizesConfig, points: &[SizePoint], reports: &Reports) -> Result<()> {
    let mut t = Table::new([
        "finding",
        "size",
        "params",
        "seeds",
        "A",
        "B",
        "A pass@1",
        "B pass@1",
        "A − B",
        "95% CI low",
        "95% CI high",
        "seed min",
        "seed max",
        "verdict",
    ]);
    for p in points {
        let f = &p.finding;
        let (min, max) = seed_range(&p.per_seed);
        t.row(vec![
            p.claim.as_str().into(),
            p.size.as_str().into(),
            (p.params as u64).into(),
            (p.per_seed.len() as u64).into(),
            f.a.as_str().into(),
            f.b.as_str().into(),
            f.a_value.into(),
            f.b_value.into(),
            f.difference.estimate.into(),
            f.difference.low.into(),
            f.difference.high.into(),
            Cell::Number(min),
            Cell::Number(max),
            f.verdict().word().into(),
        ]);
    }
    let title = format!(
        "# Each finding across model sizes (teacher: R1 from base-{}; seeds {:?})\n\nA − B on \
         held-out pass@1, pooled over the seeds (per-problem values averaged over seeds, 95% \
         paired bootstrap over problems); `seed min`/`seed max`: the seeds' own estimates. \
         Reproduced when the interval excludes zero in the paper's direction (A > B), \
         contradicted when it excludes zero the other way, unresolved otherwise.",
        cfg.teacher, cfg.seeds
    );
    reports.table("findings_vs_size", &t.frame()?, Some(&title))?;
    chart(points).save(&reports.dir().join("fig_findings_vs_size"))
}

/// `fig_findings_vs_size`: one series per finding, its estimate and interval at each size.
pub fn chart(points: &[SizePoint]) -> EffectChart {
    let mut series: Vec<EffectSeries> = Vec::new();
    for p in points {
        let effect = Effect {
            params: p.params as f64,
            estimate: p.finding.difference.estimate,
            low: p.finding.difference.low,
            high: p.finding.difference.high,
        };
        match series.iter_mut().find(|s| s.name == p.claim) {
            Some(s) => s.effects.push(effect),
            None => series.push(EffectSeries {
                name: p.claim.clone(),
                effects: vec![effect],
            }),
        }
    }
    EffectChart {
        title: "Each finding against model size (95% intervals)".into(),
        y_label: "Δ held-out pass@1".into(),
        series,
    }
}
