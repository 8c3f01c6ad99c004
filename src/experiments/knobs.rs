//! Knobs: short R1-Zero runs (tens of steps) that change one GRPO setting at a time, each value
//! with several seeds, so a participant sees what a setting does and how much of it is noise.
//! The five knobs are the ones the paper and its critics argue about:
//!
//! * **format-weight**: the format reward's weight beside accuracy's 1 (paper: equal weights;
//!   TinyZero: 0.1); too large a weight pays for the tags, not the answer (the format hack of
//!   `reports/LOG.md`), which shows as shorter completions that no longer check themselves;
//! * **beta**: the KL penalty's weight (paper: 0.001; DeepSeekMath: 0.04; DAPO and Dr. GRPO: 0);
//! * **group-size**: G, completions per question (paper: 16): a small group is often all right
//!   or all wrong, and such a group teaches nothing (its advantages are zero);
//! * **mu**: μ, optimisation passes over each batch (paper: 1): only from the second pass on is
//!   the policy off its sampling policy, so only then can the clip (ε) bind;
//! * **std-scaling**: dividing advantages by the group's std (GRPO) or not (Dr. GRPO).
//!
//! Each run is an R1-Zero run of `steps` steps from the workshop base, in its own folder keyed by
//! its settings (`runs/knobs/<hash>[-seed<N>]`, [`super::run_key`]): editing a field makes a new
//! run, rerunning reuses the finished ones, and the preset's run (the paper's value of every knob
//! but G, whose preset is 8) is one run shared by the five knobs. Each is measured by its held-out
//! pass@1 on the first [`super::CURVE_PROBLEMS`] problems, its training accuracy and completion
//! length over its last steps, and the signal the knob moves; the seeds' mean is shown with a
//! 95% t-interval over seeds (`reports/knob_<knob>.{csv,md}`, `fig_knob_<knob>.{svg,png}`).

use super::r1_zero::{self, R1ZeroConfig};
use super::report::{Cell, Reports, Table};
use super::{EvalSpec, RunContext, Scale, CURVE_PROBLEMS};
use crate::grpo::advantage::Scale as AdvantageScale;
use crate::grpo::{read_metrics, StepMetrics};
use crate::inspect::knob_chart::{KnobChart, KnobPanel};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const RUN_NAME: &str = "knobs";

/// Training steps averaged for a run's ending accuracy, length and signal.
pub const END_STEPS: usize = 5;

/// One GRPO setting to turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Knob {
    FormatWeight,
    Beta,
    GroupSize,
    Mu,
    StdScaling,
}

impl Knob {
    pub const ALL: [Knob; 5] = [
        Knob::FormatWeight,
        Knob::Beta,
        Knob::GroupSize,
        Knob::Mu,
        Knob::StdScaling,
    ];

    /// The CLI's name (`format-weight`, …), also the reports' (`knob_format-weight`).
    pub fn name(self) -> &'static str {
        match self {
            Knob::FormatWeight => "format-weight",
            Knob::Beta => "beta",
            Knob::GroupSize => "group-size",
            Knob::Mu => "mu",
            Knob::StdScaling => "std-scaling",
        }
    }

    /// The paper's value (std-scaling: 1 = on).
    pub fn paper_value(self) -> f64 {
        match self {
            Knob::FormatWeight => 1.0,
            Knob::Beta => 0.001,
            Knob::GroupSize => 16.0,
            Knob::Mu => 1.0,
            Knob::StdScaling => 1.0,
        }
    }

    /// The values the workshop compares: the paper's and what its peers use.
    pub fn default_values(self) -> Vec<f64> {
        match self {
            Knob::FormatWeight => vec![0.1, 1.0, 4.0],
            Knob::Beta => vec![0.0, 0.001, 0.04],
            Knob::GroupSize => vec![4.0, 8.0, 16.0],
            Knob::Mu => vec![1.0, 2.0, 4.0],
            Knob::StdScaling => vec![1.0, 0.0],
        }
    }

    /// Sets the knob to `v` in `cfg`; errors on a value the setting cannot take.
    pub fn apply(self, cfg: &mut R1ZeroConfig, v: f64) -> Result<()> {
        let whole = |name: &str| -> Result<usize> {
            if v < 1.0 || v.fract() != 0.0 {
                bail!("{name} takes a whole number ≥ 1, got {v}");
            }
            Ok(v as usize)
        };
        match self {
            Knob::FormatWeight => cfg.format_weight = v as f32,
            Knob::Beta => cfg.grpo.beta = v,
            Knob::GroupSize => cfg.grpo.group_size = whole("group-size")?,
            Knob::Mu => cfg.grpo.mu = whole("mu")?,
            Knob::StdScaling => {
                cfg.grpo.advantage_scale = match v {
                    1.0 => AdvantageScale::Group,
                    0.0 => AdvantageScale::None,
                    _ => bail!("std-scaling is 1 (on, GRPO) or 0 (off, Dr. GRPO), got {v}"),
                }
            }
        }
        cfg.grpo.validate()?;
        cfg.rewards().map(|_| ())
    }

    /// The knob's value in `cfg` (std-scaling: 1 when advantages are divided by the group std).
    pub fn value(self, cfg: &R1ZeroConfig) -> f64 {
        match self {
            Knob::FormatWeight => f64::from(cfg.format_weight),
            Knob::Beta => cfg.grpo.beta,
            Knob::GroupSize => cfg.grpo.group_size as f64,
            Knob::Mu => cfg.grpo.mu as f64,
            Knob::StdScaling => {
                f64::from(u8::from(cfg.grpo.advantage_scale == AdvantageScale::Group))
            }
        }
    }

    /// The training signal the knob moves: its name and how to read it from a step.
    pub fn signal(self) -> (&'static str, fn(&StepMetrics) -> f64) {
        match self {
            Knob::FormatWeight => ("reflection rate (checks its answer)", |m| m.reflection_rate),
            Knob::Beta => ("KL to the reference", |m| m.kl),
            Knob::GroupSize => ("zero-variance groups (no signal)", |m| m.zero_variance_frac),
            Knob::Mu => ("clip fraction (low + high)", |m| m.clip_low + m.clip_high),
            Knob::StdScaling => ("gradient norm", |m| m.grad_norm),
        }
    }

    /// A value as the reports write it (std-scaling: `on` / `off`).
    pub fn label(self, v: f64) -> String {
        let paper = if v == self.paper_value() {
            " (paper)"
        } else {
            ""
        };
        match self {
            Knob::StdScaling if v == 1.0 => format!("on{paper}"),
            Knob::StdScaling => format!("off{paper}"),
            _ => format!("{v}{paper}"),
        }
    }
}

/// One knob's experiment.
#[derive(Debug, Clone)]
pub struct KnobConfig {
    pub knob: Knob,
    pub values: Vec<f64>,
    pub seeds: Vec<u64>,
    /// The runs' settings before the knob is set (R1-Zero's preset, its steps shortened).
    pub base: R1ZeroConfig,
    /// Held-out problems and samples each for the ending pass@1.
    pub eval_problems: usize,
    pub eval_k: usize,
}

impl KnobConfig {
    /// Workshop: 30 steps (under a minute per run on 2 cores at 1M), 3 seeds, 50 problems × 8.
    pub fn preset(knob: Knob, scale: Scale) -> Self {
        let mut base = R1ZeroConfig::preset(scale);
        let (steps, seeds, eval_problems, eval_k) = match scale {
            Scale::Smoke => (2, vec![0, 1], 4, 2),
            Scale::Workshop => (30, vec![0, 1, 2], CURVE_PROBLEMS, 8),
        };
        base.grpo.steps = steps;
        base.checkpoint_every = steps;
        Self {
            knob,
            values: knob.default_values(),
            seeds,
            base,
            eval_problems,
            eval_k,
        }
    }

    /// The settings of one run.
    pub fn run_config(&self, value: f64, seed: u64) -> Result<R1ZeroConfig> {
        let mut c = self.base.clone().with_seed(seed);
        self.knob
            .apply(&mut c, value)
            .with_context(|| format!("knob {} = {value}", self.knob.name()))?;
        Ok(c)
    }
}

/// One finished run, measured.
#[derive(Debug, Clone)]
pub struct KnobRun {
    pub value: f64,
    pub seed: u64,
    pub dir: PathBuf,
    pub pass_at_1: f64,
    pub accuracy: f64,
    pub length: f64,
    pub signal: f64,
}

/// What one knob's experiment measured (owned, for notebooks).
#[derive(Debug, Clone)]
pub struct KnobResult {
    pub knob: Knob,
    pub values: Vec<f64>,
    pub runs: Vec<KnobRun>,
    pub wall_s: f64,
}

/// The folder of one run: `<runs>/knobs[-smoke]/<hash of every setting>`, then `-seed<N>`. The
/// name holds the settings, not the knob: the preset's run is made once and shared by the knobs.
pub fn run_dir(ctx: &RunContext, scale: Scale, cfg: &R1ZeroConfig) -> PathBuf {
    let mut keyed = cfg.clone().with_seed(0);
    keyed.eval_every = 0;
    let name = super::run_key::settings_hash(&keyed);
    r1_zero::seeded_dir(&ctx.run_dir(RUN_NAME, scale).join(name), cfg.grpo.seed)
}

/// Runs (or reuses) every value × seed of `cfg` and writes `knob_<knob>` and `fig_knob_<knob>`.
pub fn run(
    cfg: &KnobConfig,
    ctx: &RunContext,
    scale: Scale,
    mut log: impl FnMut(String),
) -> Result<KnobResult> {
    anyhow::ensure!(
        !cfg.values.is_empty() && !cfg.seeds.is_empty(),
        "a knob experiment needs at least one value and one seed"
    );
    let distinct =
        |xs: Vec<String>| xs.iter().collect::<std::collections::HashSet<_>>().len() == xs.len();
    anyhow::ensure!(
        distinct(cfg.values.iter().map(|v| v.to_string()).collect())
            && distinct(cfg.seeds.iter().map(|s| s.to_string()).collect()),
        "each value and each seed once: a repeated one would be counted twice in the interval"
    );
    let start = std::time::Instant::now();
    let reports = Reports::writable(&ctx.reports)?;
    let (task, test) = super::task_and_test(ctx, &cfg.base.task, cfg.base.test.as_deref())?;
    let spec = EvalSpec::new(
        &cfg.base.task,
        &test,
        cfg.eval_problems,
        cfg.eval_k,
        cfg.base.max_new_tokens,
        cfg.base.grpo.template,
    );
    let mut runs = Vec::new();
    for &value in &cfg.values {
        for &seed in &cfg.seeds {
            let c = cfg.run_config(value, seed)?;
            let dir = run_dir(ctx, scale, &c);
            let t = std::time::Instant::now();
            let run = one_run(cfg.knob, value, &c, ctx, &dir, task.clone(), &test, &spec)?;
            log(format!(
                "{} = {}, seed {seed}: held-out pass@1 {:.3}, accuracy {:.3}, length {:.1} ({:.0} s)",
                cfg.knob.name(),
                cfg.knob.label(value),
                run.pass_at_1,
                run.accuracy,
                run.length,
                t.elapsed().as_secs_f64()
            ));
            runs.push(run);
        }
    }
    let result = KnobResult {
        knob: cfg.knob,
        values: cfg.values.clone(),
        runs,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(&result, &reports)?;
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn one_run(
    knob: Knob,
    value: f64,
    c: &R1ZeroConfig,
    ctx: &RunContext,
    dir: &Path,
    task: Arc<dyn crate::tasks::Task>,
    test: &[crate::tasks::Problem],
    spec: &EvalSpec,
) -> Result<KnobRun> {
    r1_zero::check_reward_weights(dir, c.format_weight)?;
    let trainer = super::rl_stage(
        ctx,
        &c.base,
        task,
        Arc::new(c.rewards()?),
        crate::tasks::questions(test),
        &c.grpo,
        dir,
        None,
        c.checkpoint_every,
        |_| {},
    )?;
    let policy = ctx.for_evaluation(trainer.policy, &dir.join("checkpoint"))?;
    let report = spec.evaluate_cached(&dir.join("evals"), "final", &policy, &trainer.tokenizer)?;
    let metrics = read_metrics(&dir.join("metrics.csv"))?;
    let end = &metrics[metrics.len().saturating_sub(END_STEPS)..];
    anyhow::ensure!(!end.is_empty(), "{} has no training steps", dir.display());
    let mean = |f: &dyn Fn(&StepMetrics) -> f64| end.iter().map(f).sum::<f64>() / end.len() as f64;
    let signal = knob.signal().1;
    Ok(KnobRun {
        value,
        seed: c.grpo.seed,
        dir: dir.to_path_buf(),
        pass_at_1: report.pass_at_1,
        accuracy: mean(&|m| m.accuracy),
        length: mean(&|m| m.completion_len_mean),
        signal: mean(&|m| signal(m)),
    })
}

/// Three decimals, or three significant digits below 0.01 (a clip fraction of 0.0002 is not 0).
fn short(x: f64) -> String {
    match x != 0.0 && x.abs() < 0.01 {
        true => format!("{x:.2e}"),
        false => format!("{x:.3}"),
    }
}

/// Mean and the half-width of its 95% t-interval over seeds (NaN half-width with one seed).
pub fn seed_interval(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NAN);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n - 1) * (var / n as f64).sqrt())
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (tabulated to 30; beyond, the
/// normal's 1.96 is within 4%).
fn t_975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    T.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// A measure of a run: its name and how to read it.
type Measure = (String, fn(&KnobRun) -> f64);

/// The four measures of a run, as the table and the chart name them.
fn measures(knob: Knob) -> [Measure; 4] {
    [
        ("held-out pass@1".into(), |r| r.pass_at_1),
        ("training accuracy (last steps)".into(), |r| r.accuracy),
        ("completion length (tokens)".into(), |r| r.length),
        (knob.signal().0.into(), |r| r.signal),
    ]
}

impl KnobResult {
    /// Each value's runs, in `values` order.
    fn by_value(&self) -> Vec<(f64, Vec<&KnobRun>)> {
        (self.values.iter())
            .map(|&v| (v, self.runs.iter().filter(|r| r.value == v).collect()))
            .collect()
    }

    /// One row per value: each measure's mean over seeds and its 95% interval's half-width.
    pub fn table(&self) -> Result<polars::prelude::DataFrame> {
        let ms = measures(self.knob);
        let mut columns = vec![self.knob.name().to_string(), "seeds".into()];
        for (name, _) in &ms {
            columns.push(name.clone());
            columns.push(format!("{name} ±95%"));
        }
        let mut t = Table::new(columns);
        for (v, runs) in self.by_value() {
            let mut row: Vec<Cell> = vec![self.knob.label(v).into(), (runs.len() as u64).into()];
            for (_, f) in &ms {
                let (mean, half) = seed_interval(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
                row.push(mean.into());
                row.push(Cell::Number(half));
            }
            t.row(row);
        }
        t.frame()
    }

    /// The names of the four measures (the table's and the chart's).
    pub fn measure_names(&self) -> Vec<String> {
        measures(self.knob).into_iter().map(|m| m.0).collect()
    }

    /// Measure `i` ([`KnobResult::measure_names`]) at each value: the mean over seeds and its
    /// 95% interval's half-width.
    pub fn summaries(&self, i: usize) -> Vec<(f64, (f64, f64))> {
        let f = measures(self.knob)[i].1;
        (self.by_value().into_iter())
            .map(|(v, runs)| {
                (
                    v,
                    seed_interval(&runs.iter().map(|r| f(r)).collect::<Vec<_>>()),
                )
            })
            .collect()
    }

    /// Measure `i` at every value in one line, and whether any two values' intervals are
    /// apart (resolved) or all overlap (unresolved at this many seeds).
    pub fn compare(&self, i: usize) -> String {
        let rows = self.summaries(i);
        let cells: Vec<String> = (rows.iter())
            .map(|(v, (m, h))| format!("{} {} ± {}", self.knob.label(*v), short(*m), short(*h)))
            .collect();
        let apart = rows.iter().any(|(_, (m1, h1))| {
            (rows.iter()).any(|(_, (m2, h2))| m1 + h1 < m2 - h2 || m2 + h2 < m1 - h1)
        });
        let one_seed = rows.iter().all(|(_, (_, h))| h.is_nan());
        let verdict = match (one_seed, apart) {
            (true, _) => "one seed: no interval, nothing resolved",
            (false, true) => "some intervals are apart: the knob moves it",
            (false, false) => "every interval overlaps the others: unresolved at these seeds",
        };
        format!(
            "{}: {} — {verdict}",
            self.measure_names()[i],
            cells.join(" | ")
        )
    }

    /// Every measure's [`KnobResult::compare`] line.
    pub fn summary(&self) -> String {
        (0..4)
            .map(|i| self.compare(i))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `fig_knob_<knob>`: each measure against the knob's values, each seed a dot, the mean
    /// with its 95% interval.
    pub fn chart(&self) -> KnobChart {
        let groups = self.by_value();
        let panels = measures(self.knob)
            .into_iter()
            .map(|(name, f)| KnobPanel {
                title: name.clone(),
                y_label: name,
                seeds: groups
                    .iter()
                    .map(|(_, runs)| runs.iter().map(|r| f(r)).collect())
                    .collect(),
            })
            .collect();
        KnobChart {
            title: format!(
                "Knob: {} ({} R1-Zero steps, {} seeds; mean and 95% interval over seeds)",
                self.knob.name(),
                self.runs.first().map_or(0, |_| self.steps()),
                groups.first().map_or(0, |g| g.1.len())
            ),
            x_label: self.knob.name().into(),
            values: self.values.iter().map(|&v| self.knob.label(v)).collect(),
            panels,
        }
    }

    fn steps(&self) -> usize {
        self.runs
            .first()
            .and_then(|r| read_metrics(&r.dir.join("metrics.csv")).ok())
            .map_or(0, |m| m.len())
    }
}

fn write_reports(r: &KnobResult, reports: &Reports) -> Result<()> {
    let name = format!("knob_{}", r.knob.name());
    let title = format!(
        "# Knob: {} — short R1-Zero runs from the workshop base, one per value and seed\n\n\
         Each measure is the mean over seeds with the half-width of its 95% t-interval over \
         seeds (`±95%`); training accuracy, length and the signal average the last {END_STEPS} \
         steps; held-out pass@1 is on the first problems of the held-out set.",
        r.knob.name()
    );
    reports.table(&name, &r.table()?, Some(&title))?;
    r.chart().save(&reports.dir().join(format!("fig_{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_interval_is_the_t_interval_computed_by_hand() {
        // mean 2, sample sd 1, n 3: 4.303 * 1 / sqrt(3) = 2.4843.
        let (m, h) = seed_interval(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12);
        assert!((h - 2.484_339).abs() < 1e-5, "{h}");
        assert!(seed_interval(&[0.5]).1.is_nan());
    }

    #[test]
    fn each_knob_sets_its_field_and_refuses_values_it_cannot_take() {
        let base = R1ZeroConfig::preset(Scale::Smoke);
        for k in Knob::ALL {
            let mut keys = Vec::new();
            for v in k.default_values() {
                let mut c = base.clone();
                k.apply(&mut c, v).unwrap();
                assert!((k.value(&c) - v).abs() < 1e-6, "{k:?}");
                keys.push(super::super::run_key::settings_hash(&c.training_key()));
            }
            keys.sort();
            keys.dedup();
            assert_eq!(
                keys.len(),
                k.default_values().len(),
                "{k:?}: one run per value"
            );
        }
        let mut c = base.clone();
        assert!(Knob::Mu.apply(&mut c, 1.5).is_err());
        assert!(Knob::GroupSize.apply(&mut c, 1.0).is_err());
        assert!(Knob::StdScaling.apply(&mut c, 0.5).is_err());
        assert!(Knob::FormatWeight.apply(&mut c, -1.0).is_err());
    }
}
