//! Table 4 (paper §3.1): DeepSeek-R1 beside DeepSeek-R1-Zero, both built from DeepSeek-V3-Base.
//!
//! Here both are built from the "V3-Base" stand-in, `data/checkpoints/base-10M` (4.8× the largest
//! student), and committed beside it in the Hugging Face layout:
//! * `r1-zero-10M`: R1-Zero, GRPO from the base with the rule-based rewards (§2.2);
//! * `r1-10M`: the four-stage pipeline (§2.3), its cold start written from R1-Zero's own outputs
//!   in the readable format.
//!
//! Both are seed 0 of `r1lab sizes` (hours on 2 cores; `data/checkpoints/README.md` gives the
//! commands). This experiment evaluates the three models side by side on the held-out set
//! (minutes), so `r1lab reproduce` rebuilds Table 4 from committed models as the paper's Table 4
//! evaluates released ones. The pipeline's every stage and the consistency reward's ablations
//! are `r1lab r1`'s (`reports/r1_pipeline_stages.md`), at the students' size where they fit the
//! workshop's budget. At smoke scale the two models are the smoke runs' own, so the tests go
//! through the same code.

use super::findings::{interval_cells, table_with_intervals, write_findings, Finding};
use super::report::{self, Cell, Reports};
use super::{r1_pipeline, r1_zero, sizes, task_and_test, EvalSpec, RunContext, Scale};
use crate::eval::bootstrap::Direction;
use crate::eval::EvalReport;
use crate::tasks::language::Lang;
use crate::tasks::Template;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The run folder's name (`runs/table4`): the evaluations' cache.
pub const RUN_NAME: &str = "table4";

/// The three models of Table 4 and the evaluation they share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table4Config {
    /// The base both were built from (paper: DeepSeek-V3-Base).
    pub base: String,
    /// R1-Zero from that base (paper: DeepSeek-R1-Zero).
    pub r1_zero: String,
    /// R1 from that base (paper: DeepSeek-R1).
    pub r1: String,
    pub task: String,
    /// The language the chains of thought should use (the consistency reward's target).
    pub target: Lang,
    pub template: Template,
    /// Held-out problems (the first N of the test set); the paper: AIME 2024's 30.
    pub eval_problems: usize,
    /// k of pass@k and cons@k (the paper: 64 for its tables).
    pub eval_k: usize,
    pub max_new_tokens: usize,
}

impl Table4Config {
    /// Workshop: the committed models of the "V3-Base" stand-in. Smoke: the smoke runs' R1-Zero
    /// and R1 (made first by `r1lab reproduce --scale smoke`).
    pub fn preset(scale: Scale, ctx: &RunContext) -> Self {
        let r1 = r1_pipeline::R1Config::preset(scale, ctx);
        let committed = |name: &str| {
            ctx.data
                .join("checkpoints")
                .join(name)
                .to_string_lossy()
                .into_owned()
        };
        let (base, r1_zero, r1_model) = match scale {
            Scale::Workshop => (
                sizes::base_of(&ctx.data, "10M")
                    .to_string_lossy()
                    .into_owned(),
                committed("r1-zero-10M"),
                committed("r1-10M"),
            ),
            Scale::Smoke => (
                r1.base.clone(),
                r1.r1_zero_run_dir
                    .join("checkpoint")
                    .to_string_lossy()
                    .into_owned(),
                r1_pipeline::final_checkpoint(&ctx.run_dir(r1_pipeline::RUN_NAME, scale)),
            ),
        };
        Self {
            base,
            r1_zero,
            r1: r1_model,
            task: r1.task.clone(),
            target: r1.target,
            template: r1.reasoning_rl.template,
            eval_problems: r1.eval_problems,
            eval_k: r1.eval_k,
            max_new_tokens: r1.reasoning_rl.max_completion_length,
        }
    }
}

/// One evaluated model of Table 4.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table4Row {
    /// "base", "r1_zero" or "r1".
    pub id: String,
    pub description: String,
    pub checkpoint: String,
    pub params: usize,
    pub report: EvalReport,
    /// Mean share of target-language words in each chain of thought.
    pub target_language_share: f64,
}

/// What Table 4 measured (owned, for notebooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table4Result {
    pub rows: Vec<Table4Row>,
    pub wall_s: f64,
}

impl Table4Result {
    /// The row with id `id`.
    pub fn row(&self, id: &str) -> Option<&Table4Row> {
        self.rows.iter().find(|r| r.id == id)
    }
}

/// Evaluates the three models (cached in `<run_dir>/evals` by their weights) and writes
/// `table4_r1_vs_r1zero` and `findings_table4`.
pub fn run(
    cfg: &Table4Config,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<Table4Result> {
    let start = std::time::Instant::now();
    let reports = Reports::writable(&ctx.reports)?;
    let (_, test) = task_and_test(ctx, &cfg.task, None)?;
    let eval = EvalSpec::new(
        &cfg.task,
        &test,
        cfg.eval_problems,
        cfg.eval_k,
        cfg.max_new_tokens,
        cfg.template,
    );
    let mut rows = Vec::new();
    for (id, description, checkpoint) in [
        ("base", "the base (the \"V3-Base\" stand-in)", &cfg.base),
        ("r1_zero", "R1-Zero: GRPO from the base", &cfg.r1_zero),
        (
            "r1",
            "R1: cold start, reasoning RL, rejection-sampling SFT, final RL",
            &cfg.r1,
        ),
    ] {
        log(format!("evaluating {id} ({checkpoint})"));
        let m = ctx.load(checkpoint).with_context(|| {
            format!(
                "no model at {checkpoint}: a clone has data/checkpoints/{{r1-zero-10M,r1-10M}}; \
                 retrain them with `r1lab sizes --seeds 0` and `r1lab export` \
                 (data/checkpoints/README.md)"
            )
        })?;
        let report = eval.evaluate_cached(&run_dir.join("evals"), id, &m.model, m.tokenizer()?)?;
        rows.push(Table4Row {
            id: id.into(),
            description: description.into(),
            checkpoint: checkpoint.clone(),
            params: m.model.num_parameters(),
            target_language_share: r1_pipeline::target_share(&report, cfg.target, cfg.template),
            report,
        });
    }
    let result = Table4Result {
        rows,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(cfg, &result, &reports)?;
    Ok(result)
}

/// Table 4's findings: R1 ≥ R1-Zero, R1 mixes less, and R1-Zero's own gain over the base.
pub fn findings(r: &Table4Result) -> Result<Vec<Finding>> {
    use Direction::{Negative, Positive};
    let row = |id: &str| {
        r.row(id)
            .map(|x| (x.id.as_str(), &x.report))
            .with_context(|| format!("Table 4 has no {id} row"))
    };
    let (base, zero, r1) = (row("base")?, row("r1_zero")?, row("r1")?);
    Ok(vec![
        Finding::new("Table 4: R1 ≥ R1-Zero", r1, zero, "pass@1", Positive)?,
        Finding::new(
            "R1 mixes languages less than R1-Zero",
            r1,
            zero,
            "mixing_rate",
            Negative,
        )?,
        Finding::new(
            "Table 2 at the stand-in: R1-Zero gains over its base",
            zero,
            base,
            "pass@1",
            Positive,
        )?,
    ])
}

fn write_reports(cfg: &Table4Config, r: &Table4Result, reports: &Reports) -> Result<()> {
    let k = cfg.eval_k;
    let (cons, passk) = (format!("cons@{k}"), format!("pass@{k}"));
    let compared = ["pass@1", cons.as_str(), "mixing_rate"];
    let mut t = table_with_intervals(
        &[
            "model",
            "description",
            "params (M)",
            "pass@1",
            cons.as_str(),
            passk.as_str(),
            "mixing_rate",
            "target_language_share",
            "format_rate",
            "mean_length",
        ],
        &compared,
    );
    for x in &r.rows {
        let mut row: Vec<Cell> = vec![
            x.id.as_str().into(),
            x.description.as_str().into(),
            (x.params as f64 / 1e6).into(),
            x.report.pass_at_1.into(),
            x.report.cons_at_k.into(),
            x.report.pass_at_k.into(),
            x.report.mixing_rate.into(),
            x.target_language_share.into(),
            x.report.format_rate.into(),
            x.report.mean_length.into(),
        ];
        row.extend(interval_cells(&x.report, &compared)?);
        t.row(row);
    }
    t.row(vec![
        "paper_r1_zero".into(),
        "DeepSeek-R1-Zero (paper, AIME 2024; cons@64)".into(),
        f64::NAN.into(),
        r1_zero::PAPER_PASS1_END.into(),
        r1_zero::PAPER_CONS_END.into(),
    ]);
    t.row(vec![
        "paper_r1".into(),
        "DeepSeek-R1 (paper, AIME 2024)".into(),
        f64::NAN.into(),
        r1_pipeline::PAPER_R1_PASS1.into(),
    ]);
    let title = format!(
        "# Table 4 (ours): R1 and R1-Zero from the \"V3-Base\" stand-in, {} held-out {} problems, \
         k = {k}, temperature 0.6, top-p 0.95\n\nModels: `{}`, `{}`, `{}`.",
        cfg.eval_problems,
        cfg.task,
        report::repo_path(&cfg.base),
        report::repo_path(&cfg.r1_zero),
        report::repo_path(&cfg.r1)
    );
    reports.table("table4_r1_vs_r1zero", &t.frame()?, Some(&title))?;
    write_findings(
        reports,
        "findings_table4",
        &findings(r)?,
        &format!(
            "# Table 4's findings, R1 and R1-Zero from the \"V3-Base\" stand-in, tested on {} \
             held-out {} problems (k = {k})",
            cfg.eval_problems, cfg.task
        ),
    )
}

/// What `r1lab table4` prints: one line per model, then each finding.
pub fn summary(r: &Table4Result, reports: &Path) -> Result<String> {
    let rows = r.rows.iter().map(|x| {
        format!(
            "  {:<8} {:>5.1}M pass@1 {:.3} cons@k {:.3} mixing {:.3} length {:.1}",
            x.id,
            x.params as f64 / 1e6,
            x.report.pass_at_1,
            x.report.cons_at_k,
            x.report.mixing_rate,
            x.report.mean_length
        )
    });
    let found: Vec<String> = findings(r)?.iter().map(Finding::line).collect();
    Ok(report::summary(
        format!("Table 4 ({:.0} s):", r.wall_s),
        rows.chain(found),
        reports,
    ))
}
