//! The experiments, one module per result of the paper, each runnable from the CLI at a named
//! scale: `smoke` (seconds, for tests), `workshop` (minutes on a laptop CPU).

pub mod base_models;
pub mod distillation;
pub mod grpo_variants;
pub mod r1_pipeline;
pub mod r1_zero;
pub mod real_models;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

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

/// Runs (or resumes, or just reloads when finished) one GRPO stage in `run_dir`, starting from
/// the checkpoint `start` when the folder holds no trainer checkpoint yet. The folder is locked
/// ([`crate::run_lock`]) and the leftovers of an interrupted save are cleaned first; a stale
/// `metrics.csv` without a checkpoint is moved aside with a message, so a rerun never mixes two
/// runs.
#[allow(clippy::too_many_arguments)]
pub fn rl_stage(
    start: &str,
    task: std::sync::Arc<dyn crate::tasks::Task>,
    rewards: std::sync::Arc<crate::rewards::RewardSet>,
    held_out: std::collections::HashSet<String>,
    cfg: &crate::grpo::GrpoConfig,
    run_dir: &std::path::Path,
    eval: Option<&crate::grpo::trainer::PeriodicEval>,
    checkpoint_every: usize,
    on_step: impl FnMut(&crate::grpo::StepMetrics),
) -> Result<crate::grpo::GrpoTrainer> {
    use anyhow::Context;
    let ckpt = run_dir.join("checkpoint");
    let _lock = crate::grpo::trainer::open_run(run_dir, &ckpt)?;
    let mut trainer = if ckpt.exists() {
        crate::grpo::GrpoTrainer::resume(&ckpt, task, rewards, held_out, cfg.clone())?
    } else {
        crate::grpo::trainer::set_aside_stale(run_dir)?;
        let loaded =
            crate::checkpoint::load(start, candle_core::DType::F32, &candle_core::Device::Cpu)
                .with_context(|| format!("cannot load the starting checkpoint {start}"))?;
        let tk = loaded.tokenizer()?.clone();
        crate::grpo::GrpoTrainer::new(loaded.model, tk, task, rewards, held_out, cfg.clone())?
    };
    trainer.run(run_dir, eval, checkpoint_every, on_step)?;
    Ok(trainer)
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
    report: crate::eval::EvalReport,
}

/// Evaluates `model`, or reads the report cached at `cache` by an earlier identical call: same
/// weights ([`weights_fingerprint`]), label, problems and k. A stage trained again is therefore
/// evaluated again. The cache is written atomically after the evaluation.
pub fn evaluate_cached(
    cache: &std::path::Path,
    model: &crate::model::Model,
    tokenizer: &crate::tokenizer::Tokenizer,
    label: &str,
    task: &str,
    problems: &[crate::tasks::Problem],
    cfg: &crate::eval::EvalConfig,
) -> Result<crate::eval::EvalReport> {
    let fingerprint = weights_fingerprint(model)?;
    if let Ok(text) = std::fs::read_to_string(cache) {
        if let Ok(c) = serde_json::from_str::<CachedEval>(&text) {
            let r = c.report;
            if c.fingerprint == fingerprint
                && r.model == label
                && r.problems == problems.len()
                && r.k == cfg.k
            {
                return Ok(r);
            }
        }
    }
    let report = crate::eval::evaluate(model, tokenizer, label, task, problems, cfg, |_, _| {})?;
    if let Some(dir) = cache.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let entry = CachedEval {
        fingerprint,
        report,
    };
    crate::checkpoint::atomic_write(cache, serde_json::to_string(&entry)?.as_bytes())?;
    Ok(entry.report)
}

/// The evaluations of one experiment: every model on the same problems and settings, each cached
/// under `<dir>/<name>.json` by [`evaluate_cached`].
pub struct Evaluator<'a> {
    pub dir: std::path::PathBuf,
    pub tokenizer: &'a crate::tokenizer::Tokenizer,
    pub task: &'a str,
    pub problems: &'a [crate::tasks::Problem],
    pub config: &'a crate::eval::EvalConfig,
}

impl Evaluator<'_> {
    /// Evaluates `model` under `name` (or reads its cached report).
    pub fn evaluate(
        &self,
        name: &str,
        model: &crate::model::Model,
    ) -> Result<crate::eval::EvalReport> {
        evaluate_cached(
            &self.dir.join(format!("{name}.json")),
            model,
            self.tokenizer,
            name,
            self.task,
            self.problems,
            self.config,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
