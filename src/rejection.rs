//! Rejection sampling (paper §2.3.3 *Rejection Sampling and Supervised Fine-Tuning*): sample
//! several answers per prompt from an RL checkpoint and keep only the good ones as SFT data.
//!
//! The paper keeps "only the correct responses", filters out "chain-of-thought with mixed
//! languages, long paragraphs, and code blocks", and adds non-reasoning data. Our filter,
//! [`judge`], applies the same rules mechanically and says why it drops a completion
//! ([`Verdict`]): wrong or missing answer, malformed think/answer structure, truncated, mixed
//! languages, or written in the other language; exact duplicates of a kept answer to the same
//! question are dropped too. [`RejectionStats`] counts every reason, so a report can say how much
//! was kept and why the rest was not.
//!
//! The same filter checks the project's cold-start examples (§2.3.1) and the teacher traces of
//! distillation (§2.4), which the paper builds from the same 800k rejection-sampled samples.

use crate::completion::{chain_of_thought, extract_answer};
use crate::model::Model;
use crate::rewards::Format;
use crate::sampling::{generate, SamplingConfig};
use crate::sft::SftRow;
use crate::tasks::language::{count_words, Lang};
use crate::tasks::{Problem, Template};
use crate::tokenizer::Tokenizer;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

/// Why a completion was kept or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Correct, well formed, in the target language only.
    Kept,
    /// Hit the length limit before `</answer>`.
    Truncated,
    /// Not `…</think> <answer>…</answer>`.
    Malformed,
    /// The answer is missing or wrong.
    Wrong,
    /// The chain of thought uses words of both languages.
    MixedLanguage,
    /// The chain of thought is written in the other language only (or has no words at all).
    OffTarget,
    /// The same completion of the same question was already kept.
    Duplicate,
}

impl Verdict {
    /// Every verdict, in report order.
    pub const ALL: [Verdict; 7] = [
        Verdict::Kept,
        Verdict::Truncated,
        Verdict::Malformed,
        Verdict::Wrong,
        Verdict::MixedLanguage,
        Verdict::OffTarget,
        Verdict::Duplicate,
    ];

    /// The snake-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Kept => "kept",
            Verdict::Truncated => "truncated",
            Verdict::Malformed => "malformed",
            Verdict::Wrong => "wrong",
            Verdict::MixedLanguage => "mixed_language",
            Verdict::OffTarget => "off_target",
            Verdict::Duplicate => "duplicate",
        }
    }
}

/// Judges one completion (without the duplicate check, which needs the kept set). The first
/// failing rule wins, in the order of [`Verdict::ALL`].
pub fn judge(
    problem: &Problem,
    completion: &str,
    truncated: bool,
    template: Template,
    target: Lang,
) -> Verdict {
    if truncated {
        return Verdict::Truncated;
    }
    if Format::new(template.prompt_opens_think())
        .check(completion)
        .is_err()
    {
        return Verdict::Malformed;
    }
    let correct = extract_answer(completion)
        .map(|a| problem.verify(&a))
        .unwrap_or(false);
    if !correct {
        return Verdict::Wrong;
    }
    let counts = count_words(chain_of_thought(completion, template.prompt_opens_think()));
    let (hits, other) = (counts.get(target), counts.get(target.other()));
    if hits > 0 && other > 0 {
        Verdict::MixedLanguage
    } else if hits == 0 {
        Verdict::OffTarget
    } else {
        Verdict::Kept
    }
}

/// One kept example: a question, its prompt and a completion that passed [`judge`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub problem_id: String,
    pub question: String,
    /// The rendered prompt (template applied).
    pub prompt: String,
    /// The completion, from just after the prompt to `</answer>`.
    pub completion: String,
}

impl Trace {
    /// The SFT row `prompt ++ completion ++ EOS`, loss on the completion and EOS only.
    pub fn to_row(&self, tokenizer: &Tokenizer) -> Result<SftRow> {
        let prompt = tokenizer.encode(&self.prompt)?;
        let mut completion = tokenizer.encode(&self.completion)?;
        completion.push(tokenizer.eos_ids[0]);
        Ok(SftRow::prompt_completion(&prompt, &completion))
    }
}

/// How many completions were judged, and how many got each verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RejectionStats {
    pub judged: usize,
    pub counts: BTreeMap<Verdict, usize>,
    /// Prompt + completion tokens of every sampled row (0 when nothing was sampled), for the
    /// compute of the sampling model.
    #[serde(default)]
    pub sampled_tokens: usize,
    /// Seconds spent sampling and judging (0 for generated data).
    #[serde(default)]
    pub wall_s: f64,
}

impl RejectionStats {
    /// How many got `v`.
    pub fn count(&self, v: Verdict) -> usize {
        self.counts.get(&v).copied().unwrap_or(0)
    }

    /// The share kept, in \[0, 1\].
    pub fn kept_rate(&self) -> f64 {
        self.count(Verdict::Kept) as f64 / self.judged.max(1) as f64
    }

    /// `(verdict, count)` for every verdict, zeros included, in report order.
    pub fn rows(&self) -> Vec<(&'static str, usize)> {
        Verdict::ALL
            .iter()
            .map(|v| (v.name(), self.count(*v)))
            .collect()
    }
}

/// Keeps the completions that pass [`judge`] and are not duplicates, counting every verdict.
/// `candidates` are `(problem, completion, truncated)`.
pub fn filter<'a>(
    candidates: impl IntoIterator<Item = (&'a Problem, String, bool)>,
    template: Template,
    target: Lang,
) -> (Vec<Trace>, RejectionStats) {
    let mut stats = RejectionStats::default();
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    for (problem, completion, truncated) in candidates {
        stats.judged += 1;
        let mut verdict = judge(problem, &completion, truncated, template, target);
        if verdict == Verdict::Kept && !seen.insert((problem.id.clone(), completion.clone())) {
            verdict = Verdict::Duplicate;
        }
        *stats.counts.entry(verdict).or_default() += 1;
        if verdict == Verdict::Kept {
            kept.push(Trace {
                problem_id: problem.id.clone(),
                question: problem.question.clone(),
                prompt: template.render(&problem.question),
                completion,
            });
        }
    }
    (kept, stats)
}

/// Settings of [`rejection_sample`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectionConfig {
    /// Completions sampled per prompt. Paper: not given ("multiple responses"). Ours: 4.
    pub samples_per_prompt: usize,
    /// Paper: not given; ours: the evaluation setting, 0.6.
    pub temperature: f64,
    /// Ours: 0.95.
    pub top_p: f64,
    pub max_new_tokens: usize,
    /// Prompts sampled together (× `samples_per_prompt` rows per batch).
    pub prompts_per_batch: usize,
    /// The language a kept chain of thought must be written in.
    pub target: Lang,
    pub template: Template,
    pub seed: u64,
}

impl Default for RejectionConfig {
    fn default() -> Self {
        Self {
            samples_per_prompt: 4,
            temperature: 0.6,
            top_p: 0.95,
            max_new_tokens: 128,
            prompts_per_batch: 16,
            target: Lang::A,
            template: Template::R1ZeroShort,
            seed: 7,
        }
    }
}

/// Samples `cfg.samples_per_prompt` completions of each problem from `model` and keeps the ones
/// that pass [`filter`].
pub fn rejection_sample(
    model: &Model,
    tokenizer: &Tokenizer,
    problems: &[Problem],
    cfg: &RejectionConfig,
) -> Result<(Vec<Trace>, RejectionStats)> {
    anyhow::ensure!(
        cfg.samples_per_prompt > 0 && cfg.prompts_per_batch > 0,
        "samples_per_prompt and prompts_per_batch must be at least 1"
    );
    let mut candidates = Vec::with_capacity(problems.len() * cfg.samples_per_prompt);
    let mut sampled_tokens = 0;
    let start = std::time::Instant::now();
    for (b, chunk) in problems.chunks(cfg.prompts_per_batch).enumerate() {
        let prompts = chunk
            .iter()
            .map(|p| tokenizer.encode(&cfg.template.render(&p.question)))
            .collect::<Result<Vec<_>>>()?;
        let sampling = SamplingConfig::until_answer(
            cfg.temperature,
            cfg.top_p,
            cfg.max_new_tokens,
            cfg.seed.wrapping_mul(1_000_003).wrapping_add(b as u64),
        );
        for c in generate(
            model,
            tokenizer,
            &prompts,
            cfg.samples_per_prompt,
            &sampling,
        )? {
            sampled_tokens += prompts[c.prompt_index].len() + c.token_ids.len();
            candidates.push((&chunk[c.prompt_index], c.text, c.truncated));
        }
    }
    let (kept, mut stats) = filter(candidates, cfg.template, cfg.target);
    stats.sampled_tokens = sampled_tokens;
    stats.wall_s = start.elapsed().as_secs_f64();
    Ok((kept, stats))
}

/// Writes traces as JSON lines (atomically).
pub fn write_traces(path: &Path, traces: &[Trace]) -> Result<()> {
    let mut buf = Vec::new();
    for t in traces {
        serde_json::to_writer(&mut buf, t)?;
        buf.write_all(b"\n")?;
    }
    crate::checkpoint::atomic_write(path, &buf)
}

/// Reads traces written by [`write_traces`].
pub fn read_traces(path: &Path) -> Result<Vec<Trace>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read traces {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "{} line {}: not a trace; delete the file to regenerate it",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::arithmetic::{ArithOp, ArithmeticTask};

    fn p() -> Problem {
        ArithmeticTask::problem(ArithOp::Add, 7, 5)
    }

    #[test]
    fn the_first_failing_rule_names_the_verdict() {
        let t = Template::R1ZeroShort;
        let j = |c: &str, trunc: bool| judge(&p(), c, trunc, t, Lang::A);
        let good =
            " column 1: 7 + 5 = 12, write 12. so the answer is 12. </think> <answer> 12 </answer>";
        assert_eq!(j(good, false), Verdict::Kept);
        assert_eq!(j(good, true), Verdict::Truncated);
        assert_eq!(j(" 12 <answer> 12 </answer>", false), Verdict::Malformed);
        assert_eq!(
            j(
                " column 1: 7 + 5 = 13. </think> <answer> 13 </answer>",
                false
            ),
            Verdict::Wrong
        );
        assert_eq!(
            j(
                " vek 1: 7 + 5 = 12, write 12. </think> <answer> 12 </answer>",
                false
            ),
            Verdict::MixedLanguage
        );
        assert_eq!(
            j(
                " vek 1: 7 + 5 = 12, dul 12. </think> <answer> 12 </answer>",
                false
            ),
            Verdict::OffTarget
        );
        assert_eq!(
            j(" </think> <answer> 12 </answer>", false),
            Verdict::OffTarget
        );
    }

    #[test]
    fn filter_counts_every_verdict_and_drops_duplicates() {
        let problem = p();
        let good = " column 1: 7 + 5 = 12. </think> <answer> 12 </answer>".to_string();
        let (kept, stats) = filter(
            [
                (&problem, good.clone(), false),
                (&problem, good.clone(), false),
                (&problem, " </think> <answer> 11 </answer>".into(), false),
            ],
            Template::R1ZeroShort,
            Lang::A,
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].prompt, "User: What is 7 + 5? Assistant: <think>");
        assert_eq!(stats.judged, 3);
        assert_eq!(stats.count(Verdict::Kept), 1);
        assert_eq!(stats.count(Verdict::Duplicate), 1);
        assert_eq!(stats.count(Verdict::Wrong), 1);
        assert!((stats.kept_rate() - 1.0 / 3.0).abs() < 1e-12);
        let total: usize = stats.rows().iter().map(|(_, n)| n).sum();
        assert_eq!(total, 3);
    }

    #[test]
    fn traces_round_trip_and_bad_files_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let t = Trace {
            problem_id: "x".into(),
            question: "What is 7 + 5?".into(),
            prompt: "User: What is 7 + 5? Assistant: <think>".into(),
            completion: " 12 </think> <answer> 12 </answer>".into(),
        };
        write_traces(&path, std::slice::from_ref(&t)).unwrap();
        assert_eq!(read_traces(&path).unwrap(), vec![t]);
        std::fs::write(&path, "{not json\n").unwrap();
        let err = format!("{:#}", read_traces(&path).unwrap_err());
        assert!(err.contains("delete the file"), "{err}");
    }
}
