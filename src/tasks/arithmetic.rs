//! Multi-digit addition and multiplication: the simplest task with deterministic, rule-checkable
//! answers (paper §2.2.2: "math problems with deterministic results").
//!
//! Difficulty is the digit count. Worked solutions are genuine derivations a small model can learn
//! to execute: column addition digit by digit with carries, and long multiplication by partial
//! products (one per non-zero digit of the right operand) followed by their sum.

use super::language::Phrase;
use super::{numbers_equal, problem_id, Flaw, Problem, ProblemMeta, Step, Task, WorkedSolution};
use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// Task name (and test-set file stem).
pub const NAME: &str = "arithmetic";

/// The largest supported operand length: products of two 9-digit numbers fit in a `u64`.
pub const MAX_DIGITS: u32 = 9;

/// The arithmetic operation of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArithOp {
    /// `a + b`.
    Add,
    /// `a * b`.
    Mul,
}

impl ArithOp {
    /// The operator as written in questions and solutions.
    pub fn symbol(self) -> char {
        match self {
            ArithOp::Add => '+',
            ArithOp::Mul => '*',
        }
    }
}

/// Number of decimal digits of `n` (1 for 0).
pub fn digit_count(n: u64) -> u32 {
    n.checked_ilog10().map_or(1, |l| l + 1)
}

/// Multi-digit addition and multiplication problems.
///
/// A problem of difficulty `d` has one operand with exactly `d` digits and the other with `d`
/// digits half the time and 1..=`d` digits otherwise, in random order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArithmeticTask {
    add_digits: Option<RangeInclusive<u32>>,
    mul_digits: Option<RangeInclusive<u32>>,
}

impl Default for ArithmeticTask {
    /// Addition with 1–3 digits and multiplication with 1–2 digits. Longer problems (4-digit
    /// addition, 3×3-digit multiplication) fit the context but were out of reach of the ~1M-parameter
    /// base models at a laptop-scale pretraining budget: they only diluted what the models learnt
    /// (`reports/LOG.md`). `ArithmeticTask::new` builds harder variants.
    fn default() -> Self {
        Self {
            add_digits: Some(1..=3),
            mul_digits: Some(1..=2),
        }
    }
}

impl ArithmeticTask {
    /// A task with the given digit ranges; `None` disables that operation. Errors if both are
    /// disabled or a range is empty or outside 1..=[`MAX_DIGITS`].
    pub fn new(
        add_digits: Option<RangeInclusive<u32>>,
        mul_digits: Option<RangeInclusive<u32>>,
    ) -> Result<Self> {
        ensure!(
            add_digits.is_some() || mul_digits.is_some(),
            "arithmetic task needs addition or multiplication enabled"
        );
        for range in [&add_digits, &mul_digits].into_iter().flatten() {
            ensure!(
                *range.start() >= 1 && range.start() <= range.end() && *range.end() <= MAX_DIGITS,
                "digit range {range:?} must be non-empty and within 1..={MAX_DIGITS}"
            );
        }
        Ok(Self {
            add_digits,
            mul_digits,
        })
    }

    /// The problem `a op b`.
    pub fn problem(op: ArithOp, a: u64, b: u64) -> Problem {
        let question = format!("What is {a} {} {b}?", op.symbol());
        let answer = match op {
            ArithOp::Add => u128::from(a) + u128::from(b),
            ArithOp::Mul => u128::from(a) * u128::from(b),
        };
        Problem {
            id: problem_id(NAME, &question),
            question,
            answer: answer.to_string(),
            meta: ProblemMeta::Arithmetic { op, a, b },
        }
    }
}

fn random_with_digits(rng: &mut ChaCha8Rng, digits: u32) -> u64 {
    let digits = digits.clamp(1, MAX_DIGITS);
    let lo = 10u64.pow(digits - 1);
    let hi = 10u64.pow(digits) - 1;
    rng.random_range(lo..=hi)
}

impl Task for ArithmeticTask {
    fn name(&self) -> &str {
        NAME
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Problem {
        let (op, range) = match (&self.add_digits, &self.mul_digits) {
            (Some(add), Some(mul)) => {
                if rng.random_bool(0.5) {
                    (ArithOp::Add, add.clone())
                } else {
                    (ArithOp::Mul, mul.clone())
                }
            }
            (Some(add), None) => (ArithOp::Add, add.clone()),
            (None, Some(mul)) => (ArithOp::Mul, mul.clone()),
            // Unreachable through `new`/`default`; fall back to one-digit addition.
            (None, None) => (ArithOp::Add, 1..=1),
        };
        let digits = rng.random_range(range);
        let a = random_with_digits(rng, digits);
        let other_digits = if rng.random_bool(0.5) {
            digits
        } else {
            rng.random_range(1..=digits)
        };
        let b = random_with_digits(rng, other_digits);
        let (a, b) = if rng.random_bool(0.5) { (a, b) } else { (b, a) };
        Self::problem(op, a, b)
    }

    fn verify(&self, problem: &Problem, answer: &str) -> bool {
        matches!(problem.meta, ProblemMeta::Arithmetic { .. })
            && numbers_equal(answer, &problem.answer)
    }

    fn worked_solution(
        &self,
        problem: &Problem,
        flaw: Flaw,
        rng: &mut ChaCha8Rng,
    ) -> Option<WorkedSolution> {
        let ProblemMeta::Arithmetic { op, a, b } = problem.meta else {
            return None;
        };
        if digit_count(a.max(b)) > MAX_DIGITS {
            return None;
        }
        let (steps, value) = match op {
            ArithOp::Add => addition_steps(a, b, flaw, rng),
            ArithOp::Mul => multiplication_steps(a, b, flaw, rng),
        };
        Some(WorkedSolution {
            steps,
            answer: value.to_string(),
        })
    }

    /// "a op b:", then the derivation.
    fn restated_solution(&self, problem: &Problem) -> Option<WorkedSolution> {
        let ProblemMeta::Arithmetic { op, a, b } = problem.meta else {
            return None;
        };
        // A correct derivation draws nothing from the generator.
        let mut worked =
            self.worked_solution(problem, Flaw::None, &mut ChaCha8Rng::seed_from_u64(0))?;
        let restated = Step::new().text(format!("{a} {} {b}:", op.symbol()));
        worked.steps.insert(0, restated);
        Some(worked)
    }
}

/// Decimal digits of `n`, least significant first.
fn digits_lsb(n: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut n = n;
    loop {
        out.push(n % 10);
        n /= 10;
        if n == 0 {
            return out;
        }
    }
}

/// One column of a column addition: the terms (digits and carry-in) and the claimed sum.
fn column_step(index: usize, terms: &[u64], sum: u64, last: bool) -> Step {
    let lhs = terms
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" + ");
    let head = Step::new()
        .phrase(Phrase::Column)
        .text(format!(" {}: ", index + 1));
    let head = if terms.len() > 1 {
        head.text(format!("{lhs} = {sum}, "))
    } else {
        head.text(format!("{lhs}, "))
    };
    if last {
        head.phrase(Phrase::Write).text(format!(" {sum}."))
    } else if sum >= 10 {
        head.phrase(Phrase::Write)
            .text(format!(" {}, ", sum % 10))
            .phrase(Phrase::Carry)
            .text(format!(" {}.", sum / 10))
    } else {
        head.phrase(Phrase::Write).text(format!(" {sum}."))
    }
}

/// A nonzero error in {−2, −1, 1, 2} such that `value + e` stays within `lo..=hi`.
fn small_error(rng: &mut ChaCha8Rng, value: i128, lo: i128, hi: i128) -> i128 {
    let mut options: Vec<i128> = [-2, -1, 1, 2]
        .into_iter()
        .filter(|e| (lo..=hi).contains(&(value + e)))
        .collect();
    if options.is_empty() {
        options.push(1);
    }
    options[rng.random_range(0..options.len())]
}

/// Column addition. With a flaw, one column with at least two terms gets a sum off by 1 or 2;
/// a slip carries on from the wrong sum (final answer off by e·10^column), a self-correction
/// notices it, says "wait", and redoes the column.
fn addition_steps(a: u64, b: u64, flaw: Flaw, rng: &mut ChaCha8Rng) -> (Vec<Step>, u128) {
    let (da, db) = (digits_lsb(a), digits_lsb(b));
    let columns = da.len().max(db.len());
    let terms_of = |k: usize, carry: u64| -> Vec<u64> {
        let mut terms: Vec<u64> = [da.get(k), db.get(k)]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        if carry > 0 {
            terms.push(carry);
        }
        terms
    };
    let flawed_column = match flaw {
        Flaw::None => None,
        _ => {
            // Columns with at least two terms in the correct computation (column 1 always is);
            // the columns before the flaw are unaffected by it, so the choice stays valid.
            let mut candidates = Vec::new();
            let mut carry = 0;
            for k in 0..columns {
                let terms = terms_of(k, carry);
                if terms.len() > 1 {
                    candidates.push(k);
                }
                carry = terms.iter().sum::<u64>() / 10;
            }
            candidates
                .get(rng.random_range(0..candidates.len().max(1)))
                .copied()
        }
    };
    let mut steps = Vec::new();
    let mut carry = 0u64;
    let mut value: u128 = 0;
    for k in 0..columns {
        let terms = terms_of(k, carry);
        let last = k + 1 == columns;
        let true_sum: u64 = terms.iter().sum();
        let mut sum = true_sum;
        if flawed_column == Some(k) && terms.len() > 1 {
            let wrong_i = i128::from(true_sum) + small_error(rng, i128::from(true_sum), 0, 19);
            let wrong = u64::try_from(wrong_i).unwrap_or(true_sum + 1);
            steps.push(column_step(k, &terms, wrong, last));
            let lhs = terms
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" + ");
            match flaw {
                Flaw::Slip => sum = wrong,
                _ => {
                    steps.push(Step::correction(&lhs, true_sum, wrong));
                    steps.push(column_step(k, &terms, true_sum, last));
                }
            }
        } else {
            steps.push(column_step(k, &terms, sum, last));
        }
        let pow = 10u128.pow(u32::try_from(k).unwrap_or(0));
        if last {
            value += u128::from(sum) * pow;
        } else {
            value += u128::from(sum % 10) * pow;
            carry = sum / 10;
        }
    }
    (steps, value)
}

/// Long multiplication by partial products. With a flaw, either one partial product or the final
/// sum is off by 1 or 2 units of one of its digits.
fn multiplication_steps(a: u64, b: u64, flaw: Flaw, rng: &mut ChaCha8Rng) -> (Vec<Step>, u128) {
    let a128 = i128::from(a);
    // (multiplier, partial product) for every non-zero digit of b.
    let parts: Vec<(i128, i128)> = digits_lsb(b)
        .into_iter()
        .enumerate()
        .filter(|(_, d)| *d != 0)
        .map(|(i, d)| {
            let m = i128::from(d) * 10i128.pow(u32::try_from(i).unwrap_or(0));
            (m, a128 * m)
        })
        .collect();
    let has_sum = parts.len() > 1;
    let slots = parts.len() + usize::from(has_sum);
    let flawed = match flaw {
        Flaw::None => None,
        _ => Some(rng.random_range(0..slots.max(1))),
    };
    // A wrong value: off by 1 or 2 in one of the digits of `value / 10^zeros`.
    let mut perturb = |value: i128, zeros: u32| -> i128 {
        let sig = (value / 10i128.pow(zeros)).max(1).ilog10() + 1;
        let pos = zeros + rng.random_range(0..sig);
        let e = small_error(rng, 0, -2, 2);
        let wrong = value + e * 10i128.pow(pos);
        if wrong > 0 {
            wrong
        } else {
            value + e.abs() * 10i128.pow(pos)
        }
    };
    let mut steps = Vec::new();
    let mut used = Vec::new();
    for (i, &(m, p)) in parts.iter().enumerate() {
        let part_step = |value: i128| {
            Step::new()
                .phrase(Phrase::Part)
                .text(format!(" {}: {a} * {m} = {value}.", i + 1))
        };
        if flawed == Some(i) {
            let zeros = m.ilog10();
            let wrong = perturb(p, zeros);
            steps.push(part_step(wrong));
            if flaw == Flaw::Slip {
                used.push(wrong);
            } else {
                steps.push(Step::correction(&format!("{a} * {m}"), p, wrong));
                steps.push(part_step(p));
                used.push(p);
            }
        } else {
            steps.push(part_step(p));
            used.push(p);
        }
    }
    let mut total: i128 = used.iter().sum();
    if has_sum {
        let lhs = used
            .iter()
            .map(i128::to_string)
            .collect::<Vec<_>>()
            .join(" + ");
        let sum_step = |value: i128| {
            Step::new()
                .phrase(Phrase::AddParts)
                .text(format!(": {lhs} = {value}."))
        };
        if flawed == Some(parts.len()) {
            let wrong = perturb(total, 0);
            steps.push(sum_step(wrong));
            if flaw == Flaw::Slip {
                total = wrong;
            } else {
                steps.push(Step::correction(&lhs, total, wrong));
                steps.push(sum_step(total));
            }
        } else {
            steps.push(sum_step(total));
        }
    }
    (steps, u128::try_from(total).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::language::Lang;

    #[test]
    fn sampling_is_seeded_and_respects_digits() {
        let task = ArithmeticTask::default();
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..50).map(|_| task.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        for p in draw(8) {
            let ProblemMeta::Arithmetic { op, a, b } = p.meta else {
                panic!("wrong meta")
            };
            let d = digit_count(a.max(b));
            match op {
                ArithOp::Add => assert!((1..=3).contains(&d)),
                ArithOp::Mul => assert!((1..=2).contains(&d)),
            }
        }
        assert!(ArithmeticTask::new(None, None).is_err());
        assert!(ArithmeticTask::new(Some(0..=2), None).is_err());
        assert!(ArithmeticTask::new(Some(3..=10), None).is_err());
    }

    #[test]
    fn verify_uses_stored_truth() {
        let task = ArithmeticTask::default();
        let p = ArithmeticTask::problem(ArithOp::Add, 347, 86);
        assert_eq!(p.question, "What is 347 + 86?");
        assert_eq!(p.answer, "433");
        assert!(task.verify(&p, " 433 "));
        assert!(task.verify(&p, "433.0"));
        assert!(!task.verify(&p, "434"));
        assert!(!task.verify(&p, "347 + 86"));
        let m = ArithmeticTask::problem(ArithOp::Mul, 999_999_999, 999_999_999);
        assert_eq!(m.answer, "999999998000000001");
    }

    #[test]
    fn worked_addition_matches_hand_derivation() {
        let task = ArithmeticTask::default();
        let p = ArithmeticTask::problem(ArithOp::Add, 347, 86);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let w = task.worked_solution(&p, Flaw::None, &mut rng).unwrap();
        assert_eq!(
            w.render(Lang::A),
            "column 1: 7 + 6 = 13, write 3, carry 1. column 2: 4 + 8 + 1 = 13, write 3, carry 1. \
column 3: 3 + 1 = 4, write 4. so the answer is 433."
        );
        assert_eq!(
            task.solution_text(&p, Lang::B).unwrap(),
            "vek 1: 7 + 6 = 13, dul 3, mif 1. vek 2: 4 + 8 + 1 = 13, dul 3, mif 1. \
vek 3: 3 + 1 = 4, dul 4. ka ul quen zim 433."
        );
    }

    #[test]
    fn worked_multiplication_matches_hand_derivation() {
        let task = ArithmeticTask::default();
        let p = ArithmeticTask::problem(ArithOp::Mul, 347, 806);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let w = task.worked_solution(&p, Flaw::None, &mut rng).unwrap();
        assert_eq!(
            w.render(Lang::A),
            "part 1: 347 * 6 = 2082. part 2: 347 * 800 = 277600. \
add the parts: 2082 + 277600 = 279682. so the answer is 279682."
        );
    }

    #[test]
    fn flaws_behave_on_many_problems() {
        let task = ArithmeticTask::default();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..2000 {
            let p = task.sample(&mut rng);
            let ok = task.worked_solution(&p, Flaw::None, &mut rng).unwrap();
            assert!(task.verify(&p, &ok.answer), "{p:?}");
            let slip = task.worked_solution(&p, Flaw::Slip, &mut rng).unwrap();
            assert!(!task.verify(&p, &slip.answer), "{p:?} {slip:?}");
            let fixed = task
                .worked_solution(&p, Flaw::SelfCorrect, &mut rng)
                .unwrap();
            assert!(task.verify(&p, &fixed.answer));
            assert!(fixed.render(Lang::A).contains("wait, check: "));
        }
    }
}
