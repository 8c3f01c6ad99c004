//! The cold-start data of the R1 pipeline (paper §2.3.1): a small set of long, readable chains of
//! thought that the base model is fine-tuned on before reasoning RL. The paper collects them "by
//! few-shot prompting with a long CoT, directly prompting models to generate detailed answers with
//! reflection and verification, gathering DeepSeek-R1-Zero outputs in a readable format, and
//! refining the results through post-processing by human annotators", in the readable format
//! `|special_token|<reasoning_process>|special_token|<summary>`.
//!
//! Two sources, chosen by [`ColdStart`]:
//! * [`ColdStart::Generated`] — the task's own worked solutions, written entirely in the target
//!   language, a share of them catching a slip (the synthetic tasks' default, what the committed
//!   Table 4 used);
//! * [`ColdStart::FromR1Zero`] — R1-Zero's own outputs: its final checkpoint answers fresh
//!   training questions, the rejection filter keeps the correct, well-formed, single-language
//!   ones, and each is rewritten into the readable format (the reasoning between the two
//!   separators, then a one-line summary) — the only source a word-problem task has, since real
//!   data sets ship no worked solutions in our phrasebook.
//!
//! Departure: no human post-processing; the rewrite is mechanical.

use crate::completion::{chain_of_thought, extract_answer};
use crate::distill::training_problems;
use crate::model::Model;
use crate::rejection::{self, filter, RejectionConfig, RejectionStats, Trace};
use crate::tasks::language::Lang;
use crate::tasks::{Flaw, Step, Task, Template};
use crate::tokenizer::{Tokenizer, SPECIAL_SEP};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Where the cold-start examples come from (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum ColdStart {
    /// The task's worked solutions (synthetic tasks only).
    #[default]
    Generated,
    /// R1-Zero's correct outputs, rewritten into the readable format (the paper's source).
    #[value(name = "r1-zero")]
    FromR1Zero,
}

/// Cold-start examples written from the task's worked solutions, entirely in `target`, a share
/// `reflection` of them catching a slip with "wait, check: …", each checked by the rejection
/// filter (so an example the task cannot write correctly is dropped and counted).
pub fn generated(
    task: &dyn Task,
    n: usize,
    reflection: f64,
    target: Lang,
    held_out: &HashSet<String>,
    seed: u64,
) -> Result<(Vec<Trace>, RejectionStats)> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&reflection),
        "cold_start_reflection must be in [0, 1], got {reflection}"
    );
    let problems = training_problems(task, n, held_out, seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc01d);
    let template = Template::R1ZeroShort;
    let candidates: Vec<_> = problems
        .iter()
        .map(|p| {
            let flaw = if rng.random_bool(reflection) {
                Flaw::SelfCorrect
            } else {
                Flaw::None
            };
            let text = task
                .worked_solution(p, flaw, &mut rng)
                .or_else(|| task.worked_solution(p, Flaw::None, &mut rng))
                .map(|w| {
                    let mut steps: Vec<String> = w.steps.iter().map(|s| s.render(target)).collect();
                    steps.push(Step::answer_is(&w.answer).render(target));
                    format!(
                        " {} </think> <answer> {} </answer>",
                        steps.join(" "),
                        w.answer
                    )
                })
                .unwrap_or_default();
            (p, text, false)
        })
        .collect();
    Ok(filter(candidates, template, target))
}

/// Cold-start examples from R1-Zero's outputs: `r1_zero` answers `n` fresh training questions
/// (`cfg.samples_per_prompt` samples each), the rejection filter keeps the correct, well-formed
/// completions in `cfg.target`, and each kept one is rewritten by [`readable`].
pub fn from_r1_zero(
    r1_zero: &Model,
    tokenizer: &Tokenizer,
    task: &dyn Task,
    n: usize,
    held_out: &HashSet<String>,
    cfg: &RejectionConfig,
    seed: u64,
) -> Result<(Vec<Trace>, RejectionStats)> {
    let problems = training_problems(task, n, held_out, seed)?;
    let (kept, stats) = rejection::rejection_sample(r1_zero, tokenizer, &problems, cfg)?;
    let opens = cfg.template.prompt_opens_think();
    Ok((kept.iter().map(|t| readable(t, opens)).collect(), stats))
}

/// A kept R1-Zero completion in R1's readable format: `|special_token| reasoning |special_token|
/// summary`, inside the think block (so the format reward still holds), then the answer tags.
pub fn readable(t: &Trace, prompt_opens_think: bool) -> Trace {
    let reasoning = chain_of_thought(&t.completion, prompt_opens_think).trim();
    let answer = extract_answer(&t.completion).unwrap_or_default();
    let open = if prompt_opens_think { "" } else { " <think>" };
    Trace {
        completion: format!(
            "{open} {SPECIAL_SEP} {reasoning} {SPECIAL_SEP} so the answer is {answer}. </think> <answer> {answer} </answer>"
        ),
        ..t.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_r1_zero_completion_is_rewritten_with_its_reasoning_between_the_separators() {
        let t = Trace {
            problem_id: "arithmetic-1".into(),
            question: "What is 2 + 3?".into(),
            prompt: "User: What is 2 + 3? Assistant: <think>".into(),
            completion: " column 1: 2 + 3 = 5 </think> <answer> 5 </answer>".into(),
        };
        let r = readable(&t, true);
        assert_eq!(
            r.completion,
            " |special_token| column 1: 2 + 3 = 5 |special_token| so the answer is 5. </think> <answer> 5 </answer>"
        );
        assert_eq!((r.prompt, r.question), (t.prompt, t.question));
        // The rewrite keeps the format the rewards check, and the answer.
        assert!(crate::rewards::Format::new(true)
            .check(&r.completion)
            .is_ok());
        assert_eq!(extract_answer(&r.completion).as_deref(), Some("5"));
    }
}
