//! `r1lab bench`: training-step and sampling throughput at named model sizes, on the shapes of
//! `bench/configs.json` (shared with `bench/torch_bench.py`, so both sides measure the same work).

use crate::model::{Batch, Model, ModelConfig};
use crate::optim::{AdamW, AdamWConfig};
use crate::sampling::{generate_with, SamplingConfig};
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// The shared benchmark configuration (`bench/configs.json`), embedded at build time.
pub const DEFAULT_CONFIGS: &str = include_str!("../bench/configs.json");

#[derive(Debug, Clone, Deserialize)]
pub struct BenchConfigs {
    pub sizes: BTreeMap<String, serde_json::Value>,
    pub common: serde_json::Value,
    pub train: BTreeMap<String, TrainWork>,
    pub sample: BTreeMap<String, SampleWork>,
    pub optimizer: OptimizerCfg,
    /// The whole-GRPO-step workload (`r1lab bench --grpo`, `bench/trl_bench.py`).
    #[serde(default)]
    pub grpo: Option<GrpoWork>,
}

/// One GRPO step on the workshop configuration, shared with `bench/trl_bench.py`: sampling G
/// completions for each of the prompts, reference and old log-probs, μ updates.
#[derive(Debug, Clone, Deserialize)]
pub struct GrpoWork {
    /// A checkpoint folder (Hugging Face layout) both sides load, e.g. `data/checkpoints/base-1M`.
    pub checkpoint: String,
    /// G.
    pub group_size: usize,
    pub prompts_per_step: usize,
    pub max_completion_length: usize,
    pub temperature: f64,
    /// β (the KL to a frozen reference: one more forward pass per step).
    pub beta: f64,
    /// μ.
    pub mu: usize,
    pub lr: f64,
    /// Timed steps, after `warmup` untimed ones.
    pub steps: usize,
    pub warmup: usize,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct TrainWork {
    pub batch: usize,
    pub seq_len: usize,
    pub steps: usize,
    pub warmup: usize,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct SampleWork {
    pub batch: usize,
    pub prompt_len: usize,
    pub new_tokens: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OptimizerCfg {
    pub lr: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
}

impl BenchConfigs {
    pub fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text).context("bench configs: not the shape of bench/configs.json")
    }

    /// The model config of a named size.
    pub fn model_config(&self, size: &str) -> Result<ModelConfig> {
        let mut v = self.sizes.get(size).cloned().with_context(|| {
            format!(
                "no bench size {size:?}; choose from {:?}",
                self.sizes.keys().collect::<Vec<_>>()
            )
        })?;
        if let (Some(obj), Some(common)) = (v.as_object_mut(), self.common.as_object()) {
            for (k, val) in common {
                obj.entry(k.clone()).or_insert(val.clone());
            }
        }
        let cfg: ModelConfig = serde_json::from_value(v)?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// One size's measurements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    pub size: String,
    pub params: usize,
    pub train_tokens_per_s: f64,
    pub train_step_ms: f64,
    /// Achieved matmul FLOP/s of the training step (6 · matmul params · tokens + attention).
    pub train_gflops: f64,
    pub sample_tokens_per_s: f64,
    pub peak_rss_mb: f64,
}

/// Peak resident memory of this process so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Matmul FLOPs of one forward pass over `tokens` tokens in rows of length `seq`.
pub fn forward_flops(cfg: &ModelConfig, tokens: usize, seq: usize) -> f64 {
    let h = cfg.hidden_size as f64;
    let hd = cfg.head_dim() as f64;
    let q = cfg.num_attention_heads as f64 * hd;
    let kv = cfg.num_kv_heads() as f64 * hd;
    let per_layer = h * q * 2.0 + 2.0 * h * kv + 3.0 * h * cfg.intermediate_size as f64;
    let matmul_params = cfg.num_hidden_layers as f64 * per_layer + cfg.vocab_size as f64 * h;
    // QKᵀ and PV over the full (masked) square.
    let attn = 2.0 * 2.0 * cfg.num_hidden_layers as f64 * seq as f64 * q;
    tokens as f64 * (2.0 * matmul_params + attn)
}

/// Training step: forward, next-token loss, backward, AdamW. Returns (tokens/s, ms/step, GFLOP/s).
pub fn bench_train(
    model: &Model,
    work: TrainWork,
    opt: &OptimizerCfg,
    seed: u64,
) -> Result<(f64, f64, f64)> {
    let device = model.device().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = model.config.vocab_size as u32;
    let (b, t) = (work.batch, work.seq_len);
    let ids: Vec<u32> = (0..b * t).map(|_| rng.random_range(0..v)).collect();
    let targets: Vec<u32> = (0..b * t).map(|_| rng.random_range(0..v)).collect();
    let batch = Batch::from_parts(ids, vec![true; b * t], b, t, model.dtype(), &device)?;
    let targets = Tensor::from_vec(targets, (b, t), &device)?;
    let cfg = AdamWConfig {
        lr: opt.lr,
        beta1: opt.betas[0],
        beta2: opt.betas[1],
        eps: opt.eps,
        weight_decay: opt.weight_decay,
    };
    let mut adam = AdamW::new(model.params().vars().to_vec(), cfg)?;
    let mut step = || -> Result<()> {
        let loss = model.token_logprobs(&batch, &targets)?.mean_all()?.neg()?;
        let grads = loss.backward()?;
        adam.step(&grads, opt.lr)?;
        device.synchronize()?;
        Ok(())
    };
    for _ in 0..work.warmup {
        step()?;
    }
    let start = Instant::now();
    for _ in 0..work.steps {
        step()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let tokens = (b * t * work.steps) as f64;
    let flops = 3.0 * forward_flops(&model.config, b * t, t) * work.steps as f64;
    Ok((
        tokens / secs,
        1000.0 * secs / work.steps as f64,
        flops / secs / 1e9,
    ))
}

/// KV-cached sampling of `new_tokens` for `batch` rows (no early stop). Returns new tokens/s,
/// prefill included in the time.
pub fn bench_sample(model: &Model, work: SampleWork, seed: u64) -> Result<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = model.config.vocab_size as u32;
    let prompts: Vec<Vec<u32>> = (0..work.batch)
        .map(|_| {
            (0..work.prompt_len)
                .map(|_| rng.random_range(0..v))
                .collect()
        })
        .collect();
    let cfg = SamplingConfig {
        temperature: 1.0,
        max_new_tokens: work.new_tokens,
        seed,
        ..Default::default()
    };
    let start = Instant::now();
    let out = generate_with(model, None, &[], 0, &prompts, 1, &cfg)?;
    let secs = start.elapsed().as_secs_f64();
    let tokens: usize = out.iter().map(|c| c.token_ids.len()).sum();
    Ok(tokens as f64 / secs)
}

/// What one whole-GRPO-step measurement found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrpoBenchResult {
    pub checkpoint: String,
    pub params: usize,
    pub group_size: usize,
    pub prompts_per_step: usize,
    pub max_completion_length: usize,
    pub steps: usize,
    /// Mean wall time of a timed step.
    pub step_s: f64,
    /// Mean completion tokens sampled per timed step (completions stop at `</answer>` or EOS,
    /// so this varies).
    pub completion_tokens_per_step: f64,
    /// Completion tokens per second of whole steps: the fair unit when lengths differ.
    pub completion_tokens_per_s: f64,
    /// Mean seconds per timed step in sampling, scoring (rollout tensors and reference and
    /// old-policy log-probs) and the update (absent from results written before it was
    /// measured).
    #[serde(default)]
    pub phase_s: crate::grpo::PhaseSeconds,
    pub peak_rss_mb: f64,
}

/// Whole GRPO steps of [`crate::grpo::GrpoTrainer`] on the arithmetic task with the R1-Zero
/// rewards and the short template, from `work.checkpoint`: the same trainer the experiments use.
pub fn bench_grpo_step(work: &GrpoWork, device: &Device) -> Result<GrpoBenchResult> {
    use crate::grpo::{GrpoConfig, GrpoTrainer};
    use crate::rewards::RewardSet;
    use crate::tasks::arithmetic::ArithmeticTask;
    use std::sync::Arc;
    anyhow::ensure!(
        work.steps > 0,
        "the grpo workload needs at least one timed step"
    );
    let loaded = crate::checkpoint::load(&work.checkpoint, DType::F32, device)
        .with_context(|| format!("grpo bench: cannot load {}", work.checkpoint))?;
    let tokenizer = loaded.tokenizer()?.clone();
    let params = loaded.model.num_parameters();
    let cfg = GrpoConfig {
        group_size: work.group_size,
        prompts_per_step: work.prompts_per_step,
        max_completion_length: work.max_completion_length,
        temperature: work.temperature,
        beta: work.beta,
        mu: work.mu,
        lr: work.lr,
        warmup_steps: 0,
        steps: work.warmup + work.steps,
        ..GrpoConfig::default()
    };
    let rewards = Arc::new(RewardSet::r1_zero(cfg.template.prompt_opens_think()));
    let mut trainer = GrpoTrainer::new(
        loaded.model,
        tokenizer,
        Arc::new(ArithmeticTask::default()),
        rewards,
        Default::default(),
        cfg,
    )?;
    for _ in 0..work.warmup {
        trainer.train_step()?;
    }
    let (mut secs, mut tokens) = (0.0, 0usize);
    let before = trainer.phase_s;
    for _ in 0..work.steps {
        let start = Instant::now();
        let out = trainer.train_step()?;
        device.synchronize()?;
        secs += start.elapsed().as_secs_f64();
        tokens += out.samples.iter().map(|s| s.num_tokens).sum::<usize>();
    }
    Ok(GrpoBenchResult {
        checkpoint: work.checkpoint.clone(),
        params,
        group_size: work.group_size,
        prompts_per_step: work.prompts_per_step,
        max_completion_length: work.max_completion_length,
        steps: work.steps,
        step_s: secs / work.steps as f64,
        completion_tokens_per_step: tokens as f64 / work.steps as f64,
        completion_tokens_per_s: tokens as f64 / secs,
        phase_s: trainer.phase_s.per_step_since(&before, work.steps),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Runs the benchmark for each size, printing a line per size as it finishes.
pub fn run(
    configs: &BenchConfigs,
    sizes: &[String],
    dtype: DType,
    device: &Device,
) -> Result<Vec<BenchResult>> {
    let mut out = Vec::new();
    for size in sizes {
        let cfg = configs.model_config(size)?;
        let model = Model::new_random(cfg, 0, dtype, device)?;
        let train = *configs
            .train
            .get(size)
            .with_context(|| format!("no train workload for {size}"))?;
        let sample = *configs
            .sample
            .get(size)
            .with_context(|| format!("no sample workload for {size}"))?;
        let (tps, ms, gflops) = bench_train(&model, train, &configs.optimizer, 1)?;
        let sps = bench_sample(&model, sample, 2)?;
        let r = BenchResult {
            size: size.clone(),
            params: model.num_parameters(),
            train_tokens_per_s: tps,
            train_step_ms: ms,
            train_gflops: gflops,
            sample_tokens_per_s: sps,
            peak_rss_mb: peak_rss_mb(),
        };
        eprintln!(
            "{size:>5}: {:>11} params | train {:>9.0} tok/s ({:.1} ms/step, {:.1} GFLOP/s) | sample {:>9.0} tok/s | peak RSS {:.0} MiB",
            r.params, r.train_tokens_per_s, r.train_step_ms, r.train_gflops, r.sample_tokens_per_s, r.peak_rss_mb
        );
        out.push(r);
    }
    Ok(out)
}
