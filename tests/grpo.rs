//! The GRPO trainer: every parameter is updated by a step, and a run killed after a checkpoint
//! resumes to the same metrics as an uninterrupted run.

mod common;
use common::max_abs_diff;
use common::metrics_without_timing;
use common::LengthMod3;

use r1lab::candle::{DType, Device};
use r1lab::grpo::{GroupFilter, GrpoConfig, GrpoTrainer};
use r1lab::model::{Model, ModelConfig};
use r1lab::rewards::{Completion, Reward, RewardOutcome, RewardSet};
use r1lab::tasks::arithmetic::ArithmeticTask;
use r1lab::tasks::{Problem, Task};
use r1lab::tokenizer::Tokenizer;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

fn setup(seed: u64) -> (Model, Tokenizer, Arc<dyn Task>, Arc<RewardSet>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tk = Tokenizer::from_file(&root.join("data/tokenizer/tokenizer.json"), &[]).unwrap();
    let mut cfg = ModelConfig::preset("tiny", tk.vocab_size()).unwrap();
    cfg.max_position_embeddings = 128;
    let model = Model::new_random(cfg, seed, DType::F32, &Device::Cpu).unwrap();
    let task: Arc<dyn Task> = Arc::new(ArithmeticTask::new(Some(1..=2), None).unwrap());
    let rewards = Arc::new(RewardSet::new().with(LengthMod3, 1.0).unwrap());
    (model, tk, task, rewards)
}

fn small_cfg(steps: usize) -> GrpoConfig {
    GrpoConfig {
        group_size: 4,
        prompts_per_step: 2,
        max_completion_length: 12,
        steps,
        lr: 1e-3,
        warmup_steps: 1,
        beta: 0.04,
        mu: 2,
        minibatches: 2,
        ..Default::default()
    }
}

#[test]
fn one_step_updates_every_parameter() {
    let (model, tk, task, rewards) = setup(1);
    let before: Vec<_> = model
        .params()
        .vars()
        .iter()
        .map(|v| v.as_tensor().copy().unwrap())
        .collect();
    let mut t = GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), small_cfg(1)).unwrap();
    let out = t.train_step().unwrap();
    assert!(out.metrics.reward_std > 0.0, "the test reward must vary");
    for ((name, var), old) in t.policy.params().iter().zip(&before) {
        assert!(
            max_abs_diff(var.as_tensor(), old) > 0.0,
            "{name} was not updated by a GRPO step"
        );
    }
    assert_eq!(out.samples.len(), 8);
    assert!(out.metrics.kl >= 0.0);
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Uninterrupted: 3 steps.
    let (model, tk, task, rewards) = setup(2);
    let full = tmp.path().join("full");
    let mut t = GrpoTrainer::new(
        model,
        tk,
        task.clone(),
        rewards.clone(),
        HashSet::new(),
        small_cfg(3),
    )
    .unwrap();
    t.run(&full, None, 1, |_| {}).unwrap();

    // Interrupted: 2 steps (checkpoint at step 2), then a fresh process resumes to step 3.
    let (model, tk, _, _) = setup(2);
    let part = tmp.path().join("part");
    let mut t = GrpoTrainer::new(
        model,
        tk,
        task.clone(),
        rewards.clone(),
        HashSet::new(),
        small_cfg(2),
    )
    .unwrap();
    t.run(&part, None, 2, |_| {}).unwrap();
    drop(t);
    // A process killed after writing step 3's samples and metrics row, before its checkpoint.
    let lines_of_step = |path: &Path, keep: &dyn Fn(&str) -> bool| -> String {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| keep(l))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let late_samples = lines_of_step(&full.join("samples.jsonl"), &|l| l.contains("\"step\":2,"));
    let late_row = lines_of_step(&full.join("metrics.csv"), &|l| l.starts_with("3,"));
    assert!(!late_samples.is_empty() && !late_row.is_empty());
    for (f, extra) in [("samples.jsonl", &late_samples), ("metrics.csv", &late_row)] {
        let mut text = std::fs::read_to_string(part.join(f)).unwrap();
        text.push_str(extra);
        std::fs::write(part.join(f), text).unwrap();
    }
    // Other settings are refused, naming what differs, and nothing is changed.
    let other = GrpoConfig {
        lr: 5e-4,
        ..small_cfg(3)
    };
    let err = GrpoTrainer::resume(
        &part.join("checkpoint"),
        task.clone(),
        rewards.clone(),
        HashSet::new(),
        other,
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("other GRPO settings") && err.contains("lr"),
        "{err}"
    );
    let mut resumed = GrpoTrainer::resume(
        &part.join("checkpoint"),
        task,
        rewards,
        HashSet::new(),
        small_cfg(3),
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .unwrap();
    assert_eq!(resumed.step, 2);
    resumed.run(&part, None, 1, |_| {}).unwrap();

    let a = metrics_without_timing(&full.join("metrics.csv"));
    let b = metrics_without_timing(&part.join("metrics.csv"));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "resumed metrics differ from the uninterrupted run");
    assert_eq!(
        std::fs::read_to_string(full.join("samples.jsonl")).unwrap(),
        std::fs::read_to_string(part.join("samples.jsonl")).unwrap(),
        "resumed samples differ from the uninterrupted run"
    );
}

#[test]
fn bad_settings_are_rejected_with_the_field_named() {
    let (model, tk, task, rewards) = setup(3);
    let cfg = GrpoConfig {
        group_size: 1,
        ..small_cfg(1)
    };
    let err = GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), cfg)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("group_size"), "{err}");
}

/// The loss and its gradient against an independent float64 reference that agrees with TRL 1.16.0's
/// own `_compute_loss` (scripts/make_grpo_golden.py, tests/fixtures/grpo_golden.json).
#[test]
fn loss_and_gradient_match_the_golden_fixture() {
    use r1lab::candle::{Tensor, Var};
    use r1lab::grpo::{group_advantages, grpo_loss, LossAggregation, LossConfig, Scale};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/fixtures/grpo_golden.json")).unwrap();
    let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mat = |v: &serde_json::Value| -> Tensor {
        let rows: Vec<Vec<f32>> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect();
        Tensor::new(rows, &Device::Cpu).unwrap()
    };
    let vec1 = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let cases = fx["loss_cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let aggregation = match c["loss_type"].as_str().unwrap() {
            "grpo" => LossAggregation::SequenceMean,
            "dapo" => LossAggregation::TokenMean,
            "dr_grpo" => LossAggregation::ConstantNorm,
            other => panic!("unknown loss type {other}"),
        };
        let cfg = LossConfig {
            eps_low: c["eps_low"].as_f64().unwrap(),
            eps_high: c["eps_high"].as_f64().unwrap(),
            beta: c["beta"].as_f64().unwrap(),
            aggregation,
            max_completion_length: c["max_completion_length"].as_u64().unwrap() as usize,
            kl_bias_correction: c["kl_bias_correction"].as_bool().unwrap(),
        };
        let logp = Var::from_tensor(&mat(&c["logp"])).unwrap();
        let adv = Tensor::new(
            vec1(&c["advantages"])
                .iter()
                .map(|&x| x as f32)
                .collect::<Vec<_>>(),
            &Device::Cpu,
        )
        .unwrap();
        let (loss, stats) = grpo_loss(
            logp.as_tensor(),
            &mat(&c["old_logp"]),
            Some(&mat(&c["ref_logp"])),
            &adv,
            &mat(&c["mask"]),
            &cfg,
        )
        .unwrap();
        let expect = c["loss"].as_f64().unwrap();
        assert!(
            (stats.loss - expect).abs() < 1e-5,
            "{name}: loss {} vs {expect}",
            stats.loss
        );
        let grads = loss.backward().unwrap();
        let g = grads
            .get(logp.as_tensor())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let eg: Vec<Vec<f64>> = c["grad_logp"]
            .as_array()
            .unwrap()
            .iter()
            .map(vec1)
            .collect();
        for (i, (gr, er)) in g.iter().zip(&eg).enumerate() {
            for (j, (a, b)) in gr.iter().zip(er).enumerate() {
                assert!(
                    (*a as f64 - b).abs() < 1e-5,
                    "{name}: grad[{i}][{j}] {a} vs {b}"
                );
            }
        }
        for (key, got) in [
            ("clip_low", stats.clip_low),
            ("clip_high", stats.clip_high),
            ("kl", stats.kl),
        ] {
            let e = c[key].as_f64().unwrap();
            assert!((got - e).abs() < 1e-5, "{name}: {key} {got} vs {e}");
        }
    }
    for c in fx["advantage_cases"].as_array().unwrap() {
        let scale = match c["scale"].as_str().unwrap() {
            "group" => Scale::Group,
            "batch" => Scale::Batch,
            _ => Scale::None,
        };
        let got = group_advantages(
            &vec1(&c["rewards"]),
            c["group_size"].as_u64().unwrap() as usize,
            scale,
        )
        .unwrap();
        for (a, b) in got.iter().zip(vec1(&c["advantages"])) {
            assert!((a - b).abs() < 1e-5, "{}: {a} vs {b}", c["name"]);
        }
    }
}

/// A reward that is flat (always 0) on questions with an even byte sum and varies otherwise, so
/// that some groups carry no signal.
struct FlatOnEven;

impl Reward for FlatOnEven {
    fn name(&self) -> &str {
        "flat_on_even"
    }
    fn score(&self, p: &Problem, c: &Completion<'_>) -> RewardOutcome {
        let even = p.question.bytes().map(|b| b as u32).sum::<u32>() % 2 == 0;
        RewardOutcome {
            score: if even {
                0.0
            } else {
                (c.text.len() % 3) as f32 / 2.0
            },
            reason: "test".into(),
        }
    }
}

/// Groups (consecutive runs of `g` samples) whose rewards are not all equal.
fn groups_with_signal(samples: &[r1lab::grpo::SampleRecord], g: usize) -> usize {
    samples
        .chunks(g)
        .filter(|grp| grp.iter().any(|s| s.reward != grp[0].reward))
        .count()
}

#[test]
fn dynamic_sampling_refills_the_batch_with_groups_that_carry_a_signal() {
    let cfg = |rounds: usize| GrpoConfig {
        prompts_per_step: 4,
        mu: 1,
        minibatches: 1,
        dynamic_sampling: true,
        max_sampling_rounds: rounds,
        ..small_cfg(1)
    };
    let run = |rounds: usize| {
        let (model, tk, task, _) = setup(4);
        let rewards = Arc::new(RewardSet::new().with(FlatOnEven, 1.0).unwrap());
        let mut t =
            GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), cfg(rounds)).unwrap();
        t.train_step().unwrap()
    };
    // One round: the step's questions only, flat groups dropped.
    let single = run(1);
    assert_eq!(single.metrics.sampled_groups, 4.0);
    assert_eq!(single.samples.len(), 16);
    let first_round_signal = groups_with_signal(&single.samples, 4);
    assert!(
        first_round_signal < 4,
        "the fixture must leave flat groups in the first round ({first_round_signal} of 4 carry a signal)"
    );
    // Up to eight rounds: fresh questions until four groups carry a signal.
    let refilled = run(8);
    let groups = refilled.metrics.sampled_groups as usize;
    assert!(groups > 4, "no refill happened");
    assert_eq!(refilled.samples.len(), groups * 4);
    // The first round is the same rollouts as without refilling.
    assert_eq!(refilled.samples[..16], single.samples[..]);
    let signal = groups_with_signal(&refilled.samples, 4);
    assert!(
        signal >= 4 || groups == 32,
        "stopped with {signal} groups carrying a signal after {groups} groups"
    );
    // It stops at the round that filled the batch.
    let before_last = groups_with_signal(&refilled.samples[..(groups - 4) * 4], 4);
    assert!(before_last < 4);
    let zero = refilled.metrics.zero_variance_frac;
    assert!((zero - (groups - signal) as f64 / groups as f64).abs() < 1e-12);
}

/// Right (score 1) on questions whose bytes sum to an odd number when the completion's length is
/// even; wrong otherwise.
struct AccuracyOnOdd;

impl Reward for AccuracyOnOdd {
    fn name(&self) -> &str {
        "accuracy"
    }
    fn score(&self, p: &Problem, c: &Completion<'_>) -> RewardOutcome {
        let odd = p.question.bytes().map(|b| b as u32).sum::<u32>() % 2 == 1;
        RewardOutcome {
            score: if odd && c.text.len() % 2 == 0 {
                1.0
            } else {
                0.0
            },
            reason: "test".into(),
        }
    }
}

/// Groups (consecutive runs of `g` samples) that are neither all right nor all wrong.
fn groups_with_mixed_accuracy(samples: &[r1lab::grpo::SampleRecord], g: usize) -> usize {
    samples
        .chunks(g)
        .filter(|grp| grp.iter().any(|s| s.correct != grp[0].correct))
        .count()
}

#[test]
fn dynamic_sampling_on_accuracy_refills_until_groups_are_neither_all_right_nor_all_wrong() {
    let (model, tk, task, _) = setup(4);
    // A length reward beside accuracy: nearly every group's total varies, so only the accuracy
    // filter (DAPO eq. 11) finds flat groups.
    let rewards = Arc::new(
        RewardSet::new()
            .with(AccuracyOnOdd, 1.0)
            .unwrap()
            .with(LengthMod3, 0.5)
            .unwrap(),
    );
    let cfg = GrpoConfig {
        prompts_per_step: 4,
        mu: 1,
        minibatches: 1,
        dynamic_sampling: true,
        group_filter: GroupFilter::Accuracy,
        max_sampling_rounds: 8,
        ..small_cfg(1)
    };
    let mut t = GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), cfg).unwrap();
    let out = t.train_step().unwrap();
    let groups = out.metrics.sampled_groups as usize;
    assert!(groups > 4, "no refill happened");
    assert_eq!(out.samples.len(), groups * 4);
    let flat_by_accuracy_only = out
        .samples
        .chunks(4)
        .filter(|grp| {
            grp.iter().all(|s| s.correct == grp[0].correct)
                && grp.iter().any(|s| s.reward != grp[0].reward)
        })
        .count();
    assert!(
        flat_by_accuracy_only > 0,
        "the fixture must have groups whose rewards differ but whose accuracy does not"
    );
    let mixed = groups_with_mixed_accuracy(&out.samples, 4);
    assert!(
        mixed >= 4 || groups == 32,
        "stopped with {mixed} mixed groups after {groups} groups"
    );
    // It stopped at the round that filled the batch by accuracy, not by reward.
    let before_last = groups_with_mixed_accuracy(&out.samples[..(groups - 4) * 4], 4);
    assert!(
        before_last < 4,
        "{before_last} mixed groups before the last round"
    );
}

#[test]
fn appending_to_metrics_with_other_columns_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.csv");
    std::fs::write(&path, "step,reward_mean\n1,0.5\n").unwrap();
    let (model, tk, task, rewards) = setup(5);
    let mut t = GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), small_cfg(1)).unwrap();
    let m = t.train_step().unwrap().metrics;
    let err = r1lab::grpo::metrics::append_metrics(&path, &m)
        .unwrap_err()
        .to_string();
    assert!(err.contains("other columns"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "step,reward_mean\n1,0.5\n",
        "the existing file must be left as it was"
    );
}

#[test]
fn a_resumed_run_with_refills_matches_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = |steps: usize| GrpoConfig {
        prompts_per_step: 4,
        dynamic_sampling: true,
        max_sampling_rounds: 3,
        ..small_cfg(steps)
    };
    let trainer = |steps: usize| {
        let (model, tk, task, _) = setup(6);
        let rewards = Arc::new(RewardSet::new().with(FlatOnEven, 1.0).unwrap());
        GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), cfg(steps)).unwrap()
    };
    let full = tmp.path().join("full");
    trainer(3).run(&full, None, 1, |_| {}).unwrap();
    let part = tmp.path().join("part");
    trainer(2).run(&part, None, 2, |_| {}).unwrap();
    let (_, _, task, _) = setup(6);
    let rewards = Arc::new(RewardSet::new().with(FlatOnEven, 1.0).unwrap());
    let mut resumed = GrpoTrainer::resume(
        &part.join("checkpoint"),
        task,
        rewards,
        HashSet::new(),
        cfg(3),
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .unwrap();
    resumed.run(&part, None, 1, |_| {}).unwrap();
    let a = metrics_without_timing(&full.join("metrics.csv"));
    assert_eq!(a, metrics_without_timing(&part.join("metrics.csv")));
    let header = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    let col = header
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == "sampled_groups")
        .unwrap();
    assert!(
        a.iter().any(|row| row[col].parse::<f64>().unwrap() > 4.0),
        "no step refilled its batch: the test does not exercise the refill"
    );
    assert_eq!(
        std::fs::read_to_string(full.join("samples.jsonl")).unwrap(),
        std::fs::read_to_string(part.join("samples.jsonl")).unwrap()
    );
}

#[test]
fn later_minibatches_are_off_policy_so_the_clip_can_bind() {
    // μ = 1 with two minibatches: the second update is made after the first, so its ratio to the
    // sampling policy is no longer 1. A large step and a tiny ε make that visible in the clip
    // fractions; with one minibatch every ratio is exactly 1 and nothing is clipped.
    let cfg = |minibatches: usize| GrpoConfig {
        prompts_per_step: 4,
        mu: 1,
        minibatches,
        lr: 0.05,
        warmup_steps: 0,
        eps_low: 1e-4,
        eps_high: 1e-4,
        ..small_cfg(1)
    };
    let clipped = |minibatches: usize| {
        let (model, tk, task, rewards) = setup(3);
        let mut t =
            GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), cfg(minibatches)).unwrap();
        let out = t.train_step().unwrap();
        // The second minibatch (the last two groups of four) must carry a signal, or nothing in
        // it could be clipped whatever ρ is.
        let second: Vec<f64> = out.samples[8..].iter().map(|s| s.reward).collect();
        assert!(
            second.iter().any(|&r| r != second[0]),
            "the test reward must vary in the second minibatch"
        );
        out.metrics.clip_low + out.metrics.clip_high
    };
    assert_eq!(clipped(1), 0.0);
    assert!(clipped(2) > 0.0, "the second minibatch was scored at ρ = 1");
}

#[test]
fn micro_batches_give_the_minibatch_gradient() {
    // Gradient accumulation changes the memory, not the update: for each loss aggregation, two
    // steps with micro-batches of 3 completions (passes of 3 + 1 in minibatches of 4) end at the
    // same weights and losses as with whole minibatches, up to float rounding.
    use r1lab::grpo::LossAggregation;
    for aggregation in [
        LossAggregation::SequenceMean,
        LossAggregation::TokenMean,
        LossAggregation::ConstantNorm,
    ] {
        let run = |micro: usize| {
            let (model, tk, task, rewards) = setup(7);
            let cfg = GrpoConfig {
                micro_batch_size: micro,
                aggregation,
                ..small_cfg(2)
            };
            let mut t = GrpoTrainer::new(model, tk, task, rewards, HashSet::new(), cfg).unwrap();
            let losses: Vec<f64> = (0..2)
                .map(|_| t.train_step().unwrap().metrics.loss)
                .collect();
            (t, losses)
        };
        let (whole, la) = run(0);
        let (micro, lb) = run(3);
        for (a, b) in la.iter().zip(&lb) {
            assert!((a - b).abs() < 1e-5, "{aggregation:?}: loss {a} vs {b}");
        }
        for ((name, a), (_, b)) in whole
            .policy
            .params()
            .iter()
            .zip(micro.policy.params().iter())
        {
            let d = max_abs_diff(a.as_tensor(), b.as_tensor());
            assert!(d < 1e-5, "{aggregation:?}: {name} differs by {d}");
        }
    }
}
