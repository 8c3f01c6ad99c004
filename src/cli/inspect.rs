//! `r1lab inspect`: the views inside a GRPO run ([`r1lab::inspect`]) for any run folder, finished
//! or still running: the rollout viewer, the completion forms, the training signals and, when
//! the evaluations before and after RL are found, pass@k against k.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Draw the views inside a GRPO run: rollouts with their advantages (HTML), completion forms,
/// training signals, pass@k against k.
#[derive(Args, Debug)]
pub struct Inspect {
    /// The run folder (holding metrics.csv and samples.jsonl), e.g. runs/r1-zero.
    #[arg(long)]
    pub run: PathBuf,
    /// Where the figures go (fig_<run name>_*.html/svg/png).
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// The evaluation before RL [default: <run>/eval_reports/base.json]; a cached one
    /// (runs/r1/evals/base.json) reads too.
    #[arg(long)]
    pub before: Option<PathBuf>,
    /// The evaluation after RL [default: <run>/eval_reports/r1-zero.json].
    #[arg(long)]
    pub after: Option<PathBuf>,
    /// Show every N-th step in the rollout viewer [default: an eighth of the run's steps].
    #[arg(long)]
    pub every: Option<usize>,
}

pub fn run(a: Inspect) -> Result<()> {
    let files = r1lab::inspect::inspect_run(
        &a.run,
        &a.out,
        a.before.as_deref(),
        a.after.as_deref(),
        a.every,
    )?;
    for f in &files {
        println!("{}", f.display());
    }
    if !files
        .iter()
        .any(|f| f.to_string_lossy().contains("pass_at_k"))
    {
        eprintln!(
            "r1lab: no evaluations before and after RL found for {} (give --before and --after): \
             pass@k against k not drawn",
            a.run.display()
        );
    }
    Ok(())
}
