//! `r1lab pretrain`: a base model on the synthetic corpus.

use super::common::{log_line, progress_bar, DataArg};
use anyhow::Result;
use clap::Args;
use r1lab::experiments::{base_models, RunContext, Scale};
use std::path::PathBuf;

/// Pretrain a base model on the synthetic corpus (next-token SFT) and save it.
#[derive(Args, Debug)]
pub struct Pretrain {
    /// Model size: 0.5M, 1M or 2M (the students' bases) or 10M (the "V3-Base" stand-in).
    #[arg(long, default_value = "1M")]
    pub size: String,
    #[arg(long, value_enum, default_value = "workshop")]
    pub scale: Scale,
    /// Pretrain on one task only: arithmetic or countdown (default: both, as the shipped
    /// base models).
    #[arg(long)]
    pub task: Option<String>,
    /// Output folder (default <data>/checkpoints/base-<size>, or base-<size>-<task>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the number of optimizer steps.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Relative weights of the corpus's document kinds: direct, step-by-step, slip,
    /// self-correction, facts (default 0.70,0.30,0.02,0.13,0.20, as the shipped base models;
    /// see `KindMix`). Another mix gets a `-kinds<weights>` suffix on the default output folder.
    #[arg(long)]
    pub kinds: Option<String>,
    /// Fraction (0 to 1) of step-by-step documents that first state a guess (a direct answer,
    /// sometimes wrong) and then check it by working after "wait", the operands restated. Default 0.8, as the shipped base models; see `CorpusConfig::guess`. Another
    /// share gets a `-guess<P>` suffix on the default output folder.
    #[arg(long)]
    pub guess: Option<f64>,
    /// Tokens per packed pretraining row (default 128, as the shipped base models). Rows per
    /// step shrink to keep 2,048 tokens per step; use 256 for a corpus whose documents run
    /// past 128 tokens. Another length gets a `-seq<N>` suffix on the default output folder.
    #[arg(long)]
    pub seq_len: Option<usize>,
    #[command(flatten)]
    pub data: DataArg,
}

pub fn run(a: Pretrain, ctx: &RunContext) -> Result<()> {
    let mut cfg = base_models::PretrainConfig::preset(&a.size, a.scale)?;
    if let Some(s) = a.steps {
        cfg.sft.steps = s;
    }
    cfg.apply(&base_models::CorpusOverrides {
        task: a.task.clone(),
        kinds: a.kinds.clone(),
        guess: a.guess,
        seq_len: a.seq_len,
    })?;
    let data = &a.data.data;
    let out = a.out.unwrap_or_else(|| {
        // Another device or dtype never overwrites a shipped (CPU f32) base model.
        let name = format!("{}{}", cfg.folder_name(), ctx.tag());
        data.join("checkpoints").join(name)
    });
    let held = base_models::held_out_questions(data)?;
    let tk = base_models::project_tokenizer(&data.join("tokenizer/tokenizer.json"), &held)?;
    let size = &a.size;
    let pb = progress_bar(cfg.sft.steps as u64, &format!("pretraining base-{size}"));
    let steps = cfg.sft.steps;
    let (model, logs) = base_models::pretrain(&cfg, &tk, &held, &out, ctx, |l| {
        pb.set_position(l.step as u64 + 1);
        pb.set_message(format!("loss {:.3}, {:.0} tok/s", l.loss, l.tokens_per_s));
        let msg = format!(
            "loss {:.4} lr {:.2e} {:.0} tok/s",
            l.loss, l.lr, l.tokens_per_s
        );
        log_line(l.step, steps, &msg);
    })?;
    pb.finish();
    let last = logs.last().map(|l| l.loss).unwrap_or(f64::NAN);
    println!(
        "saved {size} ({} parameters, {} steps, final loss {last:.3}) to {}",
        model.num_parameters(),
        logs.len(),
        out.display()
    );
    Ok(())
}
