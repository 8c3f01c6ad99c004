//! The GRPO training loop (DeepSeekMath Algorithm 1): sample G completions per question from the
//! current (old) policy, score them with rule-based rewards, compute group-relative advantages,
//! then μ passes of clipped-surrogate updates with a k3 KL penalty to a frozen reference.
//!
//! Every step appends one row of [`StepMetrics`] to `metrics.csv` and its completions to
//! `samples.jsonl`; checkpoints (policy, reference, optimizer moments, step) are saved atomically,
//! and [`GrpoTrainer::resume`] continues a killed run to the same metrics as an uninterrupted one
//! on the CPU (every random draw of a step derives from the seed and the step number).

use super::advantage::{group_advantages, zero_variance_groups, Scale};
use super::loss::{grpo_loss, LossAggregation, LossConfig};
use crate::checkpoint::{self, GenerationConfig};
use crate::completion::has_reflection;
use crate::eval::{evaluate, EvalConfig};
use crate::model::{Batch, Model, Params};
use crate::optim::{clip_grad_norm, AdamW, AdamWConfig, LrSchedule};
use crate::rewards::{Completion as RewardInput, RewardSet};
use crate::sampling::{generate, SamplingConfig};
use crate::tasks::{sample_fresh, Problem, Task, Template};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Every GRPO setting, with the paper's symbol and value. Defaults are the workshop scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpoConfig {
    /// G, completions sampled per question. Paper: 16 (R1-Zero), 64 (DeepSeekMath). Ours: 8.
    pub group_size: usize,
    /// Questions per step. Paper: 32 (R1-Zero). Ours: 8.
    pub prompts_per_step: usize,
    /// μ, optimisation passes over each sampled batch. Paper: 1.
    pub mu: usize,
    /// Optimizer steps per pass (the batch is split). Paper: 16 minibatches per rollout. Ours: 1.
    pub minibatches: usize,
    /// Completions per forward and backward pass inside a minibatch, their gradients summed
    /// before the one optimizer step (gradient accumulation; 0 = the whole minibatch in one
    /// pass). Memory only: the step's gradient is the minibatch's, up to float rounding. Paper:
    /// not given; TRL: `per_device_train_batch_size` with `gradient_accumulation_steps`.
    #[serde(default)]
    pub micro_batch_size: usize,
    /// Sampling temperature of the rollouts. Paper: 1.0 (R1-Zero), 0.7 (R1 stage 2).
    pub temperature: f64,
    pub top_p: f64,
    /// Maximum completion tokens. Paper: 32,768 (65,536 after step 8.2k). Ours: 128.
    pub max_completion_length: usize,
    /// ε (low side of the clip). Paper: not given for R1-Zero; 10 for R1 stage 1 (Nature). Ours: 0.2.
    pub eps_low: f64,
    /// Upper clip 1 + ε_high; equal to ε_low in GRPO, 0.28 in DAPO's clip-higher.
    pub eps_high: f64,
    /// β, weight of the k3 KL to the reference. Paper: 0.001 (R1-Zero), 0.04 (DeepSeekMath). Ours: 0.001.
    pub beta: f64,
    /// Multiply the KL term by ρ (TRL's default bias correction). Paper (eq. 2): plain k3, false.
    pub kl_bias_correction: bool,
    /// Reset the reference to the policy every this many steps (0 = never). Paper: 400.
    pub ref_reset_every: usize,
    /// Advantage scaling: group std (GRPO), batch std, or none (Dr. GRPO).
    pub advantage_scale: Scale,
    /// Loss aggregation: per-sequence mean (GRPO), token mean (DAPO), constant (Dr. GRPO).
    pub aggregation: LossAggregation,
    /// DAPO's dynamic sampling: drop groups whose rewards are all equal (no signal). Off in GRPO.
    pub dynamic_sampling: bool,
    /// With dynamic sampling, at most this many rounds of rollouts per step: while fewer than
    /// `prompts_per_step` groups carry a signal, fresh questions are sampled to fill the batch
    /// (DAPO; verl's `max_num_gen_batches`). 1 = drop the flat groups without resampling.
    #[serde(default = "one")]
    pub max_sampling_rounds: usize,
    /// Leave truncated completions out of the loss (DAPO's overlong filtering). Off in GRPO.
    pub mask_truncated: bool,
    /// Peak learning rate. Paper: 3e-6 (R1-Zero), 1e-6 (DeepSeekMath). Ours: 1e-4 (tiny models).
    pub lr: f64,
    pub warmup_steps: usize,
    /// Global gradient-norm clip. Paper: not given; TRL: 1.0.
    pub grad_clip: f64,
    pub weight_decay: f64,
    /// RL steps. Paper: 10,400 (R1-Zero).
    pub steps: usize,
    pub template: Template,
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

/// One row of `metrics.csv`; `reports/README.md` defines every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub reward_mean: f64,
    pub reward_std: f64,
    /// Mean of each reward function (unweighted), by name.
    pub rewards: BTreeMap<String, f64>,
    pub accuracy: f64,
    pub format_rate: f64,
    pub completion_len_mean: f64,
    pub completion_len_max: f64,
    pub reflection_rate: f64,
    pub truncation_rate: f64,
    pub zero_variance_frac: f64,
    /// Question groups sampled this step (more than `prompts_per_step` when dynamic sampling refilled the batch).
    pub sampled_groups: f64,
    pub kl: f64,
    pub clip_low: f64,
    pub clip_high: f64,
    /// Monte-Carlo entropy estimate: mean −log π of the sampled tokens.
    pub entropy: f64,
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    pub tokens_per_s: f64,
    pub wall_s: f64,
    /// Held-out pass@1 and cons@k when evaluated at this step (NaN otherwise).
    pub eval_pass_at_1: f64,
    pub eval_cons_at_k: f64,
}

impl StepMetrics {
    /// Column names and values in a fixed order (rewards by name after the fixed columns).
    pub fn columns(&self) -> Vec<(String, f64)> {
        let mut out = vec![
            ("step".to_string(), self.step as f64),
            ("reward_mean".into(), self.reward_mean),
            ("reward_std".into(), self.reward_std),
        ];
        for (k, v) in &self.rewards {
            out.push((format!("reward_{k}"), *v));
        }
        out.extend([
            ("accuracy".into(), self.accuracy),
            ("format_rate".into(), self.format_rate),
            ("completion_len_mean".into(), self.completion_len_mean),
            ("completion_len_max".into(), self.completion_len_max),
            ("reflection_rate".into(), self.reflection_rate),
            ("truncation_rate".into(), self.truncation_rate),
            ("zero_variance_frac".into(), self.zero_variance_frac),
            ("sampled_groups".into(), self.sampled_groups),
            ("kl".into(), self.kl),
            ("clip_low".into(), self.clip_low),
            ("clip_high".into(), self.clip_high),
            ("entropy".into(), self.entropy),
            ("loss".into(), self.loss),
            ("grad_norm".into(), self.grad_norm),
            ("lr".into(), self.lr),
            ("tokens_per_s".into(), self.tokens_per_s),
            ("wall_s".into(), self.wall_s),
            ("eval_pass_at_1".into(), self.eval_pass_at_1),
            ("eval_cons_at_k".into(), self.eval_cons_at_k),
        ]);
        out
    }

    /// Columns that depend on the machine's speed, not on the run's numbers.
    pub const TIMING_COLUMNS: [&'static str; 2] = ["tokens_per_s", "wall_s"];
}

/// One scored completion, as written to `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub step: usize,
    pub problem_id: String,
    pub question: String,
    pub completion: String,
    pub reward: f64,
    pub correct: bool,
    pub num_tokens: usize,
}

/// What one step produced.
#[derive(Debug, Clone)]
pub struct StepOutput {
    pub metrics: StepMetrics,
    pub samples: Vec<SampleRecord>,
}

/// A held-out evaluation run every `every` steps during training.
#[derive(Clone)]
pub struct PeriodicEval {
    pub problems: Vec<Problem>,
    pub config: EvalConfig,
    pub every: usize,
}

pub struct GrpoTrainer {
    pub cfg: GrpoConfig,
    pub policy: Model,
    reference: Option<Model>,
    pub tokenizer: Tokenizer,
    task: Arc<dyn Task>,
    rewards: Arc<RewardSet>,
    held_out: HashSet<String>,
    opt: AdamW,
    schedule: LrSchedule,
    /// Steps completed.
    pub step: usize,
    wall_s: f64,
    /// Where this trainer's steps spent their time since it was built (not saved in checkpoints).
    pub phase_s: PhaseSeconds,
    /// The lock of the run folder this trainer writes ([`crate::run_lock`]).
    lock: Option<crate::run_lock::RunLock>,
}

/// Seconds spent in each phase of the GRPO steps a trainer has run: what `r1lab bench --grpo`
/// prints to say where a step's time goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseSeconds {
    /// Sampling the G completions of every prompt (KV-cached decoding).
    pub sample: f64,
    /// Building the rollout tensors and the reference (and, with μ > 1 or minibatches,
    /// old-policy) log-probs. The rule-based rewards are in none of the three.
    pub score: f64,
    /// The μ updates: policy log-probs, loss, backward, clipping, AdamW.
    pub update: f64,
}

impl PhaseSeconds {
    /// The mean seconds per step of the `steps` steps run since `before` was read.
    pub fn per_step_since(&self, before: &PhaseSeconds, steps: usize) -> PhaseSeconds {
        let n = steps.max(1) as f64;
        PhaseSeconds {
            sample: (self.sample - before.sample) / n,
            score: (self.score - before.score) / n,
            update: (self.update - before.update) / n,
        }
    }
}

impl GrpoTrainer {
    /// A trainer starting from `policy` (the reference is a frozen copy of it when β > 0).
    /// `held_out` questions are never drawn for training.
    pub fn new(
        policy: Model,
        tokenizer: Tokenizer,
        task: Arc<dyn Task>,
        rewards: Arc<RewardSet>,
        held_out: HashSet<String>,
        cfg: GrpoConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        if policy.dtype() != DType::F32 && policy.device().is_cpu() {
            bail!("GRPO on the CPU needs f32 weights; load the policy with DType::F32");
        }
        let reference = if cfg.beta > 0.0 {
            Some(policy.deep_copy()?)
        } else {
            None
        };
        let opt = AdamW::new(
            policy.params().vars().to_vec(),
            AdamWConfig {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        let schedule = LrSchedule::constant(cfg.lr, cfg.warmup_steps);
        Ok(Self {
            cfg,
            policy,
            reference,
            tokenizer,
            task,
            rewards,
            held_out,
            opt,
            schedule,
            step: 0,
            wall_s: 0.0,
            phase_s: PhaseSeconds::default(),
            lock: None,
        })
    }

    /// The problems of step `step` (deterministic: derived from the seed and the step).
    pub fn problems_for_step(&self, step: usize) -> Result<Vec<Problem>> {
        self.problems_for_round(step, 0)
    }

    /// The problems of rollout round `round` of step `step` (round 0: [`Self::problems_for_step`];
    /// later rounds refill a batch under dynamic sampling).
    pub fn problems_for_round(&self, step: usize, round: usize) -> Result<Vec<Problem>> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(self.cfg.seed ^ 0x5eed_0000 ^ ((round as u64) << 48));
        rng.set_stream(step as u64);
        (0..self.cfg.prompts_per_step)
            .map(|_| {
                sample_fresh(self.task.as_ref(), &mut rng, &self.held_out).context(
                    "the task generator could not produce a question outside the held-out set",
                )
            })
            .collect()
    }

    /// One GRPO step: rollouts, rewards, advantages, μ passes of updates.
    pub fn train_step(&mut self) -> Result<StepOutput> {
        let start = Instant::now();
        let cfg = self.cfg.clone();
        let step = self.step;
        let g = cfg.group_size;
        let mut problems: Vec<Problem> = Vec::new();
        let mut prompts: Vec<Vec<u32>> = Vec::new();
        let mut completions = Vec::new();
        let mut totals = Vec::new();
        let mut per_reward: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut samples = Vec::new();
        let mut correct = 0usize;
        let mut formatted = 0usize;
        let mut reflections = 0usize;
        for round in 0..cfg.max_sampling_rounds {
            let offset = problems.len();
            let round_problems = self.problems_for_round(step, round)?;
            let round_prompts = round_problems
                .iter()
                .map(|p| self.tokenizer.encode(&cfg.template.render(&p.question)))
                .collect::<Result<Vec<_>>>()?;
            let sampling = SamplingConfig::until_answer(
                cfg.temperature,
                cfg.top_p,
                cfg.max_completion_length,
                cfg.seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add(step as u64)
                    .wrapping_add((round as u64) << 40),
            );
            // Rollouts: the sampler runs no backward graph, so they are detached by construction.
            let sample_start = Instant::now();
            let round_completions =
                generate(&self.policy, &self.tokenizer, &round_prompts, g, &sampling)?;
            self.phase_s.sample += sample_start.elapsed().as_secs_f64();
            problems.extend(round_problems);
            prompts.extend(round_prompts);
            // Rule-based rewards.
            for mut c in round_completions {
                c.prompt_index += offset;
                let problem = &problems[c.prompt_index];
                let scored = self
                    .rewards
                    .score(problem, &RewardInput::new(&c.text, c.token_ids.len()));
                for part in &scored.parts {
                    per_reward
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
                correct += is_correct as usize;
                formatted += passed("format") as usize;
                if has_reflection(crate::completion::chain_of_thought(
                    &c.text,
                    cfg.template.prompt_opens_think(),
                )) {
                    reflections += 1;
                }
                totals.push(scored.total as f64);
                samples.push(SampleRecord {
                    step,
                    problem_id: problem.id.clone(),
                    question: problem.question.clone(),
                    completion: c.text.clone(),
                    reward: scored.total as f64,
                    correct: is_correct,
                    num_tokens: c.token_ids.len(),
                });
                completions.push(c);
            }
            let with_signal = zero_variance_groups(&totals, g)
                .iter()
                .filter(|&&z| !z)
                .count();
            if !cfg.dynamic_sampling || with_signal >= cfg.prompts_per_step {
                break;
            }
        }
        // Group-relative advantages over every sampled group (with `Scale::Batch` the std is the
        // one of all sampled rewards, dropped groups included).
        let advantages = group_advantages(&totals, g, cfg.advantage_scale)?;
        let zero_var = zero_variance_groups(&totals, g);

        // The rows that enter the loss: every group, or with dynamic sampling the first
        // `prompts_per_step` groups that carry a signal.
        let kept_groups: Vec<usize> = if cfg.dynamic_sampling {
            (0..problems.len())
                .filter(|&q| !zero_var[q])
                .take(cfg.prompts_per_step)
                .collect()
        } else {
            (0..problems.len()).collect()
        };
        let keep: Vec<usize> = kept_groups
            .iter()
            .flat_map(|&q| q * g..(q + 1) * g)
            .filter(|&i| !completions[i].token_ids.is_empty())
            .collect();
        let n = completions.len() as f64;
        let lens: Vec<f64> = completions
            .iter()
            .map(|c| c.token_ids.len() as f64)
            .collect();
        let sampled_lp: Vec<f64> = completions
            .iter()
            .flat_map(|c| c.logprobs.iter().map(|&x| x as f64))
            .collect();
        let mut metrics = StepMetrics {
            step,
            reward_mean: totals.iter().sum::<f64>() / n,
            reward_std: {
                let m = totals.iter().sum::<f64>() / n;
                (totals.iter().map(|r| (r - m).powi(2)).sum::<f64>() / n).sqrt()
            },
            rewards: per_reward
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().sum::<f64>() / v.len() as f64))
                .collect(),
            accuracy: correct as f64 / n,
            format_rate: formatted as f64 / n,
            completion_len_mean: lens.iter().sum::<f64>() / n,
            completion_len_max: lens.iter().copied().fold(0.0, f64::max),
            reflection_rate: reflections as f64 / n,
            truncation_rate: completions.iter().filter(|c| c.truncated).count() as f64 / n,
            zero_variance_frac: zero_var.iter().filter(|&&z| z).count() as f64
                / zero_var.len() as f64,
            sampled_groups: problems.len() as f64,
            kl: 0.0,
            clip_low: 0.0,
            clip_high: 0.0,
            entropy: if sampled_lp.is_empty() {
                0.0
            } else {
                -sampled_lp.iter().sum::<f64>() / sampled_lp.len() as f64
            },
            loss: 0.0,
            grad_norm: 0.0,
            lr: self.schedule.at(step),
            tokens_per_s: 0.0,
            wall_s: 0.0,
            eval_pass_at_1: f64::NAN,
            eval_cons_at_k: f64::NAN,
        };

        if !keep.is_empty() {
            let rows: Vec<RolloutRow> = keep
                .iter()
                .map(|&i| {
                    let c = &completions[i];
                    RolloutRow {
                        prompt: prompts[c.prompt_index].clone(),
                        completion: c.token_ids.clone(),
                        advantage: advantages[i],
                        masked: cfg.mask_truncated && c.truncated,
                    }
                })
                .collect();
            let chunk = rows.len().div_ceil(cfg.minibatches);
            // Old-policy and reference log-probs, computed once before any update (detached).
            // Only with μ = 1 *and* one minibatch is every update made at the sampling policy;
            // otherwise later updates are off-policy and need the old log-probs for ρ.
            let mut prepared = Vec::new();
            let score_start = Instant::now();
            for part in rows.chunks(chunk) {
                let micro = match cfg.micro_batch_size {
                    0 => part.len(),
                    m => m,
                };
                let mut passes = Vec::new();
                for rows in part.chunks(micro) {
                    let t = RolloutTensors::build(rows, &self.policy, self.tokenizer.pad_id)?;
                    let old = if cfg.mu > 1 || cfg.minibatches > 1 {
                        Some(t.logprobs(&self.policy)?.detach())
                    } else {
                        None
                    };
                    let reference = match &self.reference {
                        Some(r) if cfg.beta > 0.0 => Some(t.logprobs(r)?.detach()),
                        _ => None,
                    };
                    passes.push((t, old, reference));
                }
                prepared.push(passes);
            }
            self.phase_s.score += score_start.elapsed().as_secs_f64();
            let update_start = Instant::now();
            let loss_cfg = cfg.loss();
            let (mut loss_sum, mut norm_sum, mut kl_sum, mut low_sum, mut high_sum, mut count) =
                (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
            for _ in 0..cfg.mu {
                for passes in &prepared {
                    let (mut grads, stats) = self.minibatch_gradient(passes, &loss_cfg, step)?;
                    let norm =
                        clip_grad_norm(&mut grads, self.policy.params().vars(), cfg.grad_clip)?;
                    self.opt.step(&grads, self.schedule.at(step))?;
                    loss_sum += stats.loss;
                    norm_sum += norm;
                    kl_sum += stats.kl;
                    low_sum += stats.clip_low;
                    high_sum += stats.clip_high;
                    count += 1.0;
                }
            }
            self.phase_s.update += update_start.elapsed().as_secs_f64();
            metrics.loss = loss_sum / count;
            metrics.grad_norm = norm_sum / count;
            metrics.kl = kl_sum / count;
            metrics.clip_low = low_sum / count;
            metrics.clip_high = high_sum / count;
        }

        self.step += 1;
        if let (Some(r), true) = (
            &self.reference,
            cfg.ref_reset_every > 0 && self.step % cfg.ref_reset_every == 0,
        ) {
            r.params().assign_from(self.policy.params())?;
        }
        let secs = start.elapsed().as_secs_f64();
        self.wall_s += secs;
        let tokens: usize = completions.iter().map(|c| c.token_ids.len()).sum::<usize>()
            + prompts.iter().map(|p| p.len() * g).sum::<usize>();
        metrics.tokens_per_s = tokens as f64 / secs;
        metrics.wall_s = self.wall_s;
        Ok(StepOutput { metrics, samples })
    }

    /// The gradient of one minibatch's loss, summed over its micro-batch passes, each pass's loss
    /// weighted by its share of what the aggregation averages over (its tokens for DAPO's token
    /// mean, its completions otherwise), so the sum is the minibatch's loss; with one pass, the
    /// loss itself. Returns the gradients and the minibatch's loss statistics.
    fn minibatch_gradient(
        &self,
        passes: &[(RolloutTensors, Option<Tensor>, Option<Tensor>)],
        loss_cfg: &LossConfig,
        step: usize,
    ) -> Result<(candle_core::backprop::GradStore, super::loss::LossStats)> {
        // Each pass's (completions, completion tokens), and the minibatch's; one pass needs no
        // weights (it returns its own loss's gradient), so its sizes are not read back.
        let sizes = match passes.len() {
            1 => vec![(1.0, 1.0)],
            _ => passes
                .iter()
                .map(|(t, _, _)| {
                    let tokens = t.mask.sum_all()?.to_scalar::<f32>()? as f64;
                    Ok((t.advantages.dim(0)? as f64, tokens))
                })
                .collect::<Result<Vec<_>>>()?,
        };
        let rows_all: f64 = sizes.iter().map(|s| s.0).sum();
        let tokens_all: f64 = sizes.iter().map(|s| s.1).sum();
        let mut acc: Option<candle_core::backprop::GradStore> = None;
        let mut total = super::loss::LossStats::default();
        for ((t, old, reference), &(rows, tokens)) in passes.iter().zip(&sizes) {
            let logp = t.logprobs(&self.policy)?;
            // With μ = 1 and one minibatch the old policy is the current one: ρ = 1 with the
            // gradient of π_θ.
            let old = match old {
                Some(o) => o.clone(),
                None => logp.detach(),
            };
            let (loss, stats) = grpo_loss(
                &logp,
                &old,
                reference.as_ref(),
                &t.advantages,
                &t.mask,
                loss_cfg,
            )?;
            if !stats.loss.is_finite() {
                bail!(
                    "the GRPO loss became {} at step {step}: lower the learning rate",
                    stats.loss
                );
            }
            if passes.len() == 1 {
                return Ok((loss.backward()?, stats));
            }
            let token_share = tokens / tokens_all.max(1.0);
            let w = match loss_cfg.aggregation {
                LossAggregation::TokenMean => token_share,
                _ => rows / rows_all,
            };
            let grads = (loss * w)?.backward()?;
            acc = Some(match acc {
                None => grads,
                Some(mut a) => {
                    for v in self.policy.params().vars() {
                        if let Some(g) = grads.get(v.as_tensor()) {
                            let sum = match a.get(v.as_tensor()) {
                                Some(prev) => (prev + g)?,
                                None => g.clone(),
                            };
                            a.insert(v.as_tensor(), sum);
                        }
                    }
                    a
                }
            });
            total.loss += w * stats.loss;
            total.kl += token_share * stats.kl;
            total.clip_low += token_share * stats.clip_low;
            total.clip_high += token_share * stats.clip_high;
        }
        Ok((acc.context("a minibatch without completions")?, total))
    }

    /// Trains until `cfg.steps`, appending metrics and samples under `out`, evaluating and
    /// checkpointing periodically (`checkpoint_every` 0 = only at the end). `on_step` sees each row.
    pub fn run(
        &mut self,
        out: &Path,
        eval: Option<&PeriodicEval>,
        checkpoint_every: usize,
        mut on_step: impl FnMut(&StepMetrics),
    ) -> Result<Vec<StepMetrics>> {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let lock = crate::run_lock::RunLock::acquire(out)?;
        self.lock = Some(lock);
        checkpoint::ensure_writable(out, "the run folder")?;
        let metrics_path = out.join("metrics.csv");
        let samples_path = out.join("samples.jsonl");
        let mut rows = Vec::new();
        if self.step == 0 {
            if let Some(e) = eval {
                let mut m = self.evaluate_row(e)?;
                m.step = 0;
                append_metrics(&metrics_path, &m)?;
                rows.push(m.clone());
                on_step(&m);
            }
        }
        while self.step < self.cfg.steps {
            let StepOutput {
                mut metrics,
                samples,
            } = self.train_step()?;
            // The row of step s is the state after s+1 updates.
            metrics.step = self.step;
            if let Some(e) = eval {
                if self.step % e.every == 0 || self.step == self.cfg.steps {
                    let ev = self.evaluate_row(e)?;
                    metrics.eval_pass_at_1 = ev.eval_pass_at_1;
                    metrics.eval_cons_at_k = ev.eval_cons_at_k;
                }
            }
            append_samples(&samples_path, &samples)?;
            append_metrics(&metrics_path, &metrics)?;
            on_step(&metrics);
            rows.push(metrics);
            if checkpoint_every > 0 && self.step % checkpoint_every == 0
                || self.step == self.cfg.steps
            {
                self.save(&out.join("checkpoint"))?;
            }
        }
        Ok(rows)
    }

    fn evaluate_row(&self, e: &PeriodicEval) -> Result<StepMetrics> {
        let report = evaluate(
            &self.policy,
            &self.tokenizer,
            "policy",
            self.task.name(),
            &e.problems,
            &e.config,
            |_, _| {},
        )?;
        Ok(StepMetrics {
            step: self.step,
            reward_mean: f64::NAN,
            reward_std: f64::NAN,
            rewards: self
                .rewards
                .names()
                .into_iter()
                .map(|n| (n, f64::NAN))
                .collect(),
            accuracy: f64::NAN,
            format_rate: f64::NAN,
            completion_len_mean: f64::NAN,
            completion_len_max: f64::NAN,
            reflection_rate: f64::NAN,
            truncation_rate: f64::NAN,
            zero_variance_frac: f64::NAN,
            sampled_groups: f64::NAN,
            kl: f64::NAN,
            clip_low: f64::NAN,
            clip_high: f64::NAN,
            entropy: f64::NAN,
            loss: f64::NAN,
            grad_norm: f64::NAN,
            lr: f64::NAN,
            tokens_per_s: f64::NAN,
            wall_s: self.wall_s,
            eval_pass_at_1: report.pass_at_1,
            eval_cons_at_k: report.cons_at_k,
        })
    }

    /// Saves policy (Hugging Face layout), reference, optimizer moments and the step, atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut extra: HashMap<String, Tensor> = HashMap::new();
        for (k, v) in self.opt.state()? {
            extra.insert(format!("opt.{k}"), v);
        }
        if let Some(r) = &self.reference {
            for (k, v) in r.params().tensors() {
                extra.insert(format!("ref.{k}"), v);
            }
        }
        let gen = GenerationConfig {
            eos_token_id: Some(serde_json::json!(self.tokenizer.eos_ids)),
            pad_token_id: Some(self.tokenizer.pad_id),
            ..Default::default()
        };
        // Every random draw of a step derives from the seed and the step number, so the step is
        // the whole random state.
        let state =
            serde_json::json!({ "step": self.step, "wall_s": self.wall_s, "config": self.cfg });
        checkpoint::save_unit(
            &self.policy,
            Some(&self.tokenizer),
            &gen,
            &extra,
            &[(
                "trainer_state.json",
                serde_json::to_string_pretty(&state)?.into_bytes(),
            )],
            dir,
        )
    }

    /// Restores a trainer saved by [`GrpoTrainer::save`]; `metrics.csv` beside it is cut back to
    /// the saved step so that rows written after the checkpoint are not duplicated.
    pub fn resume(
        dir: &Path,
        task: Arc<dyn Task>,
        rewards: Arc<RewardSet>,
        held_out: HashSet<String>,
        cfg: GrpoConfig,
        device: &candle_core::Device,
        dtype: DType,
    ) -> Result<Self> {
        let lock = match dir.parent() {
            Some(run) if !run.as_os_str().is_empty() => Some(open_run(run, dir)?),
            _ => None,
        };
        let state_path = dir.join("trainer_state.json");
        if dir.exists() && !state_path.exists() {
            bail!(
                "{} has no trainer_state.json: it is not a complete GRPO checkpoint (a model folder, \
                 or a save interrupted by an older r1lab), so the run cannot continue from it; move \
                 the folder away to start the run again from step 0",
                dir.display()
            );
        }
        let loaded = checkpoint::load(&dir.to_string_lossy(), dtype, device)
            .with_context(|| format!("cannot resume from {}", dir.display()))?;
        let tokenizer = loaded.tokenizer()?.clone();
        let state = read_trainer_state(&state_path)?;
        let step = state["step"].as_u64().with_context(|| {
            format!(
                "{} has no \"step\" (a whole number): move the checkpoint folder away to start the \
                 run again",
                state_path.display()
            )
        })? as usize;
        check_same_settings(dir, &state, &cfg)?;
        let extra = checkpoint::read_safetensors(&[dir.join("extra.safetensors")])?;
        let mut t = Self::new(loaded.model, tokenizer, task, rewards, held_out, cfg)?;
        let opt_state: HashMap<String, Tensor> = extra
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("opt.").map(|k| (k.to_string(), v.clone())))
            .collect();
        t.opt.load_state(&opt_state)?;
        if let Some(r) = &t.reference {
            let ref_tensors: HashMap<String, Tensor> = extra
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("ref.").map(|k| (k.to_string(), v.clone())))
                .collect();
            let params =
                Params::from_tensors(&r.config, ref_tensors, dtype, r.device(), "reference")?;
            r.params().assign_from(&params)?;
        }
        t.step = step;
        t.wall_s = state["wall_s"].as_f64().unwrap_or(0.0);
        t.lock = lock;
        if let Some(out) = dir.parent() {
            let rows = truncate_metrics(&out.join("metrics.csv"), step)?;
            let samples = truncate_samples(&out.join("samples.jsonl"), step)?;
            // A finished run is only reloaded (a rerun that reuses it): nothing to announce.
            let finished = step >= t.cfg.steps && rows + samples == 0;
            if !finished {
                eprintln!(
                "r1lab: resuming {} from its checkpoint at step {step}{}",
                out.display(),
                match rows + samples {
                    0 => String::new(),
                    _ => format!(
                        " ({rows} metrics rows and {samples} samples written after it are made again)"
                    ),
                }
            );
            }
        }
        Ok(t)
    }
}

struct RolloutRow {
    prompt: Vec<u32>,
    completion: Vec<u32>,
    advantage: f64,
    masked: bool,
}

/// One minibatch of rollouts as tensors: inputs `prompt ++ completion[..-1]` left-padded, targets
/// shifted by one, the mask selecting completion tokens. The rows are sorted by length and the
/// model sees them in buckets of similar length, each left-padded only to its own longest row, so
/// the padding of a batch with one long completion among short ones is not computed; `logprobs`
/// pads each bucket's log-probs back to the common width `[b, t]` (completion tokens
/// right-aligned, as the mask).
/// The loss sums or averages over rows, so the order of the rows does not change it.
struct RolloutTensors {
    buckets: Vec<(Batch, Tensor)>,
    width: usize,
    mask: Tensor,
    advantages: Tensor,
}

/// At most this many buckets per minibatch on the CPU (one elsewhere): each costs a forward and
/// backward pass of its own.
const MAX_BUCKETS: usize = 4;
/// The per-bucket cost of those passes, in padded tokens, that a further bucket must save.
const BUCKET_COST_TOKENS: usize = 256;

/// Splits ascending lengths into at most `max_buckets` contiguous groups minimising the padded
/// tokens `Σ rows × longest` plus `cost` per group; returns each group's end (exclusive).
fn bucket_ends(sorted_lens: &[usize], max_buckets: usize, cost: usize) -> Vec<usize> {
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
    fn build(rows: &[RolloutRow], model: &Model, pad: u32) -> Result<Self> {
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
    fn logprobs(&self, model: &Model) -> Result<Tensor> {
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

fn csv_value(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

/// Appends one row to `metrics.csv` (header first when the file is new).
pub fn append_metrics(path: &Path, m: &StepMetrics) -> Result<()> {
    let cols = m.columns();
    let header = cols
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    if !new {
        use std::io::BufRead;
        let mut existing = String::new();
        std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .read_line(&mut existing)?;
        let existing = existing.trim_end();
        if existing != header {
            bail!(
                "{} has other columns than this version writes ({existing:?}): \
                 finish that run with the version that started it, or move the run folder away and start again",
                path.display()
            );
        }
    }
    let mut text = String::new();
    if new {
        writeln!(text, "{header}")?;
    }
    writeln!(
        text,
        "{}",
        cols.iter()
            .map(|(_, v)| csv_value(*v))
            .collect::<Vec<_>>()
            .join(",")
    )?;
    checkpoint::append_file(path, text.as_bytes())
}

fn append_samples(path: &Path, samples: &[SampleRecord]) -> Result<()> {
    let mut text = String::new();
    for s in samples {
        writeln!(text, "{}", serde_json::to_string(s)?)?;
    }
    checkpoint::append_file(path, text.as_bytes())
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
    if &saved == cfg {
        return Ok(());
    }
    let (a, b) = (serde_json::to_value(&saved)?, serde_json::to_value(cfg)?);
    let differ: Vec<String> = a
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| b.get(k.as_str()) != Some(v))
        .map(|(k, v)| format!("{k}: saved {v}, requested {}", b[k.as_str()]))
        .collect();
    bail!(
        "the run in {} was made with other GRPO settings ({}): continue it with the same settings, \
         or move the folder away to start a new run",
        dir.display(),
        differ.join("; ")
    )
}

/// Reads a `trainer_state.json`, with an error naming the file when it is missing or cut short.
pub fn read_trainer_state(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: it is not a GRPO checkpoint; move the checkpoint folder away to start \
             the run again",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON (cut short or edited?): move the checkpoint folder away to start \
             the run again",
            path.display()
        )
    })
}

/// Locks the run folder `run` ([`crate::run_lock`]) and recognises, reports and cleans what an
/// interrupted save of its checkpoint `ckpt` left behind ([`checkpoint::recover_interrupted_save`]).
/// Call before reading anything in the folder; the folder stays locked while the result lives.
pub fn open_run(run: &Path, ckpt: &Path) -> Result<crate::run_lock::RunLock> {
    let lock = crate::run_lock::RunLock::acquire(run)?;
    for line in checkpoint::recover_interrupted_save(ckpt)? {
        eprintln!("r1lab: {line}");
    }
    Ok(lock)
}

/// Before a run starts from step 0 in `run`, which holds no checkpoint: moves the `metrics.csv`
/// and `samples.jsonl` of an earlier attempt stopped before its first checkpoint aside (to
/// `*.stale`, replacing an older `*.stale`) and says so, so that a rerun never mixes two runs and
/// never silently drops rows.
pub fn set_aside_stale(run: &Path) -> Result<()> {
    for f in ["metrics.csv", "samples.jsonl"] {
        let p = run.join(f);
        if !p.exists() {
            continue;
        }
        let stale = run.join(format!("{f}.stale"));
        std::fs::rename(&p, &stale).with_context(|| {
            format!(
                "cannot move the stale {} aside: move it away by hand",
                p.display()
            )
        })?;
        eprintln!(
            "r1lab: {} holds {f} but no checkpoint (an earlier run stopped before its first \
             checkpoint): starting again from step 0, the old file is kept as {}",
            run.display(),
            stale.display()
        );
    }
    Ok(())
}

/// The lines of a file the run appends to, each with its 1-based line number; a last line
/// without its newline (a write cut short by a kill) is left out and reported.
fn complete_lines(path: &Path, text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect();
    if !text.is_empty() && !text.ends_with('\n') {
        if let Some((n, _)) = lines.pop() {
            eprintln!(
                "r1lab: {} line {n} was cut short (a write stopped by a kill): dropped",
                path.display()
            );
        }
    }
    lines
}

/// Keeps the completions sampled before the checkpoint's step (atomically): a resumed run samples
/// the later ones again. Returns how many were dropped; a malformed line is an error naming it.
fn truncate_samples(path: &Path, step: usize) -> Result<usize> {
    if !path.exists() {
        return Ok(0);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = String::new();
    let mut dropped = 0;
    for (n, line) in complete_lines(path, &text) {
        let record: SampleRecord = serde_json::from_str(&line).with_context(|| {
            format!(
                "{} line {n} is not a sample record: the file was edited or damaged; move the run \
                 folder away to start again",
                path.display()
            )
        })?;
        if record.step < step {
            out.push_str(&line);
            out.push('\n');
        } else {
            dropped += 1;
        }
    }
    checkpoint::atomic_write(path, out.as_bytes())?;
    Ok(dropped)
}

/// The step of one `metrics.csv` row with `columns` columns, or why it is malformed.
pub fn metrics_row_step(line: &str, columns: usize) -> std::result::Result<usize, String> {
    let cells: Vec<&str> = line.split(',').collect();
    if cells.len() != columns {
        return Err(format!(
            "{} values where the header has {columns} columns",
            cells.len()
        ));
    }
    for (i, c) in cells.iter().enumerate() {
        if !c.is_empty() && c.parse::<f64>().is_err() {
            return Err(format!("value {} ({c:?}) is not a number", i + 1));
        }
    }
    match cells[0].parse::<f64>() {
        Ok(s) if s >= 0.0 && s.fract() == 0.0 => Ok(s as usize),
        _ => Err(format!("the step {:?} is not a whole number", cells[0])),
    }
}

/// Keeps the header and the rows of steps ≤ `step` (atomically). Returns how many rows were
/// dropped; a malformed row is an error naming the line.
fn truncate_metrics(path: &Path, step: usize) -> Result<usize> {
    if !path.exists() {
        return Ok(0);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = String::new();
    let mut dropped = 0;
    let mut columns = 0;
    for (n, line) in complete_lines(path, &text) {
        if n == 1 {
            columns = line.split(',').count();
        } else {
            let s = metrics_row_step(&line, columns).map_err(|e| {
                anyhow::anyhow!(
                    "{} line {n}: {e}: the file was edited or damaged; move the run folder away to \
                     start again",
                    path.display()
                )
            })?;
            if s > step {
                dropped += 1;
                continue;
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    checkpoint::atomic_write(path, out.as_bytes())?;
    Ok(dropped)
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
