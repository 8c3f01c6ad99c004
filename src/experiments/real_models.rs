//! The same GRPO trainer on a real checkpoint and word problems (notebook `07_real_models`):
//! R1-Zero-style RL (accuracy + format rewards, the paper's Table 1 template) from a Hugging Face
//! checkpoint loaded through `hf-hub`, on GSM8K-style word problems read from JSONL or parquet.
//!
//! Two presets:
//! * [`RealConfig::gpu`] — a real Qwen2.5 base model (default `Qwen/Qwen2.5-0.5B`) and the user's
//!   word-problem files, sized for one GPU (a build with the `cuda` feature). The model must be in
//!   the Hugging Face cache or downloadable; this repository ships neither model nor GSM8K.
//! * [`RealConfig::stand_in`] — what runs on a CPU and in the tests: the shipped `base-1M`
//!   checkpoint installed into a scratch Hub cache as `r1lab/base-1M` (the real cache layout) and
//!   loaded by id offline, on arithmetic questions written out as a word-problem JSONL file and
//!   read back by the word-problem loader: the GPU run's loading, data, reward, training and
//!   evaluation code at toy size.
//!
//! Departures from the paper: everything about scale (see [`crate::grpo`]); GSM8K-style problems
//! instead of AIME; the stand-in is not a real model.
//!
//! A run writes `metrics.csv`, `samples.jsonl` and the trained checkpoint in its run folder and
//! `real_models_<label>.{csv,md}` plus `real_models_<label>_reward.{svg,png}` into the reports.
//! An interrupted run resumes from its last checkpoint, on any device.

use super::report::{over_steps, step_series, Reports};
use super::{EvalSpec, RunContext, Scale};
use crate::checkpoint;
use crate::eval::{EvalConfig, EvalReport};
use crate::grpo::{GrpoConfig, StepMetrics};
use crate::report::LineChart;
use crate::rewards::RewardSet;
use crate::tasks::word_problems::WordProblemTask;
use crate::tasks::{self, Problem, Template};
use anyhow::{bail, Context, Result};
use polars::prelude::*;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The Hub id the stand-in checkpoint is installed under in its scratch cache.
pub const STAND_IN_ID: &str = "r1lab/base-1M";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealConfig {
    /// A Hugging Face Hub id (`owner/name`) or a checkpoint folder.
    pub model: String,
    /// A Hugging Face cache root (`$HF_HOME`) to load `model` from, offline; `None` = the
    /// environment's cache (and the network, unless `HF_HUB_OFFLINE=1`).
    pub hf_home: Option<PathBuf>,
    /// Word problems to train on and to evaluate on (JSONL or parquet with `question` and
    /// `answer`; GSM8K's layout).
    pub train: PathBuf,
    pub test: PathBuf,
    /// Evaluate on the first N test problems.
    pub test_problems: usize,
    pub grpo: GrpoConfig,
    pub eval_k: usize,
    pub eval_every: usize,
    /// Names the reports: `real_models_<label>`.
    pub label: String,
}

impl RealConfig {
    /// A real base model on one GPU, R1-Zero style, at the [`RealPreset`] of its size
    /// ([`RealPreset::for_size`]; `0.5B` by default in [`RealConfig::gpu`]).
    pub fn gpu(model: &str, train: &Path, test: &Path) -> Self {
        Self::gpu_preset(
            model,
            train,
            test,
            &RealPreset::for_size("0.5B").expect("a preset"),
        )
    }

    /// [`RealConfig::gpu`] at `preset`.
    pub fn gpu_preset(model: &str, train: &Path, test: &Path, preset: &RealPreset) -> Self {
        Self {
            model: model.into(),
            hf_home: None,
            train: train.into(),
            test: test.into(),
            test_problems: 200,
            grpo: GrpoConfig {
                group_size: preset.group_size,
                prompts_per_step: preset.prompts_per_step,
                max_completion_length: preset.max_completion_length,
                micro_batch_size: preset.micro_batch_size,
                lr: preset.lr,
                beta: preset.beta,
                warmup_steps: 10,
                steps: 100,
                template: Template::R1ZeroPaper,
                ..Default::default()
            },
            eval_k: 4,
            eval_every: 25,
            label: "gpu".into(),
        }
    }

    /// The CPU stand-in: the shipped base-1M from a local Hub cache, arithmetic as word problems.
    /// Call [`prepare_stand_in`] first to create the cache and the problem files in `dir`.
    pub fn stand_in(scale: Scale, dir: &Path) -> Self {
        let (steps, g, prompts, max_len, test_problems, k, every) = match scale {
            Scale::Smoke => (2, 4, 2, 48, 4, 2, 1),
            Scale::Workshop => (40, 8, 8, 96, 50, 8, 10),
        };
        Self {
            model: STAND_IN_ID.into(),
            hf_home: Some(dir.join("hf-home")),
            train: dir.join("word_problems_train.jsonl"),
            test: dir.join("word_problems_test.jsonl"),
            test_problems,
            grpo: GrpoConfig {
                group_size: g,
                prompts_per_step: prompts,
                max_completion_length: max_len,
                steps,
                ..Default::default()
            },
            eval_k: k,
            eval_every: every,
            label: "cpu_stand_in".into(),
        }
    }
}

/// The settings a GPU user starts from for a real model of one size (Qwen2.5 shapes), next to
/// the paper's (R1-Zero, §2.2; DeepSeek-R1 §2.3) and TRL's `GRPOConfig` defaults:
///
/// | setting | paper | TRL default | ours (0.5B / 1.5B) |
/// |---|---|---|---|
/// | G (`num_generations`) | 16 | 8 | 8 / 8 |
/// | questions per step | 32 | from the batch size | 16 / 16 |
/// | max completion (`max_completion_length`) | 32,768 | 256 | 512 / 1,024 |
/// | lr (`learning_rate`) | 3e-6 | 1e-6 | 1e-6 / 1e-6 |
/// | β (`beta`) | 0.001 | 0.0 | 0.001 / 0.001 |
/// | micro-batch (`per_device_train_batch_size`) | — | 8 | 8 / 4 |
///
/// [`RealPreset::peak_memory_gib`] estimates the peak memory of a GRPO step at the preset. A 7B
/// model has none: its f32 weights, gradients and AdamW moments alone (≈ 137 GB) fill an H200.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealPreset {
    /// `0.5B` or `1.5B` (a [`crate::model::ModelConfig::preset`] shape).
    pub size: String,
    pub group_size: usize,
    pub prompts_per_step: usize,
    pub max_completion_length: usize,
    pub lr: f64,
    pub beta: f64,
    pub micro_batch_size: usize,
}

/// A Table 1 prompt with a GSM8K question, in Qwen2.5's tokens (≈ the template's 120 and a
/// question's 80).
pub const REAL_PROMPT_TOKENS: usize = 200;

impl RealPreset {
    /// The preset of a model size, or an error listing the sizes.
    pub fn for_size(size: &str) -> Result<Self> {
        let (g, q, len, lr, micro) = match size {
            "0.5B" => (8, 16, 512, 1e-6, 8),
            "1.5B" => (8, 16, 1024, 1e-6, 4),
            other => bail!(
                "no real-model preset for {other:?}: use 0.5B or 1.5B (a 7B model's f32 weights, \
                 gradients and AdamW moments alone fill one H200)"
            ),
        };
        Ok(Self {
            size: size.into(),
            group_size: g,
            prompts_per_step: q,
            max_completion_length: len,
            lr,
            beta: 0.001,
            micro_batch_size: micro,
        })
    }

    /// Sets these settings in `grpo` (the rest, e.g. steps and seed, stays).
    pub fn apply(&self, grpo: &mut GrpoConfig) {
        grpo.group_size = self.group_size;
        grpo.prompts_per_step = self.prompts_per_step;
        grpo.max_completion_length = self.max_completion_length;
        grpo.lr = self.lr;
        grpo.beta = self.beta;
        grpo.micro_batch_size = self.micro_batch_size;
    }

    /// An estimate (not a measurement) of the peak GPU memory of one GRPO step at this preset, in
    /// GiB: the trained policy's f32 weights, gradients and AdamW moments (16 bytes a parameter),
    /// the reference (a copy of the policy, f32: 4), and the activations of one micro-batch of full-length rows kept
    /// for the backward pass (≈ 34 f32 values per hidden unit per layer per token, as in
    /// Korthikanti et al.'s count for a transformer layer without recomputation) plus its logits
    /// (f32 logits, their log-softmax and its gradient: 3 × vocab per token). Sampling needs less
    /// (the KV cache of G × questions rows in bf16 is under a tenth of it at these sizes).
    pub fn peak_memory_gib(&self) -> Result<f64> {
        let cfg = crate::model::ModelConfig::preset(&self.size, 151_936)?;
        let params = cfg.num_parameters() as f64;
        let states = 20.0 * params;
        let tokens =
            (self.micro_batch_size * (REAL_PROMPT_TOKENS + self.max_completion_length)) as f64;
        let layers = cfg.num_hidden_layers as f64;
        let activations = tokens * layers * cfg.hidden_size as f64 * 34.0 * 4.0;
        let logits = tokens * cfg.vocab_size as f64 * 3.0 * 4.0;
        Ok((states + activations + logits) / (1u64 << 30) as f64)
    }
}

fn write_word_problems(path: &Path, problems: &[Problem]) -> Result<()> {
    let mut text = String::new();
    for p in problems {
        text.push_str(&serde_json::to_string(&serde_json::json!({
            "question": p.question,
            "answer": p.answer,
        }))?);
        text.push('\n');
    }
    checkpoint::atomic_write(path, text.as_bytes())
}

/// Lays out the stand-in of `cfg` (from [`RealConfig::stand_in`]): installs
/// `<data>/checkpoints/base-1M` into `cfg.hf_home` as [`STAND_IN_ID`] and writes the arithmetic
/// held-out set and 2,000 training questions from outside it as word-problem files. Safe to call
/// again.
pub fn prepare_stand_in(cfg: &RealConfig, data: &Path) -> Result<()> {
    let hf_home = cfg
        .hf_home
        .as_ref()
        .context("the stand-in needs its own hf_home")?;
    crate::hub::install_in_cache(
        &data.join("checkpoints").join("base-1M"),
        &hf_home.join("hub"),
        STAND_IN_ID,
        "0000000000000000000000000000000000000000",
    )?;
    let test = tasks::read_test_set(&data.join("tasks"), "arithmetic")?;
    let task = super::task_by_name("arithmetic")?;
    // Drawn with repeats, as the task's generator would serve them: 2,000 *distinct* questions
    // would exhaust the easy ones (few small-number sums exist) and skew the pool towards harder
    // questions (the base-1M of the previous corpus mix: pass@1 0.11 on the last 200 of such a
    // pool vs 0.23 on the first 50).
    let held_out = tasks::questions(&test);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let train = (0..2000)
        .map(|_| {
            tasks::sample_fresh(task.as_ref(), &mut rng, &held_out)
                .context("the arithmetic task cannot produce questions outside its test set")
        })
        .collect::<Result<Vec<_>>>()?;
    write_word_problems(&cfg.test, &test)?;
    write_word_problems(&cfg.train, &train)
}

/// What a run measured (owned, for notebooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RealResult {
    pub label: String,
    pub model: String,
    pub device: String,
    pub params: usize,
    pub train_problems: usize,
    pub before: EvalReport,
    pub after: EvalReport,
    pub metrics: Vec<StepMetrics>,
    pub wall_s: f64,
}

/// The run folder's name ([`RunContext::run_dir`]): the stand-in's, and with `-<owner>--<name>`
/// a real model's.
pub const RUN_NAME: &str = "real-models";

/// Loads the model, evaluates it, trains it with GRPO in `ctx`, evaluates it again and writes
/// the reports. `log` receives progress lines.
pub fn run(
    cfg: &RealConfig,
    ctx: &RunContext,
    run_dir: &Path,
    mut log: impl FnMut(String),
) -> Result<RealResult> {
    let reports = Reports::writable(&ctx.reports)?;
    let start = std::time::Instant::now();
    cfg.grpo.validate()?;
    let (train, test, fresh) = read_problems(cfg)?;
    let files = match &cfg.hf_home {
        Some(home) => crate::hub::resolve_in_cache(&cfg.model, &home.join("hub"))?,
        None => crate::hub::resolve(&cfg.model)?,
    };
    let loaded = checkpoint::load_files(&files, ctx.dtype, &ctx.device)
        .with_context(|| format!("cannot load {}", cfg.model))?;
    let tokenizer = loaded.tokenizer()?.clone();
    let params = loaded.model.num_parameters();
    log(format!(
        "{} ({params} parameters) on {}",
        cfg.model,
        ctx.describe()
    ));
    let spec = EvalSpec::new(
        tasks::Task::name(&train),
        test.problems(),
        cfg.test_problems,
        cfg.eval_k,
        cfg.grpo.max_completion_length,
        cfg.grpo.template,
    );
    let before = spec.evaluate("before", &loaded.model, &tokenizer)?;
    log(format!("before RL: pass@1 {:.3}", before.pass_at_1));
    let rewards = Arc::new(RewardSet::r1_zero(cfg.grpo.template.prompt_opens_think()));
    // Resumable on any device: the stage reloads from the run folder's checkpoint.
    drop(loaded);
    let trainer = super::rl_stage(
        ctx,
        &files.dir.to_string_lossy(),
        Arc::new(train),
        rewards,
        tasks::questions(test.problems()),
        &cfg.grpo,
        run_dir,
        Some(&spec.during_training(cfg.eval_every)),
        10,
        |m| log(step_line(m)),
    )?;
    let policy = ctx.for_evaluation(trainer.policy, &run_dir.join("checkpoint"))?;
    let after = spec.evaluate("after", &policy, &trainer.tokenizer)?;
    let metrics = crate::grpo::read_metrics(&run_dir.join("metrics.csv"))?;
    let result = RealResult {
        label: cfg.label.clone(),
        model: cfg.model.clone(),
        device: ctx.describe(),
        params,
        train_problems: fresh,
        before,
        after,
        metrics,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write_reports(cfg, &result, &reports)?;
    Ok(result)
}

/// The training and test word problems of `cfg`, and how many training questions are not test
/// questions (an error when none is).
fn read_problems(cfg: &RealConfig) -> Result<(WordProblemTask, WordProblemTask, usize)> {
    let train = WordProblemTask::from_file(&cfg.train)?;
    let test = WordProblemTask::from_file(&cfg.test)?;
    let held_out = tasks::questions(test.problems());
    let fresh = train
        .problems()
        .iter()
        .filter(|p| !held_out.contains(&p.question))
        .count();
    if fresh == 0 {
        bail!(
            "every training question of {} is also in the test file {}: give a training file with other questions",
            cfg.train.display(),
            cfg.test.display()
        );
    }
    Ok((train, test, fresh))
}

/// A progress line for a metrics row: the training batch's numbers, the held-out pass@1 when
/// the row has one.
fn step_line(m: &StepMetrics) -> String {
    let mut line = format!("step {}:", m.step);
    if m.reward_mean.is_finite() {
        line.push_str(&format!(
            " reward {:.3}, accuracy {:.3}, length {:.1};",
            m.reward_mean, m.accuracy, m.completion_len_mean
        ));
    }
    if m.eval_pass_at_1.is_finite() {
        line.push_str(&format!(" held-out pass@1 {:.3}", m.eval_pass_at_1));
    }
    line
}

/// Writes `real_models_<label>` (table) and `real_models_<label>_reward` (chart).
pub fn write_reports(cfg: &RealConfig, r: &RealResult, reports: &Reports) -> Result<()> {
    let k = r.before.k;
    let train: Vec<&StepMetrics> = r
        .metrics
        .iter()
        .filter(|m| m.reward_mean.is_finite())
        .collect();
    let tokens_per_s =
        train.iter().map(|m| m.tokens_per_s).sum::<f64>() / train.len().max(1) as f64;
    let df = df!(
        "model" => [format!("{} before RL", r.model), format!("{} after {} GRPO steps", r.model, cfg.grpo.steps)],
        "pass@1" => [r.before.pass_at_1, r.after.pass_at_1],
        format!("cons@{k}") => [r.before.cons_at_k, r.after.cons_at_k],
        format!("pass@{k}") => [r.before.pass_at_k, r.after.pass_at_k],
        "format_rate" => [r.before.format_rate, r.after.format_rate],
        "mean_length" => [r.before.mean_length, r.after.mean_length]
    )?;
    reports.table(
        &format!("real_models_{}", r.label),
        &df,
        Some(&format!(
            "# GRPO on {} ({} parameters): R1-Zero rewards, template {:?}\n\n\
             Device: {}. {} held-out word problems ({}), k = {k}, temperature {}, top-p {}; \
             {} training questions; G = {}, {} questions per step, ≤ {} tokens, lr {:e}. \
             {:.0} s in all, {:.0} tokens/s while training.",
            r.model,
            r.params,
            cfg.grpo.template,
            r.device,
            r.before.problems,
            cfg.test
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            EvalConfig::default().temperature,
            EvalConfig::default().top_p,
            r.train_problems,
            cfg.grpo.group_size,
            cfg.grpo.prompts_per_step,
            cfg.grpo.max_completion_length,
            cfg.grpo.lr,
            r.wall_s,
            tokens_per_s
        )),
    )?;
    reports.chart(
        &format!("real_models_{}_reward", r.label),
        &LineChart {
            y_range: Some((0.0, 1.0)),
            ..over_steps(
                format!(
                    "GRPO on {}: accuracy on the training batches and held out",
                    r.model
                ),
                "share of correct answers",
                vec![
                    step_series("training batch accuracy", &r.metrics, |m| m.accuracy, false),
                    step_series("held-out pass@1", &r.metrics, |m| m.eval_pass_at_1, true),
                ],
            )
        },
    )
}

/// What `r1lab real` prints.
pub fn summary(r: &RealResult, reports: &Path) -> String {
    format!(
        "{} on {}: held-out pass@1 {:.3} -> {:.3} ({:.0} s); reports in {}",
        r.model,
        r.device,
        r.before.pass_at_1,
        r.after.pass_at_1,
        r.wall_s,
        reports.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_real_preset_fits_one_h200_by_its_estimate() {
        let mut last = 0.0;
        for size in ["0.5B", "1.5B"] {
            let p = RealPreset::for_size(size).unwrap();
            let gib = p.peak_memory_gib().unwrap();
            println!("{size}: {gib:.1} GiB");
            assert!(gib > last && gib < 130.0, "{size}: {gib} GiB");
            last = gib;
            let cfg = RealConfig::gpu_preset("m", Path::new("a"), Path::new("b"), &p);
            cfg.grpo.validate().unwrap();
            assert_eq!(cfg.grpo.micro_batch_size, p.micro_batch_size);
        }
        assert!(RealPreset::for_size("7B")
            .unwrap_err()
            .to_string()
            .contains("1.5B"));
    }
}
