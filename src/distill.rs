//! Distillation (paper §2.4 *Distillation: Empower Small Models with Reasoning Capability*).
//!
//! "We directly fine-tuned open-source models like Qwen and Llama using the 800k samples curated
//! with DeepSeek-R1 … For distilled models, we apply only SFT and do not include an RL stage."
//! The paper's distillation is therefore plain SFT on the teacher's rejection-sampled traces:
//! [`teacher_traces`] samples them and keeps the correct ones ([`crate::rejection`]),
//! [`crate::sft::train`] fine-tunes a student on [`Trace::to_row`] rows.
//!
//! Beyond the paper, [`kd_loss`] is *logit* distillation (Hinton et al. 2015): the forward KL
//! `KL(π_teacher ‖ π_student)` of the next-token distributions over the completion tokens of the
//! same traces, which gives the student the teacher's whole distribution instead of one sampled
//! token. Teacher and student must share the tokenizer (every model of this project does).
//!
//! [`compute`] estimates the training compute of a run in FLOPs (6·N per trained token, 2·N per
//! forward-only token: Kaplan et al. 2020), so that Table 6 can compare distillation and RL at a
//! known budget.

use crate::model::Model;
use crate::rejection::{rejection_sample, RejectionConfig, RejectionStats, Trace};
use crate::sft::{self, SftConfig, SftLog, SftRow, SftTensors};
use crate::tasks::{sample_fresh, Problem, Task};
use crate::tokenizer::Tokenizer;
use anyhow::{ensure, Context, Result};
use candle_core::{DType, Tensor, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// `n` training problems of `task` drawn from `seed` as the generator serves them (never a
/// held-out question). Repeats are kept: drawing `n` *distinct* questions exhausts the few small
/// problems (there are only 81 one-digit additions) and skews a large pool towards hard ones
/// (`reports/LOG.md`, 2026-11-29), away from the held-out set's mix.
pub fn training_problems(
    task: &dyn Task,
    n: usize,
    held_out: &HashSet<String>,
    seed: u64,
) -> Result<Vec<Problem>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            sample_fresh(task, &mut rng, held_out)
                .context("the task generator could not produce a question outside the held-out set")
        })
        .collect()
}

/// The distillation data: the teacher answers `problems`, rejection sampling keeps the correct,
/// well-formed, single-language answers.
pub fn teacher_traces(
    teacher: &Model,
    tokenizer: &Tokenizer,
    problems: &[Problem],
    cfg: &RejectionConfig,
) -> Result<(Vec<Trace>, RejectionStats)> {
    rejection_sample(teacher, tokenizer, problems, cfg)
}

/// SFT rows of `traces` (loss on the completions).
pub fn trace_rows(traces: &[Trace], tokenizer: &Tokenizer) -> Result<Vec<SftRow>> {
    traces.iter().map(|t| t.to_row(tokenizer)).collect()
}

/// Mean forward KL `Σ_v p_T(v) (log p_T(v) − log p_S(v))` over the target positions of `rows`,
/// with gradients to the student only (the teacher's distribution is detached).
pub fn kd_loss(student: &Model, teacher: &Model, rows: &[&SftRow]) -> Result<Tensor> {
    ensure!(
        student.config.vocab_size == teacher.config.vocab_size,
        "teacher and student vocabularies differ ({} vs {}): logit distillation needs the same tokenizer",
        teacher.config.vocab_size,
        student.config.vocab_size
    );
    let t = SftTensors::build(student, rows)?;
    let log_softmax = |logits: Tensor| -> Result<Tensor> {
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let shifted = logits.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        Ok(shifted.broadcast_sub(&lse)?)
    };
    // The teacher may run in another dtype (bf16 while the student trains in f32): its own batch.
    let teacher_logits = if teacher.dtype() == student.dtype() {
        teacher.forward(&t.batch)?
    } else {
        teacher.forward(&SftTensors::build(teacher, rows)?.batch)?
    };
    let lp_t = log_softmax(teacher_logits.to_dtype(DType::F32)?.detach())?.detach();
    let lp_s = log_softmax(student.forward(&t.batch)?)?;
    let kl = (lp_t.exp()? * (&lp_t - lp_s)?)?.sum(D::Minus1)?; // [b, t]
    Ok(((kl * t.mask)?.sum_all()? / t.count)?)
}

/// Trains `student` in place by logit distillation from `teacher` on `rows` (the loop, batches and
/// schedule of [`sft::train`]).
pub fn train_logit(
    student: &Model,
    teacher: &Model,
    rows: &[SftRow],
    cfg: &SftConfig,
    on_log: impl FnMut(&SftLog),
) -> Result<Vec<SftLog>> {
    sft::train_with(
        student,
        rows,
        cfg,
        |m, batch| kd_loss(m, teacher, batch),
        on_log,
    )
}

/// Training compute of a run, in FLOPs.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Compute {
    /// Tokens through forward + backward of the trained model (6·N each).
    pub trained_tokens: f64,
    /// Tokens through a forward pass only (sampling, reference or teacher scoring): 2·N' each,
    /// N' the parameters of the model that ran them.
    pub forward_flops: f64,
    /// Total FLOPs: 6·N·trained_tokens + forward_flops.
    pub flops: f64,
}

/// `trained_tokens` through a model of `params` parameters, plus `forward_flops`.
pub fn compute(params: usize, trained_tokens: f64, forward_flops: f64) -> Compute {
    Compute {
        trained_tokens,
        forward_flops,
        flops: 6.0 * params as f64 * trained_tokens + forward_flops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn model(seed: u64) -> Model {
        crate::model::tiny_random(16, seed)
    }

    #[test]
    fn training_problems_follow_the_generator_and_skip_held_out_questions() {
        use crate::tasks::arithmetic::{ArithOp, ArithmeticTask};
        use crate::tasks::ProblemMeta;
        let task = ArithmeticTask::default();
        let held_out: HashSet<String> = ["What is 3 + 4?", "What is 7 + 5?"]
            .into_iter()
            .map(String::from)
            .collect();
        let a = training_problems(&task, 2000, &held_out, 9).unwrap();
        assert_eq!(a, training_problems(&task, 2000, &held_out, 9).unwrap());
        assert!(a.iter().all(|p| !held_out.contains(&p.question)));
        // One-digit additions are about 1/6 of what the generator serves; only 79 distinct ones
        // exist outside the held-out set, so a distinct draw would cap them there.
        let one_digit_adds = a
            .iter()
            .filter(|p| {
                matches!(p.meta, ProblemMeta::Arithmetic { op: ArithOp::Add, a, b } if a < 10 && b < 10)
            })
            .count();
        assert!(
            (250..=420).contains(&one_digit_adds),
            "{one_digit_adds} one-digit additions of 2000"
        );
    }

    fn rows() -> Vec<SftRow> {
        vec![
            SftRow::prompt_completion(&[1, 2, 3], &[4, 5, 6]),
            SftRow::prompt_completion(&[7, 8], &[9, 10, 11, 12]),
        ]
    }

    #[test]
    fn kd_loss_is_zero_against_itself_and_positive_otherwise() {
        let (s, t) = (model(1), model(2));
        let rows = rows();
        let refs: Vec<&SftRow> = rows.iter().collect();
        let same = kd_loss(&s, &s, &refs).unwrap().to_scalar::<f32>().unwrap();
        assert!(same.abs() < 1e-6, "{same}");
        let diff = kd_loss(&s, &t, &refs).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff > 1e-4 && diff.is_finite(), "{diff}");
    }

    #[test]
    fn kd_loss_matches_a_direct_computation_and_reaches_every_parameter() {
        let (s, t) = (model(3), model(4));
        let row = SftRow::prompt_completion(&[1, 2], &[3, 4]);
        let loss = kd_loss(&s, &t, &[&row]).unwrap();
        // Direct: the targets are the positions predicting 3 and 4, i.e. input slots 1 and 2.
        let batch = crate::model::Batch::left_padded(&[vec![1, 2, 3]], 0, DType::F32, &Device::Cpu)
            .unwrap();
        let ls = s.forward(&batch).unwrap().to_vec3::<f32>().unwrap();
        let lt = t.forward(&batch).unwrap().to_vec3::<f32>().unwrap();
        let lsm = |v: &[f32]| {
            let m = v.iter().cloned().fold(f32::MIN, f32::max);
            let z: f32 = v.iter().map(|x| (x - m).exp()).sum();
            v.iter().map(|x| x - m - z.ln()).collect::<Vec<f32>>()
        };
        let mut want = 0.0f32;
        for pos in [1, 2] {
            let (a, b) = (lsm(&lt[0][pos]), lsm(&ls[0][pos]));
            want += a
                .iter()
                .zip(&b)
                .map(|(x, y)| x.exp() * (x - y))
                .sum::<f32>();
        }
        want /= 2.0;
        let got = loss.to_scalar::<f32>().unwrap();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        let grads = loss.backward().unwrap();
        for v in s.params().vars() {
            let g = grads
                .get(v.as_tensor())
                .expect("a student parameter got no gradient");
            let n = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(n > 0.0);
        }
        for v in t.params().vars() {
            assert!(
                grads.get(v.as_tensor()).is_none(),
                "the teacher got a gradient"
            );
        }
    }

    #[test]
    fn logit_distillation_moves_the_student_towards_the_teacher() {
        let (s, t) = (model(5), model(6));
        let rows = rows();
        let refs: Vec<&SftRow> = rows.iter().collect();
        let before = kd_loss(&s, &t, &refs).unwrap().to_scalar::<f32>().unwrap();
        let cfg = SftConfig {
            steps: 40,
            batch_size: 2,
            lr: 1e-2,
            warmup_steps: 2,
            ..Default::default()
        };
        let logs = train_logit(&s, &t, &rows, &cfg, |_| {}).unwrap();
        assert_eq!(logs.len(), 40);
        let after = kd_loss(&s, &t, &refs).unwrap().to_scalar::<f32>().unwrap();
        assert!(after < 0.5 * before, "{before} -> {after}");
    }

    #[test]
    fn different_vocabularies_are_refused() {
        let s = model(1);
        let t = crate::model::tiny_random(20, 1);
        let rows = rows();
        let err = kd_loss(&s, &t, &[&rows[0]]).unwrap_err().to_string();
        assert!(err.contains("same tokenizer"), "{err}");
    }

    #[test]
    fn compute_counts_six_n_per_trained_token() {
        let c = compute(1000, 10.0, 500.0);
        assert_eq!(c.flops, 60_500.0);
    }
}
