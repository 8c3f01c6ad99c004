//! The experiments' subcommands: `r1-zero`, `r1`, `distill`, `variants`, `real`, `reproduce`.
//! Each fills its experiment's preset from the flags and calls the library; the run folder
//! defaults to the run context's ([`RunContext::run_dir`]).

use super::common::{log_line, progress_bar, suffixed, RunArgs, TaskArgs};
use anyhow::{Context, Result};
use clap::Args;
use r1lab::experiments::{
    cold_start, distillation, final_rl_probe, grpo_variants, r1_pipeline, r1_zero, real_models,
    reproduce, sizes, table4, RunContext,
};
use std::path::PathBuf;

/// R1-Zero: GRPO with accuracy + format rewards from the base model (Figures 2-3, Tables 2-3).
#[derive(Args, Debug)]
pub struct R1Zero {
    #[command(flatten)]
    pub run: RunArgs,
    /// The base checkpoint (a folder or a Hub id).
    #[arg(long)]
    pub base: Option<String>,
    #[command(flatten)]
    pub task: TaskArgs,
    /// Override the number of RL steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Override μ, the optimisation passes over each sampled batch (paper: 1).
    #[arg(long)]
    pub mu: Option<usize>,
    /// Override the optimizer steps per pass, the batch being split into this many
    /// minibatches (paper: 16; ours: 1). Above 1 the later minibatches are off-policy, so the
    /// clip can bind.
    #[arg(long)]
    pub minibatches: Option<usize>,
    /// Override the completion budget in tokens, for training and the held-out evaluation
    /// (workshop: 128; prompt and completion must fit the model's positions).
    #[arg(long)]
    pub max_completion: Option<usize>,
    /// Override β, the KL penalty's weight (paper: 0.001; 0 drops the KL term and its
    /// reference model, as DAPO and Dr. GRPO do).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Override G, completions per question (paper: 16; workshop: 8).
    #[arg(long)]
    pub group_size: Option<usize>,
    /// Override the format reward's weight beside accuracy's 1 (paper: 1; TinyZero: 0.1).
    #[arg(long)]
    pub format_weight: Option<f32>,
    /// Override how advantages are scaled: `group` (GRPO's group std, the paper's), `batch`,
    /// or `none` (Dr. GRPO: no std scaling).
    #[arg(long, value_enum)]
    pub scale_rewards: Option<r1lab::grpo::advantage::Scale>,
    /// The RL seed: which training problems each step draws and how completions are
    /// sampled (default 0, the committed run). Another seed is another run of the same
    /// experiment, to measure what one seed cannot resolve; its default run folder gets a
    /// `-seed<N>` suffix (give `--reports` another folder to keep the committed reports).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where metrics.csv, samples.jsonl and the checkpoint go (a rerun resumes from it).
    /// Default: `runs/r1-zero`, with `-<hash>` when a flag above changed a training setting
    /// (so each setting gets its own run) and `-seed<N>` for another seed.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

pub fn r1_zero(a: R1Zero, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let scale = a.run.scale;
    let mut cfg = r1_zero::R1ZeroConfig::preset(scale);
    // A real model's preset first, so the flags below override it.
    if let Some(p) = a.task.real_preset()? {
        p.apply(&mut cfg.grpo);
        cfg.max_new_tokens = p.max_completion_length;
    }
    let key = a.task.key(a.base.as_deref());
    if let Some(b) = a.base.clone() {
        cfg.base = b;
    }
    if let Some(t) = &a.task.task {
        cfg.set_task(t, a.task.test.as_deref(), a.task.template)?;
    }
    // The run these flags change: its folder is the plain one; changed settings get their own.
    let reference = cfg.clone();
    apply_knobs(&mut cfg, &a);
    // The trainer's own check, before any model loads, so a bad override fails at once.
    // Too large a completion budget is refused by the sampler, which knows the prompt.
    cfg.grpo
        .validate()
        .context("check --steps, --mu, --minibatches, --beta, --group-size and --max-completion")?;
    cfg.rewards().context("check --format-weight")?;
    let run_dir = a.run_dir.clone().unwrap_or_else(|| {
        let dir = suffixed(ctx.run_dir(r1_zero::RUN_NAME, scale), &key);
        r1_zero::keyed_run_dir(&dir, &cfg, &reference)
    });
    let total = cfg.grpo.steps;
    let pb = progress_bar(total as u64, "R1-Zero GRPO");
    let result = r1_zero::run(&cfg, &ctx, &run_dir, |m| {
        pb.set_position(m.step as u64);
        let msg = format!(
            "reward {:.3} acc {:.3} len {:.1} eval pass@1 {:.3}",
            m.reward_mean, m.accuracy, m.completion_len_mean, m.eval_pass_at_1
        );
        pb.set_message(msg.clone());
        log_line(m.step.saturating_sub(1), total, &msg);
    })?;
    pb.finish_and_clear();
    println!("{}", r1_zero::summary(&cfg, &result, &ctx.reports));
    Ok(())
}

/// The training flags of `r1-zero`, over the preset.
fn apply_knobs(cfg: &mut r1_zero::R1ZeroConfig, a: &R1Zero) {
    let g = &mut cfg.grpo;
    if let Some(s) = a.seed {
        g.seed = s;
    }
    if let Some(n) = a.max_completion {
        g.max_completion_length = n;
        cfg.max_new_tokens = n;
    }
    let set = |field: &mut usize, v: Option<usize>| *field = v.unwrap_or(*field);
    set(&mut g.mu, a.mu);
    set(&mut g.minibatches, a.minibatches);
    set(&mut g.group_size, a.group_size);
    set(&mut g.steps, a.steps);
    g.beta = a.beta.unwrap_or(g.beta);
    g.advantage_scale = a.scale_rewards.unwrap_or(g.advantage_scale);
    cfg.format_weight = a.format_weight.unwrap_or(cfg.format_weight);
}

/// DeepSeek-R1's pipeline: cold start, reasoning RL with language consistency (and the
/// ablation without it), rejection-sampling SFT, final RL (Table 4).
#[derive(Args, Debug)]
pub struct R1 {
    #[command(flatten)]
    pub run: RunArgs,
    /// The base checkpoint every SFT stage starts from (and R1-Zero's).
    #[arg(long)]
    pub base: Option<String>,
    /// Where every stage is saved (a rerun skips finished stages and resumes RL).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// The R1-Zero run compared against (run first if it is not finished).
    #[arg(long)]
    pub r1_zero_run_dir: Option<PathBuf>,
    /// Skip the stage-2 run without the language-consistency reward.
    #[arg(long)]
    pub no_ablation: bool,
    /// Where the cold-start examples come from: `generated` (the task's worked solutions, the
    /// synthetic tasks' default) or `r1-zero` (R1-Zero's correct outputs rewritten into the
    /// readable format, as the paper collects them; a word-problem task's only source).
    #[arg(long, value_enum)]
    pub cold_start: Option<cold_start::ColdStart>,
    /// Seed N of the whole experiment (default 0, the committed run): every stage's data
    /// draws, SFT order and RL sampling change, and the runs it builds on are their seed-N runs;
    /// the default run folders get a `-seed<N>` suffix (give `--reports` another folder to keep
    /// the committed reports).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Then rerun the final RL stage from the stage-3 model with one setting changed at a time
    /// (R1-Zero's learning rate at temperature 0.7 and at 1.0, and the preset's tenth of it),
    /// three seeds each, against stage 3 (`final_rl_probe.{csv,md}`; about 15 minutes at 1M).
    #[arg(long)]
    pub probe_final_rl: bool,
    #[command(flatten)]
    pub task: TaskArgs,
}

pub fn r1(a: R1, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let scale = a.run.scale;
    let seed = a.seed.unwrap_or(0);
    let mut cfg = r1_pipeline::R1Config::preset(scale, &ctx);
    // Another task or base gets its own default folders (this pipeline's and its R1-Zero run's).
    let key = a.task.key(a.base.as_deref());
    cfg.r1_zero_run_dir = suffixed(cfg.r1_zero_run_dir, &key);
    let mut cfg = cfg.with_seed(seed);
    if let Some(b) = a.base {
        cfg.base = b.clone();
        cfg.r1_zero.base = b;
    }
    if let Some(d) = a.r1_zero_run_dir {
        cfg.r1_zero_run_dir = d;
    }
    cfg.ablation = !a.no_ablation;
    if let Some(t) = &a.task.task {
        cfg.set_task(t, a.task.test.as_deref(), a.task.template)?;
    }
    // Another cold-start source than the task's default gets its own pipeline folder, so its
    // stages are never resumed from the other source's.
    let mut key = key;
    if let Some(c) = a.cold_start.filter(|c| *c != cfg.cold_start) {
        cfg.cold_start = c;
        key.push_str(match c {
            cold_start::ColdStart::Generated => "-cold-generated",
            cold_start::ColdStart::FromR1Zero => "-cold-r1-zero",
        });
    }
    if let Some(p) = a.task.real_preset()? {
        for g in [
            &mut cfg.r1_zero.grpo,
            &mut cfg.reasoning_rl,
            &mut cfg.final_rl,
        ] {
            p.apply(g);
        }
        // The final stage keeps its tenth of the RL learning rate (README, departure 4).
        cfg.final_rl.lr = cfg.r1_zero.grpo.lr / 10.0;
        cfg.r1_zero.max_new_tokens = p.max_completion_length;
        cfg.rejection.max_new_tokens = p.max_completion_length;
    }
    let run_dir = a.run_dir.unwrap_or_else(|| {
        let dir = suffixed(ctx.run_dir(r1_pipeline::RUN_NAME, scale), &key);
        r1_zero::seeded_dir(&dir, seed)
    });
    let result = r1_pipeline::run(&cfg, &ctx, &run_dir, |line| eprintln!("{line}"))?;
    println!("{}", r1_pipeline::summary(&cfg, &result, &ctx.reports));
    if a.probe_final_rl {
        let probe = final_rl_probe::ProbeConfig::preset(&cfg, scale);
        for row in final_rl_probe::run(&cfg, &probe, &ctx, &run_dir, |l| eprintln!("{l}"))? {
            println!("{}", row.finding.line());
        }
    }
    Ok(())
}

/// Distillation: SFT students of three sizes on the R1 teacher's traces, logit distillation,
/// and distillation vs RL on the same student (Tables 5 and 6). Needs `r1lab r1` first.
#[derive(Args, Debug)]
pub struct Distill {
    #[command(flatten)]
    pub run: RunArgs,
    /// The teacher checkpoint, a folder or a Hub id (default: the R1 pipeline's final model at
    /// this scale).
    #[arg(long)]
    pub teacher: Option<String>,
    /// Students: sizes (data/checkpoints/base-<size>), checkpoint folders or Hub ids.
    #[arg(long, value_delimiter = ',')]
    pub students: Option<Vec<String>>,
    /// Where traces, students and evaluations go (a rerun reuses them).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// The R1-Zero run of Table 6 (run first if it is not finished).
    #[arg(long)]
    pub r1_zero_run_dir: Option<PathBuf>,
    /// The student also trained by logit distillation (a size, folder or Hub id sharing the
    /// teacher's vocabulary), or `none` [default: 1M].
    #[arg(long)]
    pub logit_student: Option<String>,
    /// The base of Table 6's R1-Zero run (default: the 1M student's base).
    #[arg(long)]
    pub r1_zero_base: Option<String>,
    /// Seed N of the whole experiment (default 0, the committed run): every stage's data
    /// draws, SFT order and RL sampling change, and the runs it builds on are their seed-N runs;
    /// the default run folders get a `-seed<N>` suffix (give `--reports` another folder to keep
    /// the committed reports).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub task: TaskArgs,
}

pub fn distill(a: Distill, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let scale = a.run.scale;
    let seed = a.seed.unwrap_or(0);
    let mut cfg = distillation::DistillConfig::preset(scale, &ctx).with_seed(seed, &ctx, scale);
    // Another task gets its own default folders: the teacher is that task's R1 run (of the same
    // seed), Table 6's R1-Zero run that task's (and that base's).
    let key = a.task.key(None);
    let teacher = r1_zero::seeded_dir(
        &suffixed(ctx.run_dir(r1_pipeline::RUN_NAME, scale), &key),
        seed,
    );
    cfg.teacher = r1_pipeline::final_checkpoint(&teacher);
    cfg.r1_zero_run_dir = r1_zero::seeded_dir(
        &suffixed(
            distillation::DistillConfig::preset(scale, &ctx).r1_zero_run_dir,
            &a.task.key(a.r1_zero_base.as_deref()),
        ),
        seed,
    );
    if let Some(t) = a.teacher {
        cfg.teacher = t;
    }
    if let Some(s) = a.students {
        cfg.students = s;
    }
    if let Some(d) = a.r1_zero_run_dir {
        cfg.r1_zero_run_dir = d;
    }
    if let Some(l) = a.logit_student {
        cfg.logit_student = (l != "none").then_some(l);
    }
    if let Some(b) = a.r1_zero_base {
        cfg.r1_zero.base = b;
    }
    if let Some(t) = &a.task.task {
        cfg.set_task(t, a.task.test.as_deref(), a.task.template)?;
    }
    if let Some(p) = a.task.real_preset()? {
        p.apply(&mut cfg.r1_zero.grpo);
        cfg.r1_zero.max_new_tokens = p.max_completion_length;
        cfg.rejection.max_new_tokens = p.max_completion_length;
    }
    let run_dir = a.run_dir.unwrap_or_else(|| {
        let dir = suffixed(ctx.run_dir(distillation::RUN_NAME, scale), &key);
        r1_zero::seeded_dir(&dir, seed)
    });
    let start = std::time::Instant::now();
    let result = distillation::run(&cfg, &ctx, &run_dir, |line| eprintln!("{line}"))?;
    let wall = start.elapsed().as_secs_f64();
    println!("{}", distillation::summary(&result, &ctx.reports, wall));
    Ok(())
}

/// GRPO vs Dr. GRPO vs DAPO on the R1-Zero task and budget (beyond the paper); the GRPO run
/// is the R1-Zero run (run first if it is not finished).
#[derive(Args, Debug)]
pub struct Variants {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the Dr. GRPO and DAPO runs go (a rerun resumes them).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// The R1-Zero run that serves as the GRPO variant.
    #[arg(long)]
    pub r1_zero_run_dir: Option<PathBuf>,
}

pub fn variants(a: Variants, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let scale = a.run.scale;
    let mut cfg = grpo_variants::VariantsConfig::preset(scale, &ctx);
    if let Some(d) = a.r1_zero_run_dir {
        cfg.r1_zero_run_dir = d;
    }
    let run_dir = a
        .run_dir
        .unwrap_or_else(|| ctx.run_dir(grpo_variants::RUN_NAME, scale));
    let result = grpo_variants::run(&cfg, &ctx, &run_dir, |line| eprintln!("{line}"))?;
    println!("{}", grpo_variants::summary(&result, &ctx.reports));
    Ok(())
}

/// The same GRPO on a real checkpoint and word problems (with --model, --train and --test; on
/// a GPU: --device cuda with a `cuda` build), or, without --model, on the CPU stand-in: the
/// shipped base-1M loaded by id from a local Hub cache, arithmetic as word problems.
#[derive(Args, Debug)]
pub struct Real {
    #[command(flatten)]
    pub run: RunArgs,
    /// A Hugging Face Hub id or a checkpoint folder, e.g. Qwen/Qwen2.5-0.5B.
    #[arg(long, requires_all = ["train", "test"])]
    pub model: Option<String>,
    /// Word problems to train on (JSONL or parquet, `question` and `answer`: GSM8K's layout).
    #[arg(long, requires = "model")]
    pub train: Option<PathBuf>,
    /// Word problems to evaluate on.
    #[arg(long, requires = "model")]
    pub test: Option<PathBuf>,
    /// The settings of a real model's size: 0.5B or 1.5B (group size, batch, lengths, lr,
    /// β, micro-batch; see `RealPreset`), with --model [default: 0.5B].
    #[arg(long, requires = "model")]
    pub preset: Option<String>,
    /// RL steps (default: the preset's).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Default: <runs>/real-models (the stand-in) or <runs>/real-models-<owner>--<name> (with
    /// --model).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
}

pub fn real(a: Real, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let scale = a.run.scale;
    let (mut cfg, run_dir) = match (&a.model, &a.train, &a.test) {
        (Some(m), Some(train), Some(test)) => {
            let run_dir = a.run_dir.clone().unwrap_or_else(|| {
                let slug = m.replace('/', "--");
                ctx.run_dir(&format!("{}-{slug}", real_models::RUN_NAME), scale)
            });
            let preset = real_models::RealPreset::for_size(a.preset.as_deref().unwrap_or("0.5B"))?;
            println!(
                "preset {}: estimated peak memory of a GRPO step {:.0} GiB",
                preset.size,
                preset.peak_memory_gib()?
            );
            let cfg = real_models::RealConfig::gpu_preset(m, train, test, &preset);
            (cfg, run_dir)
        }
        _ => {
            let run_dir = a
                .run_dir
                .clone()
                .unwrap_or_else(|| ctx.run_dir(real_models::RUN_NAME, scale));
            let cfg = real_models::RealConfig::stand_in(scale, &run_dir);
            real_models::prepare_stand_in(&cfg, &ctx.data)?;
            (cfg, run_dir)
        }
    };
    if let Some(n) = a.steps {
        cfg.grpo.steps = n;
    }
    let result = real_models::run(&cfg, &ctx, &run_dir, |l| eprintln!("{l}"))?;
    println!("{}", real_models::summary(&result, &ctx.reports));
    Ok(())
}

/// Table 4: R1 beside R1-Zero, both from the "V3-Base" stand-in (the committed
/// data/checkpoints/r1-zero-10M and r1-10M at workshop scale), evaluated with their base.
#[derive(Args, Debug)]
pub struct Table4 {
    #[command(flatten)]
    pub run: RunArgs,
    /// The base both were built from [workshop: data/checkpoints/base-10M].
    #[arg(long)]
    pub base: Option<String>,
    /// R1-Zero [workshop: data/checkpoints/r1-zero-10M].
    #[arg(long)]
    pub r1_zero: Option<String>,
    /// R1 [workshop: data/checkpoints/r1-10M].
    #[arg(long)]
    pub r1: Option<String>,
}

pub fn table4(a: Table4, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let mut cfg = table4::Table4Config::preset(a.run.scale, &ctx);
    for (value, field) in [
        (a.base, &mut cfg.base),
        (a.r1_zero, &mut cfg.r1_zero),
        (a.r1, &mut cfg.r1),
    ] {
        if let Some(v) = value {
            *field = v;
        }
    }
    let dir = ctx.run_dir(table4::RUN_NAME, a.run.scale);
    let r = table4::run(&cfg, &ctx, &dir, |l| eprintln!("{l}"))?;
    println!("{}", table4::summary(&r, &ctx.reports)?);
    Ok(())
}

/// Regenerate every report: R1-Zero (Figures 2-3, Tables 2-3), the GRPO variants, the R1
/// pipeline (Table 4), distillation (Tables 5-6) and the real-model stand-in, one after the
/// other; finished runs under runs/ are reused.
#[derive(Args, Debug)]
pub struct Reproduce {
    #[command(flatten)]
    pub run: RunArgs,
    /// Then the seeded, full-statistics version: `r1lab sizes` at this scale (workshop: R1-Zero
    /// at 0.5M, 1M, 2M and 10M, the R1 pipeline at 1M, 2M and from the 10M "V3-Base" stand-in,
    /// distillation from its R1, three seeds each; hours on 2 cores, README).
    #[arg(long)]
    pub full: bool,
}

pub fn reproduce(a: Reproduce, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    reproduce::run(a.run.scale, &ctx, a.full, |line| println!("{line}"))?;
    Ok(())
}

/// Each finding across model sizes (beyond the paper): the R1-Zero gain at every size,
/// distilled − RL on every student, R1 − R1-Zero at every pipeline size, each pooled over seeds
/// with its 95% interval (`reports/findings_vs_size.*`, `reports/fig_findings_vs_size.*`). Runs
/// or reuses R1-Zero at every size, the R1 pipeline at the pipeline sizes and the teacher's, and
/// distillation from the teacher's R1.
#[derive(Args, Debug)]
pub struct Sizes {
    #[command(flatten)]
    pub run: RunArgs,
    /// The "V3-Base" stand-in: the teacher's base size [workshop: 10M].
    #[arg(long)]
    pub teacher: Option<String>,
    /// The students' base sizes [workshop: 0.5M,1M,2M].
    #[arg(long, value_delimiter = ',')]
    pub students: Option<Vec<String>>,
    /// Other sizes the whole R1 pipeline runs at, for R1 − R1-Zero [workshop: 1M,2M].
    #[arg(long, value_delimiter = ',')]
    pub pipeline_sizes: Option<Vec<String>>,
    /// Seeds of every training stage [workshop: 0,1,2].
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
}

pub fn sizes(a: Sizes, ctx: &RunContext) -> Result<()> {
    let ctx = a.run.context(ctx);
    let mut cfg = sizes::SizesConfig::preset(a.run.scale);
    if let Some(t) = a.teacher {
        cfg.teacher = t;
    }
    if let Some(s) = a.students {
        cfg.students = s;
    }
    if let Some(p) = a.pipeline_sizes {
        cfg.pipeline_sizes = p;
    }
    if let Some(s) = a.seeds {
        cfg.seeds = s;
    }
    let r = sizes::run(&cfg, &ctx, a.run.scale, |line| eprintln!("{line}"))?;
    for p in &r.points {
        println!("{:>5}: {}", p.size, p.finding.line());
    }
    println!(
        "wrote findings_vs_size and fig_findings_vs_size to {} in {:.0} s",
        ctx.reports.display(),
        r.wall_s
    );
    Ok(())
}
