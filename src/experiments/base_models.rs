//! The base models: this repository's "DeepSeek-V3-Base". Next-token pretraining on the synthetic
//! corpus of [`crate::corpus`] at three sizes (≈0.45M, ≈0.8M and ≈2.1M parameters, named 0.5M, 1M, 2M), with the project's
//! byte-level BPE tokenizer shared by all of them (distillation needs one vocabulary).
//!
//! Departures from the paper: the base model is pretrained here, on a corpus made to contain the
//! behaviours RL will select (see [`crate::corpus`]), instead of trillions of web tokens.

use crate::checkpoint;
use crate::corpus::{generate_corpus, CorpusConfig};
use crate::experiments::Scale;
use crate::model::{Model, ModelConfig};
use crate::sft::{self, SftConfig, SftLog};
use crate::tasks::{self, questions, Task};
use crate::tokenizer::{train_task_tokenizer, Tokenizer};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Vocabulary of the project's tokenizer.
pub const VOCAB_SIZE: usize = 512;
/// Context length of the base models (prompt + completion).
pub const MAX_POSITIONS: usize = 320;

/// Everything that defines one base model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// Named size: `0.5M`, `1M`, `2M` (see [`ModelConfig::preset`]).
    pub size: String,
    pub corpus: CorpusConfig,
    /// Rows of packed corpus tokens, each `seq_len + 1` long.
    pub seq_len: usize,
    pub sft: SftConfig,
    /// Seed of the initial weights.
    pub init_seed: u64,
    /// Pretrain on one task's problems only (`arithmetic` or `countdown`); `None` (the shipped
    /// base models) mixes both, [`ARITHMETIC_PER_COUNTDOWN`] : 1.
    #[serde(default)]
    pub task: Option<String>,
}

/// The corpus settings `r1lab pretrain` can override (`None` = the shipped corpus's).
#[derive(Debug, Clone, Default)]
pub struct CorpusOverrides {
    /// `--task`: one task's problems only.
    pub task: Option<String>,
    /// `--kinds`: the document-kind weights, as [`crate::corpus::KindMix::parse`] reads them.
    pub kinds: Option<String>,
    /// `--guess`: [`CorpusConfig::guess`].
    pub guess: Option<f64>,
    /// `--seq-len`: tokens per packed row.
    pub seq_len: Option<usize>,
}

/// Tokens per packed pretraining row of the shipped base models.
pub const PRETRAIN_SEQ_LEN: usize = 128;

/// Tokens per pretraining step of the shipped base models (16 rows of 128).
pub const PRETRAIN_TOKENS_PER_STEP: usize = 2_048;

impl PretrainConfig {
    /// Packs the corpus into rows of `seq_len` tokens, with rows per step scaled so that a step
    /// still holds [`PRETRAIN_TOKENS_PER_STEP`] tokens (the token budget and the number of updates
    /// stay those of the preset). Longer rows keep long documents whole: at 128 tokens, a
    /// document of 250 is learnt in pieces, most of them without the question in view.
    pub fn set_seq_len(&mut self, seq_len: usize) -> Result<()> {
        anyhow::ensure!(
            (16..MAX_POSITIONS).contains(&seq_len) && PRETRAIN_TOKENS_PER_STEP % seq_len == 0,
            "rows of {seq_len} tokens: use a power of two from 16 to 256 (a row must divide a \
             step of {PRETRAIN_TOKENS_PER_STEP} tokens and fit the model's {MAX_POSITIONS} \
             positions)"
        );
        self.seq_len = seq_len;
        self.sft.batch_size = PRETRAIN_TOKENS_PER_STEP / seq_len;
        Ok(())
    }

    /// Applies the corpus overrides of `r1lab pretrain` (each checked at once, naming its flag).
    pub fn apply(&mut self, o: &CorpusOverrides) -> Result<()> {
        if let Some(k) = &o.kinds {
            let context = || format!("--kinds {k} (five non-negative weights, not all zero)");
            self.corpus.kinds = crate::corpus::KindMix::parse(k).with_context(context)?;
            self.corpus.validate().with_context(context)?;
        }
        if let Some(p) = o.guess {
            self.corpus.guess = p;
            self.corpus
                .validate()
                .with_context(|| format!("--guess {p} (a fraction from 0 to 1)"))?;
        }
        if let Some(n) = o.seq_len {
            self.set_seq_len(n)
                .with_context(|| format!("--seq-len {n}"))?;
        }
        self.task = o.task.clone();
        Ok(())
    }

    /// The checkpoint folder's name: `base-<size>[-<task>]`, then a suffix for every setting that
    /// differs from the shipped corpus's (`-guess0`, `-seq256`, `-kinds…`), so a base model
    /// pretrained on another corpus never overwrites a shipped one.
    pub fn folder_name(&self) -> String {
        let mut name = match &self.task {
            Some(t) => format!("base-{}-{t}", self.size),
            None => format!("base-{}", self.size),
        };
        if self.corpus.guess != CorpusConfig::default().guess {
            name.push_str(&format!("-guess{}", self.corpus.guess));
        }
        if self.seq_len != PRETRAIN_SEQ_LEN {
            name.push_str(&format!("-seq{}", self.seq_len));
        }
        if self.corpus.kinds != crate::corpus::KindMix::default() {
            name.push_str(&format!("-kinds{}", self.corpus.kinds.render()));
        }
        name
    }

    pub fn preset(size: &str, scale: Scale) -> Result<Self> {
        ModelConfig::preset(size, VOCAB_SIZE)?;
        // The same token budget for every size (2,400 steps × 16 rows × 128 tokens ≈ 4.5 epochs of
        // the corpus), so that size alone differs; wall times are in data/checkpoints/README.md.
        // Small batches, many steps: a first budget of 600 steps × 32 rows left the 1M model
        // unable to add two digits (reports/LOG.md); these models need updates more than tokens.
        let (num_docs, steps) = match scale {
            Scale::Smoke => (400, 4),
            Scale::Workshop => (20_000, 2_400),
        };
        // Peak learning rates: 3e-3 for the two smallest, 2e-3 from 2M up; the 10M "V3-Base"
        // stand-in gets 2e-3 scaled by width (192 → 320), 1.2e-3, as a wider model needs a smaller
        // step (data/checkpoints/README.md).
        let lr = match size {
            "2M" | "4M" => 2e-3,
            "10M" => 1.2e-3,
            _ => 3e-3,
        };
        Ok(Self {
            size: size.to_string(),
            corpus: CorpusConfig {
                num_docs,
                ..Default::default()
            },
            seq_len: PRETRAIN_SEQ_LEN,
            sft: SftConfig {
                steps,
                batch_size: PRETRAIN_TOKENS_PER_STEP / PRETRAIN_SEQ_LEN,
                lr,
                warmup_steps: steps / 20 + 1,
                ..Default::default()
            },
            init_seed: 0,
            task: None,
        })
    }
}

/// Held-out questions of every synthetic task: kept out of the corpus.
pub fn held_out_questions(data_dir: &Path) -> Result<HashSet<String>> {
    let mut held = HashSet::new();
    for t in tasks::synthetic_tasks() {
        let path = tasks::test_set_path(&data_dir.join("tasks"), t.name());
        if path.exists() {
            held.extend(questions(&tasks::read_test_set(
                &data_dir.join("tasks"),
                t.name(),
            )?));
        }
    }
    Ok(held)
}

/// Problem documents per countdown document in the corpus. Countdown stayed out of reach of every
/// base size (pass@16 = 0 with an even split), while arithmetic is where R1-Zero has signal to
/// select from; giving it three quarters of the problems concentrates the small budget there.
pub const ARITHMETIC_PER_COUNTDOWN: usize = 3;

/// The corpus documents of `cfg` (deterministic): arithmetic and countdown problems in the ratio
/// [`ARITHMETIC_PER_COUNTDOWN`] : 1.
pub fn corpus(cfg: &CorpusConfig, held_out: &HashSet<String>) -> Result<Vec<String>> {
    corpus_for(cfg, None, held_out)
}

/// The corpus documents of `cfg` restricted to one task's problems (`Some(name)`), or of both
/// tasks as in [`corpus`] (`None`). Errors on an unknown task name.
pub fn corpus_for(
    cfg: &CorpusConfig,
    task: Option<&str>,
    held_out: &HashSet<String>,
) -> Result<Vec<String>> {
    let tasks = tasks::synthetic_tasks();
    if let Some(name) = task {
        let t = tasks.iter().find(|t| t.name() == name).with_context(|| {
            format!("unknown task {name:?}: use arithmetic or countdown (or no task for both)")
        })?;
        return generate_corpus(cfg, &[t.as_ref()], held_out);
    }
    let mut refs: Vec<&dyn Task> = Vec::new();
    for t in &tasks {
        let copies = if t.name() == "arithmetic" {
            ARITHMETIC_PER_COUNTDOWN
        } else {
            1
        };
        refs.extend(std::iter::repeat_n(t.as_ref(), copies));
    }
    generate_corpus(cfg, &refs, held_out)
}

/// The project tokenizer at `path`, trained on the default corpus and saved there if absent. The
/// committed one was trained on the corpus mix before 2026-11-29's; deleting it trains another,
/// and every base model would then have to be retrained.
pub fn project_tokenizer(path: &Path, held_out: &HashSet<String>) -> Result<Tokenizer> {
    if path.exists() {
        return Tokenizer::from_file(path, &[]);
    }
    let docs = corpus(&CorpusConfig::default(), held_out)?;
    let tk = train_task_tokenizer(&docs, VOCAB_SIZE)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    tk.save(path)?;
    Ok(tk)
}

/// Pretrains one base model and saves it (Hugging Face layout) to `out`.
pub fn pretrain(
    cfg: &PretrainConfig,
    tokenizer: &Tokenizer,
    held_out: &HashSet<String>,
    out: &Path,
    ctx: &super::RunContext,
    on_log: impl FnMut(&SftLog),
) -> Result<(Model, Vec<SftLog>)> {
    let mut mcfg = ModelConfig::preset(&cfg.size, VOCAB_SIZE)?;
    mcfg.max_position_embeddings = MAX_POSITIONS;
    mcfg.eos_token_id = Some(serde_json::json!(tokenizer.eos_ids[0]));
    let model = Model::new_random(mcfg, cfg.init_seed, ctx.train_dtype, &ctx.device)?;
    let docs = corpus_for(&cfg.corpus, cfg.task.as_deref(), held_out)?;
    let encoded = docs
        .iter()
        .map(|d| tokenizer.encode(d))
        .collect::<Result<Vec<_>>>()?;
    let rows = sft::pack(&encoded, tokenizer.eos_ids[0], cfg.seq_len);
    let logs = sft::train(&model, &rows, &cfg.sft, on_log).context("pretraining failed")?;
    let gen = checkpoint::sampling_generation_config(tokenizer);
    checkpoint::save(&model, Some(tokenizer), &gen, out)?;
    let meta = serde_json::json!({ "pretrain": cfg, "final_loss": logs.last().map(|l| l.loss) });
    checkpoint::atomic_write(
        &out.join("r1lab_pretrain.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    Ok((model, logs))
}

/// Evaluates each base checkpoint on each task with the paper's protocol and returns one wide
/// row per (model, task): pass@1, pass@k, cons@k, mean length, format, mixing and reflection
/// rates. `limit` takes the first problems of each held-out set.
pub fn evaluate_base_models(
    ctx: &super::RunContext,
    checkpoints: &[(String, std::path::PathBuf)],
    tasks_to_eval: &[&str],
    data_dir: &Path,
    cfg: &crate::eval::EvalConfig,
    limit: usize,
    mut progress: impl FnMut(&str),
) -> Result<(polars::prelude::DataFrame, Vec<crate::eval::EvalReport>)> {
    use polars::prelude::*;
    anyhow::ensure!(
        cfg.k >= 2,
        "eval-base tables pass@1 beside pass@k and cons@k, so k must be at least 2, got {}: raise -k",
        cfg.k
    );
    let mut reports = Vec::new();
    for (name, dir) in checkpoints {
        let loaded = ctx.load(&dir.to_string_lossy())?;
        let tk = loaded.tokenizer()?;
        for task in tasks_to_eval {
            progress(&format!("{name} on {task}"));
            let mut problems = tasks::read_test_set(&data_dir.join("tasks"), task)?;
            problems.truncate(limit);
            reports.push(crate::eval::evaluate(
                &loaded.model,
                tk,
                name,
                task,
                &problems,
                cfg,
                |_, _| {},
            )?);
        }
    }
    let k = cfg.k;
    let col =
        |f: &dyn Fn(&crate::eval::EvalReport) -> f64| reports.iter().map(f).collect::<Vec<f64>>();
    // A metric's 95% bootstrap interval over the problems, its lower or upper end per report.
    let bounds = |metric: &str, high: bool| -> Result<Vec<f64>> {
        reports
            .iter()
            .map(|r| {
                let ci = r.interval(metric)?;
                Ok(if high { ci.high } else { ci.low })
            })
            .collect()
    };
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            "model".into(),
            reports.iter().map(|r| r.model.clone()).collect::<Vec<_>>(),
        ),
        Column::new("params".into(), {
            let mut v = Vec::new();
            for r in &reports {
                let dir = &checkpoints
                    .iter()
                    .find(|(n, _)| *n == r.model)
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default();
                v.push(
                    ModelConfig::from_file(&dir.join("config.json"))
                        .map(|c| c.num_parameters() as u64)
                        .unwrap_or(0),
                );
            }
            v
        }),
        Column::new(
            "task".into(),
            reports.iter().map(|r| r.task.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "problems".into(),
            reports
                .iter()
                .map(|r| r.problems as u32)
                .collect::<Vec<_>>(),
        ),
        Column::new("pass@1".into(), col(&|r| r.pass_at_1)),
        Column::new("pass@1 low".into(), bounds("pass@1", false)?),
        Column::new("pass@1 high".into(), bounds("pass@1", true)?),
        Column::new(format!("pass@{k}").into(), col(&|r| r.pass_at_k)),
        Column::new(format!("cons@{k}").into(), col(&|r| r.cons_at_k)),
        Column::new(
            format!("cons@{k} low").into(),
            bounds(&format!("cons@{k}"), false)?,
        ),
        Column::new(
            format!("cons@{k} high").into(),
            bounds(&format!("cons@{k}"), true)?,
        ),
        Column::new("mean_length".into(), col(&|r| r.mean_length)),
        Column::new("format_rate".into(), col(&|r| r.format_rate)),
        Column::new("mixing_rate".into(), col(&|r| r.mixing_rate)),
        Column::new("reflection_rate".into(), col(&|r| r.reflection_rate)),
    ])?;
    Ok((df, reports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_task_corpus_holds_only_that_task() {
        let cfg = CorpusConfig {
            num_docs: 200,
            ..Default::default()
        };
        let held = HashSet::new();
        let countdown = corpus_for(&cfg, Some("countdown"), &held).unwrap();
        let arithmetic = corpus_for(&cfg, Some("arithmetic"), &held).unwrap();
        let both = corpus_for(&cfg, None, &held).unwrap();
        // Facts documents belong to no task; problem documents name their question.
        let is_countdown = |d: &String| d.contains("Use each number once");
        let is_arithmetic = |d: &String| d.contains("What is");
        assert!(countdown.iter().any(is_countdown) && !countdown.iter().any(is_arithmetic));
        assert!(arithmetic.iter().any(is_arithmetic) && !arithmetic.iter().any(is_countdown));
        let (a, c) = (
            both.iter().filter(|d| is_arithmetic(d)).count() as f64,
            both.iter().filter(|d| is_countdown(d)).count() as f64,
        );
        assert!(
            a / c > 2.0 && a / c < 4.5,
            "arithmetic : countdown = {a} : {c}"
        );
        let err = corpus_for(&cfg, Some("sudoku"), &held).unwrap_err();
        assert!(format!("{err:#}").contains("arithmetic or countdown"));
    }
}
