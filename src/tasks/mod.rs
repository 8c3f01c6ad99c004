//! Reasoning tasks with rule-based verifiers: the training and evaluation problems of the repo.
//!
//! DeepSeek-R1-Zero (paper §2.2) is trained by pure RL (GRPO) on reasoning problems whose answers
//! can be checked by rules: "for math problems with deterministic results, the model is required
//! to provide the final answer in a specified format (e.g., within a box), enabling reliable
//! rule-based verification of correctness" (§2.2.2, *Reward Modeling*). Our laptop-scale stand-ins
//! are:
//!
//! * [`arithmetic::ArithmeticTask`]: multi-digit addition and multiplication (difficulty = digits);
//! * [`countdown::CountdownTask`]: the TinyZero "Countdown" game — reach a target from 3–4 numbers;
//! * [`word_problems::WordProblemTask`]: GSM8K-style word problems loaded from JSONL or pairs.
//!
//! Every problem carries its ground truth ([`Problem::answer`] and [`Problem::meta`]); the verifier
//! never parses the truth out of model text. Each task can also write a canonical *worked solution*
//! (and deliberately flawed ones, see [`Flaw`]) from language-neutral [`Step`]s, which
//! [`crate::corpus`] renders in the two languages of [`language`] to build the pretraining corpus.
//!
//! The prompt templates of §2.2.1 (Table 1) live here too: [`Template`].

pub mod arithmetic;
pub mod countdown;
pub mod language;
pub mod word_problems;

use anyhow::{Context, Result};
use language::{Lang, Phrase};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The prompt template that turns a question into the text the policy continues.
///
/// The paper's R1-Zero template (Table 1) is 80 words — over 100 BPE tokens — which would use half
/// of the 256-token context of our largest model before the question even starts, and a 1M–15M
/// parameter model cannot make use of its instructions anyway. [`Template::R1ZeroShort`] keeps
/// what the template *does* — the User/Assistant turns and the think-then-answer structure — and
/// ends the prompt by opening the thinking block, as TinyZero does ("Assistant: Let me solve this
/// step by step. `<think>`"). Prefilling `<think>` means the completion starts inside the chain of
/// thought, so [`crate::rewards::Format`] must be told that the prompt opened it
/// ([`Template::prompt_opens_think`]). The corpus of [`crate::corpus`] writes a minority of its
/// documents in exactly this form, so the base model has seen it, rarely — as DeepSeek-V3-Base had
/// seen think/answer-like text on the web.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Template {
    /// The R1-Zero template of Table 1, verbatim, with `prompt` replaced by the question.
    R1ZeroPaper,
    /// `User: {question} Assistant: <think>`: the short template our tiny models are trained with.
    R1ZeroShort,
}

/// Table 1 of the paper, verbatim, split around the word `prompt`.
const PAPER_TEMPLATE_HEAD: &str = "A conversation between User and Assistant. The user asks a \
question, and the Assistant solves it. The assistant first thinks about the reasoning process in \
the mind and then provides the user with the answer. The reasoning process and answer are enclosed \
within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process \
here </think> <answer> answer here </answer>. User: ";
const PAPER_TEMPLATE_TAIL: &str = ". Assistant:";

impl Template {
    /// The prompt string for `question`; the model's completion continues right after it.
    pub fn render(&self, question: &str) -> String {
        match self {
            Template::R1ZeroPaper => {
                format!("{PAPER_TEMPLATE_HEAD}{question}{PAPER_TEMPLATE_TAIL}")
            }
            Template::R1ZeroShort => format!("User: {question} Assistant: <think>"),
        }
    }

    /// Whether the prompt already contains the opening `<think>` (so the completion must not).
    pub fn prompt_opens_think(&self) -> bool {
        match self {
            Template::R1ZeroPaper => false,
            Template::R1ZeroShort => true,
        }
    }
}

/// Task-specific ground truth of a [`Problem`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProblemMeta {
    /// `a op b`.
    Arithmetic {
        /// The operation.
        op: arithmetic::ArithOp,
        /// The left operand.
        a: u64,
        /// The right operand.
        b: u64,
    },
    /// Reach `target` using each of `numbers` exactly once.
    Countdown {
        /// The given multiset of numbers, in the order the question lists them.
        numbers: Vec<i64>,
        /// The value to reach.
        target: i64,
    },
    /// A word problem with a numeric answer.
    WordProblem {
        /// The reference reasoning (GSM8K's text before `####`, calculator annotations removed).
        rationale: Option<String>,
    },
}

impl ProblemMeta {
    /// The kind of task that produced the problem (its default task name; a word-problem task
    /// loaded from a file may be named differently).
    pub fn kind(&self) -> &'static str {
        match self {
            ProblemMeta::Arithmetic { .. } => arithmetic::NAME,
            ProblemMeta::Countdown { .. } => countdown::NAME,
            ProblemMeta::WordProblem { .. } => word_problems::NAME,
        }
    }
}

/// One question with its ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Stable identifier: `<task>-<hash of the question>` (see [`problem_id`]).
    pub id: String,
    /// The question, as it is substituted into the [`Template`].
    pub question: String,
    /// The canonical answer (a number, or for countdown one valid expression).
    pub answer: String,
    /// Task-specific ground truth.
    pub meta: ProblemMeta,
}

impl Problem {
    /// Whether `answer` (the text inside `<answer>…</answer>`) is correct for this problem, using
    /// the verifier of the task named by [`Problem::meta`]. Never panics.
    pub fn verify(&self, answer: &str) -> bool {
        match &self.meta {
            ProblemMeta::Arithmetic { .. } | ProblemMeta::WordProblem { .. } => {
                numbers_equal(answer, &self.answer)
            }
            ProblemMeta::Countdown { numbers, target } => {
                countdown::check_solution(numbers, *target, answer).is_ok()
            }
        }
    }

    /// A difficulty level ≥ 1 used to make direct answers in the corpus wrong more often on harder
    /// problems: addition = digits of the longer operand, multiplication = that + 1, countdown =
    /// count of numbers − 1, word problems = 3.
    pub fn difficulty(&self) -> u32 {
        match &self.meta {
            ProblemMeta::Arithmetic { op, a, b } => {
                let digits = arithmetic::digit_count((*a).max(*b));
                match op {
                    arithmetic::ArithOp::Add => digits,
                    arithmetic::ArithOp::Mul => digits + 1,
                }
            }
            ProblemMeta::Countdown { numbers, .. } => {
                u32::try_from(numbers.len().saturating_sub(1)).unwrap_or(u32::MAX)
            }
            ProblemMeta::WordProblem { .. } => 3,
        }
    }
}

/// `<task>-<16 hex digits of the FNV-1a hash of the question>`: stable across runs and platforms.
pub fn problem_id(task: &str, question: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in task.bytes().chain([0u8]).chain(question.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{task}-{hash:016x}")
}

/// A piece of a reasoning step: phrasebook words or language-neutral text (numbers, symbols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Words that depend on the language.
    Phrase(Phrase),
    /// Text copied verbatim in every language (numbers, operators, punctuation, spaces).
    Text(String),
}

/// One step of a worked solution, renderable in either language.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step(pub Vec<Piece>);

impl Step {
    /// An empty step, to be filled with [`Step::phrase`] and [`Step::text`].
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends phrasebook words.
    pub fn phrase(mut self, phrase: Phrase) -> Self {
        self.0.push(Piece::Phrase(phrase));
        self
    }

    /// Appends language-neutral text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.0.push(Piece::Text(text.into()));
        self
    }

    /// The step's text in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Phrase(p) => out.push_str(p.text(lang)),
                Piece::Text(t) => out.push_str(t),
            }
        }
        out
    }

    /// Whether the step contains any language-dependent words.
    pub fn has_words(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Piece::Phrase(_)))
    }

    /// The self-correction "wait, check: {lhs} = {right}, not {wrong}." that follows a wrong step.
    pub fn correction(
        lhs: &str,
        right: impl std::fmt::Display,
        wrong: impl std::fmt::Display,
    ) -> Self {
        Step::new()
            .phrase(Phrase::Wait)
            .text(", ")
            .phrase(Phrase::Check)
            .text(format!(": {lhs} = {right}, "))
            .phrase(Phrase::Not)
            .text(format!(" {wrong}."))
    }

    /// "wait, check:", after a guessed answer: the derivation that follows checks it
    /// ([`crate::corpus::CorpusConfig::guess`]).
    pub fn check_by_working() -> Self {
        Step::new()
            .phrase(Phrase::Wait)
            .text(", ")
            .phrase(Phrase::Check)
            .text(":")
    }

    /// The closing step "so the answer is {answer}."
    pub fn answer_is(answer: &str) -> Self {
        Step::new()
            .phrase(Phrase::AnswerIs)
            .text(format!(" {answer}."))
    }
}

/// A worked solution: the reasoning steps and the final answer they arrive at.
///
/// The steps do not include the closing "so the answer is …" ([`Step::answer_is`]); renderers add
/// it so they can choose its language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkedSolution {
    /// The derivation, one step per line of reasoning.
    pub steps: Vec<Step>,
    /// The answer the derivation arrives at (wrong for [`Flaw::Slip`]).
    pub answer: String,
}

impl WorkedSolution {
    /// The whole solution in one language, ending with "so the answer is …".
    pub fn render(&self, lang: Lang) -> String {
        let mut parts: Vec<String> = self.steps.iter().map(|s| s.render(lang)).collect();
        parts.push(Step::answer_is(&self.answer).render(lang));
        parts.join(" ")
    }
}

/// How a worked solution departs from the correct derivation (the imperfect reasoning of web text
/// that RL later selects among; see [`crate::corpus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Flaw {
    /// A correct derivation.
    None,
    /// One step is computed wrongly, the error propagates, and the final answer is wrong.
    Slip,
    /// One step is computed wrongly, then the reflection marker ("wait") introduces a check that
    /// finds and corrects it; the final answer is right.
    SelfCorrect,
}

/// A reasoning task: a seeded problem generator plus a rule-based verifier.
///
/// Object-safe, so the trainer can hold `Box<dyn Task>`/`Arc<dyn Task>`.
pub trait Task: Send + Sync {
    /// The task's name (also the file stem of its held-out test set).
    fn name(&self) -> &str;

    /// Draws one problem; the same rng state always gives the same problem.
    fn sample(&self, rng: &mut ChaCha8Rng) -> Problem;

    /// Whether `answer` (the text inside `<answer>…</answer>`) solves `problem`, checked against
    /// the ground truth stored in the problem. Never panics; a problem of another task is `false`.
    fn verify(&self, problem: &Problem, answer: &str) -> bool;

    /// A worked solution with the given flaw, or `None` if the task cannot produce one for this
    /// problem (e.g. a word problem without a rationale, or a flaw the task does not model).
    /// `rng` only chooses where and how a flaw happens; [`Flaw::None`] is deterministic.
    fn worked_solution(
        &self,
        problem: &Problem,
        flaw: Flaw,
        rng: &mut ChaCha8Rng,
    ) -> Option<WorkedSolution>;

    /// The correct derivation opened by the problem restated as asked (arithmetic: "34 + 51:
    /// column 1: …"), so that a check that works the problem again reads its operands from close
    /// by ([`crate::corpus::CorpusConfig::guess`]). `None` (the default) where the task has no
    /// such form: the check is then the plain derivation.
    fn restated_solution(&self, _problem: &Problem) -> Option<WorkedSolution> {
        None
    }

    /// The canonical (correct) worked solution as text in `lang`, ending in "so the answer is …".
    fn solution_text(&self, problem: &Problem, lang: Lang) -> Option<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        self.worked_solution(problem, Flaw::None, &mut rng)
            .map(|w| w.render(lang))
    }
}

/// The synthetic tasks with their default settings: arithmetic and countdown.
pub fn synthetic_tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(arithmetic::ArithmeticTask::default()),
        Box::new(countdown::CountdownTask::default()),
    ]
}

/// Draws a problem whose question is not in `held_out`, trying at most 1000 times.
pub fn sample_fresh(
    task: &dyn Task,
    rng: &mut ChaCha8Rng,
    held_out: &HashSet<String>,
) -> Option<Problem> {
    (0..1000)
        .map(|_| task.sample(rng))
        .find(|p| !held_out.contains(&p.question))
}

/// Canonical decimal form of a numeric answer, or `None` if `s` is not a number.
///
/// Tolerates surrounding whitespace, a trailing period, a leading `$` (before or after the sign),
/// thousands separators (`,`), a leading `+`, and trailing fractional zeros (`42.0` → `42`). Works
/// on the digit string, so arbitrarily large numbers (10^400) compare exactly without overflow.
pub fn normalize_number(s: &str) -> Option<String> {
    let mut t = s.trim();
    t = t.strip_suffix('.').unwrap_or(t).trim_end();
    t = t.strip_prefix('$').unwrap_or(t);
    let (negative, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    let cleaned: String = rest.chars().filter(|&c| c != ',').collect();
    let (int_part, frac_part) = match cleaned.split_once('.') {
        Some((i, f)) => (i, f),
        None => (cleaned.as_str(), ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // A comma may only separate digits: reject ",5", "5," and a bare ",".
    if rest.starts_with(',') || rest.ends_with(',') || rest.contains(",.") || rest.contains(".,") {
        return None;
    }
    let int_digits = int_part.trim_start_matches('0');
    let frac_digits = frac_part.trim_end_matches('0');
    let mut out = String::new();
    if int_digits.is_empty() {
        out.push('0');
    } else {
        out.push_str(int_digits);
    }
    if !frac_digits.is_empty() {
        out.push('.');
        out.push_str(frac_digits);
    }
    if negative && out != "0" {
        out.insert(0, '-');
    }
    Some(out)
}

/// Whether two strings are the same number per [`normalize_number`] (false if either is not one).
pub fn numbers_equal(a: &str, b: &str) -> bool {
    match (normalize_number(a), normalize_number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Size of each held-out test set written by [`write_test_sets`]: 500 problems, so that a pass@1
/// has a 95% interval of about ±0.04 (±0.09 at the 50 problems evaluated before). The draw is
/// sequential, so the first 200 are the sets of 200 the project shipped before.
pub const TEST_SET_SIZE: usize = 500;

/// Base seed of the held-out test sets (the R1 release date); each task mixes in its name.
pub const TEST_SET_SEED: u64 = 20_250_120;

/// `n` problems of `task` with distinct questions, drawn with `seed` (fewer if the task has fewer
/// distinct questions than 50·n draws can find).
pub fn generate_test_set(task: &dyn Task, n: usize, seed: u64) -> Vec<Problem> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.saturating_mul(50) {
        if out.len() == n {
            break;
        }
        let p = task.sample(&mut rng);
        if seen.insert(p.question.clone()) {
            out.push(p);
        }
    }
    out
}

/// The seed of `task`'s held-out test set: [`TEST_SET_SEED`] mixed with the task name.
pub fn test_set_seed(task: &str) -> u64 {
    let id = problem_id(task, "test set");
    let hex = id.rsplit('-').next().unwrap_or("0");
    TEST_SET_SEED ^ u64::from_str_radix(hex, 16).unwrap_or(0)
}

/// Path of `task`'s held-out test set inside `dir`: `<dir>/<task>_test.jsonl`.
pub fn test_set_path(dir: &Path, task: &str) -> PathBuf {
    dir.join(format!("{task}_test.jsonl"))
}

/// Writes problems as JSON lines (one [`Problem`] per line).
pub fn write_problems_jsonl(path: &Path, problems: &[Problem]) -> Result<()> {
    let mut text = String::new();
    for p in problems {
        text.push_str(&serde_json::to_string(p)?);
        text.push('\n');
    }
    let mut file =
        fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads problems written by [`write_problems_jsonl`]; blank lines are skipped and a malformed line
/// is reported with its file and line number.
pub fn read_problems_jsonl(path: &Path) -> Result<Vec<Problem>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}: reading line", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let problem: Problem = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a problem record", path.display(), i + 1))?;
        out.push(problem);
    }
    Ok(out)
}

/// Writes the fixed, seeded held-out test set of every synthetic task ([`synthetic_tasks`]) to
/// `<dir>/<task>_test.jsonl` ([`TEST_SET_SIZE`] problems each, seed [`test_set_seed`]), creating
/// `dir` if needed. The output is byte-for-byte reproducible. Returns the written paths.
///
/// The repository's copies live in `data/tasks/`.
pub fn write_test_sets(dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut paths = Vec::new();
    for task in synthetic_tasks() {
        let problems = generate_test_set(task.as_ref(), TEST_SET_SIZE, test_set_seed(task.name()));
        let path = test_set_path(dir, task.name());
        write_problems_jsonl(&path, &problems)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Reads `task`'s held-out test set from `dir` (see [`write_test_sets`]).
pub fn read_test_set(dir: &Path, task: &str) -> Result<Vec<Problem>> {
    read_problems_jsonl(&test_set_path(dir, task))
}

/// The questions of all problems, to keep held-out problems out of training data.
pub fn questions(problems: &[Problem]) -> HashSet<String> {
    problems.iter().map(|p| p.question.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_template_is_verbatim() {
        let t = Template::R1ZeroPaper.render("prompt");
        assert_eq!(
            t,
            "A conversation between User and Assistant. The user asks a question, and the \
Assistant solves it. The assistant first thinks about the reasoning process in the mind and then \
provides the user with the answer. The reasoning process and answer are enclosed within <think> \
</think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> \
<answer> answer here </answer>. User: prompt. Assistant:"
        );
        assert!(!Template::R1ZeroPaper.prompt_opens_think());
        assert_eq!(
            Template::R1ZeroShort.render("What is 2 + 3?"),
            "User: What is 2 + 3? Assistant: <think>"
        );
        assert!(Template::R1ZeroShort.prompt_opens_think());
    }

    #[test]
    fn normalize_number_tolerates_common_forms() {
        let cases = [
            ("42", Some("42")),
            (" 42. ", Some("42")),
            ("42.0", Some("42")),
            ("$1,234.50", Some("1234.5")),
            ("-$5", Some("-5")),
            ("$-5", Some("-5")),
            ("+007", Some("7")),
            ("-0.0", Some("0")),
            (".5", Some("0.5")),
            ("1e3", None),
            ("", None),
            (".", None),
            ("$", None),
            (",", None),
            ("1,", None),
            ("abc", None),
            ("4 2", None),
            ("١٢", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_number(input).as_deref(), want, "{input:?}");
        }
        let huge = format!("1{}", "0".repeat(400));
        assert!(numbers_equal(&huge, &format!("{huge}.000")));
        assert!(!numbers_equal(&huge, &format!("{huge}1")));
    }

    #[test]
    fn problem_serde_roundtrip_and_ids_are_stable() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for task in synthetic_tasks() {
            let p = task.sample(&mut rng);
            let json = serde_json::to_string(&p).unwrap();
            let back: Problem = serde_json::from_str(&json).unwrap();
            assert_eq!(p, back);
            assert_eq!(p.id, problem_id(task.name(), &p.question));
            assert!(task.verify(&p, &p.answer));
            assert!(p.verify(&p.answer));
            assert!(p.difficulty() >= 1);
        }
        assert_eq!(problem_id("x", "y"), problem_id("x", "y"));
        assert_ne!(problem_id("x", "y"), problem_id("x", "z"));
    }

    #[test]
    fn test_sets_are_deterministic_and_read_back() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let p1 = write_test_sets(d1.path()).unwrap();
        let p2 = write_test_sets(d2.path()).unwrap();
        assert_eq!(p1.len(), 2);
        for (a, b) in p1.iter().zip(&p2) {
            assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
        }
        for task in synthetic_tasks() {
            let problems = read_test_set(d1.path(), task.name()).unwrap();
            assert_eq!(problems.len(), TEST_SET_SIZE);
            assert_eq!(
                questions(&problems).len(),
                TEST_SET_SIZE,
                "duplicate questions"
            );
            assert!(problems.iter().all(|p| task.verify(p, &p.answer)));
        }
    }

    /// The checked-in `data/tasks/*_test.jsonl` must be what [`write_test_sets`] produces; after a
    /// deliberate generator change, regenerate them with `write_test_sets("data/tasks")`.
    #[test]
    fn committed_test_sets_are_current() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = write_test_sets(dir.path()).unwrap();
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/tasks");
        for path in fresh {
            let name = path.file_name().unwrap();
            let stored = fs::read(committed.join(name))
                .unwrap_or_else(|e| panic!("data/tasks/{}: {e}", name.to_string_lossy()));
            assert!(
                stored == fs::read(&path).unwrap(),
                "data/tasks/{} is stale",
                name.to_string_lossy()
            );
        }
    }

    #[test]
    fn read_problems_reports_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        fs::write(&path, "\n{\"id\": 3}\n").unwrap();
        let err = format!("{:#}", read_problems_jsonl(&path).unwrap_err());
        assert!(err.contains("bad.jsonl:2"), "{err}");
        assert!(read_problems_jsonl(&dir.path().join("missing.jsonl")).is_err());
    }

    #[test]
    fn sample_fresh_avoids_held_out_questions() {
        let task = arithmetic::ArithmeticTask::new(Some(1..=1), None).unwrap();
        let held: HashSet<String> = generate_test_set(&task, 60, 3)
            .into_iter()
            .map(|p| p.question)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..200 {
            let p = sample_fresh(&task, &mut rng, &held).unwrap();
            assert!(!held.contains(&p.question));
        }
    }
}
