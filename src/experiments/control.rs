//! The control beside R1-Zero (beyond the paper; what its critics showed): RL selects and
//! amplifies what the base model can already do. The shipped base-1M was pretrained on a corpus
//! whose step-by-step documents mostly first state a guess and then check it ("so the answer is
//! 75. wait, check: …", `CorpusConfig::guess` = 0.8); R1-Zero's length and reflection curves
//! (Figure 3) grow by moving the policy onto that form. The control pretrains the same model on
//! the same corpus *without* the guess form (`guess` = 0, `r1lab pretrain --size 1M --guess 0`),
//! runs the same R1-Zero on it, and compares the two runs on the same held-out problems: each
//! run's gain with its paired interval, and the gain with guess-then-check documents − the gain
//! without them (per-problem gains, paired). `reports/r1zero_control.{csv,md}`.

use super::base_models::{self, PretrainConfig};
use super::findings::{write_findings, Finding};
use super::r1_zero::{self, R1ZeroConfig, R1ZeroResult};
use super::report::{Cell, Reports, Table};
use super::{RunContext, Scale};
use crate::completion::CompletionForm;
use crate::eval::bootstrap::{paired_difference, Direction, Interval};
use crate::inspect::{form_shares, read_run};
use anyhow::Result;
use std::path::{Path, PathBuf};

pub const RUN_NAME: &str = "r1-zero-control";

/// Training steps whose rollouts are pooled for the first and last completion forms.
pub const FORM_WINDOW: usize = 10;

/// The control base's corpus: `guess` is the share of step-by-step documents written as a
/// checked guess (shipped: 0.8; the control: 0).
#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub size: String,
    pub guess: f64,
    /// The R1-Zero run both bases get (the shipped preset).
    pub r1_zero: R1ZeroConfig,
}

impl ControlConfig {
    pub fn preset(scale: Scale) -> Self {
        Self {
            size: "1M".into(),
            guess: 0.0,
            r1_zero: R1ZeroConfig::preset(scale),
        }
    }
}

/// One side of the comparison.
#[derive(Debug, Clone)]
pub struct ControlSide {
    pub name: String,
    pub base: PathBuf,
    pub run_dir: PathBuf,
    pub result: R1ZeroResult,
    /// Guess-then-check share of the rollouts in the first and last [`FORM_WINDOW`] steps.
    pub guess_share: (f64, f64),
    /// Every form's share ([`CompletionForm::ALL`] order) in the first and last steps.
    pub forms: ([f64; 4], [f64; 4]),
}

impl ControlSide {
    /// The form most of the last steps' rollouts take, with its share at the start and the end.
    pub fn final_form(&self) -> (CompletionForm, f64, f64) {
        let (first, last) = self.forms;
        let i = (0..4).fold(0, |b, i| if last[i] > last[b] { i } else { b });
        (CompletionForm::ALL[i], first[i], last[i])
    }
}

/// What the control measured (owned, for notebooks).
#[derive(Debug, Clone)]
pub struct ControlResult {
    pub shipped: ControlSide,
    pub control: ControlSide,
    /// Shipped gain − control gain on pass@1 (per-problem gains, paired).
    pub gain_difference: Interval,
    /// The control corpus's guess share.
    pub guess: f64,
    pub wall_s: f64,
}

/// The control base: `<data>/checkpoints/base-<size>-guess<g>` at the workshop scale (committed,
/// so `reproduce` does not pretrain it), a folder under `runs/` at the smoke scale. Pretrained
/// here when missing (about 4 minutes at 1M on 2 cores).
pub fn control_base(
    cfg: &ControlConfig,
    ctx: &RunContext,
    scale: Scale,
    log: &mut impl FnMut(String),
) -> Result<PathBuf> {
    let mut p = PretrainConfig::preset(&cfg.size, scale)?;
    p.apply(&base_models::CorpusOverrides {
        guess: Some(cfg.guess),
        ..Default::default()
    })?;
    let out = match scale {
        Scale::Workshop => ctx.data.join("checkpoints").join(p.folder_name()),
        Scale::Smoke => ctx.run_dir(RUN_NAME, scale).join(p.folder_name()),
    };
    if out.join("config.json").exists() {
        return Ok(out);
    }
    log(format!(
        "pretraining the control base {} ({} steps; about 4 minutes at 1M on 2 cores)",
        out.display(),
        p.sft.steps
    ));
    let held = base_models::held_out_questions(&ctx.data)?;
    let tk = base_models::project_tokenizer(&ctx.data.join("tokenizer/tokenizer.json"), &held)?;
    base_models::pretrain(&p, &tk, &held, &out, ctx, |_| {})?;
    Ok(out)
}

/// Runs (or reuses) R1-Zero from the shipped base and from the control base and writes
/// `r1zero_control.{csv,md}` into `ctx.reports` (each run's own R1-Zero reports go under
/// `<runs>/r1-zero-control/reports/`, never over Table 2).
pub fn run(
    cfg: &ControlConfig,
    ctx: &RunContext,
    scale: Scale,
    mut log: impl FnMut(String),
) -> Result<ControlResult> {
    let start = std::time::Instant::now();
    let reports = Reports::writable(&ctx.reports)?;
    let side_ctx = ctx.with_reports(ctx.run_dir(RUN_NAME, scale).join("reports"));
    let shipped_base = PathBuf::from(&cfg.r1_zero.base);
    let control_base = control_base(cfg, ctx, scale, &mut log)?;
    let mut sides = Vec::new();
    for (name, base) in [
        ("shipped base (guess-then-check documents)", shipped_base),
        ("control base (no guess-then-check documents)", control_base),
    ] {
        log(format!("R1-Zero from {}", base.display()));
        sides.push(side(name, &base, cfg, ctx, &side_ctx, scale)?);
    }
    let control = sides.pop().expect("two sides");
    let shipped = sides.pop().expect("two sides");
    let gains = |s: &ControlSide| -> Result<Vec<f64>> {
        let (after, before) = (
            s.result.r1_zero.per_problem("pass@1")?,
            s.result.base.per_problem("pass@1")?,
        );
        Ok(after.iter().zip(&before).map(|(a, b)| a - b).collect())
    };
    anyhow::ensure!(
        shipped.result.base.problem_ids()? == control.result.base.problem_ids()?,
        "the two runs were evaluated on other problems: evaluate both on the same held-out set"
    );
    let gain_difference = paired_difference(&gains(&shipped)?, &gains(&control)?)?;
    let result = ControlResult {
        shipped,
        control,
        gain_difference,
        guess: cfg.guess,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(&result, &reports)?;
    Ok(result)
}

/// The R1-Zero run from `base`: the shipped run's folder for the shipped base, and
/// `runs/r1-zero-<base folder>` (as `r1lab r1-zero --base` names it) for the control.
fn side(
    name: &str,
    base: &Path,
    cfg: &ControlConfig,
    ctx: &RunContext,
    side_ctx: &RunContext,
    scale: Scale,
) -> Result<ControlSide> {
    let mut c = cfg.r1_zero.clone();
    let default_base = Path::new(&c.base) == base;
    c.base = base.to_string_lossy().into_owned();
    let dir = ctx.run_dir(r1_zero::RUN_NAME, scale);
    let run_dir = match default_base {
        true => dir,
        false => {
            let folder = base.file_name().map(|f| f.to_string_lossy().into_owned());
            PathBuf::from(format!("{}-{}", dir.display(), folder.unwrap_or_default()))
        }
    };
    let result = r1_zero::run(&c, side_ctx, &run_dir, |_| {})?;
    let files = read_run(&run_dir)?;
    let shares = form_shares(&files.samples, files.config.template.prompt_opens_think());
    let window = |rows: &[crate::inspect::FormShares]| {
        let n = rows.iter().map(|r| r.completions).sum::<usize>().max(1) as f64;
        CompletionForm::ALL.map(|f| {
            let count: f64 = (rows.iter())
                .map(|r| r.share(f) * r.completions as f64)
                .sum();
            count / n
        })
    };
    let k = FORM_WINDOW.min(shares.len());
    let forms = (window(&shares[..k]), window(&shares[shares.len() - k..]));
    let guess = |f: &[f64; 4]| f[2];
    debug_assert_eq!(CompletionForm::ALL[2], CompletionForm::GuessThenCheck);
    Ok(ControlSide {
        name: name.into(),
        base: base.to_path_buf(),
        run_dir,
        result,
        guess_share: (guess(&forms.0), guess(&forms.1)),
        forms,
    })
}

fn write_reports(r: &ControlResult, reports: &Reports) -> Result<()> {
    let mut t = Table::new([
        "base",
        "base pass@1",
        "R1-Zero pass@1",
        "gain",
        "gain low",
        "gain high",
        "length before",
        "length after",
        "guess-then-check first steps",
        "guess-then-check last steps",
        "form at the end",
        "its share, first steps",
        "its share, last steps",
    ]);
    let mut findings = Vec::new();
    for s in [&r.shipped, &r.control] {
        let f = Finding::new(
            &format!("R1-Zero gain, {}", s.name),
            ("R1-Zero", &s.result.r1_zero),
            ("base", &s.result.base),
            "pass@1",
            Direction::Positive,
        )?;
        t.row(vec![
            s.name.as_str().into(),
            f.b_value.into(),
            f.a_value.into(),
            f.difference.estimate.into(),
            f.difference.low.into(),
            f.difference.high.into(),
            s.result.base.mean_length.into(),
            s.result.r1_zero.mean_length.into(),
            s.guess_share.0.into(),
            s.guess_share.1.into(),
            format!("{:?}", s.final_form().0).as_str().into(),
            s.final_form().1.into(),
            Cell::Number(s.final_form().2),
        ]);
        findings.push(f);
    }
    let d = &r.gain_difference;
    let title = format!(
        "# The control: R1-Zero from a base with and without guess-then-check documents\n\n\
         Same model size, corpus size, pretraining and R1-Zero settings; only the share of \
         step-by-step documents written as a checked guess differs ({} against {}). pass@1 on \
         the {} held-out problems, 95% paired bootstrap intervals; form shares pool the rollouts \
         of the first and last {FORM_WINDOW} training steps. The form each run ends on, with its \
         share at the start (above zero: a form its base already wrote): {}. Whether the form is \
         what the gain needs: gain with − gain without it {}, {}.",
        crate::corpus::CorpusConfig::default().guess,
        r.guess,
        r.shipped.result.base.problems,
        [&r.shipped, &r.control]
            .map(|s| {
                let (f, a, b) = s.final_form();
                format!("{} on {f:?}, {:.1}% → {:.1}%", s.name, 100.0 * a, 100.0 * b)
            })
            .join("; "),
        d.show(true),
        crate::eval::bootstrap::Verdict::of(d, Direction::Positive).word()
    );
    reports.table("r1zero_control", &t.frame()?, Some(&title))?;
    write_findings(
        reports,
        "findings_r1zero_control",
        &findings,
        "# The control's findings: R1-Zero's gain from each base",
    )
}
