//! Rule-based rewards for GRPO (paper §2.2.2 *Reward Modeling* and §2.3.2).
//!
//! "The reward is the source of the training signal … To train DeepSeek-R1-Zero, we adopt a
//! rule-based reward system that mainly consists of two types of rewards":
//!
//! * **Accuracy** ([`Accuracy`]): whether the response is correct, with the final answer in a
//!   specified place — here the single `<answer>…</answer>` block — checked by the task's verifier
//!   against the ground truth stored in the [`Problem`].
//! * **Format** ([`Format`]): the model puts its thinking process between `<think>` and `</think>`.
//!
//! The paper combines the two with equal weight and deliberately uses no neural reward model
//! (reward hacking). DeepSeek-R1 adds a **language-consistency** reward ([`LanguageConsistency`]):
//! "the proportion of target language words in the CoT", summed directly with the accuracy reward.
//! We also provide DAPO's soft overlong penalty ([`OverlongPenalty`], Yu et al. 2025), useful when
//! the context is only 256 tokens.
//!
//! Rewards are composable trait objects with weights in a [`RewardSet`], which reports every
//! component and the weighted total. No reward panics on any input. What a reward reads in a
//! completion (its answer, its format, its chain of thought) is read by [`crate::completion`],
//! which the evaluation shares.

use crate::completion::{chain_of_thought, check_format, extract_answer, DEFAULT_EOS_MARKERS};
use crate::tasks::language::{count_words, Lang};
use crate::tasks::Problem;
use anyhow::{ensure, Result};

/// A sampled completion: the generated text (without the prompt) and its length in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion<'a> {
    /// The generated text, decoded, not including the prompt.
    pub text: &'a str,
    /// Number of generated tokens (for length-based rewards).
    pub num_tokens: usize,
}

impl<'a> Completion<'a> {
    /// A completion of `num_tokens` tokens.
    pub fn new(text: &'a str, num_tokens: usize) -> Self {
        Self { text, num_tokens }
    }
}

/// The score of one reward on one completion, with a short human-readable reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardOutcome {
    /// The reward value (always finite).
    pub score: f32,
    /// Why, e.g. "correct", "no single `<answer>` block".
    pub reason: String,
}

impl RewardOutcome {
    fn new(score: f32, reason: impl Into<String>) -> Self {
        Self {
            score: if score.is_finite() { score } else { 0.0 },
            reason: reason.into(),
        }
    }
}

/// A rule-based reward.
pub trait Reward: Send + Sync {
    /// A short identifier ("accuracy", "format", …).
    fn name(&self) -> &str;
    /// Scores `completion` as an answer to `problem`. Must not panic.
    fn score(&self, problem: &Problem, completion: &Completion<'_>) -> RewardOutcome;
}

/// Accuracy reward: 1 if the text inside the single `<answer>…</answer>` block is verified correct
/// by the problem's task, else 0 (missing, repeated or empty answer blocks score 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accuracy;

impl Reward for Accuracy {
    fn name(&self) -> &str {
        "accuracy"
    }

    fn score(&self, problem: &Problem, completion: &Completion<'_>) -> RewardOutcome {
        match extract_answer(completion.text) {
            None => RewardOutcome::new(0.0, "no single non-empty <answer> block"),
            Some(answer) if problem.verify(&answer) => RewardOutcome::new(1.0, "correct"),
            Some(_) => RewardOutcome::new(0.0, "wrong answer"),
        }
    }
}

/// Format reward: 1 if the completion is exactly one `<think>…</think>` followed by exactly one
/// `<answer>…</answer>`, with only whitespace before, between and after (plus end-of-sequence
/// markers at the end), and no tag inside either block; else 0 ([`check_format`]).
///
/// The completion never includes the prompt. When the prompt itself ends with `<think>` (the
/// short template, [`crate::tasks::Template::prompt_opens_think`]), set `prompt_opens_think`: the
/// completion then starts *inside* the thinking block and must not open it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Whether the prompt ended with `<think>`.
    pub prompt_opens_think: bool,
    /// Texts allowed (repeatedly) at the very end, e.g. a rendered EOS token.
    pub eos_markers: Vec<String>,
}

impl Format {
    /// A format check with [`DEFAULT_EOS_MARKERS`].
    pub fn new(prompt_opens_think: bool) -> Self {
        Self {
            prompt_opens_think,
            eos_markers: DEFAULT_EOS_MARKERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }

    /// Checks the structure, returning what is wrong ([`check_format`]).
    pub fn check(&self, completion: &str) -> std::result::Result<(), &'static str> {
        check_format(completion, self.prompt_opens_think, &self.eos_markers)
    }
}

impl Reward for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn score(&self, _problem: &Problem, completion: &Completion<'_>) -> RewardOutcome {
        match self.check(completion.text) {
            Ok(()) => RewardOutcome::new(1.0, "well formed"),
            Err(why) => RewardOutcome::new(0.0, why),
        }
    }
}

/// Language-consistency reward (R1, §2.3.2): the proportion of target-language words among the
/// language-tagged words of the chain of thought ([`chain_of_thought`]); 0 when it has none.
/// In \[0, 1\].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LanguageConsistency {
    /// The language the chain of thought should be written in.
    pub target: Lang,
    /// Whether the prompt ended with `<think>` (see [`Format`]).
    pub prompt_opens_think: bool,
}

impl Reward for LanguageConsistency {
    fn name(&self) -> &str {
        "language_consistency"
    }

    fn score(&self, _problem: &Problem, completion: &Completion<'_>) -> RewardOutcome {
        let counts = count_words(chain_of_thought(completion.text, self.prompt_opens_think));
        let total = counts.total();
        if total == 0 {
            return RewardOutcome::new(0.0, "no language-tagged words in the chain of thought");
        }
        let hits = counts.get(self.target);
        RewardOutcome::new(
            hits as f32 / total as f32,
            format!("{hits}/{total} words in {:?}", self.target),
        )
    }
}

/// DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), in tokens:
///
/// ```text
///            ⎧ 0                               if L ≤ L_max − L_cache
/// R(L)   =   ⎨ ((L_max − L_cache) − L)/L_cache  if L_max − L_cache < L ≤ L_max
///            ⎩ −1                              if L > L_max
/// ```
///
/// DAPO uses L_max = 20 480 with a 4 096-token cache; scale both to the generation budget (e.g.
/// 192 and 32 for a 256-token context with a 64-token prompt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlongPenalty {
    max_tokens: usize,
    cache_tokens: usize,
}

impl OverlongPenalty {
    /// Errors if `cache_tokens > max_tokens`. A zero cache gives a hard cut at `max_tokens`.
    pub fn new(max_tokens: usize, cache_tokens: usize) -> Result<Self> {
        ensure!(
            cache_tokens <= max_tokens,
            "overlong cache ({cache_tokens}) exceeds the maximum length ({max_tokens})"
        );
        Ok(Self {
            max_tokens,
            cache_tokens,
        })
    }

    /// The penalty for a completion of `len` tokens, in \[−1, 0\].
    pub fn penalty(&self, len: usize) -> f32 {
        let soft_start = self.max_tokens - self.cache_tokens;
        if len <= soft_start {
            0.0
        } else if len > self.max_tokens {
            -1.0
        } else {
            // cache_tokens > 0 here, since soft_start < len <= max_tokens.
            -(((len - soft_start) as f64) / (self.cache_tokens as f64)) as f32
        }
    }
}

impl Reward for OverlongPenalty {
    fn name(&self) -> &str {
        "overlong"
    }

    fn score(&self, _problem: &Problem, completion: &Completion<'_>) -> RewardOutcome {
        let p = self.penalty(completion.num_tokens);
        RewardOutcome::new(
            p,
            format!("{} tokens (max {})", completion.num_tokens, self.max_tokens),
        )
    }
}

/// One component of a [`RewardBreakdown`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredReward {
    /// [`Reward::name`].
    pub name: String,
    /// The weight in the set.
    pub weight: f32,
    /// The unweighted outcome.
    pub outcome: RewardOutcome,
}

/// Every component's score and the weighted total.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RewardBreakdown {
    /// Components in the order they were added.
    pub parts: Vec<ScoredReward>,
    /// Σ weight · score.
    pub total: f32,
}

impl RewardBreakdown {
    /// The unweighted score of the component named `name`.
    pub fn get(&self, name: &str) -> Option<f32> {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.outcome.score)
    }
}

/// A weighted sum of rewards.
#[derive(Default)]
pub struct RewardSet {
    entries: Vec<(Box<dyn Reward>, f32)>,
}

impl std::fmt::Debug for RewardSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(r, w)| (r.name(), w)))
            .finish()
    }
}

impl RewardSet {
    /// The names of the rewards, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(r, _)| r.name().to_string())
            .collect()
    }

    /// An empty set (total 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `reward` with `weight`; errors if the weight is not finite.
    pub fn with(mut self, reward: impl Reward + 'static, weight: f32) -> Result<Self> {
        ensure!(weight.is_finite(), "reward weight {weight} is not finite");
        self.entries.push((Box::new(reward), weight));
        Ok(self)
    }

    /// R1-Zero's rule-based reward: accuracy + format, equal weights (§2.2.2).
    pub fn r1_zero(prompt_opens_think: bool) -> Self {
        Self {
            entries: vec![
                (Box::new(Accuracy), 1.0),
                (Box::new(Format::new(prompt_opens_think)), 1.0),
            ],
        }
    }

    /// [`RewardSet::r1_zero`] with the format reward weighted `format_weight` (paper: 1; TinyZero:
    /// 0.1); errors on a negative or non-finite weight.
    pub fn r1_zero_weighted(prompt_opens_think: bool, format_weight: f32) -> Result<Self> {
        ensure!(
            format_weight.is_finite() && format_weight >= 0.0,
            "the format reward's weight must be a number ≥ 0 (paper: 1), got {format_weight}"
        );
        let mut set = Self::r1_zero(prompt_opens_think);
        set.entries[1].1 = format_weight;
        Ok(set)
    }

    /// R1's reasoning-RL reward: accuracy + format + language consistency in `target`, summed
    /// directly (§2.3.2).
    pub fn r1(prompt_opens_think: bool, target: Lang) -> Self {
        let mut set = Self::r1_zero(prompt_opens_think);
        set.entries.push((
            Box::new(LanguageConsistency {
                target,
                prompt_opens_think,
            }),
            1.0,
        ));
        set
    }

    /// The names and weights of the components.
    pub fn components(&self) -> Vec<(&str, f32)> {
        self.entries.iter().map(|(r, w)| (r.name(), *w)).collect()
    }

    /// Scores one completion with every reward.
    pub fn score(&self, problem: &Problem, completion: &Completion<'_>) -> RewardBreakdown {
        let mut total = 0.0f32;
        let parts = self
            .entries
            .iter()
            .map(|(reward, weight)| {
                let outcome = reward.score(problem, completion);
                total += weight * outcome.score;
                ScoredReward {
                    name: reward.name().to_owned(),
                    weight: *weight,
                    outcome,
                }
            })
            .collect();
        RewardBreakdown { parts, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::arithmetic::{ArithOp, ArithmeticTask};
    use crate::tasks::countdown::{parse_expression, CountdownTask};
    use crate::tasks::word_problems::WordProblemTask;
    use crate::tasks::{Task, Template};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn add_problem() -> Problem {
        ArithmeticTask::problem(ArithOp::Add, 347, 86)
    }

    fn c(text: &str) -> Completion<'_> {
        Completion::new(text, 10)
    }

    #[test]
    fn accuracy_reads_the_single_answer_block() {
        let p = add_problem();
        let score = |t: &str| Accuracy.score(&p, &c(t)).score;
        assert_eq!(score("<think> x </think> <answer> 433 </answer>"), 1.0);
        assert_eq!(score("<answer>433</answer>"), 1.0);
        assert_eq!(score("<answer> 1,433 </answer>"), 0.0);
        assert_eq!(score("433"), 0.0);
        assert_eq!(score("<answer>433</answer> <answer>433</answer>"), 0.0);
        assert_eq!(score("<answer>432</answer>"), 0.0);
        let cd = CountdownTask::problem(vec![3, 25, 2], 56, &parse_expression("(25+3)*2").unwrap());
        assert_eq!(
            Accuracy
                .score(&cd, &c("<answer>2 * (3 + 25)</answer>"))
                .score,
            1.0
        );
        assert_eq!(Accuracy.score(&cd, &c("<answer>56</answer>")).score, 0.0);
    }

    #[test]
    fn format_reward_scores_the_template_structure() {
        // The structure rules themselves are tested with `completion::check_format`.
        let opened = Format::new(false);
        let prefilled = Format::new(true);
        let p = add_problem();
        let score = |f: &Format, t: &str| f.score(&p, &c(t)).score;
        assert_eq!(
            score(&opened, "<think> a </think> <answer> 1 </answer>"),
            1.0
        );
        assert_eq!(score(&opened, " a </think> <answer> 1 </answer>"), 0.0);
        assert_eq!(
            score(&prefilled, " a </think> <answer> 1 </answer></s></s>"),
            1.0
        );
        assert_eq!(
            score(&prefilled, "<think> a </think> <answer> 1 </answer>"),
            0.0
        );
        // A completion after the short template passes when told the prompt opened the block.
        let prompt = Template::R1ZeroShort.render(&p.question);
        let completion = " 347 + 86 = 433 </think> <answer> 433 </answer>";
        let set = RewardSet::r1_zero(Template::R1ZeroShort.prompt_opens_think());
        let b = set.score(&p, &c(completion));
        assert_eq!(b.total, 2.0, "{b:?}");
        assert!(Format::new(false)
            .check(&format!(
                "{}{completion}",
                prompt.trim_start_matches(|ch| ch != '<')
            ))
            .is_ok());
    }

    #[test]
    fn language_consistency_is_the_target_share() {
        let p = add_problem();
        let lc = LanguageConsistency {
            target: Lang::A,
            prompt_opens_think: false,
        };
        let s = |t: &str| lc.score(&p, &c(t)).score;
        assert_eq!(
            s("<think> column 1 write 3 </think> <answer> 433 </answer>"),
            1.0
        );
        assert_eq!(s("<think> column 1 dul 3 mif 1 vek </think>"), 0.25);
        assert_eq!(s("<think> 7 + 6 = 13 </think> carry carry"), 0.0);
        assert_eq!(s("no think block: carry"), 0.0);
        assert_eq!(s("<think> column dul carry (truncated"), 2.0 / 3.0);
        let lc_b = LanguageConsistency {
            target: Lang::B,
            prompt_opens_think: true,
        };
        assert_eq!(
            lc_b.score(&p, &c(" vek dul </think> <answer>433</answer>"))
                .score,
            1.0
        );
    }

    #[test]
    fn overlong_penalty_matches_dapo() {
        let o = OverlongPenalty::new(100, 20).unwrap();
        assert_eq!(o.penalty(0), 0.0);
        assert_eq!(o.penalty(80), 0.0);
        assert_eq!(o.penalty(90), -0.5);
        assert_eq!(o.penalty(100), -1.0);
        assert_eq!(o.penalty(101), -1.0);
        assert_eq!(o.penalty(usize::MAX), -1.0);
        let hard = OverlongPenalty::new(50, 0).unwrap();
        assert_eq!(hard.penalty(50), 0.0);
        assert_eq!(hard.penalty(51), -1.0);
        assert!(OverlongPenalty::new(10, 11).is_err());
        let p = add_problem();
        assert_eq!(o.score(&p, &Completion::new("", 95)).score, -0.75);
    }

    #[test]
    fn reward_set_weights_and_reports_components() {
        let p = add_problem();
        let set = RewardSet::new()
            .with(Accuracy, 2.0)
            .unwrap()
            .with(Format::new(false), 0.5)
            .unwrap()
            .with(OverlongPenalty::new(100, 20).unwrap(), 1.0)
            .unwrap();
        assert!(RewardSet::new().with(Accuracy, f32::NAN).is_err());
        let b = set.score(
            &p,
            &Completion::new("<think></think><answer>433</answer>", 90),
        );
        assert_eq!(b.get("accuracy"), Some(1.0));
        assert_eq!(b.get("format"), Some(1.0));
        assert_eq!(b.get("overlong"), Some(-0.5));
        assert_eq!(b.total, 2.0);
        assert_eq!(RewardSet::new().score(&p, &c("x")).total, 0.0);
        let r1 = RewardSet::r1(true, Lang::A);
        assert_eq!(
            r1.components(),
            vec![
                ("accuracy", 1.0),
                ("format", 1.0),
                ("language_consistency", 1.0)
            ]
        );
        let b = r1.score(&p, &c(" column vek </think> <answer> 433 </answer>"));
        assert_eq!(b.total, 2.5);
    }

    /// Thousands of random and adversarial completions through every reward: no panic, every
    /// score finite and in range. (The readers of `completion` and the metrics of
    /// `eval::metrics` get the same texts in their own tests.)
    #[test]
    fn rewards_never_panic_on_adversarial_input() {
        let mut rng = ChaCha8Rng::seed_from_u64(0xF022);
        let word = WordProblemTask::from_pairs("gsm", [("q?", "#### 1,000")]).unwrap();
        let problems = vec![
            add_problem(),
            ArithmeticTask::problem(ArithOp::Mul, 999_999_999, 999_999_999),
            CountdownTask::default().sample(&mut rng),
            CountdownTask::problem(vec![3, 25, 2], 56, &parse_expression("(25+3)*2").unwrap()),
            word.problems()[0].clone(),
        ];
        let sets = [
            RewardSet::r1(true, Lang::A)
                .with(OverlongPenalty::new(128, 32).unwrap(), 1.0)
                .unwrap(),
            RewardSet::r1(false, Lang::B)
                .with(OverlongPenalty::new(0, 0).unwrap(), 1.0)
                .unwrap(),
        ];
        let texts = crate::completion::adversarial_completions(&mut rng, 5000);
        for text in &texts {
            let tokens = match rng.random_range(0..4) {
                0 => 0,
                1 => usize::MAX,
                _ => rng.random_range(0..300),
            };
            let completion = Completion::new(text, tokens);
            for problem in &problems {
                for set in &sets {
                    let b = set.score(problem, &completion);
                    assert!(b.total.is_finite(), "{text:?}");
                    for part in &b.parts {
                        let s = part.outcome.score;
                        assert!((-1.0..=1.0).contains(&s), "{} {s} {text:?}", part.name);
                    }
                }
                let _ = CountdownTask::default().verify(problem, text);
                let _ = problem.verify(text);
            }
            let _ = crate::tasks::normalize_number(text);
        }
    }
}
