//! The GRPO training loop (DeepSeekMath Algorithm 1): sample G completions per question from the
//! current (old) policy, score them with rule-based rewards, compute group-relative advantages,
//! then μ passes of clipped-surrogate updates with a k3 KL penalty to a frozen reference.
//!
//! Every step appends one row of [`StepMetrics`] to `metrics.csv` and its completions to
//! `samples.jsonl`; checkpoints (policy, reference, optimizer moments, step) are saved atomically,
//! and [`GrpoTrainer::resume`] continues a killed run to the same metrics as an uninterrupted one
//! on the CPU (every random draw of a step derives from the seed and the step number).

use super::advantage::group_advantages;
use super::config::{check_same_settings, GrpoConfig};
use super::loss::{grpo_loss, LossAggregation, LossConfig, LossStats};
use super::metrics::{append_metrics, append_samples, truncate_metrics, truncate_samples};
use super::metrics::{SampleRecord, StepMetrics};
use super::rollout::{Rollout, RolloutRow, RolloutTensors};
use super::run_folder::{open_run, read_trainer_state};
use crate::checkpoint::{self, GenerationConfig};
use crate::eval::{evaluate, EvalConfig};
use crate::model::{Model, Params};
use crate::optim::{clip_grad_norm, AdamW, AdamWConfig, LrSchedule};
use crate::rewards::{Completion as RewardInput, RewardSet};
use crate::sampling::{generate, SamplingConfig};
use crate::tasks::{sample_fresh, Problem, Task};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

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

/// One forward and backward pass of a minibatch: its rows as tensors, with the old policy's
/// log-probs (when updates run off-policy) and the reference's (when β > 0).
type Pass = (RolloutTensors, Option<Tensor>, Option<Tensor>);

/// The means of one step's update statistics over its optimizer steps.
#[derive(Default)]
struct UpdateStats {
    loss: f64,
    grad_norm: f64,
    kl: f64,
    clip_low: f64,
    clip_high: f64,
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

    /// One GRPO step (DeepSeekMath Algorithm 1, one iteration): rollout → score → update.
    pub fn train_step(&mut self) -> Result<StepOutput> {
        let start = Instant::now();
        let (step, g) = (self.step, self.cfg.group_size);
        let mut rollout = self.rollout(step)?;
        // Group-relative advantages over every sampled group (with `Scale::Batch` the std is the
        // one of all sampled rewards, dropped groups included).
        let advantages = group_advantages(&rollout.totals, g, self.cfg.advantage_scale)?;
        // Recorded with each completion in samples.jsonl (what the rollout viewer shows).
        for (s, &a) in rollout.samples.iter_mut().zip(&advantages) {
            s.advantage = Some(a);
        }
        let keep = rollout.kept(&self.cfg);
        let mut metrics = rollout.metrics(step, g, self.schedule.at(step));
        if !keep.is_empty() {
            let rows = rollout.rows(&keep, &advantages, &self.cfg);
            let s = self.update(&rows, step)?;
            metrics.loss = s.loss;
            metrics.grad_norm = s.grad_norm;
            metrics.kl = s.kl;
            metrics.clip_low = s.clip_low;
            metrics.clip_high = s.clip_high;
        }
        self.step += 1;
        if let (Some(r), true) = (
            &self.reference,
            self.cfg.ref_reset_every > 0 && self.step % self.cfg.ref_reset_every == 0,
        ) {
            r.params().assign_from(self.policy.params())?;
        }
        let secs = start.elapsed().as_secs_f64();
        self.wall_s += secs;
        metrics.tokens_per_s = rollout.tokens(g) as f64 / secs;
        metrics.wall_s = self.wall_s;
        Ok(StepOutput {
            metrics,
            samples: rollout.samples,
        })
    }

    /// The rollout: G completions of each question of the step, scored by the rule-based
    /// rewards; with dynamic sampling, rounds of fresh questions until enough groups carry a
    /// signal (or `max_sampling_rounds`).
    fn rollout(&mut self, step: usize) -> Result<Rollout> {
        let cfg = self.cfg.clone();
        let mut rollout = Rollout::default();
        for round in 0..cfg.max_sampling_rounds {
            let offset = rollout.problems.len();
            let problems = self.problems_for_round(step, round)?;
            let prompts = problems
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
            let completions = generate(
                &self.policy,
                &self.tokenizer,
                &prompts,
                cfg.group_size,
                &sampling,
            )?;
            self.phase_s.sample += sample_start.elapsed().as_secs_f64();
            rollout.problems.extend(problems);
            rollout.prompts.extend(prompts);
            for mut c in completions {
                c.prompt_index += offset;
                let scored = self.rewards.score(
                    &rollout.problems[c.prompt_index],
                    &RewardInput::new(&c.text, c.token_ids.len()),
                );
                rollout.add(step, c, &scored, &cfg);
            }
            if !cfg.dynamic_sampling || rollout.groups_with_signal(&cfg) >= cfg.prompts_per_step {
                break;
            }
        }
        Ok(rollout)
    }

    /// The update: μ passes over `rows`, one optimizer step per minibatch. Returns the means over
    /// those steps of the loss, the gradient norm, the KL and the clip fractions.
    fn update(&mut self, rows: &[RolloutRow], step: usize) -> Result<UpdateStats> {
        let score_start = Instant::now();
        let prepared = self.prepare(rows)?;
        self.phase_s.score += score_start.elapsed().as_secs_f64();
        let update_start = Instant::now();
        let loss_cfg = self.cfg.loss();
        let (mut sum, mut count) = (UpdateStats::default(), 0.0);
        for _ in 0..self.cfg.mu {
            for passes in &prepared {
                let (mut grads, stats) = self.minibatch_gradient(passes, &loss_cfg, step)?;
                let norm =
                    clip_grad_norm(&mut grads, self.policy.params().vars(), self.cfg.grad_clip)?;
                self.opt.step(&grads, self.schedule.at(step))?;
                sum.loss += stats.loss;
                sum.grad_norm += norm;
                sum.kl += stats.kl;
                sum.clip_low += stats.clip_low;
                sum.clip_high += stats.clip_high;
                count += 1.0;
            }
        }
        self.phase_s.update += update_start.elapsed().as_secs_f64();
        Ok(UpdateStats {
            loss: sum.loss / count,
            grad_norm: sum.grad_norm / count,
            kl: sum.kl / count,
            clip_low: sum.clip_low / count,
            clip_high: sum.clip_high / count,
        })
    }

    /// The rows as minibatches of micro-batch passes, each with its old-policy and reference
    /// log-probs, computed once before any update (detached). Only with μ = 1 *and* one minibatch
    /// is every update made at the sampling policy; otherwise later updates are off-policy and
    /// need the old log-probs for ρ.
    fn prepare(&self, rows: &[RolloutRow]) -> Result<Vec<Vec<Pass>>> {
        let cfg = &self.cfg;
        let chunk = rows.len().div_ceil(cfg.minibatches);
        let mut prepared = Vec::new();
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
        Ok(prepared)
    }

    /// The gradient of one minibatch's loss, summed over its micro-batch passes, each pass's loss
    /// weighted by its share of what the aggregation averages over (its tokens for DAPO's token
    /// mean, its completions otherwise), so the sum is the minibatch's loss; with one pass, the
    /// loss itself. Returns the gradients and the minibatch's loss statistics.
    fn minibatch_gradient(
        &self,
        passes: &[Pass],
        loss_cfg: &LossConfig,
        step: usize,
    ) -> Result<(GradStore, LossStats)> {
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
        let mut acc: Option<GradStore> = None;
        let mut total = LossStats::default();
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
        let mut row = StepMetrics::blank(self.step, self.rewards.names());
        row.wall_s = self.wall_s;
        row.eval_pass_at_1 = report.pass_at_1;
        row.eval_cons_at_k = report.cons_at_k;
        Ok(row)
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
        anyhow::ensure!(
            step <= cfg.steps,
            "the run in {} is already trained to step {step}, past the {} steps asked for: ask \
             for {step} steps or more to reuse it, or give another run folder",
            dir.parent().unwrap_or(dir).display(),
            cfg.steps
        );
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
