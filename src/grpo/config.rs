//! Every GRPO setting ([`GrpoConfig`]) with the paper's symbol and value and TRL's name for it,
//! its validation, and the check that a resumed run keeps the settings it was started with.

use super::advantage::{GroupFilter, Scale};
use super::loss::{LossAggregation, LossConfig};
use crate::tasks::Template;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Every GRPO setting, with the paper's symbol and value. Defaults are the workshop scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpoConfig {
    /// G, completions sampled per question. Paper: 16 (R1-Zero), 64 (DeepSeekMath). Ours: 8.
    /// TRL: `num_generations`.
    pub group_size: usize,
    /// Questions per step. Paper: 32 (R1-Zero). Ours: 8. TRL: `generation_batch_size` /
    /// `num_generations`.
    pub prompts_per_step: usize,
    /// μ, optimisation passes over each sampled batch. Paper: 1. TRL: `num_iterations`.
    pub mu: usize,
    /// Optimizer steps per pass (the batch is split). Paper: 16 minibatches per rollout. Ours: 1.
    /// TRL: `steps_per_generation`.
    pub minibatches: usize,
    /// Completions per forward and backward pass inside a minibatch, their gradients summed
    /// before the one optimizer step (gradient accumulation; 0 = the whole minibatch in one
    /// pass). Memory only: the step's gradient is the minibatch's, up to float rounding. Paper:
    /// not given; TRL: `per_device_train_batch_size` with `gradient_accumulation_steps`.
    #[serde(default)]
    pub micro_batch_size: usize,
    /// Sampling temperature of the rollouts. Paper: 1.0 (R1-Zero), 0.7 (R1 stage 2). TRL:
    /// `temperature`.
    pub temperature: f64,
    /// Nucleus sampling of the rollouts. Paper: not given (1.0). TRL: `top_p`.
    pub top_p: f64,
    /// Maximum completion tokens. Paper: 32,768 (65,536 after step 8.2k). Ours: 128. TRL:
    /// `max_completion_length`.
    pub max_completion_length: usize,
    /// ε (low side of the clip). Paper: not given for R1-Zero; 10 for R1 stage 1 (Nature). Ours: 0.2.
    /// TRL: `epsilon`.
    pub eps_low: f64,
    /// Upper clip 1 + ε_high; equal to ε_low in GRPO, 0.28 in DAPO's clip-higher. TRL:
    /// `epsilon_high`.
    pub eps_high: f64,
    /// β, weight of the k3 KL to the reference. Paper: 0.001 (R1-Zero), 0.04 (DeepSeekMath). Ours: 0.001.
    /// TRL: `beta`.
    pub beta: f64,
    /// Multiply the KL term by ρ (TRL's default bias correction). Paper (eq. 2): plain k3, false.
    /// TRL: `use_bias_correction_kl`.
    pub kl_bias_correction: bool,
    /// Reset the reference to the policy every this many steps (0 = never). Paper: 400. TRL:
    /// `ref_model_sync_steps` (with `sync_ref_model`).
    pub ref_reset_every: usize,
    /// Advantage scaling: group std (GRPO), batch std, or none (Dr. GRPO). Paper: group. TRL:
    /// `scale_rewards` ("group", "batch", "none").
    pub advantage_scale: Scale,
    /// Loss aggregation: per-sequence mean (GRPO), token mean (DAPO), constant (Dr. GRPO). Paper:
    /// per-sequence mean (eq. 1). TRL: `loss_type` ("grpo", "dapo", "dr_grpo").
    pub aggregation: LossAggregation,
    /// DAPO's dynamic sampling: drop groups without a signal (`group_filter` says which). Off in
    /// GRPO. TRL: none; verl: `algorithm.filter_groups.enable`.
    pub dynamic_sampling: bool,
    /// With dynamic sampling, what makes a group flat: its total reward (`reward`, the default,
    /// what the runs before 2026-12-03 used) or its correctness (`accuracy`: DAPO eq. 11, the
    /// DAPO variant's). Not written when `reward`, so those runs keep their settings and folder
    /// names. verl: `algorithm.filter_groups.metric`.
    #[serde(default, skip_serializing_if = "GroupFilter::is_reward")]
    pub group_filter: GroupFilter,
    /// With dynamic sampling, at most this many rounds of rollouts per step: while fewer than
    /// `prompts_per_step` groups carry a signal, fresh questions are sampled to fill the batch
    /// (DAPO; verl's `max_num_gen_batches`). 1 = drop the flat groups without resampling.
    #[serde(default = "one")]
    pub max_sampling_rounds: usize,
    /// Leave truncated completions out of the loss (DAPO's overlong filtering). Off in GRPO. TRL:
    /// `mask_truncated_completions`.
    pub mask_truncated: bool,
    /// Peak learning rate. Paper: 3e-6 (R1-Zero), 1e-6 (DeepSeekMath). Ours: 1e-4 (tiny models).
    /// TRL: `learning_rate`.
    pub lr: f64,
    /// Linear warm-up steps, then constant. Paper: not given. TRL: `warmup_steps`.
    pub warmup_steps: usize,
    /// Global gradient-norm clip. Paper: not given; TRL: `max_grad_norm` (1.0).
    pub grad_clip: f64,
    /// AdamW weight decay. Paper: not given. Ours: 0. TRL: `weight_decay`.
    pub weight_decay: f64,
    /// RL steps. Paper: 10,400 (R1-Zero). TRL: `max_steps`.
    pub steps: usize,
    /// The prompt template the questions are put in (Table 1's, or its short form).
    pub template: Template,
    /// Seeds every draw of a step (questions, rollouts) with the step number. TRL: `seed`.
    pub seed: u64,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        Self {
            group_size: 8,
            prompts_per_step: 8,
            mu: 1,
            minibatches: 1,
            micro_batch_size: 0,
            temperature: 1.0,
            top_p: 1.0,
            max_completion_length: 128,
            eps_low: 0.2,
            eps_high: 0.2,
            beta: 0.001,
            kl_bias_correction: false,
            ref_reset_every: 400,
            advantage_scale: Scale::Group,
            aggregation: LossAggregation::SequenceMean,
            dynamic_sampling: false,
            group_filter: GroupFilter::Reward,
            max_sampling_rounds: 1,
            mask_truncated: false,
            lr: 1e-4,
            warmup_steps: 5,
            grad_clip: 1.0,
            weight_decay: 0.0,
            steps: 100,
            template: Template::R1ZeroShort,
            seed: 0,
        }
    }
}

fn one() -> usize {
    1
}

impl GrpoConfig {
    pub fn validate(&self) -> Result<()> {
        if self.group_size < 2 {
            bail!(
                "group_size (G) must be at least 2: advantages compare completions within a group"
            );
        }
        if self.prompts_per_step == 0
            || self.mu == 0
            || self.minibatches == 0
            || self.steps == 0
            || self.max_sampling_rounds == 0
        {
            bail!("prompts_per_step, mu, minibatches, steps and max_sampling_rounds must all be at least 1");
        }
        if self.minibatches > self.prompts_per_step * self.group_size {
            bail!(
                "minibatches ({}) exceeds the completions per step",
                self.minibatches
            );
        }
        if !(self.eps_low > 0.0 && self.eps_high > 0.0 && self.beta >= 0.0 && self.lr > 0.0) {
            bail!("eps_low and eps_high must be > 0, beta ≥ 0 and lr > 0");
        }
        if self.max_completion_length == 0 {
            bail!("max_completion_length must be at least 1");
        }
        for (name, v) in [
            ("eps_low", self.eps_low),
            ("eps_high", self.eps_high),
            ("beta", self.beta),
            ("lr", self.lr),
            ("grad_clip", self.grad_clip),
            ("weight_decay", self.weight_decay),
            ("temperature", self.temperature),
            ("top_p", self.top_p),
        ] {
            if !v.is_finite() || v < 0.0 {
                bail!("{name} must be a finite number ≥ 0, got {v}");
            }
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("top_p must be in (0, 1], got {}", self.top_p);
        }
        Ok(())
    }

    pub fn loss(&self) -> LossConfig {
        LossConfig {
            eps_low: self.eps_low,
            eps_high: self.eps_high,
            beta: self.beta,
            aggregation: self.aggregation,
            max_completion_length: self.max_completion_length,
            kl_bias_correction: self.kl_bias_correction,
        }
    }
}

/// Refuses to continue a run with other settings than it was started with (the number of steps
/// may change). `state` is the checkpoint's `trainer_state.json`.
pub fn check_same_settings(dir: &Path, state: &serde_json::Value, cfg: &GrpoConfig) -> Result<()> {
    let Ok(mut saved) = serde_json::from_value::<GrpoConfig>(state["config"].clone()) else {
        bail!(
            "{}/trainer_state.json has no readable GRPO settings: move the run folder away and start again",
            dir.display()
        );
    };
    saved.steps = cfg.steps;
    // Micro-batching changes the memory, not the run: it may differ on resume.
    saved.micro_batch_size = cfg.micro_batch_size;
    // Without dynamic sampling no group is filtered: the filter changes nothing.
    if !cfg.dynamic_sampling && !saved.dynamic_sampling {
        saved.group_filter = cfg.group_filter;
    }
    if &saved == cfg {
        return Ok(());
    }
    let (a, b) = (serde_json::to_value(&saved)?, serde_json::to_value(cfg)?);
    // Both sides' keys: a field left out when at its default appears on one side only.
    let keys: std::collections::BTreeSet<&String> = [&a, &b]
        .into_iter()
        .filter_map(|v| v.as_object())
        .flat_map(|o| o.keys())
        .collect();
    let shown = |v: &serde_json::Value, k: &str| match v.get(k) {
        Some(x) => x.to_string(),
        None => "(default)".to_string(),
    };
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(k.as_str()) != b.get(k.as_str()))
        .map(|k| format!("{k}: saved {}, requested {}", shown(&a, k), shown(&b, k)))
        .collect();
    bail!(
        "the run in {} was made with other GRPO settings ({}): continue it with the same settings, \
         or move the folder away to start a new run",
        dir.display(),
        differ.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's `trainer_state.json` as the runs before the group filter wrote it (no field).
    fn old_state(cfg: &GrpoConfig) -> serde_json::Value {
        let mut config = serde_json::to_value(cfg).unwrap();
        config.as_object_mut().unwrap().remove("group_filter");
        serde_json::json!({ "config": config })
    }

    #[test]
    fn an_old_run_keeps_its_settings_unless_it_filtered_groups() {
        let dir = Path::new("runs/x");
        let plain = GrpoConfig::default();
        // Without dynamic sampling the filter changes nothing: the old run continues.
        check_same_settings(dir, &old_state(&plain), &plain).unwrap();
        let accuracy = GrpoConfig {
            group_filter: GroupFilter::Accuracy,
            ..plain.clone()
        };
        check_same_settings(dir, &old_state(&plain), &accuracy).unwrap();
        // A DAPO run made with the reward filter is not continued with the accuracy filter,
        // and the error names the field although the old file lacks it.
        let dapo_old = GrpoConfig {
            dynamic_sampling: true,
            ..plain.clone()
        };
        let dapo = GrpoConfig {
            group_filter: GroupFilter::Accuracy,
            ..dapo_old.clone()
        };
        check_same_settings(dir, &old_state(&dapo_old), &dapo_old).unwrap();
        let err = check_same_settings(dir, &old_state(&dapo_old), &dapo)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"group_filter: saved (default), requested "accuracy""#),
            "{err}"
        );
    }
}
