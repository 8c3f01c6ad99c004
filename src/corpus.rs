//! The pretraining corpus of the base models — this repo's stand-in for DeepSeek-V3-Base.
//!
//! R1-Zero (paper §2.2) starts RL from a *pretrained* base model, and RL can only select and
//! sharpen behaviours the base model already produces sometimes: "DeepSeek-R1-Zero naturally
//! acquires the ability to solve increasingly complex reasoning tasks by leveraging extended
//! test-time computation" (§2.2.4), including reflection and the "aha moment" ("Wait, wait.
//! Wait. That's an aha moment I can flag here."). Web text contains all of these, but rarely and
//! imperfectly. Our synthetic corpus reproduces that situation at laptop scale. Each document is
//! one of:
//!
//! * **direct answer** — "Q: What is 347 + 86? A: 433", wrong more often on harder problems, like
//!   answers given without working;
//! * **step-by-step** — a genuinely correct derivation (column addition with carries, long
//!   multiplication by partial products, countdown operation by operation) the model can learn to
//!   execute; most of them ([`CorpusConfig::guess`]) check a first answer that way: "so the answer
//!   is 75. wait, check: 51 + 34: column 1: … so the answer is 85.", as a writer who answers,
//!   doubts and works it out;
//! * **slip** — a derivation with one wrong step whose error propagates to a wrong final answer;
//! * **self-correction** — a wrong step, then the reflection marker ("wait" / "hok"), a check, and
//!   the corrected derivation: the behaviour RL should amplify;
//! * **facts** — lists of single operations ("7 + 6 = 13. 347 * 6 = 2082."), like times tables.
//!
//! Reasoning documents are written in language A, language B, or a mix of both within one
//! solution ([`crate::tasks::language`]), so that R1-Zero-style RL can drift into language mixing
//! and R1's language-consistency reward has something to correct (§2.3.2). A minority of problem
//! documents use the `<think>…</think> <answer>…</answer>` form after exactly the short template
//! ([`Template::R1ZeroShort`]); the rest use plain "Q: … A: …", so the RL format reward starts low
//! but not at zero.
//!
//! Documents are plain strings without BOS/EOS; the tokenizer/trainer adds those. [`CorpusConfig`]
//! documents every proportion; generation is fully determined by its seed, and `tests/corpus.rs`
//! pins the corpora of the shipped base models by a hash of their text.
//!
//! One document is one straight path ([`generate_documents`]): draw its kind; for facts, the
//! facts; otherwise a task and a fresh problem, then (`problem_document`) its derivation with the
//! kind's flaw and, for a step-by-step document, the guess it checks, then its language, its form,
//! and the reasoning or the direct answer.
//!
//! Checks tried in `reports/LOG.md` and not adopted (derivations worked at a finer grain, with
//! checks that recompute that way; countdown written as a search; answers checked by working
//! again until two agree) were removed on 2026-12-03; commit `6ebf260` still has them (its
//! `r1lab pretrain --detailed`, `--search` and `--recheck`).

use crate::tasks::language::Lang;
use crate::tasks::{sample_fresh, Flaw, Problem, Step, Task, Template, WorkedSolution};
use anyhow::{anyhow, ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The kind of a corpus document (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DocKind {
    /// Question and answer only.
    Direct,
    /// A correct derivation.
    StepByStep,
    /// A derivation with one wrong step and a wrong final answer.
    Slip,
    /// A wrong step caught by "wait", corrected, with a right final answer.
    SelfCorrect,
    /// A list of single arithmetic facts.
    Facts,
}

/// The language of a reasoning document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DocLang {
    /// Every step in language A.
    A,
    /// Every step in language B.
    B,
    /// Each step in A or B at random, with both present.
    Mixed,
}

/// Proportions of document kinds (relative weights; they need not sum to 1). The defaults
/// (0.70, 0.30, 0.02, 0.13, 0.20: of the problem documents, 61% direct, 26% derivations, 2% slips,
/// 11% self-corrections) replaced 0.35, 0.30, 0.10, 0.05, 0.20 on 2026-11-29: from a base model
/// that already worked most problems, R1-Zero had little to lengthen (×1.25 against the ×1.5
/// target), and reflection written after right steps as often as after wrong ones
/// (`reports/LOG.md`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KindMix {
    /// Direct answers. Default 0.70: answers without working are the most common form of
    /// question/answer text, as a pretrained model answers before RL teaches it to think; they
    /// teach the question→answer format, and they leave R1-Zero's response length room to grow.
    pub direct: f64,
    /// Correct step-by-step derivations. Default 0.30: enough for the model to learn the
    /// algorithms, so sampled chains of thought are often right before RL.
    pub step_by_step: f64,
    /// Derivations with a slip. Default 0.02: imperfect reasoning exists, for RL to push down,
    /// but a wrong step is seldom left uncaught, so the reflection marker follows wrong steps.
    pub slip: f64,
    /// Self-correcting derivations. Default 0.13: a check of one wrong step exists (6.5 per
    /// slip), for RL to keep or drop; it drops it, as the check is no surer than the step
    /// (`reports/LOG.md`). The reflection RL keeps is the checked first answer of
    /// [`CorpusConfig::guess`].
    pub self_correct: f64,
    /// Arithmetic-fact lists. Default 0.20: the single operations every derivation is built
    /// from, like the tables of elementary-school text.
    pub facts: f64,
}

impl KindMix {
    /// Facts documents only (the fact lists R1's stage 3 adds as its non-reasoning data).
    pub fn facts_only() -> Self {
        Self {
            direct: 0.0,
            step_by_step: 0.0,
            slip: 0.0,
            self_correct: 0.0,
            facts: 1.0,
        }
    }

    /// Parses five comma-separated weights in the field order: direct, step-by-step, slip,
    /// self-correction, facts (e.g. `0.70,0.30,0.02,0.13,0.20`, the default). Ranges are checked
    /// by [`CorpusConfig::validate`].
    pub fn parse(s: &str) -> Result<Self> {
        let w = s
            .split(',')
            .map(|x| {
                x.trim()
                    .parse::<f64>()
                    .map_err(|_| anyhow!("document-kind weight {x:?} is not a number (in {s:?})"))
            })
            .collect::<Result<Vec<_>>>()?;
        ensure!(
            w.len() == 5,
            "expected 5 document-kind weights (direct, step-by-step, slip, self-correction, \
             facts), got {} in {s:?}",
            w.len()
        );
        Ok(Self {
            direct: w[0],
            step_by_step: w[1],
            slip: w[2],
            self_correct: w[3],
            facts: w[4],
        })
    }

    /// The five weights as [`KindMix::parse`] reads them.
    pub fn render(&self) -> String {
        [
            self.direct,
            self.step_by_step,
            self.slip,
            self.self_correct,
            self.facts,
        ]
        .map(|x| x.to_string())
        .join(",")
    }
}

impl Default for KindMix {
    fn default() -> Self {
        Self {
            direct: 0.70,
            step_by_step: 0.30,
            slip: 0.02,
            self_correct: 0.13,
            facts: 0.20,
        }
    }
}

/// Proportions of the languages of reasoning documents (relative weights).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LangMix {
    /// Pure language A. Default 0.60: the dominant language, the target of the
    /// language-consistency reward (as English/Chinese dominate V3-Base's data).
    pub a: f64,
    /// Pure language B. Default 0.25: a second language the model reasons in fluently.
    pub b: f64,
    /// Both within one solution. Default 0.15: code-switching exists in web text; R1-Zero's
    /// mixed-language chains of thought (§2.2.4) presumably amplify such a seed.
    pub mixed: f64,
}

impl Default for LangMix {
    fn default() -> Self {
        Self {
            a: 0.60,
            b: 0.25,
            mixed: 0.15,
        }
    }
}

/// Settings of [`generate_documents`]. The defaults are the corpus of the shipped base models
/// (`r1lab pretrain` changes `num_docs` with the scale and `kinds` and `guess` with its flags).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusConfig {
    /// Number of documents. Default 20 000 (≈ 1.1M tokens: documents average ~53 tokens
    /// with digits split individually, the longest ~180): the base models' pretraining budget
    /// reads it about 4.5 times.
    pub num_docs: usize,
    /// Seed of the generator. Default 0; the same config always gives the same corpus.
    pub seed: u64,
    /// Mixture of document kinds. Default [`KindMix::default`], whose fields give each weight's
    /// reason.
    pub kinds: KindMix,
    /// Mixture of languages for step-by-step, slip and self-correction documents. Default
    /// [`LangMix::default`], whose fields give each weight's reason.
    pub langs: LangMix,
    /// Probability that a problem document (any kind but facts) uses the short template with
    /// `<think>…</think> <answer>…</answer>` instead of "Q: … A: …". Default 0.20: the base model
    /// knows the RL format exists but does not default to it, so the format reward has room to
    /// rise, as in the paper's R1-Zero training curves.
    pub think_form: f64,
    /// Per difficulty level above 1, the added probability that a direct answer is wrong.
    /// Default 0.20 (level 1: always right; 2: 20 %; 3: 40 % …), mimicking answers given without
    /// working, which get worse as problems get harder.
    pub direct_wrong_per_level: f64,
    /// Cap on that probability. Default 0.80: even the hardest problems are sometimes answered
    /// right without working, as a guess can be.
    pub direct_wrong_max: f64,
    /// Facts per facts document. Default 8: a list about as long as a worked problem.
    pub facts_per_doc: usize,
    /// Probability that a step-by-step document first states a guess, a direct answer (as often
    /// wrong as [`CorpusConfig::direct_wrong_rate`]), then checks it by working the problem after
    /// the reflection marker, the operands restated first where the task can
    /// ([`Task::restated_solution`]): "so the answer is 75. wait, check: 51 + 34: column 1: … so
    /// the answer is 85." The final answer is always the worked one. Default 0.8, the corpus of
    /// the shipped base models since 2026-11-29: the usual way the corpus writes a derivation is
    /// to check a first answer by it, as a writer who answers, then doubts and works it out. A
    /// check by working is far more reliable than the direct answer it checks (in the first third
    /// of R1-Zero, one-digit products 0.83 against 0.56), so when RL moves the direct answers'
    /// mass onto derivations, reflection rises with it (7.4% → 2.4% of the training completions
    /// on the corpus without it, 32% → 97% with it; `reports/LOG.md`). At 0.5 and without the
    /// restatement (2026-11-29) plain derivations were the commoner form, tied with it within a
    /// problem kind, and RL halved it. At 0 (`r1lab pretrain --guess 0`) the corpus is the one
    /// of the LOG's runs before checked first answers: the control for them. (Absent from a
    /// record older than the share, it reads as 0, which such a corpus had.)
    #[serde(default)]
    pub guess: f64,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            num_docs: 20_000,
            seed: 0,
            kinds: KindMix::default(),
            langs: LangMix::default(),
            think_form: 0.20,
            direct_wrong_per_level: 0.20,
            direct_wrong_max: 0.80,
            facts_per_doc: 8,
            guess: 0.8,
        }
    }
}

fn check_weights(what: &str, weights: &[f64]) -> Result<()> {
    ensure!(
        weights.iter().all(|w| w.is_finite() && *w >= 0.0),
        "{what} proportions must be finite and non-negative: {weights:?}"
    );
    ensure!(
        weights.iter().sum::<f64>() > 0.0,
        "{what} proportions must not all be zero"
    );
    Ok(())
}

fn check_probability(what: &str, p: f64) -> Result<()> {
    ensure!(
        (0.0..=1.0).contains(&p),
        "{what} must be a probability, got {p}"
    );
    Ok(())
}

impl CorpusConfig {
    /// Checks that every proportion is finite and non-negative, each mixture has positive total
    /// weight, and probabilities are within \[0, 1\].
    pub fn validate(&self) -> Result<()> {
        let k = &self.kinds;
        check_weights(
            "document-kind",
            &[k.direct, k.step_by_step, k.slip, k.self_correct, k.facts],
        )?;
        let l = &self.langs;
        check_weights("language", &[l.a, l.b, l.mixed])?;
        check_probability("think_form", self.think_form)?;
        check_probability("direct_wrong_per_level", self.direct_wrong_per_level)?;
        check_probability("direct_wrong_max", self.direct_wrong_max)?;
        check_probability("guess", self.guess)?;
        ensure!(self.facts_per_doc > 0, "facts_per_doc must be positive");
        Ok(())
    }

    /// The probability that a direct answer to a problem of `level` is wrong.
    pub fn direct_wrong_rate(&self, level: u32) -> f64 {
        (self.direct_wrong_per_level * f64::from(level.saturating_sub(1)))
            .clamp(0.0, self.direct_wrong_max)
    }
}

/// One generated document with what it was generated as (for statistics and tests).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The text.
    pub text: String,
    /// Its kind (after fallbacks: a task without a flawed variant yields a step-by-step one).
    pub kind: DocKind,
    /// The language of its reasoning, for step-by-step, slip and self-correction documents.
    pub lang: Option<DocLang>,
    /// Whether it uses the short template with think/answer tags.
    pub think_form: bool,
    /// The problem it answers (not for facts).
    pub problem: Option<Problem>,
    /// The final answer it states (not for facts).
    pub answer: Option<String>,
    /// Whether that answer is correct (not for facts).
    pub correct: Option<bool>,
}

/// Weighted choice; weights are validated to be non-negative with a positive sum.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, f64)]) -> Option<T> {
    let total: f64 = items.iter().map(|(_, w)| *w).sum();
    let mut r = rng.random::<f64>() * total;
    for (item, w) in items {
        if r < *w {
            return Some(*item);
        }
        r -= w;
    }
    items.iter().rev().find(|(_, w)| *w > 0.0).map(|(t, _)| *t)
}

/// The language of each step (`n` steps, the last being "so the answer is"). A mixed document
/// whose worded steps (`worded`: those that contain phrasebook words) all drew alike gets one of
/// them switched; a step of numbers alone would not show a language.
fn step_langs(rng: &mut ChaCha8Rng, lang: DocLang, n: usize, worded: &[usize]) -> Vec<Lang> {
    match lang {
        DocLang::A => vec![Lang::A; n],
        DocLang::B => vec![Lang::B; n],
        DocLang::Mixed => {
            let mut langs: Vec<Lang> = (0..n)
                .map(|_| {
                    if rng.random_bool(0.5) {
                        Lang::A
                    } else {
                        Lang::B
                    }
                })
                .collect();
            // Alike where it shows: a step of numbers alone takes no part.
            let first = worded.first().map(|&i| langs[i]);
            if n > 1 && first.is_some() && worded.iter().all(|&i| Some(langs[i]) == first) {
                let i = worded[rng.random_range(0..worded.len())];
                langs[i] = langs[i].other();
            }
            langs
        }
    }
}

/// Renders the steps and the closing "so the answer is …" with per-step languages.
fn render_reasoning(rng: &mut ChaCha8Rng, worked: &WorkedSolution, lang: DocLang) -> String {
    let mut steps: Vec<&Step> = worked.steps.iter().collect();
    let closing = Step::answer_is(&worked.answer);
    steps.push(&closing);
    let worded: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].has_words()).collect();
    let langs = step_langs(rng, lang, steps.len(), &worded);
    steps
        .iter()
        .zip(langs)
        .map(|(s, l)| s.render(l))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One single-operation fact, like a line of a times table.
fn fact(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..10) {
        0..=3 => {
            let (a, b) = (rng.random_range(0..=9u64), rng.random_range(0..=9u64));
            format!("{a} + {b} = {}.", a + b)
        }
        4..=6 => {
            let (a, b) = (rng.random_range(0..=9u64), rng.random_range(0..=9u64));
            format!("{a} * {b} = {}.", a * b)
        }
        7..=8 => {
            let (a, d) = (rng.random_range(10..=999u64), rng.random_range(2..=9u64));
            format!("{a} * {d} = {}.", a * d)
        }
        _ => {
            let (x, y) = (rng.random_range(1..=25u64), rng.random_range(2..=12u64));
            if rng.random_bool(0.5) {
                format!("{} / {y} = {x}.", x * y)
            } else {
                format!("{} - {y} = {x}.", x + y)
            }
        }
    }
}

/// A worked solution with `flaw` that really has the flaw's outcome: a wrong final answer for
/// [`Flaw::Slip`], a right one otherwise. `None` where the task cannot write one.
fn flawed(
    task: &dyn Task,
    problem: &Problem,
    flaw: Flaw,
    rng: &mut ChaCha8Rng,
) -> Option<WorkedSolution> {
    let want_correct = flaw != Flaw::Slip;
    task.worked_solution(problem, flaw, rng)
        .filter(|w| task.verify(problem, &w.answer) == want_correct)
}

/// An answer given without working: wrong with probability [`CorpusConfig::direct_wrong_rate`]
/// (the answer of a slip), right otherwise (or where the task cannot slip).
fn direct_answer(
    cfg: &CorpusConfig,
    rng: &mut ChaCha8Rng,
    task: &dyn Task,
    problem: &Problem,
) -> String {
    let wrong = rng.random_bool(cfg.direct_wrong_rate(problem.difficulty()));
    let answer = if wrong {
        flawed(task, problem, Flaw::Slip, rng).map(|w| w.answer)
    } else {
        None
    };
    answer.unwrap_or_else(|| problem.answer.clone())
}

/// The derivation of a problem document of `kind`, and the kind the document ends up as: a slip
/// or self-correction the task cannot write becomes a step-by-step document, and a step-by-step
/// document the task cannot write a direct answer (`None`).
fn derivation(
    cfg: &CorpusConfig,
    rng: &mut ChaCha8Rng,
    task: &dyn Task,
    problem: &Problem,
    kind: DocKind,
) -> (DocKind, Option<WorkedSolution>) {
    let flaw = match kind {
        DocKind::Slip => Flaw::Slip,
        DocKind::SelfCorrect => Flaw::SelfCorrect,
        DocKind::StepByStep => Flaw::None,
        DocKind::Direct | DocKind::Facts => return (kind, None),
    };
    if flaw != Flaw::None {
        if let Some(w) = flawed(task, problem, flaw, rng) {
            return (kind, Some(w));
        }
    }
    match flawed(task, problem, Flaw::None, rng) {
        Some(plain) => (
            DocKind::StepByStep,
            Some(guessed_first(cfg, rng, task, problem, plain)),
        ),
        None => (DocKind::Direct, None),
    }
}

/// With probability [`CorpusConfig::guess`], the derivation `plain` written as the check of a
/// guess: "so the answer is G. wait, check:" and the problem worked again, restated where the
/// task can ([`Task::restated_solution`]); otherwise `plain` itself.
fn guessed_first(
    cfg: &CorpusConfig,
    rng: &mut ChaCha8Rng,
    task: &dyn Task,
    problem: &Problem,
    plain: WorkedSolution,
) -> WorkedSolution {
    // Not drawn at 0 (a draw at probability 0 still consumes a number), so that `--guess 0`
    // writes the corpus of the runs made before the share existed.
    let guessed = cfg.guess > 0.0 && rng.random_bool(cfg.guess);
    if !guessed {
        return plain;
    }
    let guess = direct_answer(cfg, rng, task, problem);
    let check = task
        .restated_solution(problem)
        .filter(|w| task.verify(problem, &w.answer))
        .unwrap_or(plain);
    let mut steps = vec![Step::answer_is(&guess), Step::check_by_working()];
    steps.extend(check.steps);
    WorkedSolution {
        steps,
        answer: check.answer,
    }
}

/// The text of a problem document: the question in the short template (`think_form`) or as
/// "Q: … A: …", then the reasoning `body` (empty for a direct answer) and the answer.
fn document_text(question: &str, think_form: bool, body: &str, answer: &str) -> String {
    match (think_form, body.is_empty()) {
        (true, true) => format!(
            "{} </think> <answer> {answer} </answer>",
            Template::R1ZeroShort.render(question)
        ),
        (true, false) => format!(
            "{} {body} </think> <answer> {answer} </answer>",
            Template::R1ZeroShort.render(question)
        ),
        (false, true) => format!("Q: {question} A: {answer}"),
        (false, false) => format!("Q: {question} A: {body}"),
    }
}

/// One problem document of `kind` (any but facts). The draws, in order: the derivation (with its
/// flaw and guess), the language, the form, then the reasoning's per-step languages or the direct
/// answer.
fn problem_document(
    cfg: &CorpusConfig,
    rng: &mut ChaCha8Rng,
    task: &dyn Task,
    problem: Problem,
    kind: DocKind,
) -> Document {
    let (kind, worked) = derivation(cfg, rng, task, &problem, kind);
    let langs = [
        (DocLang::A, cfg.langs.a),
        (DocLang::B, cfg.langs.b),
        (DocLang::Mixed, cfg.langs.mixed),
    ];
    let lang = pick(rng, &langs).unwrap_or(DocLang::A);
    let think_form = rng.random_bool(cfg.think_form);
    let (body, answer, lang) = match worked {
        Some(w) => (render_reasoning(rng, &w, lang), w.answer, Some(lang)),
        None => (String::new(), direct_answer(cfg, rng, task, &problem), None),
    };
    let text = document_text(&problem.question, think_form, &body, &answer);
    let correct = task.verify(&problem, &answer);
    Document {
        text,
        kind,
        lang,
        think_form,
        problem: Some(problem),
        answer: Some(answer),
        correct: Some(correct),
    }
}

/// Generates `cfg.num_docs` documents over `tasks` (chosen uniformly per document; repeat a task
/// in the slice to weight it), never using a question in `held_out` (pass the questions of the
/// held-out test sets, [`crate::tasks::questions`]).
pub fn generate_documents(
    cfg: &CorpusConfig,
    tasks: &[&dyn Task],
    held_out: &HashSet<String>,
) -> Result<Vec<Document>> {
    cfg.validate()?;
    ensure!(!tasks.is_empty(), "the corpus needs at least one task");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let k = &cfg.kinds;
    let kinds = [
        (DocKind::Direct, k.direct),
        (DocKind::StepByStep, k.step_by_step),
        (DocKind::Slip, k.slip),
        (DocKind::SelfCorrect, k.self_correct),
        (DocKind::Facts, k.facts),
    ];
    let mut docs = Vec::with_capacity(cfg.num_docs);
    for _ in 0..cfg.num_docs {
        let kind = pick(&mut rng, &kinds).unwrap_or(DocKind::Direct);
        if kind == DocKind::Facts {
            let text = (0..cfg.facts_per_doc)
                .map(|_| fact(&mut rng))
                .collect::<Vec<_>>()
                .join(" ");
            docs.push(Document {
                text,
                kind,
                lang: None,
                think_form: false,
                problem: None,
                answer: None,
                correct: None,
            });
            continue;
        }
        let task = tasks[rng.random_range(0..tasks.len())];
        let problem = sample_fresh(task, &mut rng, held_out).ok_or_else(|| {
            anyhow!(
                "task {} produced only held-out questions in 1000 draws",
                task.name()
            )
        })?;
        docs.push(problem_document(cfg, &mut rng, task, problem, kind));
    }
    Ok(docs)
}

/// The texts of [`generate_documents`].
pub fn generate_corpus(
    cfg: &CorpusConfig,
    tasks: &[&dyn Task],
    held_out: &HashSet<String>,
) -> Result<Vec<String>> {
    Ok(generate_documents(cfg, tasks, held_out)?
        .into_iter()
        .map(|d| d.text)
        .collect())
}

/// DeepSeek-R1's cold-start output format (§2.3.1): `|special_token|<reasoning_process>|special_token|<summary>`,
/// i.e. the reasoning between two occurrences of `special_token`, then a summary.
pub fn render_cold_start(special_token: &str, reasoning: &str, summary: &str) -> String {
    format!("{special_token}{reasoning}{special_token}{summary}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completion::{extract_answer, language_mixing};
    use crate::rewards::{Accuracy, Completion, Format, Reward};
    use crate::tasks::countdown::eval_expression;
    use crate::tasks::language::{answer_phrase, count_words, reflection_marker, Phrase};
    use crate::tasks::{
        arithmetic::ArithmeticTask, countdown::CountdownTask, generate_test_set, questions,
        test_set_seed, ProblemMeta, TEST_SET_SIZE,
    };
    use std::collections::HashMap;

    fn default_tasks() -> (ArithmeticTask, CountdownTask) {
        (ArithmeticTask::default(), CountdownTask::default())
    }

    fn docs(cfg: &CorpusConfig) -> Vec<Document> {
        let (a, c) = default_tasks();
        generate_documents(cfg, &[&a, &c], &HashSet::new()).unwrap()
    }

    fn small(seed: u64) -> CorpusConfig {
        CorpusConfig {
            num_docs: 2000,
            seed,
            ..CorpusConfig::default()
        }
    }

    /// [`small`] without the default's guesses: the corpus of `r1lab pretrain --guess 0`.
    fn unguessed(seed: u64) -> CorpusConfig {
        CorpusConfig {
            guess: 0.0,
            ..small(seed)
        }
    }

    /// The chain of thought (or plain-form solution) of a problem document.
    fn reasoning_of(doc: &Document) -> &str {
        if doc.think_form {
            let start = doc.text.find("<think>").unwrap() + "<think>".len();
            let end = doc.text.find("</think>").unwrap();
            &doc.text[start..end]
        } else {
            let start = doc.text.find(" A: ").unwrap() + 4;
            &doc.text[start..]
        }
    }

    /// The final answer as a reader would take it from the text.
    fn stated_answer(doc: &Document) -> String {
        if doc.think_form {
            return extract_answer(&doc.text).unwrap();
        }
        let body = reasoning_of(doc);
        if doc.kind == DocKind::Direct {
            return body.to_owned();
        }
        let at = Lang::ALL
            .iter()
            .filter_map(|l| {
                body.rfind(answer_phrase(*l))
                    .map(|i| i + answer_phrase(*l).len())
            })
            .max()
            .unwrap();
        body[at..].trim().trim_end_matches('.').to_owned()
    }

    /// Every `a op b … = c` in the text, evaluated: (equations, false equations).
    fn check_equations(text: &str) -> (usize, usize) {
        #[derive(Debug, Clone, PartialEq)]
        enum T {
            Num(String),
            Op(char),
            Eq,
            Other,
        }
        let mut toks = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '0'..='9' => {
                    let mut s = ch.to_string();
                    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        s.push(d);
                        chars.next();
                    }
                    toks.push(T::Num(s));
                }
                '+' | '-' | '*' | '/' => toks.push(T::Op(ch)),
                '=' => toks.push(T::Eq),
                c if c.is_whitespace() => {}
                _ => toks.push(T::Other),
            }
        }
        let (mut total, mut wrong) = (0, 0);
        for e in 0..toks.len() {
            if toks[e] != T::Eq {
                continue;
            }
            let mut lhs = Vec::new();
            let mut i = e;
            while i > 0 {
                match (&toks[i - 1], lhs.len() % 2) {
                    (T::Num(n), 0) => lhs.push(n.clone()),
                    (T::Op(o), 1) => lhs.push(o.to_string()),
                    _ => break,
                }
                i -= 1;
            }
            lhs.reverse();
            let rhs = match (toks.get(e + 1), toks.get(e + 2)) {
                (Some(T::Num(n)), _) => n.parse::<i64>().unwrap(),
                (Some(T::Op('-')), Some(T::Num(n))) => -n.parse::<i64>().unwrap(),
                other => panic!("bad rhs {other:?} in {text}"),
            };
            total += 1;
            if eval_expression(&lhs.join(" ")) != Ok(rhs) {
                wrong += 1;
            }
        }
        (total, wrong)
    }

    #[test]
    fn generation_is_deterministic() {
        let cfg = CorpusConfig {
            num_docs: 300,
            ..small(7)
        };
        let (a, c) = default_tasks();
        let tasks: [&dyn Task; 2] = [&a, &c];
        let x = generate_corpus(&cfg, &tasks, &HashSet::new()).unwrap();
        let y = generate_corpus(&cfg, &tasks, &HashSet::new()).unwrap();
        assert_eq!(x, y);
        let z = generate_corpus(&CorpusConfig { seed: 8, ..cfg }, &tasks, &HashSet::new()).unwrap();
        assert_ne!(x, z);
        assert_eq!(x.len(), 300);
    }

    #[test]
    fn kind_mix_parses_what_it_renders() {
        let d = KindMix::default();
        assert_eq!(d.render(), "0.7,0.3,0.02,0.13,0.2");
        assert_eq!(KindMix::parse(&d.render()).unwrap(), d);
        let k = KindMix::parse(" 0.7, 0.3,0.02 ,0.13,0.2").unwrap();
        assert_eq!((k.direct, k.self_correct), (0.7, 0.13));
        assert!(KindMix::parse("1,2,3,4").is_err());
        assert!(KindMix::parse("1,2,x,4,5").is_err());
        let cfg = CorpusConfig {
            kinds: KindMix::parse("1,-1,0,0,0").unwrap(),
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }

    /// The shipped base models were pretrained on the default corpus: a change to the generator
    /// that alters it (an extra random draw, a reworded step) would make `r1lab pretrain` no longer
    /// reproduce them. This pins a fingerprint (FNV-1a) of 2,000 default documents.
    #[test]
    fn default_corpus_is_pinned() {
        let (a, c) = default_tasks();
        let tasks: [&dyn Task; 2] = [&a, &c];
        let texts = generate_corpus(&small(3), &tasks, &HashSet::new()).unwrap();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in texts.join("\n").bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!(
            h, 0xd15e_62ad_dbac_d774,
            "fingerprint of the default corpus changed: {h:#018x}"
        );
    }

    #[test]
    fn mixture_proportions_match_the_config() {
        let cfg = small(1);
        let docs = docs(&cfg);
        let n = docs.len() as f64;
        let mut by_kind: HashMap<DocKind, usize> = HashMap::new();
        for d in &docs {
            *by_kind.entry(d.kind).or_default() += 1;
        }
        let share = |k| *by_kind.get(&k).unwrap_or(&0) as f64 / n;
        let k = cfg.kinds;
        // Relative weights: each kind's share is its weight over their sum.
        let total = k.direct + k.step_by_step + k.slip + k.self_correct + k.facts;
        for (kind, weight) in [
            (DocKind::Direct, k.direct),
            (DocKind::StepByStep, k.step_by_step),
            (DocKind::Slip, k.slip),
            (DocKind::SelfCorrect, k.self_correct),
            (DocKind::Facts, k.facts),
        ] {
            let want = weight / total;
            // ~3.5 binomial standard deviations, so that a rare kind cannot vanish unnoticed.
            let tolerance = 0.03f64.min(0.005 + 0.3 * want);
            assert!(
                (share(kind) - want).abs() < tolerance,
                "{kind:?}: {}",
                share(kind)
            );
        }
        let reasoning: Vec<&Document> = docs.iter().filter(|d| d.lang.is_some()).collect();
        let r = reasoning.len() as f64;
        for (lang, want) in [
            (DocLang::A, cfg.langs.a),
            (DocLang::B, cfg.langs.b),
            (DocLang::Mixed, cfg.langs.mixed),
        ] {
            let got = reasoning.iter().filter(|d| d.lang == Some(lang)).count() as f64 / r;
            assert!((got - want).abs() < 0.05, "{lang:?}: {got}");
        }
        let problem_docs: Vec<&Document> = docs.iter().filter(|d| d.problem.is_some()).collect();
        let think = problem_docs.iter().filter(|d| d.think_form).count() as f64;
        assert!((think / problem_docs.len() as f64 - cfg.think_form).abs() < 0.03);
        // Direct answers: always right at level 1, wrong at the configured rate above it.
        let direct: Vec<&Document> = docs.iter().filter(|d| d.kind == DocKind::Direct).collect();
        for d in &direct {
            if d.problem.as_ref().unwrap().difficulty() == 1 {
                assert_eq!(d.correct, Some(true));
            }
        }
        let (mut expected, mut wrong) = (0.0, 0.0);
        for d in &direct {
            expected += cfg.direct_wrong_rate(d.problem.as_ref().unwrap().difficulty());
            wrong += f64::from(u8::from(d.correct == Some(false)));
        }
        assert!(
            (wrong - expected).abs() / (direct.len() as f64) < 0.04,
            "{wrong} vs {expected}"
        );
    }

    #[test]
    fn documents_state_what_they_claim() {
        check_documents(&small(2));
        check_documents(&unguessed(2));
    }

    #[test]
    fn guess_documents_check_a_guess_by_working_and_end_right() {
        let cfg = CorpusConfig {
            guess: 0.5,
            ..small(3)
        };
        // Every step is a true equation and every document states its real answer.
        check_documents(&cfg);
        let (a, c) = default_tasks();
        let (mut guessed, mut wrong_guesses, mut sbs) = (0, 0, 0);
        for d in docs(&cfg) {
            if d.kind != DocKind::StepByStep {
                continue;
            }
            sbs += 1;
            let reasoning = reasoning_of(&d);
            if !holds_marker(reasoning) {
                continue;
            }
            guessed += 1;
            assert_eq!(d.correct, Some(true), "{}", d.text);
            // "so the answer is G. wait, check: …": the guess comes first, before the marker.
            let (head, _) = Lang::ALL
                .iter()
                .filter_map(|&l| reasoning.split_once(&format!("{}, ", reflection_marker(l))))
                .next()
                .unwrap();
            let guess = Lang::ALL
                .iter()
                .find_map(|&l| head.trim().strip_prefix(answer_phrase(l)))
                .unwrap_or_else(|| panic!("no guess before the check: {}", d.text))
                .trim()
                .trim_end_matches('.');
            // Nothing but the guess before the check.
            assert!(!guess.contains(':') && !guess.contains(". "), "{}", d.text);
            let problem = d.problem.as_ref().unwrap();
            // An arithmetic check restates the operands as asked before working.
            if let ProblemMeta::Arithmetic { op, a: x, b: y } = &problem.meta {
                let restated = |l: &Lang| {
                    let check = Phrase::Check.text(*l);
                    reasoning.contains(&format!("{check}: {x} {} {y}: ", op.symbol()))
                };
                assert!(Lang::ALL.iter().any(restated), "{}", d.text);
            }
            let task: &dyn Task = if problem.id.starts_with("countdown") {
                &c
            } else {
                &a
            };
            if !task.verify(problem, guess) {
                wrong_guesses += 1;
            }
        }
        assert!(
            guessed * 4 > sbs && guessed * 4 < sbs * 3,
            "{guessed} of {sbs}"
        );
        // Some guesses are wrong (as direct answers are), so copying the guess does not pay.
        assert!(wrong_guesses * 10 > guessed, "{wrong_guesses} of {guessed}");
        assert!(wrong_guesses < guessed, "{wrong_guesses} of {guessed}");
        // Without the share, no derivation holds the marker.
        assert!(docs(&unguessed(2))
            .iter()
            .all(|d| d.kind != DocKind::StepByStep || !holds_marker(&d.text)));
    }

    /// Whether a text holds the reflection marker as a check opens ("wait, " or "hok, ").
    fn holds_marker(t: &str) -> bool {
        Lang::ALL
            .iter()
            .any(|&l| t.contains(&format!("{}, ", reflection_marker(l))))
    }

    fn check_documents(cfg: &CorpusConfig) {
        let (a, c) = default_tasks();
        for d in docs(cfg) {
            let (eqs, false_eqs) = check_equations(&d.text);
            let Some(problem) = &d.problem else {
                assert_eq!(d.kind, DocKind::Facts);
                assert_eq!((eqs, false_eqs), (8, 0), "{}", d.text);
                continue;
            };
            let task: &dyn Task = if problem.id.starts_with("countdown") {
                &c
            } else {
                &a
            };
            let stated = stated_answer(&d);
            assert_eq!(Some(&stated), d.answer.as_ref(), "{}", d.text);
            let verified = task.verify(problem, &stated);
            assert_eq!(Some(verified), d.correct);
            let reasoning = reasoning_of(&d);
            match d.kind {
                DocKind::StepByStep => {
                    assert!(verified, "{}", d.text);
                    assert!(eqs > 0 && false_eqs == 0, "{}", d.text);
                }
                DocKind::Slip => {
                    assert!(!verified, "{}", d.text);
                    assert_eq!(false_eqs, 1, "{}", d.text);
                }
                DocKind::SelfCorrect => {
                    assert!(verified, "{}", d.text);
                    assert_eq!(false_eqs, 1, "{}", d.text);
                    assert!(holds_marker(reasoning), "{}", d.text);
                }
                DocKind::Direct => assert_eq!(eqs, 0, "{}", d.text),
                DocKind::Facts => unreachable!(),
            }
            // A guess checked by working (`guess` above 0) holds the marker in a derivation.
            let guessed = cfg.guess > 0.0 && d.kind == DocKind::StepByStep;
            if d.kind != DocKind::SelfCorrect && !guessed {
                for l in Lang::ALL {
                    assert!(!reasoning.contains(reflection_marker(l)), "{}", d.text);
                }
            }
            let counts = count_words(reasoning);
            match d.lang {
                Some(DocLang::A) => assert!(counts.a > 0 && counts.b == 0, "{}", d.text),
                Some(DocLang::B) => assert!(counts.b > 0 && counts.a == 0, "{}", d.text),
                Some(DocLang::Mixed) => assert!(language_mixing(reasoning), "{}", d.text),
                None => assert_eq!(counts.total(), 0, "{}", d.text),
            }
            if d.think_form {
                let prompt = Template::R1ZeroShort.render(&problem.question);
                assert!(d.text.starts_with(&prompt));
                let completion = Completion::new(&d.text[prompt.len()..], 0);
                let format = Format::new(true).score(problem, &completion).score;
                assert_eq!(format, 1.0, "{}", d.text);
                let acc = Accuracy.score(problem, &completion).score;
                assert_eq!(acc == 1.0, verified);
            } else {
                assert!(d.text.starts_with(&format!("Q: {} A: ", problem.question)));
                assert!(!d.text.contains("<think>") && !d.text.contains("<answer>"));
            }
        }
    }

    /// Rough BPE length: digits one token each, words ~4 letters per token, symbols one each.
    fn approx_tokens(text: &str) -> usize {
        let mut n = 0;
        let mut word = 0usize;
        for ch in text.chars().chain([' ']) {
            if ch.is_alphabetic() {
                word += 1;
                continue;
            }
            n += word.div_ceil(4);
            word = 0;
            if !ch.is_whitespace() {
                n += 1;
            }
        }
        n
    }

    #[test]
    fn documents_are_short() {
        let all = docs(&small(3));
        let longest = all.iter().map(|d| approx_tokens(&d.text)).max().unwrap();
        assert!(longest <= 200, "{longest}");
        let mean = all.iter().map(|d| approx_tokens(&d.text)).sum::<usize>() / all.len();
        assert!(mean < 100, "{mean}");
    }

    #[test]
    fn held_out_questions_never_appear() {
        let (a, c) = default_tasks();
        let mut held = questions(&generate_test_set(
            &a,
            TEST_SET_SIZE,
            test_set_seed("arithmetic"),
        ));
        held.extend(questions(&generate_test_set(
            &c,
            TEST_SET_SIZE,
            test_set_seed("countdown"),
        )));
        let docs = generate_documents(&small(4), &[&a, &c], &held).unwrap();
        for d in docs {
            if let Some(p) = d.problem {
                assert!(!held.contains(&p.question));
            }
        }
        // Every question held out: generation fails cleanly instead of looping.
        let tiny = ArithmeticTask::new(Some(1..=1), None).unwrap();
        let all = questions(&generate_test_set(&tiny, 200, 0));
        assert_eq!(all.len(), 81);
        let cfg = CorpusConfig {
            num_docs: 50,
            ..small(0)
        };
        assert!(generate_documents(&cfg, &[&tiny], &all).is_err());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let (a, _) = default_tasks();
        let bad = [
            CorpusConfig {
                think_form: 1.5,
                ..CorpusConfig::default()
            },
            CorpusConfig {
                kinds: KindMix {
                    direct: -0.1,
                    ..KindMix::default()
                },
                ..CorpusConfig::default()
            },
            CorpusConfig {
                langs: LangMix {
                    a: 0.0,
                    b: 0.0,
                    mixed: 0.0,
                },
                ..CorpusConfig::default()
            },
            CorpusConfig {
                kinds: KindMix {
                    slip: f64::NAN,
                    ..KindMix::default()
                },
                ..CorpusConfig::default()
            },
            CorpusConfig {
                facts_per_doc: 0,
                ..CorpusConfig::default()
            },
        ];
        for cfg in bad {
            assert!(
                generate_documents(&cfg, &[&a], &HashSet::new()).is_err(),
                "{cfg:?}"
            );
        }
        assert!(generate_documents(&CorpusConfig::default(), &[], &HashSet::new()).is_err());
        assert!(CorpusConfig::default().validate().is_ok());
    }

    #[test]
    fn cold_start_format() {
        assert_eq!(
            render_cold_start("|special_token|", "<think stuff>", "433"),
            "|special_token|<think stuff>|special_token|433"
        );
    }
}
