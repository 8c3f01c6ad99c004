//! pass@k and cons@k the way one would compute them by hand, for notebooks to check the crate's
//! estimators against ([`super::metrics`]), as `01_grpo_from_scratch` checks the loss.
//!
//! [`super::metrics::pass_at_k`] never forms a binomial coefficient (it multiplies
//! `1 − k/i`, which cannot overflow); here the coefficients are formed literally, exactly, in
//! integers, so the two share no arithmetic. cons@k here counts the votes in a map and takes the
//! largest count; the crate's [`super::metrics::cons_at_k`] does the same in one pass with ties to
//! the first answer seen, and so does this.
//!
//! ```
//! use r1lab::eval::by_hand::{binomial, cons_at_k_by_hand, pass_at_k_by_hand};
//! use r1lab::eval::metrics::{cons_at_k, pass_at_k};
//! // 16 samples, 4 right: pass@4 = 1 − C(12, 4)/C(16, 4) = 1 − 495/1820.
//! assert_eq!((binomial(12, 4), binomial(16, 4)), (495, 1820));
//! assert!((pass_at_k_by_hand(16, 4, 4) - pass_at_k(16, 4, 4)).abs() < 1e-12);
//! // Four answers, "12" three times (written three ways): the vote is right.
//! let answers = ["12", "13", "12.0", "$12"].map(|a| Some(a.to_string()));
//! let right = |a: &str| a.trim_start_matches('$').parse::<f64>() == Ok(12.0);
//! assert!(cons_at_k_by_hand(&answers, right));
//! assert_eq!(cons_at_k_by_hand(&answers, right), cons_at_k(&answers, right).correct);
//! ```

use crate::completion::normalize_answer;
use std::collections::HashMap;

/// C(n, k), exactly (`u128`: exact for every n ≤ 120); 0 when k > n.
pub fn binomial(n: u64, k: u64) -> u128 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    // Each partial product C(n − k + i, i) is a whole number, so the division is exact.
    (1..=k as u128).fold(1u128, |acc, i| acc * (n as u128 - k as u128 + i) / i)
}

/// pass@k from `n` samples of which `c` are right, straight from its definition: the chance
/// that k samples drawn without replacement from the n hold at least one right one,
/// `1 − C(n − c, k) / C(n, k)`. Same edge cases as the crate's: `k` and `c` clamped to `n`,
/// 0 for `n = 0` or `k = 0`.
pub fn pass_at_k_by_hand(n: usize, c: usize, k: usize) -> f64 {
    if n == 0 || k == 0 {
        return 0.0;
    }
    let (c, k) = (c.min(n), k.min(n));
    let none_right = binomial((n - c) as u64, k as u64) as f64;
    1.0 - none_right / binomial(n as u64, k as u64) as f64
}

/// cons@k by counting: the votes of each answer (answers that normalise alike vote together;
/// a missing answer votes for nothing), the answer with the most votes (the first seen among
/// equals), and whether `is_right` accepts it. No answer at all: not right.
pub fn cons_at_k_by_hand(answers: &[Option<String>], is_right: impl Fn(&str) -> bool) -> bool {
    let mut votes: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, a) in answers.iter().enumerate() {
        if let Some(a) = a {
            votes.entry(normalize_answer(a)).or_insert((0, i)).0 += 1;
        }
    }
    let winner = votes
        .values()
        .max_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)))
        .map(|&(_, first)| first);
    winner
        .and_then(|i| answers[i].as_deref())
        .is_some_and(is_right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::{cons_at_k, pass_at_k};

    #[test]
    fn binomials_are_exact() {
        assert_eq!(binomial(16, 4), 1820);
        assert_eq!(binomial(12, 4), 495);
        assert_eq!(binomial(5, 0), 1);
        assert_eq!(binomial(3, 5), 0);
        assert_eq!(binomial(64, 32), 1_832_624_140_942_590_534);
    }

    #[test]
    fn pass_at_k_by_hand_equals_the_crates_estimator() {
        for n in 0..=40 {
            for c in 0..=n {
                for k in 0..=n + 2 {
                    let (a, b) = (pass_at_k_by_hand(n, c, k), pass_at_k(n, c, k));
                    assert!((a - b).abs() < 1e-9, "n {n} c {c} k {k}: {a} vs {b}");
                }
            }
        }
        assert!((pass_at_k_by_hand(10, 2, 2) - 17.0 / 45.0).abs() < 1e-12);
    }

    #[test]
    fn cons_at_k_by_hand_equals_the_crates_vote() {
        let a = |s: &str| Some(s.to_string());
        let cases: Vec<Vec<Option<String>>> = vec![
            vec![
                a("13"),
                None,
                a("12"),
                a("12.0"),
                None,
                a("13"),
                a("$12"),
                None,
            ],
            // A 2–2 tie goes to the answer seen first.
            vec![a("7"), a("5"), a("5"), a("7.00")],
            vec![a("5"), a("7"), a("7"), a("5")],
            vec![None, None, a("3"), None],
            vec![None, None],
            vec![],
        ];
        for right in ["12", "5", "7", "3"] {
            let is_right = |x: &str| normalize_answer(x) == right;
            for answers in &cases {
                assert_eq!(
                    cons_at_k_by_hand(answers, is_right),
                    cons_at_k(answers, is_right).correct,
                    "{answers:?} right {right}"
                );
            }
        }
        assert!(cons_at_k_by_hand(&cases[0], |x| normalize_answer(x) == "12"));
        assert!(!cons_at_k_by_hand(&cases[1], |x| x == "5"));
    }
}
