//! Helpers shared by the integration tests (each test binary uses some of them).
#![allow(dead_code)]

use r1lab::candle::Tensor;
use r1lab::rewards::{Completion, Reward, RewardOutcome};
use r1lab::tasks::Problem;
use std::path::Path;

/// The largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `metrics.csv` without the columns that depend on the machine's speed.
pub fn metrics_without_timing(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            l.split(',')
                .zip(&header)
                .filter(|(_, h)| !["tokens_per_s", "wall_s"].contains(h))
                .map(|(v, _)| v.to_string())
                .collect()
        })
        .collect()
}

/// A reward that varies with the text, so that a random model gets non-zero advantages.
pub struct LengthMod3;

impl Reward for LengthMod3 {
    fn name(&self) -> &str {
        "length_mod_3"
    }
    fn score(&self, _p: &Problem, c: &Completion<'_>) -> RewardOutcome {
        RewardOutcome {
            score: (c.text.len() % 3) as f32 / 2.0,
            reason: "test".into(),
        }
    }
}
