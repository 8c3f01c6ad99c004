//! What the subcommands share: the folders, the scale, progress lines.

use clap::Args;
use r1lab::experiments::{RunContext, Scale};
use std::path::PathBuf;

/// The model shipped with the repository, used when no model is named.
pub const DEFAULT_MODEL: &str = "data/checkpoints/base-1M";

/// The data folder (test sets, tokenizer, base checkpoints).
#[derive(Args, Clone, Debug)]
pub struct DataArg {
    /// The data folder (test sets, tokenizer, base checkpoints).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
}

/// The folders and scale of an experiment.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[arg(long, value_enum, default_value = "workshop")]
    pub scale: Scale,
    /// Where the figures and tables go.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// The data folder (test sets, tokenizer, base checkpoints).
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// Where the default run folders go (`<runs>/<experiment>[-smoke][-<device>-<dtype>]`).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
}

impl RunArgs {
    /// `ctx` with these folders.
    pub fn context(&self, ctx: &RunContext) -> RunContext {
        ctx.clone()
            .with_folders(&self.data, &self.runs, &self.reports)
    }
}

/// The task of an experiment: a synthetic one, or word problems with their held-out file.
#[derive(Args, Clone, Debug)]
pub struct TaskArgs {
    /// arithmetic or countdown, or a .jsonl / .parquet file of word problems to train on
    /// (GSM8K's `question` / `answer`; then --test names the held-out file and the prompts use
    /// the paper's Table 1 template).
    #[arg(long)]
    pub task: Option<String>,
    /// The held-out word problems (.jsonl or .parquet), with a word-problem --task.
    #[arg(long, requires = "task")]
    pub test: Option<PathBuf>,
    /// The prompt template: r1-zero-short (the in-repo models) or r1-zero-paper (Table 1's text,
    /// for real models) [default: the paper's for a word-problem --task, the short one otherwise].
    #[arg(long, value_parser = super::model::parse_template, requires = "task")]
    pub template: Option<r1lab::tasks::Template>,
    /// A real model's settings (0.5B or 1.5B: G, batch, completion length, lr, β, micro-batch;
    /// README "Scale up") for every RL stage instead of the scale's.
    #[arg(long)]
    pub preset: Option<String>,
}

impl TaskArgs {
    /// The real-model preset, if one is named.
    pub fn real_preset(
        &self,
    ) -> anyhow::Result<Option<r1lab::experiments::real_models::RealPreset>> {
        self.preset
            .as_deref()
            .map(r1lab::experiments::real_models::RealPreset::for_size)
            .transpose()
    }
}

impl TaskArgs {
    /// The suffix that keeps the default run folders of another task or base model apart from
    /// the presets' (which would otherwise be reused): `-<task>` (a word-problem file's stem,
    /// or `countdown`) and `-<base>` (a Hub id with `/` as `--`, or a folder's name).
    pub fn key(&self, base: Option<&str>) -> String {
        let mut key = String::new();
        if let Some(t) = self.task.as_deref().filter(|t| *t != "arithmetic") {
            let stem = std::path::Path::new(t)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| t.to_string());
            key.push_str(&format!("-{stem}"));
        }
        if let Some(b) = base.filter(|b| *b != DEFAULT_MODEL) {
            let slug = if std::path::Path::new(b).is_dir() {
                std::path::Path::new(b)
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                b.replace('/', "--")
            };
            key.push_str(&format!("-{slug}"));
        }
        key
    }
}

/// `dir` with `suffix` appended to its last component.
pub fn suffixed(dir: PathBuf, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return dir;
    }
    PathBuf::from(format!("{}{suffix}", dir.display()))
}

/// Without a terminal (a log file, CI) progress bars are hidden: print a line every 5% instead.
pub fn log_line(step: usize, total: usize, msg: &str) {
    use std::io::IsTerminal;
    let every = (total / 20).max(1);
    if !std::io::stderr().is_terminal() && (step % every == 0 || step + 1 == total) {
        eprintln!("step {}/{total}: {msg}", step + 1);
    }
}

pub fn progress_bar(len: u64, msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_prefix(msg.to_string());
    pb
}

pub fn progress_spinner(msg: String) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
