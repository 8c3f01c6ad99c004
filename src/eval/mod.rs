//! Evaluation with the paper's protocol (DeepSeek-R1, evaluation setup): k samples per question at
//! temperature 0.6 and top-p 0.95; pass@1 is the mean correctness, pass@k the unbiased estimator of
//! Chen et al. (2021), cons@k the majority vote over the extracted answers. Also the mean response
//! length, format compliance, language-mixing rate and reflection rate.
//!
//! Results come back as an owned [`EvalReport`] and as a polars DataFrame with one row per
//! (model, task, metric); [`table`] writes CSV and Markdown.

pub mod bootstrap;
pub mod metrics;
pub mod table;

use crate::model::Model;
use crate::rewards::{chain_of_thought, Format};
use crate::sampling::{generate, SamplingConfig};
use crate::tasks::language::{reflection_marker, Lang};
use crate::tasks::{Problem, Template};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Result};
use metrics::{cons_at_k, extract_answer, language_mixing, mean, pass_at_k};
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

    /// One row per metric: `model, task, metric, value`.
    pub fn to_frame(&self) -> Result<DataFrame> {
        reports_frame(std::slice::from_ref(self))
    }
}

/// Long-format table of several reports: `model, task, k, metric, value`.
pub fn reports_frame(reports: &[EvalReport]) -> Result<DataFrame> {
    let (mut model, mut task, mut k, mut metric, mut value) =
        (vec![], vec![], vec![], vec![], vec![]);
    for r in reports {
        for (m, v) in r.metrics() {
            model.push(r.model.clone());
            task.push(r.task.clone());
            k.push(r.k as u32);
            metric.push(m);
            value.push(v);
        }
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new("model".into(), model),
        Column::new("task".into(), task),
        Column::new("k".into(), k),
        Column::new("metric".into(), metric),
        Column::new("value".into(), value),
    ])?)
}

/// Whether a chain of thought contains the reflection marker of either language as a word.
pub fn has_reflection(cot: &str) -> bool {
    first_marker(cot).is_some()
}

/// Byte offset of the first reflection marker of either language that stands as a word.
fn first_marker(cot: &str) -> Option<usize> {
    let markers = [reflection_marker(Lang::A), reflection_marker(Lang::B)];
    let mut start = None;
    for (i, c) in cot.char_indices().chain([(cot.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if markers.iter().any(|m| cot[s..i].eq_ignore_ascii_case(m)) {
                    return Some(s);
                }
                start = None;
            }
            _ => {}
        }
    }
    None
}

/// The answers a chain of thought states ("so the answer is 75." in either language), in order.
pub fn stated_answers(cot: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for lang in Lang::ALL {
        let phrase = crate::corpus::answer_phrase(lang);
        for (at, _) in cot.match_indices(phrase) {
            let rest = &cot[at + phrase.len()..];
            if let Some(word) = rest.split_whitespace().next() {
                let value = word.trim_end_matches('.');
                if !value.is_empty() {
                    found.push((at, value.to_owned()));
                }
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

/// Whether a completion states an answer before its first reflection marker and then, after
/// it, a different one that is also the answer it gives in `<answer>…</answer>`: the check after
/// "wait" revised an answer already given, rather than confirming it, correcting a step, or
/// being ignored (Table 3).
pub fn revises_answer(completion: &str) -> bool {
    let Some(marker) = first_marker(completion) else {
        return false;
    };
    let before = stated_answers(&completion[..marker]);
    let after = stated_answers(&completion[marker..]);
    match (before.last(), after.last(), extract_answer(completion)) {
        (Some(doubted), Some(last), Some(given)) => {
            doubted.trim() != last.trim() && last.trim() == given.trim()
        }
        _ => false,
    }
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
    let format_ok = Format::new(template.prompt_opens_think())
        .check(text)
        .is_ok();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revised_answers_are_told_from_confirmed_ones_and_corrected_steps() {
        let revised = " so the answer is 940. wait, check: part 1: 14 * 7 = 98. so the answer \
                       is 938. </think> <answer> 938 </answer>";
        assert_eq!(stated_answers(revised), ["940", "938"]);
        assert!(revises_answer(revised));
        // The revision ignored: the answer given is the doubted one.
        let ignored = revised.replace("<answer> 938", "<answer> 940");
        assert!(!revises_answer(&ignored));
        // Several answers before the marker: the one it doubts is the last of them.
        let two = " so the answer is 938. so the answer is 940. wait, check: … so the answer is \
                   938. </think> <answer> 938 </answer>";
        assert!(revises_answer(two));
        // In language B, and with the marker as part of a longer word elsewhere.
        let b = " ka ul quen zim 12. hok, pru: vek 1: 5 + 8 = 13, dul 13. ka ul quen zim 13. \
                 </think> <answer> 13 </answer>";
        assert!(revises_answer(b));
        let confirmed =
            " so the answer is 13. wait, check: column 1: 5 + 8 = 13. so the answer is \
                         13. </think> <answer> 13 </answer>";
        assert!(!revises_answer(confirmed));
        // A step corrected after the marker, with no answer stated before it.
        let step = " column 1: 5 + 8 = 12. wait, check: 5 + 8 = 13, not 12. so the answer is 13. \
                    </think> <answer> 13 </answer>";
        assert!(!revises_answer(step));
        // An answer before the marker and none after: nothing revised.
        assert!(!revises_answer(" so the answer is 12. wait"));
        assert!(!revises_answer(
            " so the answer is 12. awaits so the answer is 13. </think> <answer> 13 </answer>"
        ));
        assert!(stated_answers("no answer here").is_empty());
    }
}
