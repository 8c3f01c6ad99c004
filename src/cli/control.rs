//! `r1lab control`: R1-Zero from a base without guess-then-check documents, beside the shipped
//! run ([`r1lab::experiments::control`]).

use super::common::RunArgs;
use anyhow::Result;
use clap::Args;
use r1lab::experiments::control::{self, ControlConfig};
use r1lab::experiments::RunContext;

/// The control beside R1-Zero: the same R1-Zero run from a base pretrained without
/// guess-then-check documents (`pretrain --guess 0`, pretrained first if missing: about 4
/// minutes), compared with the shipped run on the same held-out problems
/// (`r1zero_control.{csv,md}`, `findings_r1zero_control.{csv,md}`).
#[derive(Args, Debug)]
pub struct Control {
    #[command(flatten)]
    pub run: RunArgs,
    /// The control corpus's share of step-by-step documents written as a checked guess
    /// (shipped base: 0.8) [default: 0].
    #[arg(long)]
    pub guess: Option<f64>,
}

pub fn run(a: Control, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let mut cfg = ControlConfig::preset(a.run.scale);
    if let Some(g) = a.guess {
        anyhow::ensure!(
            (0.0..=1.0).contains(&g),
            "--guess is a share from 0 to 1, got {g}"
        );
        cfg.guess = g;
    }
    let r = control::run(&cfg, &ctx, a.run.scale, |line| eprintln!("{line}"))?;
    for s in [&r.shipped, &r.control] {
        println!(
            "{}: pass@1 {:.3} -> {:.3}, guess-then-check {:.1}% -> {:.1}% ({})",
            s.name,
            s.result.base.pass_at_1,
            s.result.r1_zero.pass_at_1,
            100.0 * s.guess_share.0,
            100.0 * s.guess_share.1,
            s.run_dir.display()
        );
    }
    println!(
        "gain with - gain without the form: {}; wrote r1zero_control to {} in {:.0} s",
        r.gain_difference.show(true),
        ctx.reports.display(),
        r.wall_s
    );
    Ok(())
}
