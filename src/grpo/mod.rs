//! GRPO — Group Relative Policy Optimization (DeepSeekMath §4.1, eq. 3; DeepSeek-R1 §2.2.1,
//! eq. 1–3) — with the knobs of TRL's GRPOTrainer and verl.
//!
//! For each question, sample a group of G completions from the old policy, score them with
//! rule-based rewards, turn rewards into group-relative advantages ([`advantage`]) and maximise
//! the clipped surrogate minus β·KL to a frozen reference ([`loss`]), μ times per sampled batch
//! ([`trainer`]: rollout → score → update).
//!
//! The parts: [`config`] (every setting, the paper's value and TRL's name), the rollouts and
//! their tensors (`rollout`), [`metrics`] (`metrics.csv` and `samples.jsonl`: the schema, its
//! writer and its reader), [`run_folder`] (lock, interrupted saves, `trainer_state.json`).
//!
//! Departures from the paper (numbered, as in nanochat):
//! 1. scale: G = 8 completions, 8 questions per step and ≤ 128-token completions instead of
//!    G = 16, 32 questions and 32,768 tokens; learning rate 1e-4 instead of 3e-6 (tiny models);
//! 2. the reference model is the base model, reset to the policy every `ref_reset_every` steps as
//!    in the Nature version (400 there);
//! 3. optional later variants, off by default: clip-higher, token-level or constant loss
//!    normalisation, no std scaling, dynamic sampling (flat groups dropped, the batch refilled
//!    with fresh questions for up to `max_sampling_rounds` rounds), masking of truncated
//!    completions. `experiments::grpo_variants` compares them.

pub mod advantage;
pub mod config;
pub mod loss;
pub mod metrics;
mod rollout;
pub mod run_folder;
pub mod trainer;

pub use advantage::{group_advantages, GroupFilter, Scale};
pub use config::GrpoConfig;
pub use loss::{grpo_loss, LossAggregation, LossConfig, LossStats};
pub use metrics::{read_metrics, read_samples, SampleRecord, StepMetrics};
pub use trainer::{GrpoTrainer, PeriodicEval, PhaseSeconds};
