//! Evaluation with the paper's protocol (DeepSeek-R1, evaluation setup): k samples per question at
//! temperature 0.6 and top-p 0.95; pass@1 is the mean correctness, pass@k the unbiased estimator of
//! Chen et al. (2021), cons@k the majority vote over the extracted answers. Also the mean response
//! length, format compliance, language-mixing rate and reflection rate.
//!
//! Results come back as an owned [`EvalReport`] and as a polars DataFrame with one row per
//! (model, task, metric); [`table`] writes CSV and Markdown. What is read in each completion (its
//! answer, format, chain of thought, language mixing, reflection) is read by
//! [`crate::completion`], the same reading the rewards use.

pub mod bootstrap;
pub mod by_hand;
mod intervals;
pub mod metrics;
pub mod table;

use crate::completion::{
    chain_of_thought, check_format, extract_answer, has_reflection, language_mixing,
    DEFAULT_EOS_MARKERS,
};
use crate::model::Model;
use crate::sampling::{generate, SamplingConfig};
use crate::tasks::{Problem, Template};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Result};
use metrics::{cons_at_k, mean, pass_at_k};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// How to evaluate. Paper values: k = 4..64 (16 for Figure 2), temperature 0.6, top-p 0.95.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Samples per question (the k of pass@k and cons@k). Paper: 16 (Figure 2), 64 (Table 2).
    pub k: usize,
    /// Paper: 0.6.
    pub temperature: f64,
    /// Paper: 0.95.
    pub top_p: f64,
    /// Paper: 32,768; our tasks need far fewer.
    pub max_new_tokens: usize,
    pub template: Template,
    /// Questions sampled together in one batch (k rows each).
    pub prompts_per_batch: usize,
    pub seed: u64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            k: 16,
            temperature: 0.6,
            top_p: 0.95,
            max_new_tokens: 160,
            template: Template::R1ZeroShort,
            prompts_per_batch: 8,
            seed: 1234,
        }
    }
}

/// One scored sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleResult {
    pub problem_id: String,
    pub sample_index: usize,
    pub text: String,
    pub answer: Option<String>,
    pub correct: bool,
    pub format_ok: bool,
    /// The chain of thought mixes words of both languages.
    pub mixed: bool,
    /// The chain of thought contains the reflection marker ("wait" or its counterpart).
    pub reflection: bool,
    pub num_tokens: usize,
    pub truncated: bool,
}

/// The metrics of one model on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub model: String,
    pub task: String,
    pub k: usize,
    pub problems: usize,
    pub pass_at_1: f64,
    pub pass_at_k: f64,
    pub cons_at_k: f64,
    pub mean_length: f64,
    pub format_rate: f64,
    pub mixing_rate: f64,
    pub reflection_rate: f64,
    pub truncation_rate: f64,
    pub samples: Vec<SampleResult>,
}

impl EvalReport {
    /// `(metric, value)` pairs in a fixed order; the names are the columns of `reports/README.md`.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let k = self.k;
        vec![
            ("pass@1".into(), self.pass_at_1),
            (format!("pass@{k}"), self.pass_at_k),
            (format!("cons@{k}"), self.cons_at_k),
            ("mean_length".into(), self.mean_length),
            ("format_rate".into(), self.format_rate),
            ("mixing_rate".into(), self.mixing_rate),
            ("reflection_rate".into(), self.reflection_rate),
            ("truncation_rate".into(), self.truncation_rate),
        ]
    }

    /// One row per metric: `model, task, k, metric, value, low, high` (the 95% bootstrap
    /// interval over the problems).
    pub fn to_frame(&self) -> Result<DataFrame> {
        reports_frame(std::slice::from_ref(self))
    }
}

/// Long-format table of several reports: `model, task, k, metric, value, low, high` (the 95%
/// bootstrap interval over the problems, [`bootstrap`]).
pub fn reports_frame(reports: &[EvalReport]) -> Result<DataFrame> {
    let (mut model, mut task, mut k, mut metric, mut value) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut low, mut high) = (vec![], vec![]);
    for r in reports {
        for (m, v) in r.metrics() {
            let ci = r.interval(&m)?;
            model.push(r.model.clone());
            task.push(r.task.clone());
            k.push(r.k as u32);
            metric.push(m);
            value.push(v);
            low.push(ci.low);
            high.push(ci.high);
        }
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new("model".into(), model),
        Column::new("task".into(), task),
        Column::new("k".into(), k),
        Column::new("metric".into(), metric),
        Column::new("value".into(), value),
        Column::new("low".into(), low),
        Column::new("high".into(), high),
    ])?)
}

/// Scores one completion of `problem`.
pub fn score_sample(
    problem: &Problem,
    text: &str,
    template: Template,
    num_tokens: usize,
    truncated: bool,
    sample_index: usize,
) -> SampleResult {
    let answer = extract_answer(text);
    let correct = answer
        .as_deref()
        .map(|a| problem.verify(a))
        .unwrap_or(false);
    let format_ok = check_format(text, template.prompt_opens_think(), &DEFAULT_EOS_MARKERS).is_ok();
    let cot = chain_of_thought(text, template.prompt_opens_think());
    SampleResult {
        problem_id: problem.id.clone(),
        sample_index,
        text: text.to_string(),
        answer,
        correct,
        format_ok,
        mixed: language_mixing(cot),
        reflection: has_reflection(cot),
        num_tokens,
        truncated,
    }
}

/// Samples `cfg.k` completions per problem and computes the paper's metrics.
pub fn evaluate(
    model: &Model,
    tokenizer: &Tokenizer,
    model_name: &str,
    task_name: &str,
    problems: &[Problem],
    cfg: &EvalConfig,
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalReport> {
    if problems.is_empty() {
        bail!("no problems to evaluate on task {task_name}");
    }
    if cfg.k == 0 {
        bail!("k must be at least 1");
    }
    let sampling =
        SamplingConfig::until_answer(cfg.temperature, cfg.top_p, cfg.max_new_tokens, cfg.seed);
    crate::sampling::check_memory(
        &model.config,
        model.dtype(),
        cfg.prompts_per_batch.max(1).min(problems.len()),
        cfg.k,
        0,
        cfg.max_new_tokens,
        problems.len().saturating_mul(cfg.k),
    )?;
    let mut samples = Vec::with_capacity(problems.len() * cfg.k);
    let (mut p1, mut pk, mut ck) = (vec![], vec![], vec![]);
    for (chunk_index, chunk) in problems.chunks(cfg.prompts_per_batch.max(1)).enumerate() {
        let prompts = chunk
            .iter()
            .map(|p| tokenizer.encode(&cfg.template.render(&p.question)))
            .collect::<Result<Vec<_>>>()?;
        let sampling = SamplingConfig {
            seed: cfg.seed.wrapping_add(chunk_index as u64),
            ..sampling.clone()
        };
        let out = generate(model, tokenizer, &prompts, cfg.k, &sampling)?;
        for (pi, problem) in chunk.iter().enumerate() {
            let group: Vec<SampleResult> = out
                .iter()
                .filter(|c| c.prompt_index == pi)
                .map(|c| {
                    score_sample(
                        problem,
                        &c.text,
                        cfg.template,
                        c.token_ids.len(),
                        c.truncated,
                        c.sample_index,
                    )
                })
                .collect();
            let c = group.iter().filter(|s| s.correct).count();
            p1.push(c as f64 / cfg.k as f64);
            pk.push(pass_at_k(cfg.k, c, cfg.k));
            let answers: Vec<Option<String>> = group.iter().map(|s| s.answer.clone()).collect();
            ck.push(if cons_at_k(&answers, |a| problem.verify(a)).correct {
                1.0
            } else {
                0.0
            });
            samples.extend(group);
        }
        progress(
            ((chunk_index + 1) * cfg.prompts_per_batch).min(problems.len()),
            problems.len(),
        );
    }
    let rate = |f: &dyn Fn(&SampleResult) -> bool| {
        samples.iter().filter(|s| f(s)).count() as f64 / samples.len() as f64
    };
    Ok(EvalReport {
        model: model_name.to_string(),
        task: task_name.to_string(),
        k: cfg.k,
        problems: problems.len(),
        pass_at_1: mean(&p1),
        pass_at_k: mean(&pk),
        cons_at_k: mean(&ck),
        mean_length: mean(
            &samples
                .iter()
                .map(|s| s.num_tokens as f64)
                .collect::<Vec<_>>(),
        ),
        format_rate: rate(&|s| s.format_ok),
        mixing_rate: rate(&|s| s.mixed),
        reflection_rate: rate(&|s| s.reflection),
        truncation_rate: rate(&|s| s.truncated),
        samples,
    })
}
