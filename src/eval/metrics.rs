//! Evaluation metrics (paper §3, *Evaluation Setup*).
//!
//! The paper samples k responses per question at temperature 0.6 and top-p 0.95 and reports
//! pass@1 = (1/k) Σ pᵢ, the mean correctness over the samples, which is less noisy than greedy
//! decoding. For pass@k with k > 1 we use the unbiased estimator of Chen et al. (2021),
//! `1 − C(n−c, k)/C(n, k)`, and cons@k is majority voting over the k extracted answers (the
//! paper's cons@64 for AIME). Reading the answers out of the completions is
//! [`crate::completion`]'s job ([`extract_answer`](crate::completion::extract_answer),
//! [`normalize_answer`]).
//!
//! All functions are pure and never panic.

use crate::completion::normalize_answer;
use std::collections::HashMap;

/// Unbiased pass@k from `n` samples of which `c` are correct (Chen et al. 2021):
/// `1 − C(n−c, k)/C(n, k)`, computed as `1 − Π_{i=n−c+1}^{n} (1 − k/i)` so no binomial
/// coefficient is ever formed (no overflow, no cancellation).
///
/// Edge cases: `c` is clamped to `n`; `k = 0` or `n = 0` give 0; `k > n` is clamped to `n`
/// (pass@k cannot be estimated beyond the samples drawn).
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if n == 0 || k == 0 {
        return 0.0;
    }
    let c = c.min(n);
    let k = k.min(n);
    if n - c < k {
        return 1.0;
    }
    let kf = k as f64;
    let miss: f64 = (n - c + 1..=n).map(|i| 1.0 - kf / i as f64).product();
    1.0 - miss
}

/// Arithmetic mean; 0 for an empty slice.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Majority vote over extracted answers: the index (into `answers`) of the first occurrence of
/// the most frequent normalised answer, and its vote count. Ties go to the answer that appeared
/// first; `None` answers never win; `None` if every answer is `None`.
pub fn majority_vote(answers: &[Option<String>]) -> Option<(usize, usize)> {
    let mut slot_of: HashMap<String, usize> = HashMap::new();
    // (first index, votes), in order of first appearance.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        let Some(answer) = answer else { continue };
        let key = normalize_answer(answer);
        match slot_of.get(&key) {
            Some(&slot) => groups[slot].1 += 1,
            None => {
                slot_of.insert(key, groups.len());
                groups.push((i, 1));
            }
        }
    }
    groups
        .into_iter()
        .fold(None, |best: Option<(usize, usize)>, g| match best {
            Some(b) if b.1 >= g.1 => Some(b),
            _ => Some(g),
        })
}

/// The outcome of majority voting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consensus {
    /// The winning answer as first written, if any answer was extracted.
    pub answer: Option<String>,
    /// Votes for the winner.
    pub votes: usize,
    /// Whether the winner is correct (false when there is no winner).
    pub correct: bool,
}

/// cons@k: majority vote over the `k = answers.len()` extracted answers (see [`majority_vote`]),
/// then `is_correct` on the winner (e.g. `|a| problem.verify(a)`).
pub fn cons_at_k(answers: &[Option<String>], is_correct: impl Fn(&str) -> bool) -> Consensus {
    match majority_vote(answers) {
        Some((index, votes)) => {
            let answer = answers.get(index).cloned().flatten();
            let correct = answer.as_deref().is_some_and(&is_correct);
            Consensus {
                answer,
                votes,
                correct,
            }
        }
        None => Consensus {
            answer: None,
            votes: 0,
            correct: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completion::extract_answer;
    use crate::tasks::arithmetic::{ArithOp, ArithmeticTask};
    use crate::tasks::normalize_number;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pass_at_k_matches_hand_computation() {
        // n = 16, c = 4.
        assert!(close(pass_at_k(16, 4, 1), 0.25));
        // 1 − C(12,4)/C(16,4) = 1 − 495/1820.
        assert!(close(pass_at_k(16, 4, 4), 1.0 - 495.0 / 1820.0));
        // n − c = 12 < 16: some sample among all 16 is correct.
        assert!(close(pass_at_k(16, 4, 16), 1.0));
        assert!(close(pass_at_k(16, 0, 4), 0.0));
        assert!(close(pass_at_k(16, 16, 1), 1.0));
        // 1 − C(8,2)/C(10,2) = 1 − 28/45.
        assert!(close(pass_at_k(10, 2, 2), 17.0 / 45.0));
        // Edge cases.
        assert_eq!(pass_at_k(0, 0, 1), 0.0);
        assert_eq!(pass_at_k(5, 2, 0), 0.0);
        assert!(close(pass_at_k(5, 9, 1), 1.0));
        assert!(close(pass_at_k(4, 1, 10), 1.0));
        // Large n stays finite and in range.
        let p = pass_at_k(100_000, 3, 1000);
        assert!(p.is_finite() && (0.0..=1.0).contains(&p));
        // pass@1 equals c/n for all n, c.
        for n in 1..40 {
            for c in 0..=n {
                assert!((pass_at_k(n, c, 1) - c as f64 / n as f64).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn mean_of_values() {
        assert_eq!(mean(&[]), 0.0);
        assert!(close(mean(&[1.0, 0.0, 0.0, 1.0]), 0.5));
    }

    #[test]
    fn cons_at_k_votes_with_deterministic_ties() {
        let a = |s: &str| Some(s.to_owned());
        // 3 votes for 12 (as "12", "12.0", "$12"), 2 for 13, 3 missing answers.
        let answers = vec![
            a("13"),
            None,
            a("12"),
            a("12.0"),
            None,
            a("13"),
            a("$12"),
            None,
        ];
        let cons = cons_at_k(&answers, |x| normalize_number(x).as_deref() == Some("12"));
        assert_eq!(
            cons,
            Consensus {
                answer: Some("12".to_owned()),
                votes: 3,
                correct: true
            }
        );
        // A 2–2 tie goes to the answer seen first.
        let tie = vec![a("7"), a("5"), a("5"), a("7.00")];
        assert_eq!(majority_vote(&tie), Some((0, 2)));
        let cons = cons_at_k(&tie, |x| x == "5");
        assert!(!cons.correct);
        // None never wins, even when most common.
        let mostly_none = vec![None, None, a("3"), None];
        assert_eq!(majority_vote(&mostly_none), Some((2, 1)));
        let all_none: Vec<Option<String>> = vec![None, None];
        assert!(!cons_at_k(&all_none, |_| true).correct);
        assert_eq!(majority_vote(&[]), None);
        // Expressions vote together regardless of spacing and symbol style.
        assert_eq!(
            normalize_answer("(25 + 3) × 2."),
            normalize_answer("(25+3)*2")
        );
    }

    /// Majority voting over the answers read from thousands of random and adversarial
    /// completions: no panic.
    #[test]
    fn cons_at_k_never_panics_on_adversarial_answers() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xF022);
        let texts = crate::completion::adversarial_completions(&mut rng, 5000);
        let answers: Vec<Option<String>> = texts.iter().map(|t| extract_answer(t)).collect();
        let problem = ArithmeticTask::problem(ArithOp::Add, 347, 86);
        let _ = cons_at_k(&answers, |a| problem.verify(a));
    }
}
