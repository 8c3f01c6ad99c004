//! `r1lab knobs`: short R1-Zero runs that turn one GRPO setting, several seeds each
//! ([`r1lab::experiments::knobs`]).

use super::common::RunArgs;
use anyhow::Result;
use clap::Args;
use r1lab::experiments::knobs::{self, Knob, KnobConfig};
use r1lab::experiments::RunContext;

/// Knobs: short R1-Zero runs (30 steps at the workshop scale, under a minute each on 2 cores)
/// turning one GRPO setting, 3 seeds per value; writes `knob_<knob>.{csv,md}` and
/// `fig_knob_<knob>.{svg,png}` (mean and 95% interval over seeds). Finished runs are reused;
/// each setting has its own folder under `runs/knobs/`.
#[derive(Args, Debug)]
pub struct Knobs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The setting to turn (default: each of the five in turn).
    #[arg(long, value_enum)]
    pub knob: Option<Knob>,
    /// Its values [format-weight: 0.1,1,4; beta: 0,0.001,0.04; group-size: 4,8,16; mu: 1,2,4;
    /// std-scaling: 1,0 (on, off)]; needs --knob.
    #[arg(long, value_delimiter = ',')]
    pub values: Option<Vec<f64>>,
    /// Seeds of each value [workshop: 0,1,2].
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// RL steps of each run [workshop: 30].
    #[arg(long)]
    pub steps: Option<usize>,
}

pub fn run(a: Knobs, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    anyhow::ensure!(
        a.values.is_none() || a.knob.is_some(),
        "--values needs --knob: say which setting the values are for"
    );
    let all = a.knob.map_or(Knob::ALL.to_vec(), |k| vec![k]);
    for knob in all {
        let mut cfg = KnobConfig::preset(knob, a.run.scale);
        if let Some(v) = &a.values {
            cfg.values = v.clone();
        }
        if let Some(s) = &a.seeds {
            cfg.seeds = s.clone();
        }
        if let Some(n) = a.steps {
            anyhow::ensure!(n > 0, "--steps must be at least 1");
            cfg.base.grpo.steps = n;
            cfg.base.checkpoint_every = n;
        }
        let r = knobs::run(&cfg, &ctx, a.run.scale, |line| eprintln!("{line}"))?;
        println!("{}", r.summary());
        println!(
            "wrote knob_{0} and fig_knob_{0} to {1} in {2:.0} s",
            knob.name(),
            ctx.reports.display(),
            r.wall_s
        );
    }
    Ok(())
}
