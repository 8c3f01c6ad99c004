//! The model: gradients reach every parameter, the batched and KV-cached paths agree, padding does
//! not leak, sampling repeats exactly for a seed.

mod common;
use common::max_abs_diff;

use r1lab::candle::{DType, Device, Tensor, D};
use r1lab::model::checks::kv_cache_vs_full;
use r1lab::model::{Batch, Model, ModelConfig};
use r1lab::optim::{AdamW, AdamWConfig};
use r1lab::sampling::{generate_with, SamplingConfig};

fn tiny(vocab: usize) -> ModelConfig {
    let mut cfg = ModelConfig::preset("tiny", vocab).unwrap();
    cfg.max_position_embeddings = 64;
    cfg
}

#[test]
fn every_parameter_gets_a_gradient_and_changes_after_one_step() {
    for tied in [true, false] {
        let mut cfg = tiny(40);
        cfg.tie_word_embeddings = tied;
        let model = Model::new_random(cfg, 3, DType::F32, &Device::Cpu).unwrap();
        let rows = vec![vec![1u32, 5, 7, 9, 2, 3], vec![4u32, 8, 10]];
        let batch = Batch::left_padded(&rows, 0, DType::F32, &Device::Cpu).unwrap();
        let targets = Tensor::new(
            &[[5u32, 7, 9, 2, 3, 11], [0, 0, 0, 8, 10, 12]],
            &Device::Cpu,
        )
        .unwrap();
        let before: Vec<Tensor> = model
            .params()
            .vars()
            .iter()
            .map(|v| v.as_tensor().copy().unwrap())
            .collect();
        let loss = model
            .token_logprobs(&batch, &targets)
            .unwrap()
            .mean_all()
            .unwrap()
            .neg()
            .unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in model.params().iter() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name} got no gradient"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0, "{name} has an all-zero gradient");
        }
        let mut opt = AdamW::new(model.params().vars().to_vec(), AdamWConfig::default()).unwrap();
        opt.step(&grads, 1e-3).unwrap();
        for ((name, var), old) in model.params().iter().zip(&before) {
            assert!(
                max_abs_diff(var.as_tensor(), old) > 0.0,
                "{name} did not change after one step (tied={tied})"
            );
        }
    }
}

#[test]
fn full_forward_and_kv_cached_decoding_agree() {
    let model = Model::new_random(tiny(50), 11, DType::F32, &Device::Cpu).unwrap();
    // Two rows of different lengths, left-padded; compare every real position.
    let rows = vec![
        vec![3u32, 14, 15, 9, 2, 6, 5, 35, 8, 9],
        vec![27u32, 18, 28, 18, 28, 4],
    ];
    let b = rows.len();
    let t = 10;
    let mut ids = vec![];
    let mut valid = vec![];
    for r in &rows {
        ids.extend(std::iter::repeat_n(0u32, t - r.len()));
        ids.extend_from_slice(r);
        valid.extend(std::iter::repeat_n(false, t - r.len()));
        valid.extend(std::iter::repeat_n(true, r.len()));
    }
    // Incremental: prefill the first 4 slots, then one slot at a time.
    let chunks = [4usize, 1, 1, 1, 1, 1, 1];
    let d = kv_cache_vs_full(&model, &ids, &valid, b, t, &chunks).unwrap();
    let (row, slot) = d.worst_at;
    assert!(
        d.max_abs < 1e-4,
        "row {row} slot {slot}: full and cached logits differ by {}",
        d.max_abs
    );
    assert_eq!(d.cached, chunks.iter().sum::<usize>());
}

#[test]
fn left_padding_does_not_change_a_rows_logits() {
    let model = Model::new_random(tiny(30), 5, DType::F32, &Device::Cpu).unwrap();
    let row = vec![4u32, 9, 1, 22, 7];
    let alone = model
        .forward(
            &Batch::left_padded(std::slice::from_ref(&row), 0, DType::F32, &Device::Cpu).unwrap(),
        )
        .unwrap();
    let padded = model
        .forward(
            &Batch::left_padded(&[row.clone(), vec![1u32; 9]], 0, DType::F32, &Device::Cpu)
                .unwrap(),
        )
        .unwrap();
    let a = alone.get(0).unwrap();
    let p = padded.get(0).unwrap().narrow(0, 4, 5).unwrap();
    assert!(max_abs_diff(&a, &p) < 1e-4);
}

#[test]
fn logprobs_match_log_softmax_of_logits() {
    let model = Model::new_random(tiny(30), 9, DType::F32, &Device::Cpu).unwrap();
    let batch = Batch::left_padded(&[vec![1u32, 2, 3, 4]], 0, DType::F32, &Device::Cpu).unwrap();
    let targets = Tensor::new(&[[2u32, 3, 4, 5]], &Device::Cpu).unwrap();
    let lp = model.token_logprobs(&batch, &targets).unwrap();
    let logits = model.forward(&batch).unwrap();
    let ref_lp = r1lab::candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
    let ref_lp = ref_lp
        .gather(&targets.unsqueeze(2).unwrap(), 2)
        .unwrap()
        .squeeze(2)
        .unwrap();
    assert!(max_abs_diff(&lp, &ref_lp) < 1e-5);
}

#[test]
fn sampling_repeats_for_a_seed_and_greedy_follows_the_argmax() {
    let model = Model::new_random(tiny(40), 2, DType::F32, &Device::Cpu).unwrap();
    let prompts = vec![vec![1u32, 2, 3], vec![7u32, 8, 9, 10, 11, 12]];
    let cfg = SamplingConfig {
        temperature: 1.0,
        top_p: 0.9,
        top_k: 20,
        max_new_tokens: 12,
        seed: 42,
        ..Default::default()
    };
    let a = generate_with(&model, None, &[0], 39, &prompts, 3, &cfg).unwrap();
    let b = generate_with(&model, None, &[0], 39, &prompts, 3, &cfg).unwrap();
    assert_eq!(a, b, "same seed, same completions");
    assert_eq!(a.len(), 6);
    assert_eq!((a[4].prompt_index, a[4].sample_index), (1, 1));
    let c = generate_with(
        &model,
        None,
        &[0],
        39,
        &prompts,
        3,
        &SamplingConfig {
            seed: 43,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_ne!(a, c, "another seed, other completions");
    for comp in &a {
        assert_eq!(comp.token_ids.len(), comp.logprobs.len());
        assert_eq!(
            comp.truncated,
            comp.token_ids.len() == 12 && !comp.token_ids.ends_with(&[0])
        );
    }

    // Greedy decoding reproduces the argmax of a full forward over the generated text.
    let g = generate_with(
        &model,
        None,
        &[],
        39,
        &prompts[1..],
        1,
        &SamplingConfig::greedy(6),
    )
    .unwrap();
    let mut seq = prompts[1].clone();
    for &tok in &g[0].token_ids {
        let logits = model
            .forward(&Batch::left_padded(&[seq.clone()], 39, DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        let last = logits.get(0).unwrap().get(seq.len() - 1).unwrap();
        let argmax = last.argmax(0).unwrap().to_scalar::<u32>().unwrap();
        assert_eq!(tok, argmax);
        seq.push(tok);
    }
}

#[test]
fn sampled_logprobs_match_the_scoring_forward() {
    // The log-probs returned by sampling (temperature 1) equal a later full-batch scoring pass:
    // what GRPO relies on for its old-policy ratio.
    let model = Model::new_random(tiny(40), 8, DType::F32, &Device::Cpu).unwrap();
    let prompt = vec![5u32, 6, 7];
    let out = generate_with(
        &model,
        None,
        &[],
        0,
        std::slice::from_ref(&prompt),
        1,
        &SamplingConfig {
            max_new_tokens: 8,
            ..Default::default()
        },
    )
    .unwrap();
    let mut seq = prompt.clone();
    seq.extend(&out[0].token_ids);
    let inputs = seq[..seq.len() - 1].to_vec();
    let targets = seq[1..].to_vec();
    let n = inputs.len();
    let batch = Batch::left_padded(&[inputs], 0, DType::F32, &Device::Cpu).unwrap();
    let lp = model
        .token_logprobs(
            &batch,
            &Tensor::from_vec(targets, (1, n), &Device::Cpu).unwrap(),
        )
        .unwrap();
    let lp = lp.get(0).unwrap().to_vec1::<f32>().unwrap();
    for (i, &s) in out[0].logprobs.iter().enumerate() {
        assert!(
            (lp[prompt.len() - 1 + i] - s).abs() < 1e-4,
            "token {i}: {} vs {s}",
            lp[prompt.len() - 1 + i]
        );
    }
}
