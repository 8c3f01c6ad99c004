//! The GRPO objective (DeepSeekMath eq. 3; R1 eq. 1–2) as a loss to minimise, with the
//! aggregation variants of later work:
//!
//! ```text
//! ρ_it  = π_θ(o_it) / π_old(o_it)                                   (ratio)
//! J_it  = min(ρ_it · Â_i, clip(ρ_it, 1 − ε_low, 1 + ε_high) · Â_i)  (clipped surrogate)
//! D_it  = π_ref/π_θ − log(π_ref/π_θ) − 1                            (eq. 2: the k3 KL estimator)
//! ℓ_it  = −(J_it − β · D_it)
//! ```
//!
//! aggregated over the completion tokens by [`LossAggregation`]: the paper's per-sequence mean
//! (`1/G Σ_i 1/|o_i| Σ_t`), DAPO's token-level mean, or Dr. GRPO's constant normaliser.
//! `ε_high = ε_low` is the paper; `ε_high > ε_low` is DAPO's clip-higher.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

/// How per-token losses become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LossAggregation {
    /// GRPO (the paper): mean over each completion's tokens, then mean over completions.
    SequenceMean,
    /// DAPO (arXiv 2503.14476): sum over all tokens / number of tokens.
    TokenMean,
    /// Dr. GRPO (arXiv 2503.20783): sum over all tokens / (completions · max completion length).
    ConstantNorm,
}

/// The loss settings (paper symbols in the docs of [`crate::grpo::GrpoConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    pub eps_low: f64,
    pub eps_high: f64,
    pub beta: f64,
    pub aggregation: LossAggregation,
    /// The normaliser of `ConstantNorm` (the maximum completion length).
    pub max_completion_length: usize,
    /// Multiply the KL term by the ratio ρ (importance-sampling correction of the k3 estimate for
    /// samples drawn from π_old; TRL's default `use_bias_correction_kl`). The paper's eq. 2 is the
    /// plain k3 (false).
    pub kl_bias_correction: bool,
}

/// Diagnostics of one loss evaluation (masked means over completion tokens).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LossStats {
    pub loss: f64,
    /// Share of tokens with ρ < 1 − ε_low and Â < 0 (the clip is active on the low side).
    pub clip_low: f64,
    /// Share of tokens with ρ > 1 + ε_high and Â > 0.
    pub clip_high: f64,
    /// Mean k3 KL to the reference (eq. 2, without the ρ factor; computed even when β = 0).
    pub kl: f64,
}

/// The GRPO loss. `logp`, `old_logp`, `ref_logp` and `mask` are `[b, t]` (f32; mask 1 on real
/// completion tokens), `advantages` is `[b]`. Only `logp` should carry gradients.
pub fn grpo_loss(
    logp: &Tensor,
    old_logp: &Tensor,
    ref_logp: Option<&Tensor>,
    advantages: &Tensor,
    mask: &Tensor,
    cfg: &LossConfig,
) -> Result<(Tensor, LossStats)> {
    let (b, _t) = logp.dims2()?;
    let adv = advantages.reshape((b, 1))?;
    let ratio = (logp - old_logp)?.exp()?;
    let clipped = ratio.clamp(1.0 - cfg.eps_low, 1.0 + cfg.eps_high)?;
    let obj = ratio
        .broadcast_mul(&adv)?
        .minimum(&clipped.broadcast_mul(&adv)?)?;
    // Eq. 2: k3 estimator of KL(π_θ ‖ π_ref), ≥ 0 per token.
    let k3 = match ref_logp {
        Some(r) => {
            let d = (r - logp)?;
            Some(((d.exp()? - &d)? - 1.0)?)
        }
        None => None,
    };
    let kl = match &k3 {
        Some(k) if cfg.kl_bias_correction => Some((k * &ratio)?),
        other => other.clone(),
    };
    let per_token = match (&kl, cfg.beta) {
        (Some(kl), beta) if beta != 0.0 => (obj.neg()? + (kl * beta)?)?,
        (None, beta) if beta != 0.0 => bail!("β = {beta} needs reference log-probs"),
        _ => obj.neg()?,
    };
    let masked = (&per_token * mask)?;
    let tokens = mask.sum_all()?.to_scalar::<f32>()? as f64;
    let loss = match cfg.aggregation {
        LossAggregation::SequenceMean => {
            let per_seq = masked
                .sum(D::Minus1)?
                .div(&mask.sum(D::Minus1)?.clamp(1.0, f64::MAX)?)?;
            per_seq.mean_all()?
        }
        LossAggregation::TokenMean => (masked.sum_all()? / tokens.max(1.0))?,
        LossAggregation::ConstantNorm => {
            (masked.sum_all()? / (b * cfg.max_completion_length.max(1)) as f64)?
        }
    };
    // Diagnostics, detached.
    let n = tokens.max(1.0);
    let ratio_d = ratio.detach();
    let adv_d = adv.detach().broadcast_as(ratio_d.shape())?.contiguous()?;
    let zeros = adv_d.zeros_like()?;
    let low = ratio_d
        .lt(1.0 - cfg.eps_low)?
        .mul(&adv_d.lt(&zeros)?)?
        .to_dtype(DType::F32)?;
    let high = ratio_d
        .gt(1.0 + cfg.eps_high)?
        .mul(&adv_d.gt(&zeros)?)?
        .to_dtype(DType::F32)?;
    let masked_mean =
        |x: &Tensor| -> Result<f64> { Ok((x * mask)?.sum_all()?.to_scalar::<f32>()? as f64 / n) };
    let stats = LossStats {
        loss: loss.to_scalar::<f32>()? as f64,
        clip_low: masked_mean(&low)?,
        clip_high: masked_mean(&high)?,
        kl: match &k3 {
            Some(k) => masked_mean(&k.detach())?,
            None => 0.0,
        },
    };
    Ok((loss, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// At ρ = 1 (μ = 1: the old policy is the current one) the gradient of the loss with respect
    /// to each token's log-prob is −Â_i · w_it, where w is the aggregation's weight of the token
    /// and B the completions in the (mini)batch: 1/(B·|o_i|) (GRPO), 1/Σ|o| (DAPO), 1/(B·L)
    /// (Dr. GRPO). Here the batch is one group of four (B = G = 4).
    #[test]
    fn each_aggregation_weighs_tokens_as_documented() {
        let lens = [2usize, 6, 3, 4];
        let adv = [0.5f32, -0.5, -0.5, 0.5];
        let (g, l) = (lens.len(), 8usize);
        let total: usize = lens.iter().sum();
        let mask: Vec<f32> = lens
            .iter()
            .flat_map(|&n| (0..l).map(move |t| if t < n { 1.0 } else { 0.0 }))
            .collect();
        let dev = Device::Cpu;
        let mask = Tensor::from_vec(mask, (g, l), &dev).unwrap();
        let advantages = Tensor::new(&adv, &dev).unwrap();
        for agg in [
            LossAggregation::SequenceMean,
            LossAggregation::TokenMean,
            LossAggregation::ConstantNorm,
        ] {
            let logp = Var::from_tensor(&Tensor::full(-1.0f32, (g, l), &dev).unwrap()).unwrap();
            let old = logp.as_tensor().detach();
            let cfg = LossConfig {
                eps_low: 0.2,
                eps_high: 0.28,
                beta: 0.0,
                aggregation: agg,
                max_completion_length: l,
                kl_bias_correction: false,
            };
            let (loss, _) =
                grpo_loss(logp.as_tensor(), &old, None, &advantages, &mask, &cfg).unwrap();
            let grads = loss.backward().unwrap();
            let grad = grads
                .get(logp.as_tensor())
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for (i, &n) in lens.iter().enumerate() {
                let w = match agg {
                    LossAggregation::SequenceMean => 1.0 / (g * n) as f32,
                    LossAggregation::TokenMean => 1.0 / total as f32,
                    LossAggregation::ConstantNorm => 1.0 / (g * l) as f32,
                };
                for (t, &gt) in grad[i].iter().enumerate() {
                    let want = if t < n { -adv[i] * w } else { 0.0 };
                    assert!(
                        (gt - want).abs() < 1e-7,
                        "{agg:?}: token {t} of completion {i}: gradient {gt}, expected {want}"
                    );
                }
            }
        }
    }
}
