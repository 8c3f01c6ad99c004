//! One step's rollouts: the G completions of each question scored by the rule-based rewards
//! ([`Rollout`]), the rows of them that enter the loss, and those rows as tensors in buckets of
//! similar length ([`RolloutTensors`]).

use super::advantage::zero_variance_groups;
use super::config::GrpoConfig;
use super::metrics::{SampleRecord, StepMetrics, FIXED_AFTER};
use crate::completion::{chain_of_thought, has_reflection};
use crate::model::{Batch, Model};
use crate::rewards::RewardBreakdown;
use crate::sampling::Completion;
use crate::tasks::Problem;
use anyhow::Result;
use candle_core::Tensor;
use std::collections::BTreeMap;

/// The columns an update fills in, and the timing: 0 until then.
const UPDATE_COLUMNS: [&str; 7] = [
    "kl",
    "clip_low",
    "clip_high",
    "loss",
    "grad_norm",
    "tokens_per_s",
    "wall_s",
];

/// The completions of one step with their rewards, in prompt-major order (`G` per question).
#[derive(Default)]
pub(super) struct Rollout {
    pub problems: Vec<Problem>,
    pub prompts: Vec<Vec<u32>>,
    pub completions: Vec<Completion>,
    /// The weighted reward of each completion.
    pub totals: Vec<f64>,
    /// Each reward function's unweighted scores, by name.
    per_reward: BTreeMap<String, Vec<f64>>,
    pub samples: Vec<SampleRecord>,
    correct: usize,
    formatted: usize,
    reflections: usize,
}

impl Rollout {
    /// Adds one completion (its `prompt_index` already counts from the step's first question)
    /// and its rewards.
    pub fn add(&mut self, step: usize, c: Completion, scored: &RewardBreakdown, cfg: &GrpoConfig) {
        let problem = &self.problems[c.prompt_index];
        for part in &scored.parts {
            self.per_reward
                .entry(part.name.clone())
                .or_default()
                .push(part.outcome.score as f64);
        }
        let passed = |name: &str| {
            scored
                .parts
                .iter()
                .any(|p| p.name == name && p.outcome.score > 0.0)
        };
        let is_correct = passed("accuracy");
        self.correct += is_correct as usize;
        self.formatted += passed("format") as usize;
        if has_reflection(chain_of_thought(&c.text, cfg.template.prompt_opens_think())) {
            self.reflections += 1;
        }
        self.totals.push(scored.total as f64);
        self.samples.push(SampleRecord {
            step,
            problem_id: problem.id.clone(),
            question: problem.question.clone(),
            completion: c.text.clone(),
            reward: scored.total as f64,
            correct: is_correct,
            num_tokens: c.token_ids.len(),
            advantage: None,
        });
        self.completions.push(c);
    }

    /// For each group, whether dynamic sampling finds it flat (`cfg.group_filter`).
    fn flat_groups(&self, cfg: &GrpoConfig) -> Vec<bool> {
        let correct: Vec<bool> = self.samples.iter().map(|s| s.correct).collect();
        cfg.group_filter
            .flat_groups(&self.totals, &correct, cfg.group_size)
    }

    /// Groups that carry a signal by dynamic sampling's filter (`cfg.group_filter`).
    pub fn groups_with_signal(&self, cfg: &GrpoConfig) -> usize {
        self.flat_groups(cfg).iter().filter(|&&z| !z).count()
    }

    /// The indices of the completions that enter the loss: every group's, or with dynamic
    /// sampling those of the first `prompts_per_step` groups that carry a signal
    /// (`cfg.group_filter`); empty completions never.
    pub fn kept(&self, cfg: &GrpoConfig) -> Vec<usize> {
        let g = cfg.group_size;
        let kept_groups: Vec<usize> = if cfg.dynamic_sampling {
            let flat = self.flat_groups(cfg);
            (0..self.problems.len())
                .filter(|&q| !flat[q])
                .take(cfg.prompts_per_step)
                .collect()
        } else {
            (0..self.problems.len()).collect()
        };
        kept_groups
            .iter()
            .flat_map(|&q| q * g..(q + 1) * g)
            .filter(|&i| !self.completions[i].token_ids.is_empty())
            .collect()
    }

    /// The rows of completions `keep` with their advantages, for the update.
    pub fn rows(&self, keep: &[usize], advantages: &[f64], cfg: &GrpoConfig) -> Vec<RolloutRow> {
        keep.iter()
            .map(|&i| {
                let c = &self.completions[i];
                RolloutRow {
                    prompt: self.prompts[c.prompt_index].clone(),
                    completion: c.token_ids.clone(),
                    advantage: advantages[i],
                    masked: cfg.mask_truncated && c.truncated,
                }
            })
            .collect()
    }

    /// The step's metrics row as far as the rollouts give it (the update fills in the loss, the
    /// KL, the clip fractions and the gradient norm; the trainer the timing).
    pub fn metrics(&self, step: usize, g: usize, lr: f64) -> StepMetrics {
        let n = self.completions.len() as f64;
        let totals = &self.totals;
        let lens: Vec<f64> = self
            .completions
            .iter()
            .map(|c| c.token_ids.len() as f64)
            .collect();
        let sampled_lp: Vec<f64> = self
            .completions
            .iter()
            .flat_map(|c| c.logprobs.iter().map(|&x| x as f64))
            .collect();
        let zero_var = zero_variance_groups(totals, g);
        let mut m = StepMetrics::blank(step, std::iter::empty());
        m.reward_mean = totals.iter().sum::<f64>() / n;
        m.reward_std = {
            let mean = totals.iter().sum::<f64>() / n;
            (totals.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt()
        };
        m.rewards = self
            .per_reward
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().sum::<f64>() / v.len() as f64))
            .collect();
        m.accuracy = self.correct as f64 / n;
        m.format_rate = self.formatted as f64 / n;
        m.completion_len_mean = lens.iter().sum::<f64>() / n;
        m.completion_len_max = lens.iter().copied().fold(0.0, f64::max);
        m.reflection_rate = self.reflections as f64 / n;
        m.truncation_rate = self.completions.iter().filter(|c| c.truncated).count() as f64 / n;
        m.zero_variance_frac =
            zero_var.iter().filter(|&&z| z).count() as f64 / zero_var.len() as f64;
        m.sampled_groups = self.problems.len() as f64;
        m.entropy = if sampled_lp.is_empty() {
            0.0
        } else {
            -sampled_lp.iter().sum::<f64>() / sampled_lp.len() as f64
        };
        // The update's statistics stay 0 when no row enters the loss.
        for (_, _, set) in FIXED_AFTER
            .iter()
            .filter(|(name, _, _)| UPDATE_COLUMNS.contains(name))
        {
            set(&mut m, 0.0);
        }
        m.lr = lr;
        m
    }

    /// Prompt and completion tokens processed (each prompt counted once per completion).
    pub fn tokens(&self, g: usize) -> usize {
        self.completions
            .iter()
            .map(|c| c.token_ids.len())
            .sum::<usize>()
            + self.prompts.iter().map(|p| p.len() * g).sum::<usize>()
    }
}

pub(super) struct RolloutRow {
    pub(super) prompt: Vec<u32>,
    pub(super) completion: Vec<u32>,
    pub(super) advantage: f64,
    pub(super) masked: bool,
}

/// One minibatch of rollouts as tensors: inputs `prompt ++ completion[..-1]` left-padded, targets
/// shifted by one, the mask selecting completion tokens. The rows are sorted by length and the
/// model sees them in buckets of similar length, each left-padded only to its own longest row, so
/// the padding of a batch with one long completion among short ones is not computed; `logprobs`
/// pads each bucket's log-probs back to the common width `[b, t]` (completion tokens
/// right-aligned, as the mask).
/// The loss sums or averages over rows, so the order of the rows does not change it.
pub(super) struct RolloutTensors {
    buckets: Vec<(Batch, Tensor)>,
    width: usize,
    pub(super) mask: Tensor,
    pub(super) advantages: Tensor,
}

/// At most this many buckets per minibatch on the CPU (one elsewhere): each costs a forward and
/// backward pass of its own.
const MAX_BUCKETS: usize = 4;
/// The per-bucket cost of those passes, in padded tokens, that a further bucket must save.
const BUCKET_COST_TOKENS: usize = 256;

/// Splits ascending lengths into at most `max_buckets` contiguous groups minimising the padded
/// tokens `Σ rows × longest` plus `cost` per group; returns each group's end (exclusive).
pub(super) fn bucket_ends(sorted_lens: &[usize], max_buckets: usize, cost: usize) -> Vec<usize> {
    let n = sorted_lens.len();
    if n == 0 {
        return vec![];
    }
    // best[k][i]: the least cost of the first i rows in k groups, and where the last group starts.
    let inf = usize::MAX / 2;
    let mut best = vec![vec![(inf, 0usize); n + 1]; max_buckets + 1];
    best[0][0] = (0, 0);
    for k in 1..=max_buckets {
        for i in 1..=n {
            for j in 0..i {
                let prev = best[k - 1][j].0;
                if prev >= inf {
                    continue;
                }
                let c = prev + (i - j) * sorted_lens[i - 1] + cost;
                if c < best[k][i].0 {
                    best[k][i] = (c, j);
                }
            }
        }
    }
    let k_best = (1..=max_buckets)
        .min_by_key(|&k| (best[k][n].0, k))
        .unwrap_or(1);
    let mut ends = Vec::with_capacity(k_best);
    let (mut k, mut i) = (k_best, n);
    while k > 0 {
        ends.push(i);
        i = best[k][i].1;
        k -= 1;
    }
    ends.reverse();
    ends
}

impl RolloutTensors {
    pub(super) fn build(rows: &[RolloutRow], model: &Model, pad: u32) -> Result<Self> {
        let device = model.device();
        let mut rows: Vec<&RolloutRow> = rows.iter().collect();
        rows.sort_by_key(|r| r.prompt.len() + r.completion.len());
        let inputs: Vec<Vec<u32>> = rows
            .iter()
            .map(|r| {
                let mut v = r.prompt.clone();
                v.extend_from_slice(&r.completion[..r.completion.len() - 1]);
                v
            })
            .collect();
        let lens: Vec<usize> = inputs.iter().map(|r| r.len()).collect();
        let width = lens.last().copied().unwrap_or(1);
        let b = rows.len();
        // Targets per bucket (at the bucket's width); mask at the common width.
        let targets_at = |r: &RolloutRow, inp: &[u32], t: usize| -> Vec<u32> {
            let mut v = vec![0u32; t - inp.len() + r.prompt.len() - 1];
            v.extend_from_slice(&r.completion);
            v
        };
        let mut mask = Vec::with_capacity(b * width);
        for (r, inp) in rows.iter().zip(&inputs) {
            mask.extend(std::iter::repeat_n(
                0f32,
                width - inp.len() + r.prompt.len() - 1,
            ));
            mask.extend(std::iter::repeat_n(
                if r.masked { 0f32 } else { 1f32 },
                r.completion.len(),
            ));
        }
        let mut buckets = Vec::new();
        let mut start = 0;
        // On a GPU a pass costs mostly kernel launches, so padding is cheaper than more passes.
        let max_buckets = if device.is_cpu() { MAX_BUCKETS } else { 1 };
        for end in bucket_ends(&lens, max_buckets, BUCKET_COST_TOKENS) {
            let t = lens[end - 1];
            let targets: Vec<u32> = (start..end)
                .flat_map(|i| targets_at(rows[i], &inputs[i], t))
                .collect();
            buckets.push((
                Batch::left_padded(&inputs[start..end], pad, model.dtype(), device)?,
                Tensor::from_vec(targets, (end - start, t), device)?,
            ));
            start = end;
        }
        Ok(Self {
            buckets,
            width,
            mask: Tensor::from_vec(mask, (b, width), device)?,
            advantages: Tensor::from_vec(
                rows.iter().map(|r| r.advantage as f32).collect::<Vec<_>>(),
                b,
                device,
            )?,
        })
    }

    /// `log π(o_t | q, o_<t)` of every row, `[b, width]`, zero left of each bucket's width.
    pub(super) fn logprobs(&self, model: &Model) -> Result<Tensor> {
        let parts = self
            .buckets
            .iter()
            .map(|(batch, targets)| {
                let lp = model.token_logprobs(batch, targets)?;
                let t = lp.dim(1)?;
                Ok(if t < self.width {
                    lp.pad_with_zeros(1, self.width - t, 0)?
                } else {
                    lp
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut parts = parts;
        Ok(match parts.len() {
            1 => parts.swap_remove(0),
            _ => Tensor::cat(&parts, 0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn buckets_split_where_padding_costs_most() {
        // One bucket when the rows are alike; the long row alone when it would pad all the rest.
        assert_eq!(bucket_ends(&[10, 10, 11, 11], 4, 256), vec![4]);
        let mut lens = vec![40; 63];
        lens.push(160);
        assert_eq!(bucket_ends(&lens, 4, 256), vec![63, 64]);
        // Never more than asked, and every row in a bucket.
        let lens: Vec<usize> = (1..=64).map(|i| i * 3).collect();
        let ends = bucket_ends(&lens, 3, 0);
        assert_eq!(ends.len(), 3);
        assert_eq!(ends.last(), Some(&64));
        assert!(bucket_ends(&[], 4, 256).is_empty());
    }

    #[test]
    fn bucketed_logprobs_equal_each_row_alone() {
        let model = crate::model::tiny_random(64, 3);
        // Lengths far apart, so the rows fall into several buckets.
        let rows: Vec<RolloutRow> = (0..12)
            .map(|i| RolloutRow {
                prompt: (0..3 + i % 3)
                    .map(|j| (5 + j * 7 + i) as u32 % 60)
                    .collect(),
                completion: (0..if i == 7 { 60 } else { 2 + i * 2 })
                    .map(|j| (11 + j * 5 + i * 3) as u32 % 60)
                    .collect(),
                advantage: i as f64 - 5.5,
                masked: i == 4,
            })
            .collect();
        let t = RolloutTensors::build(&rows, &model, 0).unwrap();
        assert!(t.buckets.len() > 1, "expected several buckets");
        let lp = t.logprobs(&model).unwrap().to_vec2::<f32>().unwrap();
        let mask = t.mask.to_vec2::<f32>().unwrap();
        let adv = t.advantages.to_vec1::<f32>().unwrap();
        for (i, r) in rows.iter().enumerate() {
            // Where the sort put row i (advantages are distinct).
            let k = adv.iter().position(|&a| a == r.advantage as f32).unwrap();
            // Independently: the row alone, unpadded, through the plain forward pass; the
            // log-softmax of the logits at each position before a completion token.
            let ids: Vec<u32> = r.prompt.iter().chain(&r.completion).copied().collect();
            let n_ids = ids.len();
            let batch = Batch::left_padded(&[ids], 0, DType::F32, &Device::Cpu).unwrap();
            let logits = model.forward(&batch).unwrap();
            let lsm = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            assert_eq!(lsm.len(), n_ids);
            let n = r.completion.len();
            let p = r.prompt.len();
            for (j, &tok) in r.completion.iter().enumerate() {
                let want = lsm[p - 1 + j][tok as usize];
                let got = lp[k][t.width - n + j];
                assert!(
                    (got - want).abs() < 1e-4,
                    "row {i} token {j}: {got} vs {want}"
                );
            }
            let m = &mask[k][t.width - n..];
            assert!(m.iter().all(|&v| v == if r.masked { 0.0 } else { 1.0 }));
            assert_eq!(mask[k][..t.width - n].iter().sum::<f32>(), 0.0);
        }
    }
}
