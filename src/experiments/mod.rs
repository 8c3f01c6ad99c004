//! The experiments, one module per result of the paper, each runnable from the CLI at a named
//! scale: `smoke` (seconds, for tests), `workshop` (minutes on a laptop CPU).

pub mod base_models;
pub mod cold_start;
pub mod context;
pub mod control;
pub mod distillation;
pub mod final_rl_probe;
pub mod findings;
pub mod grpo_variants;
pub mod knobs;
pub mod r1_pipeline;
pub mod r1_zero;
pub mod real_models;
pub mod report;
pub mod reproduce;
pub mod run_key;
pub mod sizes;
pub mod table4;

use crate::rejection::{RejectionStats, Trace};
use crate::sft::{SftConfig, SftRow};
use anyhow::{bail, Context, Result};
pub use context::RunContext;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Seconds: the same code on tiny budgets, for the tests.
    Smoke,
    /// Minutes on a laptop CPU: the committed reports.
    Workshop,
}

impl Scale {
    /// Reads `R1LAB_SCALE` (`smoke` or `workshop`, default `workshop`).
    pub fn from_env() -> Result<Self> {
        match std::env::var("R1LAB_SCALE").as_deref() {
            Err(_) | Ok("") | Ok("workshop") => Ok(Scale::Workshop),
            Ok("smoke") => Ok(Scale::Smoke),
            Ok(other) => bail!("R1LAB_SCALE={other:?}: use smoke or workshop"),
        }
    }
}

/// A task by name (`arithmetic` or `countdown`).
pub fn task_by_name(name: &str) -> Result<std::sync::Arc<dyn crate::tasks::Task>> {
    crate::tasks::synthetic_tasks()
        .into_iter()
        .find(|t| t.name() == name)
        .map(std::sync::Arc::from)
        .ok_or_else(|| anyhow::anyhow!("unknown task {name:?}: use arithmetic or countdown"))
}

/// The training task and the held-out problems of an experiment: a synthetic task by name
/// (`arithmetic`, `countdown`) with its held-out set from `<data>/tasks`, or a word-problem file
/// (`.jsonl` / `.parquet`, GSM8K's layout) with the held-out file `test`.
pub fn task_and_test(
    ctx: &RunContext,
    task: &str,
    test: Option<&Path>,
) -> Result<(
    std::sync::Arc<dyn crate::tasks::Task>,
    Vec<crate::tasks::Problem>,
)> {
    use crate::tasks::word_problems::WordProblemTask;
    if !WordProblemTask::is_file_name(task) {
        anyhow::ensure!(
            test.is_none(),
            "--test names the held-out file of a word-problem --task, and {task} is a synthetic task (its held-out set is in data/tasks): drop --test"
        );
        let problems = crate::tasks::read_test_set(&ctx.data.join("tasks"), task)?;
        return Ok((task_by_name(task)?, problems));
    }
    let test = test.with_context(|| {
        format!(
            "the word problems {task} need a held-out file: pass --test test.jsonl (or .parquet)"
        )
    })?;
    let train = WordProblemTask::from_file(Path::new(task))?;
    let problems = WordProblemTask::from_file(test)?.problems().to_vec();
    Ok((std::sync::Arc::new(train), problems))
}

/// Runs (or resumes, or just reloads when finished) one GRPO stage in `run_dir`, starting from
/// the checkpoint `start` when the folder holds no trainer checkpoint yet. The folder is locked
/// ([`crate::run_lock`]) and the leftovers of an interrupted save are cleaned first; a stale
/// `metrics.csv` without a checkpoint is moved aside with a message, so a rerun never mixes two
/// runs.
#[allow(clippy::too_many_arguments)]
pub fn rl_stage(
    ctx: &RunContext,
    start: &str,
    task: std::sync::Arc<dyn crate::tasks::Task>,
    rewards: std::sync::Arc<crate::rewards::RewardSet>,
    held_out: std::collections::HashSet<String>,
    cfg: &crate::grpo::GrpoConfig,
    run_dir: &std::path::Path,
    eval: Option<&crate::grpo::PeriodicEval>,
    checkpoint_every: usize,
    on_step: impl FnMut(&crate::grpo::StepMetrics),
) -> Result<crate::grpo::GrpoTrainer> {
    let ckpt = run_dir.join("checkpoint");
    let _lock = crate::grpo::run_folder::open_run(run_dir, &ckpt)?;
    let mut trainer = if ckpt.exists() {
        crate::grpo::GrpoTrainer::resume(
            &ckpt,
            task,
            rewards,
            held_out,
            cfg.clone(),
            &ctx.device,
            ctx.train_dtype,
        )?
    } else {
        crate::grpo::run_folder::set_aside_stale(run_dir)?;
        let loaded = ctx
            .load_for_training(start)
            .with_context(|| format!("cannot load the starting checkpoint {start}"))?;
        let tk = loaded.tokenizer()?.clone();
        crate::grpo::GrpoTrainer::new(loaded.model, tk, task, rewards, held_out, cfg.clone())?
    };
    trainer.run(run_dir, eval, checkpoint_every, on_step)?;
    Ok(trainer)
}

/// One SFT stage: `start` trained on `rows` for `epochs` passes with `cfg` (its `steps` set from
/// the epochs), saved to `dir`; skipped when `dir` already holds a finished model.
pub struct SftStage<'a> {
    pub start: &'a str,
    pub rows: &'a [SftRow],
    pub epochs: f64,
    pub cfg: &'a SftConfig,
    pub dir: &'a Path,
}

impl SftStage<'_> {
    /// Runs the stage with plain SFT ([`crate::sft::train`]). Returns the model's folder.
    pub fn run(&self, ctx: &RunContext, log: impl FnMut(String)) -> Result<String> {
        self.run_with(
            ctx,
            serde_json::json!({ "method": "sft" }),
            |model, rows, cfg| crate::sft::train(model, rows, cfg, |_| {}),
            log,
        )
    }

    /// Runs the stage with another training loop on the same rows (e.g. logit distillation,
    /// [`crate::distill::train_logit`]): loads `start`, trains with `train`, saves the model with
    /// the sampling generation config, and records `meta`, the settings, the trained tokens, the
    /// wall time and the losses in `r1lab_sft.json`. Returns the model's folder.
    pub fn run_with(
        &self,
        ctx: &RunContext,
        meta: serde_json::Value,
        train: impl FnOnce(
            &crate::model::Model,
            &[SftRow],
            &SftConfig,
        ) -> Result<Vec<crate::sft::SftLog>>,
        mut log: impl FnMut(String),
    ) -> Result<String> {
        let SftStage {
            start,
            rows,
            epochs,
            cfg,
            dir,
        } = *self;
        if dir.join("config.json").exists() {
            return Ok(dir.to_string_lossy().into_owned());
        }
        anyhow::ensure!(
            epochs > 0.0 && epochs.is_finite(),
            "epochs must be positive, got {epochs}"
        );
        anyhow::ensure!(!rows.is_empty(), "no SFT rows for {}", dir.display());
        let loaded = ctx.load_for_training(start)?;
        let mut cfg = cfg.clone();
        cfg.steps = ((epochs * rows.len() as f64) / cfg.batch_size as f64).ceil() as usize;
        let t0 = std::time::Instant::now();
        let logs = train(&loaded.model, rows, &cfg)?;
        let wall_s = t0.elapsed().as_secs_f64();
        log(format!(
            "  {} {} rows × {epochs} epochs = {} steps: loss {:.3} -> {:.3}",
            meta["method"].as_str().unwrap_or("SFT"),
            rows.len(),
            cfg.steps,
            logs.first().map(|l| l.loss).unwrap_or(f64::NAN),
            logs.last().map(|l| l.loss).unwrap_or(f64::NAN)
        ));
        let tk = loaded.tokenizer()?;
        crate::checkpoint::save(
            &loaded.model,
            Some(tk),
            &crate::checkpoint::sampling_generation_config(tk),
            dir,
        )?;
        let tokens: usize = logs.iter().map(|l| l.tokens).sum();
        let mut record = serde_json::json!({
            "start": start, "rows": rows.len(), "epochs": epochs, "sft": cfg,
            "trained_tokens": tokens, "wall_s": wall_s, "logs": logs,
        });
        if let (Some(r), Some(m)) = (record.as_object_mut(), meta.as_object()) {
            r.extend(m.clone());
        }
        crate::checkpoint::atomic_write(
            &dir.join("r1lab_sft.json"),
            serde_json::to_string_pretty(&record)?.as_bytes(),
        )?;
        Ok(dir.to_string_lossy().into_owned())
    }
}

fn stats_path(dir: &Path) -> PathBuf {
    dir.join("filter.json")
}

/// Reads the traces and filter stats cached in `dir` (`traces.jsonl`, `filter.json`), or makes
/// them with `make` and caches them. `source` is the [`weights_fingerprint`] of the model that
/// writes them (None for traces no model writes), kept in `source.txt`: traces cached from other
/// weights (a teacher or a stage trained again) are refused with what to do, never reused. A
/// cache from before `source.txt` existed is taken as it is: it cannot be checked, so it is not
/// stamped either.
pub fn cached_traces(
    dir: &Path,
    source: Option<&crate::model::Model>,
    make: impl FnOnce() -> Result<(Vec<Trace>, RejectionStats)>,
) -> Result<(Vec<Trace>, RejectionStats)> {
    let (tp, sp) = (dir.join("traces.jsonl"), stats_path(dir));
    let src = dir.join("source.txt");
    let fingerprint = source.map(weights_fingerprint).transpose()?;
    if tp.exists() && sp.exists() {
        if let (Some(now), Ok(then)) = (&fingerprint, std::fs::read_to_string(&src)) {
            anyhow::ensure!(
                &then == now,
                "the traces in {} were written by other weights than the model now writing them \
                 (it was trained again): move {} away to write them again and redo this stage \
                 (then the stages after it, whose folders must go too)",
                dir.display(),
                dir.display()
            );
        }
        let stats = serde_json::from_str(&std::fs::read_to_string(&sp)?)
            .with_context(|| format!("{} is damaged: delete it to redo the stage", sp.display()))?;
        return Ok((crate::rejection::read_traces(&tp)?, stats));
    }
    let (traces, stats) = make()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::rejection::write_traces(&tp, &traces)?;
    crate::checkpoint::atomic_write(&sp, serde_json::to_string_pretty(&stats)?.as_bytes())?;
    if let Some(now) = &fingerprint {
        crate::checkpoint::atomic_write(&src, now.as_bytes())?;
    }
    Ok((traces, stats))
}

/// The number `field` of the JSON object in `path` (a trainer state, an SFT record), or NaN when
/// the file, the field or a number is missing.
pub fn recorded(path: &std::path::Path, field: &str) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v[field].as_f64())
        .unwrap_or(f64::NAN)
}

/// A fingerprint of a model's weights: per tensor (by name) the sum and the sum of squares.
/// Different weights give different fingerprints except by a vanishing coincidence.
pub fn weights_fingerprint(model: &crate::model::Model) -> Result<String> {
    let tensors = model.params().tensors();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut out = String::new();
    for n in names {
        let t = tensors[n].to_dtype(candle_core::DType::F64)?;
        let sum = t.sum_all()?.to_scalar::<f64>()?;
        let sq = t.sqr()?.sum_all()?.to_scalar::<f64>()?;
        out.push_str(&format!("{n}:{sum:e}:{sq:e};"));
    }
    Ok(out)
}

/// A cached evaluation and the weights it was made with.
#[derive(Serialize, Deserialize)]
struct CachedEval {
    fingerprint: String,
    /// The dtype the model was evaluated in (`f32`, `bf16`).
    #[serde(default)]
    dtype: String,
    /// The evaluation settings (template, k, lengths, sampling), as JSON.
    #[serde(default)]
    config: String,
    report: crate::eval::EvalReport,
}

/// How an experiment evaluates its models: the held-out problems (the first of its test set),
/// the task's name in the reports, and the sampling settings (the paper's temperature and
/// top-p). One spec per experiment, so every model of a comparison is evaluated alike.
/// Held-out problems of the evaluations during training (the curves of Figure 2): the first 50,
/// a tenth of a table's 500, so that a curve point costs a tenth of a table's evaluation.
pub const CURVE_PROBLEMS: usize = 50;

#[derive(Debug, Clone)]
pub struct EvalSpec {
    pub task: String,
    pub problems: Vec<crate::tasks::Problem>,
    pub config: crate::eval::EvalConfig,
}

impl EvalSpec {
    /// The first `n` problems of `test`, `k` samples each of at most `max_new_tokens` tokens,
    /// prompted with `template`.
    pub fn new(
        task: &str,
        test: &[crate::tasks::Problem],
        n: usize,
        k: usize,
        max_new_tokens: usize,
        template: crate::tasks::Template,
    ) -> Self {
        Self {
            task: task.into(),
            problems: test.iter().take(n).cloned().collect(),
            config: crate::eval::EvalConfig {
                k,
                max_new_tokens,
                template,
                ..Default::default()
            },
        }
    }

    /// The same evaluation during training, every `every` GRPO steps, on the first
    /// [`CURVE_PROBLEMS`] problems: the curves (Figure 2) show the shape of training, while the
    /// tables' numbers and their intervals come from the whole set.
    pub fn during_training(&self, every: usize) -> crate::grpo::PeriodicEval {
        crate::grpo::PeriodicEval {
            problems: self.problems.iter().take(CURVE_PROBLEMS).cloned().collect(),
            config: self.config.clone(),
            every,
        }
    }

    /// Evaluates `model` (read with `tokenizer`) under `label`.
    pub fn evaluate(
        &self,
        label: &str,
        model: &crate::model::Model,
        tokenizer: &crate::tokenizer::Tokenizer,
    ) -> Result<crate::eval::EvalReport> {
        crate::eval::evaluate(
            model,
            tokenizer,
            label,
            &self.task,
            &self.problems,
            &self.config,
            |_, _| {},
        )
    }

    /// [`EvalSpec::evaluate`], or the report cached under `<dir>/<label>.json` by an earlier
    /// identical call: same weights ([`weights_fingerprint`]), dtype, settings, label, problems
    /// and k. A stage trained again is therefore evaluated again. The cache is written
    /// atomically after the evaluation.
    pub fn evaluate_cached(
        &self,
        dir: &Path,
        label: &str,
        model: &crate::model::Model,
        tokenizer: &crate::tokenizer::Tokenizer,
    ) -> Result<crate::eval::EvalReport> {
        let cache = dir.join(format!("{label}.json"));
        let settings = serde_json::to_string(&self.config)?;
        let fingerprint = weights_fingerprint(model)?;
        if let Ok(text) = std::fs::read_to_string(&cache) {
            if let Ok(c) = serde_json::from_str::<CachedEval>(&text) {
                let r = c.report;
                let dtype = if c.dtype.is_empty() { "f32" } else { &c.dtype };
                if c.fingerprint == fingerprint
                    && dtype == context::short_name(model.dtype())
                    && (c.config.is_empty() || c.config == settings)
                    && r.task == self.task
                    && r.model == label
                    && r.problems == self.problems.len()
                    && r.k == self.config.k
                {
                    return Ok(r);
                }
            }
        }
        let report = self.evaluate(label, model, tokenizer)?;
        std::fs::create_dir_all(dir)?;
        let entry = CachedEval {
            fingerprint,
            dtype: context::short_name(model.dtype()).into(),
            config: settings,
            report,
        };
        crate::checkpoint::atomic_write(&cache, serde_json::to_string(&entry)?.as_bytes())?;
        Ok(entry.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_traces_from_other_weights_are_refused_not_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("stage");
        let (a, b) = (
            crate::model::tiny_random(16, 1),
            crate::model::tiny_random(16, 2),
        );
        let make = || Ok((vec![], RejectionStats::default()));
        cached_traces(&dir, Some(&a), make).unwrap();
        // The same weights read the cache; a `make` that runs would fail the test.
        let never = || -> Result<(Vec<Trace>, RejectionStats)> { panic!("the cache was not read") };
        cached_traces(&dir, Some(&a), never).unwrap();
        let err = cached_traces(&dir, Some(&b), never).unwrap_err();
        assert!(
            format!("{err:#}").contains("to write them again"),
            "{err:#}"
        );
        // A cache from before source.txt is taken as it is, and not stamped.
        std::fs::remove_file(dir.join("source.txt")).unwrap();
        cached_traces(&dir, Some(&b), never).unwrap();
        assert!(!dir.join("source.txt").exists());
    }

    #[test]
    fn the_fingerprint_follows_the_weights() {
        let m = |seed| crate::model::tiny_random(16, seed);
        let (a, b) = (m(1), m(2));
        assert_eq!(
            weights_fingerprint(&a).unwrap(),
            weights_fingerprint(&a.deep_copy().unwrap()).unwrap()
        );
        assert_ne!(
            weights_fingerprint(&a).unwrap(),
            weights_fingerprint(&b).unwrap()
        );
    }
}
