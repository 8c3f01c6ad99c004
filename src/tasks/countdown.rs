//! The Countdown numbers game, as used by TinyZero to reproduce R1-Zero's "aha moment" at small
//! scale: combine the given numbers with + − × ÷ to reach a target.
//!
//! Rules (TinyZero's): every given number is used **exactly once** (the multiset of literals in the
//! answer must equal the given multiset), parentheses are free, and — as in the televised game —
//! every division must be exact (TinyZero evaluates with Python floats; we use integers so the
//! verifier is exact). Intermediate results may be negative. The answer is the expression, e.g.
//! `(25 + 3) * 2`, optionally followed by `= target`.
//!
//! The verifier is a small recursive-descent parser over `i64` with checked arithmetic: it never
//! panics, rejects overflow, division by zero and non-exact division, and bounds the input length
//! and nesting depth so adversarial completions cannot exhaust the stack. The generator builds a
//! random expression tree over the drawn numbers and takes its value as the target, so every
//! problem is solvable, and stores that expression as the canonical answer.

use super::language::Phrase;
use super::{problem_id, Flaw, Problem, ProblemMeta, Step, Task, WorkedSolution};
use anyhow::{ensure, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Task name (and test-set file stem).
pub const NAME: &str = "countdown";

/// Longest expression the parser accepts, in bytes.
pub const MAX_EXPR_BYTES: usize = 512;

/// Deepest parenthesis nesting the parser accepts.
pub const MAX_DEPTH: usize = 32;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (exact only)
    Div,
}

impl BinOp {
    /// All operators.
    pub const ALL: [BinOp; 4] = [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div];

    /// The ASCII symbol used in canonical expressions.
    pub fn symbol(self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
        }
    }

    /// `a op b` with checked arithmetic; division must be exact.
    pub fn apply(self, a: i64, b: i64) -> Result<i64, ExprError> {
        match self {
            BinOp::Add => a.checked_add(b).ok_or(ExprError::Overflow),
            BinOp::Sub => a.checked_sub(b).ok_or(ExprError::Overflow),
            BinOp::Mul => a.checked_mul(b).ok_or(ExprError::Overflow),
            BinOp::Div => {
                if b == 0 {
                    return Err(ExprError::DivisionByZero);
                }
                let r = a.checked_rem(b).ok_or(ExprError::Overflow)?;
                if r != 0 {
                    return Err(ExprError::InexactDivision(a, b));
                }
                a.checked_div(b).ok_or(ExprError::Overflow)
            }
        }
    }
}

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// Nothing to parse.
    #[error("empty expression")]
    Empty,
    /// Longer than [`MAX_EXPR_BYTES`].
    #[error("expression longer than {MAX_EXPR_BYTES} bytes")]
    TooLong,
    /// A character outside digits, `+ - * / × ÷ −`, parentheses and whitespace.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A literal that does not fit in an `i64`.
    #[error("number too large")]
    NumberTooLarge,
    /// The expression stops where an operand or `)` is needed.
    #[error("unexpected end of expression")]
    UnexpectedEnd,
    /// A token in the wrong place (token index).
    #[error("unexpected token at position {0}")]
    UnexpectedToken(usize),
    /// Parentheses nested deeper than [`MAX_DEPTH`].
    #[error("parentheses nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// An intermediate result overflowed `i64`.
    #[error("arithmetic overflow")]
    Overflow,
    /// Division by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// A division with a remainder.
    #[error("{0} / {1} is not exact")]
    InexactDivision(i64, i64),
}

/// An arithmetic expression over integer literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal.
    Num(i64),
    /// `left op right`.
    Bin(Box<Expr>, BinOp, Box<Expr>),
}

impl Expr {
    fn bin(left: Expr, op: BinOp, right: Expr) -> Expr {
        Expr::Bin(Box::new(left), op, Box::new(right))
    }

    /// The value, with checked arithmetic and exact division.
    pub fn eval(&self) -> Result<i64, ExprError> {
        match self {
            Expr::Num(n) => Ok(*n),
            Expr::Bin(l, op, r) => op.apply(l.eval()?, r.eval()?),
        }
    }

    /// The literals, left to right.
    pub fn leaves(&self) -> Vec<i64> {
        let mut out = Vec::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves(&self, out: &mut Vec<i64>) {
        match self {
            Expr::Num(n) => out.push(*n),
            Expr::Bin(l, _, r) => {
                l.collect_leaves(out);
                r.collect_leaves(out);
            }
        }
    }

    /// The operations in evaluation (post-) order: `(left value, op, right value, result)`.
    pub fn steps(&self) -> Result<Vec<(i64, BinOp, i64, i64)>, ExprError> {
        let mut out = Vec::new();
        self.collect_steps(&mut out)?;
        Ok(out)
    }

    fn collect_steps(&self, out: &mut Vec<(i64, BinOp, i64, i64)>) -> Result<i64, ExprError> {
        match self {
            Expr::Num(n) => Ok(*n),
            Expr::Bin(l, op, r) => {
                let a = l.collect_steps(out)?;
                let b = r.collect_steps(out)?;
                let v = op.apply(a, b)?;
                out.push((a, *op, b, v));
                Ok(v)
            }
        }
    }

    /// A copy with the operator of the `index`-th operation (post-order, as in [`Expr::steps`])
    /// replaced by `op`.
    pub fn with_op(&self, index: usize, op: BinOp) -> Expr {
        let mut counter = 0;
        self.replace_op(index, op, &mut counter)
    }

    fn replace_op(&self, index: usize, new_op: BinOp, counter: &mut usize) -> Expr {
        match self {
            Expr::Num(n) => Expr::Num(*n),
            Expr::Bin(l, op, r) => {
                let l = l.replace_op(index, new_op, counter);
                let r = r.replace_op(index, new_op, counter);
                let op = if *counter == index { new_op } else { *op };
                *counter += 1;
                Expr::bin(l, op, r)
            }
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical form: binary sub-expressions are parenthesised, the top level is not, and
    /// operators are surrounded by single spaces: `(25 + 3) * 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match e {
                Expr::Num(n) => write!(f, "{n}"),
                Expr::Bin(..) => write!(f, "({e})"),
            }
        }
        match self {
            Expr::Num(n) => write!(f, "{n}"),
            Expr::Bin(l, op, r) => {
                operand(l, f)?;
                write!(f, " {} ", op.symbol())?;
                operand(r, f)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Num(i64),
    Op(BinOp),
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Token>, ExprError> {
    if s.len() > MAX_EXPR_BYTES {
        return Err(ExprError::TooLong);
    }
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '0'..='9' => {
                let mut n = i64::from(c as u8 - b'0');
                while let Some(&d) = chars.peek() {
                    let Some(digit) = d.to_digit(10) else { break };
                    chars.next();
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(i64::from(digit)))
                        .ok_or(ExprError::NumberTooLarge)?;
                }
                Token::Num(n)
            }
            '+' => Token::Op(BinOp::Add),
            '-' | '−' => Token::Op(BinOp::Sub),
            '*' | '×' | '·' => Token::Op(BinOp::Mul),
            '/' | '÷' => Token::Op(BinOp::Div),
            '(' => Token::Open,
            ')' => Token::Close,
            other => return Err(ExprError::UnexpectedChar(other)),
        };
        tokens.push(token);
    }
    if tokens.is_empty() {
        return Err(ExprError::Empty);
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    /// expr := term (('+' | '-') term)*
    fn expr(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.term(depth)?;
        while let Some(Token::Op(op @ (BinOp::Add | BinOp::Sub))) = self.peek() {
            self.pos += 1;
            let right = self.term(depth)?;
            left = Expr::bin(left, op, right);
        }
        Ok(left)
    }

    /// term := factor (('*' | '/') factor)*
    fn term(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.factor(depth)?;
        while let Some(Token::Op(op @ (BinOp::Mul | BinOp::Div))) = self.peek() {
            self.pos += 1;
            let right = self.factor(depth)?;
            left = Expr::bin(left, op, right);
        }
        Ok(left)
    }

    /// factor := number | '(' expr ')'   (no unary minus: it would be a number not given)
    fn factor(&mut self, depth: usize) -> Result<Expr, ExprError> {
        match self.peek() {
            None => Err(ExprError::UnexpectedEnd),
            Some(Token::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Some(Token::Open) => {
                if depth >= MAX_DEPTH {
                    return Err(ExprError::TooDeep);
                }
                self.pos += 1;
                let inner = self.expr(depth + 1)?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    None => Err(ExprError::UnexpectedEnd),
                    Some(_) => Err(ExprError::UnexpectedToken(self.pos)),
                }
            }
            Some(_) => Err(ExprError::UnexpectedToken(self.pos)),
        }
    }
}

/// Parses an arithmetic expression (`+ - * /`, also `× ÷ −`, parentheses, non-negative integer
/// literals, no unary minus).
pub fn parse_expression(s: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        tokens: tokenize(s)?,
        pos: 0,
    };
    let expr = parser.expr(0)?;
    if parser.pos != parser.tokens.len() {
        return Err(ExprError::UnexpectedToken(parser.pos));
    }
    Ok(expr)
}

/// Parses and evaluates an expression (see [`parse_expression`], [`Expr::eval`]).
pub fn eval_expression(s: &str) -> Result<i64, ExprError> {
    parse_expression(s)?.eval()
}

/// Why a proposed countdown answer is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountdownError {
    /// The expression does not parse or evaluate.
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// The literals are not exactly the given multiset.
    #[error("uses {used:?} but must use each of {given:?} exactly once")]
    WrongNumbers {
        /// Literals of the answer, sorted.
        used: Vec<i64>,
        /// Given numbers, sorted.
        given: Vec<i64>,
    },
    /// The expression's value is not the target.
    #[error("evaluates to {value}, not {target}")]
    WrongValue {
        /// The expression's value.
        value: i64,
        /// The target.
        target: i64,
    },
    /// A trailing `= N` that is not the target, or more than one `=`.
    #[error("bad `= ...` claim")]
    BadClaim,
}

/// Checks a proposed answer `expr` or `expr = target` against the given numbers and target.
pub fn check_solution(numbers: &[i64], target: i64, answer: &str) -> Result<(), CountdownError> {
    let mut parts = answer.split('=');
    let lhs = parts.next().unwrap_or("");
    if let Some(claim) = parts.next() {
        let claimed = claim
            .trim()
            .parse::<i64>()
            .map_err(|_| CountdownError::BadClaim)?;
        if claimed != target || parts.next().is_some() {
            return Err(CountdownError::BadClaim);
        }
    }
    let expr = parse_expression(lhs)?;
    let mut used = expr.leaves();
    used.sort_unstable();
    let mut given = numbers.to_vec();
    given.sort_unstable();
    if used != given {
        return Err(CountdownError::WrongNumbers { used, given });
    }
    let value = expr.eval()?;
    if value != target {
        return Err(CountdownError::WrongValue { value, target });
    }
    Ok(())
}

/// Countdown problems with 3–4 numbers (TinyZero's "countdown 3 to 4").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountdownTask {
    min_numbers: usize,
    max_numbers: usize,
    max_number: i64,
    max_target: i64,
}

impl Default for CountdownTask {
    /// 3–4 numbers in 1..=25 and targets in 1..=100 (TinyZero draws numbers up to 99; smaller
    /// numbers keep the arithmetic within reach of our tiny models).
    fn default() -> Self {
        Self {
            min_numbers: 3,
            max_numbers: 4,
            max_number: 25,
            max_target: 100,
        }
    }
}

impl CountdownTask {
    /// A task drawing `numbers` (a count range) values in `1..=max_number` with targets in
    /// `1..=max_target`. Errors unless 2 ≤ min ≤ max ≤ 6, 1 ≤ `max_number` ≤ 10 000 and
    /// `max_number` · max ≤ `max_target` ≤ 10^9 (so the sum of the numbers is always a valid
    /// target, which guarantees the generator terminates).
    pub fn new(
        numbers: std::ops::RangeInclusive<usize>,
        max_number: i64,
        max_target: i64,
    ) -> Result<Self> {
        let (min, max) = (*numbers.start(), *numbers.end());
        ensure!(
            2 <= min && min <= max && max <= 6,
            "number count must be within 2..=6"
        );
        ensure!(
            (1..=10_000).contains(&max_number),
            "max_number must be within 1..=10000"
        );
        let max_i = i64::try_from(max).unwrap_or(i64::MAX);
        ensure!(
            max_number.saturating_mul(max_i) <= max_target && max_target <= 1_000_000_000,
            "max_target must be at least max_number * max count and at most 10^9"
        );
        Ok(Self {
            min_numbers: min,
            max_numbers: max,
            max_number,
            max_target,
        })
    }

    /// The problem of reaching `target` from `numbers`, with `solution` as canonical answer.
    pub fn problem(numbers: Vec<i64>, target: i64, solution: &Expr) -> Problem {
        let list = numbers
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let question = format!("Using {list} and + - * /, make {target}. Use each number once.");
        Problem {
            id: problem_id(NAME, &question),
            question,
            answer: solution.to_string(),
            meta: ProblemMeta::Countdown { numbers, target },
        }
    }

    /// Combines the numbers pairwise at random into one expression with positive, exact
    /// intermediate results.
    fn random_tree(numbers: &[i64], rng: &mut ChaCha8Rng) -> Option<(Expr, i64)> {
        let mut pool: Vec<(Expr, i64)> = numbers.iter().map(|&n| (Expr::Num(n), n)).collect();
        while pool.len() > 1 {
            let (x, vx) = pool.swap_remove(rng.random_range(0..pool.len()));
            let (y, vy) = pool.swap_remove(rng.random_range(0..pool.len()));
            let mut ops = BinOp::ALL;
            ops.shuffle(rng);
            let (big, vb, small, vs) = if vx >= vy {
                (x, vx, y, vy)
            } else {
                (y, vy, x, vx)
            };
            let combined = ops.iter().find_map(|&op| {
                let ok = match op {
                    BinOp::Add | BinOp::Mul => true,
                    BinOp::Sub => vb > vs,
                    BinOp::Div => vs > 1 && vb % vs == 0,
                };
                let value = op.apply(vb, vs).ok().filter(|_| ok)?;
                Some((op, value))
            })?;
            pool.push((Expr::bin(big, combined.0, small), combined.1));
        }
        pool.pop()
    }
}

impl Task for CountdownTask {
    fn name(&self) -> &str {
        NAME
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Problem {
        let count = rng.random_range(self.min_numbers..=self.max_numbers);
        let numbers: Vec<i64> = (0..count)
            .map(|_| rng.random_range(1..=self.max_number))
            .collect();
        let found = (0..100).find_map(|_| {
            Self::random_tree(&numbers, rng).filter(|(_, v)| (1..=self.max_target).contains(v))
        });
        let (expr, target) = found.unwrap_or_else(|| {
            // The sum is always within 1..=max_target (checked in `new`).
            let mut it = numbers.iter().map(|&n| Expr::Num(n));
            let first = it.next().unwrap_or(Expr::Num(0));
            let sum = it.fold(first, |acc, e| Expr::bin(acc, BinOp::Add, e));
            (sum, numbers.iter().sum())
        });
        let mut shown = numbers;
        shown.shuffle(rng);
        Self::problem(shown, target, &expr)
    }

    fn verify(&self, problem: &Problem, answer: &str) -> bool {
        match &problem.meta {
            ProblemMeta::Countdown { numbers, target } => {
                check_solution(numbers, *target, answer).is_ok()
            }
            _ => false,
        }
    }

    /// "step k: a op b = v." for every operation of the canonical expression. A slip writes one
    /// operation with a different operator but the original result ("28 + 2 = 56"), continues
    /// unchanged, and answers with the expression as written, which misses the target. A
    /// self-correction notices ("wait, check: 28 + 2 = 30, not 56.") and redoes the step.
    fn worked_solution(
        &self,
        problem: &Problem,
        flaw: Flaw,
        rng: &mut ChaCha8Rng,
    ) -> Option<WorkedSolution> {
        let ProblemMeta::Countdown { numbers, target } = &problem.meta else {
            return None;
        };
        let expr = parse_expression(&problem.answer).ok()?;
        let steps = expr.steps().ok()?;
        let step_text = |k: usize, a: i64, op: BinOp, b: i64, v: i64| {
            Step::new().phrase(Phrase::Step).text(format!(
                " {}: {a} {} {b} = {v}.",
                k + 1,
                op.symbol()
            ))
        };
        let mut out = Vec::new();
        let answer = match flaw {
            Flaw::None => {
                for (k, &(a, op, b, v)) in steps.iter().enumerate() {
                    out.push(step_text(k, a, op, b, v));
                }
                expr.to_string()
            }
            Flaw::Slip | Flaw::SelfCorrect => {
                // (step, wrong operator, what the wrong operator really gives)
                let mut candidates = Vec::new();
                for (k, &(a, op, b, v)) in steps.iter().enumerate() {
                    for wrong in BinOp::ALL {
                        let Ok(real) = wrong.apply(a, b) else {
                            continue;
                        };
                        if wrong == op || real == v {
                            continue;
                        }
                        let misses =
                            check_solution(numbers, *target, &expr.with_op(k, wrong).to_string())
                                .is_err();
                        if flaw == Flaw::SelfCorrect || misses {
                            candidates.push((k, wrong, real));
                        }
                    }
                }
                if candidates.is_empty() {
                    return None;
                }
                let (bad, wrong, real) = candidates[rng.random_range(0..candidates.len())];
                for (k, &(a, op, b, v)) in steps.iter().enumerate() {
                    if k == bad {
                        out.push(step_text(k, a, wrong, b, v));
                        if flaw == Flaw::SelfCorrect {
                            let lhs = format!("{a} {} {b}", wrong.symbol());
                            out.push(Step::correction(&lhs, real, v));
                            out.push(step_text(k, a, op, b, v));
                        }
                    } else {
                        out.push(step_text(k, a, op, b, v));
                    }
                }
                if flaw == Flaw::Slip {
                    expr.with_op(bad, wrong).to_string()
                } else {
                    expr.to_string()
                }
            }
        };
        Some(WorkedSolution { steps: out, answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::language::Lang;
    use rand::SeedableRng;

    #[test]
    fn parser_respects_precedence_and_parentheses() {
        assert_eq!(eval_expression("2 + 3 * 4"), Ok(14));
        assert_eq!(eval_expression("(2 + 3) * 4"), Ok(20));
        assert_eq!(eval_expression("20 - 4 - 6"), Ok(10));
        assert_eq!(eval_expression("100 / 5 / 2"), Ok(10));
        assert_eq!(eval_expression("(25 − 3) × 2 ÷ 4"), Ok(11));
        assert_eq!(eval_expression("3 - 25"), Ok(-22));
        assert_eq!(
            parse_expression("(25 + 3) * 2").unwrap().to_string(),
            "(25 + 3) * 2"
        );
        assert_eq!(
            parse_expression("1 + (2 * (3 - 4))").unwrap().to_string(),
            "1 + (2 * (3 - 4))"
        );
    }

    #[test]
    fn parser_rejects_bad_input_without_panicking() {
        assert_eq!(eval_expression(""), Err(ExprError::Empty));
        assert_eq!(eval_expression("   "), Err(ExprError::Empty));
        assert_eq!(eval_expression("5 / 0"), Err(ExprError::DivisionByZero));
        assert_eq!(
            eval_expression("7 / 2"),
            Err(ExprError::InexactDivision(7, 2))
        );
        assert_eq!(
            eval_expression("99999999999999999999"),
            Err(ExprError::NumberTooLarge)
        );
        assert_eq!(
            eval_expression("9223372036854775807 + 1"),
            Err(ExprError::Overflow)
        );
        assert_eq!(
            eval_expression("3037000500 * 3037000500"),
            Err(ExprError::Overflow)
        );
        assert_eq!(
            eval_expression("-3 + 5"),
            Err(ExprError::UnexpectedToken(0))
        );
        assert_eq!(eval_expression("(1 + 2"), Err(ExprError::UnexpectedEnd));
        assert_eq!(
            eval_expression("1 + 2)"),
            Err(ExprError::UnexpectedToken(3))
        );
        assert_eq!(eval_expression("1 +"), Err(ExprError::UnexpectedEnd));
        assert_eq!(
            eval_expression("2 ^ 3"),
            Err(ExprError::UnexpectedChar('^'))
        );
        assert_eq!(
            eval_expression("٣ + 1"),
            Err(ExprError::UnexpectedChar('٣'))
        );
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(eval_expression(&deep), Err(ExprError::TooDeep));
        let ok_deep = format!("{}1{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(eval_expression(&ok_deep), Ok(1));
        assert_eq!(
            eval_expression(&"(".repeat(100_000)),
            Err(ExprError::TooLong)
        );
        let long_chain = vec!["1"; 200].join("+");
        assert_eq!(eval_expression(&long_chain), Ok(200));
    }

    #[test]
    fn check_solution_enforces_the_multiset() {
        let nums = [3, 25, 2];
        assert!(check_solution(&nums, 56, "(25 + 3) * 2").is_ok());
        assert!(check_solution(&nums, 56, "2*(3+25)").is_ok());
        assert!(check_solution(&nums, 56, "(25 + 3) * 2 = 56").is_ok());
        assert_eq!(
            check_solution(&nums, 56, "(25 + 3) * 2 = 57"),
            Err(CountdownError::BadClaim)
        );
        assert_eq!(
            check_solution(&nums, 56, "(25+3)*2 = 56 = 56"),
            Err(CountdownError::BadClaim)
        );
        assert!(matches!(
            check_solution(&nums, 56, "28 * 2"),
            Err(CountdownError::WrongNumbers { .. })
        ));
        assert!(matches!(
            check_solution(&nums, 56, "(25 + 3) * 2 * 1"),
            Err(CountdownError::WrongNumbers { .. })
        ));
        assert!(matches!(check_solution(&[3, 3, 2], 8, "3 + 3 + 2"), Ok(())));
        assert!(matches!(
            check_solution(&[3, 3, 2], 8, "3 + 3 + 2 + 3"),
            Err(CountdownError::WrongNumbers { .. })
        ));
        assert_eq!(
            check_solution(&nums, 56, "25 + 3 + 2"),
            Err(CountdownError::WrongValue {
                value: 30,
                target: 56
            })
        );
        assert!(check_solution(&nums, 56, "").is_err());
    }

    #[test]
    fn generated_problems_are_solvable_and_flaws_behave() {
        let task = CountdownTask::default();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut slips, mut fixes) = (0, 0);
        for _ in 0..2000 {
            let p = task.sample(&mut rng);
            let ProblemMeta::Countdown { numbers, target } = &p.meta else {
                panic!("wrong meta")
            };
            assert!((3..=4).contains(&numbers.len()));
            assert!((1..=100).contains(target));
            assert!(numbers.iter().all(|n| (1..=25).contains(n)));
            assert!(task.verify(&p, &p.answer), "{p:?}");
            let ok = task.worked_solution(&p, Flaw::None, &mut rng).unwrap();
            assert_eq!(ok.answer, p.answer);
            if let Some(slip) = task.worked_solution(&p, Flaw::Slip, &mut rng) {
                assert!(!task.verify(&p, &slip.answer), "{p:?} {slip:?}");
                slips += 1;
            }
            if let Some(fix) = task.worked_solution(&p, Flaw::SelfCorrect, &mut rng) {
                assert!(task.verify(&p, &fix.answer));
                assert!(fix.render(Lang::B).contains("hok, pru: "));
                fixes += 1;
            }
        }
        assert!(slips > 1900 && fixes > 1900, "{slips} {fixes}");
    }

    #[test]
    fn worked_solution_text() {
        let expr = parse_expression("(25 + 3) * 2").unwrap();
        let p = CountdownTask::problem(vec![3, 25, 2], 56, &expr);
        assert_eq!(
            p.question,
            "Using 3, 25, 2 and + - * /, make 56. Use each number once."
        );
        let task = CountdownTask::default();
        assert_eq!(
            task.solution_text(&p, Lang::A).unwrap(),
            "step 1: 25 + 3 = 28. step 2: 28 * 2 = 56. so the answer is (25 + 3) * 2."
        );
        assert!(CountdownTask::new(1..=3, 10, 100).is_err());
        assert!(CountdownTask::new(3..=4, 50, 100).is_err());
        assert!(CountdownTask::new(3..=4, 25, 100).is_ok());
    }
}
