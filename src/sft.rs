//! Supervised fine-tuning: next-token cross-entropy on token rows with a loss mask. The same loop
//! pretrains the base models (packed corpus rows, every token counted), runs the R1 cold start and
//! rejection-sampling SFT (prompt tokens masked out) and distils a teacher's traces into students.

use crate::model::{Batch, Model};
use crate::optim::{clip_grad_norm, AdamW, AdamWConfig, LrSchedule};
use anyhow::{bail, Result};
use candle_core::{DType, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One training row: tokens, and which of them are predicted (the first token never is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftRow {
    pub tokens: Vec<u32>,
    pub loss_mask: Vec<bool>,
}

impl SftRow {
    /// A row whose every token after the first is a target (pretraining).
    pub fn full(tokens: Vec<u32>) -> Self {
        let loss_mask = vec![true; tokens.len()];
        Self { tokens, loss_mask }
    }

    /// `prompt ++ completion`, loss on the completion only (SFT on demonstrations).
    pub fn prompt_completion(prompt: &[u32], completion: &[u32]) -> Self {
        let mut tokens = prompt.to_vec();
        tokens.extend_from_slice(completion);
        let mut loss_mask = vec![false; prompt.len()];
        loss_mask.extend(std::iter::repeat_n(true, completion.len()));
        Self { tokens, loss_mask }
    }
}

/// Packs documents (each followed by `eos`) into rows of `seq_len + 1` tokens, as GPT-style
/// pretraining does; the tail that does not fill a row is dropped.
pub fn pack(docs: &[Vec<u32>], eos: u32, seq_len: usize) -> Vec<SftRow> {
    let mut stream = Vec::new();
    for d in docs {
        stream.extend_from_slice(d);
        stream.push(eos);
    }
    stream
        .chunks_exact(seq_len + 1)
        .map(|c| SftRow::full(c.to_vec()))
        .collect()
}

/// Settings of one SFT stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Optimizer updates.
    pub steps: usize,
    /// Rows per update.
    pub batch_size: usize,
    /// Peak learning rate (after warm-up), cosine-decayed to `lr · min_lr_ratio`.
    pub lr: f64,
    pub warmup_steps: usize,
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clip (1.0 as in most LM training recipes).
    pub grad_clip: f64,
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            steps: 100,
            batch_size: 32,
            lr: 3e-3,
            warmup_steps: 10,
            min_lr_ratio: 0.1,
            weight_decay: 0.0,
            grad_clip: 1.0,
            seed: 0,
        }
    }
}

impl SftConfig {
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 || self.batch_size == 0 {
            bail!("steps and batch_size must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("lr must be a positive number, got {}", self.lr);
        }
        Ok(())
    }
}

/// One logged update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftLog {
    pub step: usize,
    /// Mean cross-entropy per target token (nats).
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    /// Tokens in this update's batch (inputs, prompt and padding-free), for compute accounting.
    pub tokens: usize,
    pub tokens_per_s: f64,
}

/// A batch of SFT rows as tensors: left-padded inputs (`tokens[..-1]`), next-token targets and
/// the loss mask, all `[b, t]`, and the number of target tokens.
pub struct SftTensors {
    pub batch: Batch,
    pub targets: Tensor,
    pub mask: Tensor,
    pub count: f64,
}

impl SftTensors {
    /// Errors if no row has a target token.
    pub fn build(model: &Model, rows: &[&SftRow]) -> Result<Self> {
        let device = model.device();
        let inputs: Vec<Vec<u32>> = rows
            .iter()
            .map(|r| r.tokens[..r.tokens.len() - 1].to_vec())
            .collect();
        let t = inputs.iter().map(|r| r.len()).max().unwrap_or(1);
        let b = rows.len();
        let mut targets = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for r in rows {
            let n = r.tokens.len() - 1;
            targets.extend(std::iter::repeat_n(0u32, t - n));
            targets.extend_from_slice(&r.tokens[1..]);
            mask.extend(std::iter::repeat_n(0f32, t - n));
            mask.extend(
                r.loss_mask[1..]
                    .iter()
                    .map(|&m| if m { 1f32 } else { 0f32 }),
            );
        }
        let count: f32 = mask.iter().sum();
        if count == 0.0 {
            bail!("no target token in this batch: every loss mask is empty");
        }
        Ok(Self {
            batch: Batch::left_padded(&inputs, 0, model.dtype(), device)?,
            targets: Tensor::from_vec(targets, (b, t), device)?,
            mask: Tensor::from_vec(mask, (b, t), device)?,
            count: count as f64,
        })
    }
}

/// Mean next-token cross-entropy over the masked targets of `rows` (with gradients).
pub fn sft_loss(model: &Model, rows: &[&SftRow]) -> Result<Tensor> {
    let t = SftTensors::build(model, rows)?;
    let lp = model.token_logprobs(&t.batch, &t.targets)?;
    Ok(((lp * t.mask)?.sum_all()? / (-t.count))?)
}

/// Trains `model` in place on `rows`; `on_log` sees every update (progress bars, metrics files).
pub fn train(
    model: &Model,
    rows: &[SftRow],
    cfg: &SftConfig,
    on_log: impl FnMut(&SftLog),
) -> Result<Vec<SftLog>> {
    train_with(model, rows, cfg, sft_loss, on_log)
}

/// [`train`] with another loss on the same batches (e.g. the logit distillation of
/// [`crate::distill`]): `loss(model, batch)` must return a scalar with gradients.
pub fn train_with(
    model: &Model,
    rows: &[SftRow],
    cfg: &SftConfig,
    loss_fn: impl Fn(&Model, &[&SftRow]) -> Result<Tensor>,
    mut on_log: impl FnMut(&SftLog),
) -> Result<Vec<SftLog>> {
    cfg.validate()?;
    let rows: Vec<&SftRow> = rows
        .iter()
        .filter(|r| r.tokens.len() >= 2 && r.loss_mask[1..].iter().any(|&m| m))
        .collect();
    if rows.is_empty() {
        bail!("no usable training rows (each needs at least two tokens and one target)");
    }
    if model.dtype() != DType::F32 && model.device().is_cpu() {
        bail!("training on the CPU needs f32 weights; load the model with DType::F32");
    }
    let mut opt = AdamW::new(
        model.params().vars().to_vec(),
        AdamWConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let schedule = LrSchedule {
        lr: cfg.lr,
        warmup_steps: cfg.warmup_steps,
        total_steps: cfg.steps,
        cosine: true,
        min_ratio: cfg.min_lr_ratio,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut rng);
    let mut cursor = 0;
    let mut logs = Vec::with_capacity(cfg.steps);
    for step in 0..cfg.steps {
        let start = Instant::now();
        let mut batch = Vec::with_capacity(cfg.batch_size);
        while batch.len() < cfg.batch_size.min(rows.len()) {
            if cursor == order.len() {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            batch.push(rows[order[cursor]]);
            cursor += 1;
        }
        let loss = loss_fn(model, &batch)?;
        let loss_value = loss.to_scalar::<f32>()? as f64;
        if !loss_value.is_finite() {
            bail!(
                "the loss became {loss_value} at step {step}: lower the learning rate (now {})",
                cfg.lr
            );
        }
        let mut grads = loss.backward()?;
        let grad_norm = clip_grad_norm(&mut grads, model.params().vars(), cfg.grad_clip)?;
        let lr = schedule.at(step);
        opt.step(&grads, lr)?;
        let tokens: usize = batch.iter().map(|r| r.tokens.len() - 1).sum();
        let log = SftLog {
            step,
            loss: loss_value,
            grad_norm,
            lr,
            tokens,
            tokens_per_s: tokens as f64 / start.elapsed().as_secs_f64(),
        };
        on_log(&log);
        logs.push(log);
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_order_and_separators() {
        // Stream 1 2 3 0 4 5 0 6 7 8 9 10 0: three rows of 4, the last 0 dropped.
        let rows = pack(&[vec![1, 2, 3], vec![4, 5], vec![6, 7, 8, 9, 10]], 0, 3);
        assert_eq!(rows.len(), 3);
        let flat: Vec<u32> = rows.iter().flat_map(|r| r.tokens.clone()).collect();
        assert_eq!(flat, vec![1, 2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn masked_prompt_tokens_do_not_count() {
        let model = crate::model::tiny_random(20, 0);
        let a = SftRow::prompt_completion(&[1, 2, 3], &[4, 5]);
        let mut b = a.clone();
        b.tokens[1] = 9; // a prompt token changes the context only
        let la = sft_loss(&model, &[&a]).unwrap().to_scalar::<f32>().unwrap();
        // Loss over two targets, mean: equals −(log p(4|1,2,3) + log p(5|…))/2, finite and positive.
        assert!(la > 0.0 && la.is_finite());
        let lb = sft_loss(&model, &[&b]).unwrap().to_scalar::<f32>().unwrap();
        assert_ne!(la, lb);
        let none = SftRow {
            tokens: vec![1, 2],
            loss_mask: vec![true, false],
        };
        assert!(sft_loss(&model, &[&none]).is_err());
    }

    #[test]
    fn training_memorises_a_tiny_corpus() {
        let model = crate::model::tiny_random(16, 1);
        let rows: Vec<SftRow> = (0..4)
            .map(|i| SftRow::full(vec![1, 2 + i, 3 + i, 4 + i, 5 + i]))
            .collect();
        let cfg = SftConfig {
            steps: 60,
            batch_size: 4,
            lr: 1e-2,
            warmup_steps: 5,
            ..Default::default()
        };
        let logs = train(&model, &rows, &cfg, |_| {}).unwrap();
        let first = logs[0].loss;
        let last = logs.last().unwrap().loss;
        assert!(last < 0.5 * first, "loss {first} -> {last}");
    }
}
