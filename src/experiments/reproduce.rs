//! `r1lab reproduce`: every report of `reports/`, one experiment after the other, each at its
//! preset of one scale and in one run context. Finished runs are reused, so a second call only
//! rewrites the reports.

use super::{
    control, distillation, final_rl_probe, grpo_variants, knobs, r1_pipeline, r1_zero, real_models,
    sizes, table4, RunContext, Scale,
};
use anyhow::Result;

/// Runs R1-Zero (Figures 2-3, Tables 2-3), the GRPO variants, the R1 pipeline's stages and
/// ablations, Table 4 (R1 and R1-Zero of the "V3-Base" stand-in), distillation from that R1
/// (Tables 5-6) and the real-model stand-in at `scale` in `ctx`; `log` receives a
/// heading and the summary of each (what its own subcommand prints) and progress lines. With
/// `full`, then the seeded, full-statistics runs ([`full_statistics`]). Returns the wall time in
/// seconds.
pub fn run(scale: Scale, ctx: &RunContext, full: bool, mut log: impl FnMut(String)) -> Result<f64> {
    let start = std::time::Instant::now();
    let reports = &ctx.reports;

    log("== R1-Zero".into());
    let cfg = r1_zero::R1ZeroConfig::preset(scale);
    let total = cfg.grpo.steps;
    let r = r1_zero::run(&cfg, ctx, &ctx.run_dir(r1_zero::RUN_NAME, scale), |m| {
        if m.step % (total / 10).max(1) == 0 {
            log(format!(
                "step {}/{total}: reward {:.3} acc {:.3} len {:.1} eval pass@1 {:.3}",
                m.step, m.reward_mean, m.accuracy, m.completion_len_mean, m.eval_pass_at_1
            ));
        }
    })?;
    log(r1_zero::summary(&cfg, &r, reports));

    log("== GRPO variants".into());
    let cfg = grpo_variants::VariantsConfig::preset(scale, ctx);
    let dir = ctx.run_dir(grpo_variants::RUN_NAME, scale);
    let r = grpo_variants::run(&cfg, ctx, &dir, &mut log)?;
    log(grpo_variants::summary(&r, reports));

    log("== R1 pipeline".into());
    let cfg = r1_pipeline::R1Config::preset(scale, ctx);
    let dir = ctx.run_dir(r1_pipeline::RUN_NAME, scale);
    let r = r1_pipeline::run(&cfg, ctx, &dir, &mut log)?;
    log(r1_pipeline::summary(&cfg, &r, reports));

    log("== Table 4: R1 and R1-Zero from the \"V3-Base\" stand-in".into());
    let cfg = table4::Table4Config::preset(scale, ctx);
    let r = table4::run(&cfg, ctx, &ctx.run_dir(table4::RUN_NAME, scale), &mut log)?;
    log(table4::summary(&r, reports)?);

    log("== distillation".into());
    let t0 = std::time::Instant::now();
    let cfg = distillation::DistillConfig::preset(scale, ctx);
    let dir = ctx.run_dir(distillation::RUN_NAME, scale);
    let r = distillation::run(&cfg, ctx, &dir, &mut log)?;
    log(distillation::summary(
        &r,
        reports,
        t0.elapsed().as_secs_f64(),
    ));

    log("== the trainer on a real checkpoint (the CPU stand-in)".into());
    let dir = ctx.run_dir(real_models::RUN_NAME, scale);
    let cfg = real_models::RealConfig::stand_in(scale, &dir);
    real_models::prepare_stand_in(&cfg, &ctx.data)?;
    let r = real_models::run(&cfg, ctx, &dir, &mut log)?;
    log(real_models::summary(&r, reports));

    if full {
        full_statistics(scale, ctx, &mut log)?;
    }

    let wall_s = start.elapsed().as_secs_f64();
    log(format!(
        "every report regenerated in {} ({wall_s:.0} s)",
        reports.display()
    ));
    Ok(wall_s)
}

/// The seeded, full-statistics runs of `reproduce --full`: the control beside R1-Zero
/// ([`control`]), the five knobs ([`knobs`], 3 seeds), the final-RL probe ([`final_rl_probe`], 3
/// seeds) and each finding across model sizes ([`sizes`]: R1-Zero at every size, the R1 pipeline
/// from the "V3-Base" stand-in and at the pipeline sizes, distillation from the stand-in's R1,
/// three seeds each).
pub fn full_statistics(scale: Scale, ctx: &RunContext, log: &mut impl FnMut(String)) -> Result<()> {
    log("== the control: R1-Zero from a base without guess-then-check documents".into());
    let r = control::run(
        &control::ControlConfig::preset(scale),
        ctx,
        scale,
        &mut *log,
    )?;
    log(format!(
        "gain with − gain without the form: {}",
        r.gain_difference.show(true)
    ));

    for knob in knobs::Knob::ALL {
        log(format!("== knob: {}", knob.name()));
        let r = knobs::run(
            &knobs::KnobConfig::preset(knob, scale),
            ctx,
            scale,
            &mut *log,
        )?;
        log(r.summary());
    }

    log("== the final RL stage, rerun from the stage-3 model".into());
    let cfg = r1_pipeline::R1Config::preset(scale, ctx);
    let probe = final_rl_probe::ProbeConfig::preset(&cfg, scale);
    let dir = ctx.run_dir(r1_pipeline::RUN_NAME, scale);
    for row in final_rl_probe::run(&cfg, &probe, ctx, &dir, &mut *log)? {
        log(row.finding.line());
    }

    log("== each finding across model sizes (seeded)".into());
    let cfg = sizes::SizesConfig::preset(scale);
    let r = sizes::run(&cfg, ctx, scale, &mut *log)?;
    for p in &r.points {
        log(format!("{:>5}: {}", p.size, p.finding.line()));
    }
    Ok(())
}
