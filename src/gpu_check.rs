//! `r1lab gpu-check`: the checks that prove the CUDA path (issue 8), runnable on any device.
//!
//! On a GPU (`--device cuda`, a build with `--features cuda`) it runs, in this order, writing
//! `gpu_check.json` and `gpu_check.md` to the output folder after every check (so a run cut short
//! still leaves what it measured), each check isolated (an error or panic in one is recorded and
//! the next one runs):
//! 1. **parity**: the tiny Qwen2 and Llama fixtures' logits against the ones `transformers`
//!    computed (`tests/fixtures`, see `tests/parity.rs`), in f32 and in bf16; the KV-cached decode
//!    path against the full forward;
//! 2. **gradients**: one masked next-token loss on the tiny Qwen2 fixture, backward on the device
//!    and on the CPU; every parameter must get a finite, non-zero gradient on the device, close to
//!    the CPU's (f32), or within a stated relative error (bf16);
//! 3. **SFT smoke run** (the loop that distillation will use) from `data/checkpoints/base-1M`:
//!    the loss must fall. Distillation itself does not exist yet (issue 5); the report says so;
//! 4. **throughput** of a ~0.5B-parameter Qwen2-shaped model with random weights at bf16: training
//!    step (forward, backward, AdamW) and KV-cached sampling tokens/s, and achieved TFLOP/s
//!    against the H200's bf16 matrix rate;
//! 5. **GRPO smoke run** from `data/checkpoints/base-1M` on the arithmetic task with the R1-Zero
//!    rewards (time-boxed): the mean reward of the last steps must exceed that of the first steps.
//!
//! `--quick` shrinks every workload so that the same code runs on the CPU in seconds
//! (`tests/gpu_check.rs`); then the reward-rise check is reported but not enforced (three GRPO
//! steps are too few to show a trend), and the throughput model is the 1M preset.
//!
//! The CUDA path uses the composed candle ops, never the fused CPU kernels of
//! [`crate::model::ops`]: `ops::fused_ok` is true only for f32 tensors on the CPU. On the CPU the
//! bf16 checks run that same composed path, so `--device cpu --quick` tests it here.

use crate::bench::{self, OptimizerCfg, SampleWork, TrainWork};
use crate::checkpoint;
use crate::grpo::{GrpoConfig, GrpoTrainer};
use crate::model::checks::{self, to_host_f32, LogitsDiff, LogitsFixture};
use crate::model::{attention_mask, positions_from_valid, KvCache, Model, ModelConfig};
use crate::rewards::RewardSet;
use crate::sft::{self, SftConfig, SftRow};
use crate::tasks::language::Lang;
use crate::tasks::{self, Task, Template};
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The H200's dense bf16 matrix rate as measured on the GPU machine (an 8192³ bf16 matmul in
/// PyTorch: 769–798 TFLOP/s; the datasheet says about 990).
pub const PEAK_BF16_TFLOPS: f64 = 790.0;

/// f32 logits on the device vs `transformers` (CPU, f32): the tolerance of `tests/parity.rs`.
pub const TOL_F32_LOGITS: f64 = 1e-4;
/// bf16 weights and activations vs the f32 `transformers` logits: relative L2 error of the logits
/// at real positions (‖ours − theirs‖₂ / ‖theirs‖₂). Measured on the CPU's bf16 path (the same
/// composed ops as CUDA): 1.41e-2 (tiny Qwen2), 1.73e-2 (tiny Llama), max abs 0.07 and 0.12 for
/// logits of std ≈ 1.2; most of it is the weights' rounding to bf16. The tolerance leaves ~3× for
/// cuBLAS's other summation order.
pub const TOL_BF16_REL_L2: f64 = 5e-2;
/// f32 gradients, device vs CPU, per parameter: max |Δg| ≤ 1e-5 + 1e-4 · max |g_cpu|.
pub const TOL_F32_GRAD_ABS: f64 = 1e-5;
pub const TOL_F32_GRAD_REL: f64 = 1e-4;
/// bf16 gradients (device, bf16 weights) vs f32 gradients on the CPU, per parameter:
/// max |Δg| / max |g_cpu|. Measured on the CPU's bf16 path: 2.8e-2 to 4.6e-2 for the worst eight
/// of the 27 tensors of tiny Qwen2 (the bf16-rounded weights change the function itself); the
/// tolerance leaves ~3×.
pub const TOL_BF16_GRAD_REL: f64 = 0.15;
/// KV-cached decoding vs the full forward, f32, max abs difference of the logits.
pub const TOL_KV_F32: f64 = 1e-4;

/// What to run and where the inputs are.
#[derive(Debug, Clone)]
pub struct GpuCheckConfig {
    /// Smoke-sized workloads (for the CPU and CI).
    pub quick: bool,
    /// `tests/fixtures` (tiny-qwen2, tiny-llama with their `parity.safetensors`).
    pub fixtures: PathBuf,
    /// `data` (tasks/arithmetic test set, for the held-out questions).
    pub data: PathBuf,
    /// The base checkpoint of the smoke runs.
    pub base: PathBuf,
    pub grpo_steps: usize,
    /// Stop the GRPO run early after this many seconds (it is judged on the steps it made).
    pub grpo_budget_s: f64,
    pub sft_steps: usize,
    /// The throughput model preset (`0.5B`; `1M` in quick mode).
    pub throughput_size: String,
    pub skip_throughput: bool,
}

impl GpuCheckConfig {
    pub fn new(quick: bool) -> Self {
        Self {
            quick,
            fixtures: PathBuf::from("tests/fixtures"),
            data: PathBuf::from("data"),
            base: PathBuf::from("data/checkpoints/base-1M"),
            grpo_steps: if quick { 3 } else { 40 },
            grpo_budget_s: if quick { 600.0 } else { 150.0 },
            sft_steps: if quick { 6 } else { 40 },
            throughput_size: if quick { "1M".into() } else { "0.5B".into() },
            skip_throughput: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The check could not run (an error or a panic): a failure of the CUDA path.
    Error,
    /// Measured and reported, not judged.
    Info,
    /// Not run (the note says why).
    Skipped,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// Whether the status counts towards the overall pass.
    pub enforced: bool,
    pub summary: String,
    pub tolerance: String,
    pub wall_s: f64,
    pub details: serde_json::Value,
}

/// The whole report (`gpu_check.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub device: String,
    pub describe: String,
    pub cuda_feature: bool,
    pub quick: bool,
    pub unix_time: u64,
    pub checks: Vec<Check>,
    /// Every enforced check passed.
    pub pass: bool,
    pub wall_s: f64,
    pub notes: Vec<String>,
}

impl Report {
    fn update_pass(&mut self) {
        self.pass = self
            .checks
            .iter()
            .all(|c| !c.enforced || c.status == Status::Pass);
    }
}

/// Runs every check on `device`, writing the report to `out` after each one.
pub fn run(
    cfg: &GpuCheckConfig,
    device: &Device,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Report> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let start = Instant::now();
    let mut report = Report {
        tool: format!("r1lab {} gpu-check", env!("CARGO_PKG_VERSION")),
        device: device_name(device),
        describe: crate::device::describe(device),
        cuda_feature: cfg!(feature = "cuda"),
        quick: cfg.quick,
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        checks: vec![],
        pass: false,
        wall_s: 0.0,
        notes: vec![
            "Distillation smoke run: awaits issue 5 (distillation does not exist in the crate yet); the SFT smoke run exercises the training loop it will use.".into(),
            format!(
                "Throughput FLOPs: training 6·N·tokens, sampling 2·N·tokens, N = all parameters (tied embedding counted once: it is the LM-head matmul); attention-score FLOPs excluded from these, included in the *_attn figures. Peak: {PEAK_BF16_TFLOPS} TFLOP/s bf16 (measured H200 matmul rate)."
            ),
        ],
    };
    type Job<'a> = (&'a str, Box<dyn Fn() -> Result<Check> + 'a>);
    let jobs: Vec<Job> = vec![
        (
            "parity_f32",
            Box::new(|| check_parity(cfg, device, DType::F32)),
        ),
        (
            "parity_bf16",
            Box::new(|| check_parity(cfg, device, DType::BF16)),
        ),
        ("kv_cache_f32", Box::new(|| check_kv_cache(cfg, device))),
        (
            "gradients_f32",
            Box::new(|| check_gradients(cfg, device, DType::F32)),
        ),
        (
            "gradients_bf16",
            Box::new(|| check_gradients(cfg, device, DType::BF16)),
        ),
        ("sft_smoke", Box::new(|| check_sft(cfg, device))),
        (
            "throughput_bf16",
            Box::new(|| check_throughput(cfg, device)),
        ),
        // Last: the longest, and time-boxed (`grpo_budget_s`).
        ("grpo_smoke", Box::new(|| check_grpo(cfg, device))),
    ];
    for (name, job) in jobs {
        progress(&format!("gpu-check: {name} …"));
        let t0 = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let mut check = match outcome {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => errored(name, format!("{e:#}")),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                errored(name, format!("panicked: {msg}"))
            }
        };
        check.wall_s = t0.elapsed().as_secs_f64();
        progress(&format!(
            "gpu-check: {name}: {:?} ({:.1} s) {}",
            check.status, check.wall_s, check.summary
        ));
        report.checks.push(check);
        report.update_pass();
        report.wall_s = start.elapsed().as_secs_f64();
        write(&report, out)?;
    }
    report.checks.push(Check {
        name: "distillation_smoke".into(),
        status: Status::Skipped,
        enforced: false,
        summary: "awaits issue 5: the crate has no distillation yet".into(),
        tolerance: String::new(),
        wall_s: 0.0,
        details: json!({}),
    });
    report.update_pass();
    report.wall_s = start.elapsed().as_secs_f64();
    write(&report, out)?;
    Ok(report)
}

fn device_name(device: &Device) -> String {
    if device.is_cuda() {
        "cuda".into()
    } else if device.is_cpu() {
        "cpu".into()
    } else {
        "other".into()
    }
}

fn errored(name: &str, msg: String) -> Check {
    Check {
        name: name.into(),
        status: Status::Error,
        enforced: true,
        summary: msg,
        tolerance: String::new(),
        wall_s: 0.0,
        details: json!({}),
    }
}

fn judged(pass: bool) -> Status {
    if pass {
        Status::Pass
    } else {
        Status::Fail
    }
}

// ---------------------------------------------------------------------------------------------
// Parity (the checks themselves: `model::checks`, shared with tests/parity.rs and tests/model.rs)

fn read_fixture(cfg: &GpuCheckConfig, name: &str) -> Result<LogitsFixture> {
    LogitsFixture::read(&cfg.fixtures.join(name).join("parity.safetensors"))
}

fn load_fixture_model(
    cfg: &GpuCheckConfig,
    name: &str,
    dtype: DType,
    device: &Device,
) -> Result<Model> {
    Ok(checkpoint::load(&cfg.fixtures.join(name).to_string_lossy(), dtype, device)?.model)
}

/// Logits of the two tiny fixtures against `transformers`: f32 weights must match every real
/// position to an absolute tolerance, bf16 weights (and activations) to a relative L2 error.
fn check_parity(cfg: &GpuCheckConfig, device: &Device, dtype: DType) -> Result<Check> {
    let f32_mode = dtype == DType::F32;
    let mut details = serde_json::Map::new();
    let mut pass = true;
    let mut parts = vec![];
    for name in ["tiny-qwen2", "tiny-llama"] {
        let model = load_fixture_model(cfg, name, dtype, device)?;
        let LogitsDiff {
            max_abs: worst,
            rel_l2: rel,
            positions: n,
        } = read_fixture(cfg, name)?.check(&model)?;
        if f32_mode {
            pass &= worst < TOL_F32_LOGITS && n > 20;
            parts.push(format!("{name} max |Δ| {worst:.2e}"));
        } else {
            pass &= rel < TOL_BF16_REL_L2 && worst.is_finite();
            parts.push(format!("{name} rel L2 {rel:.2e} (max |Δ| {worst:.3})"));
        }
        details.insert(
            name.into(),
            json!({"max_abs_diff": worst, "rel_l2": rel, "positions": n}),
        );
    }
    let (check, summary, tolerance) = if f32_mode {
        (
            "parity_f32",
            "logits vs transformers",
            format!("max abs diff < {TOL_F32_LOGITS:e} at every real position"),
        )
    } else {
        (
            "parity_bf16",
            "bf16 weights and activations vs f32 transformers",
            format!("relative L2 error of the logits < {TOL_BF16_REL_L2:e}"),
        )
    };
    Ok(Check {
        name: check.into(),
        status: judged(pass),
        enforced: true,
        summary: format!("{summary}: {}", parts.join(", ")),
        tolerance,
        wall_s: 0.0,
        details: details.into(),
    })
}

/// The KV-cached path (the sampler's) against the full forward, on the tiny Qwen2 fixture: prefill
/// 4 slots, then one slot at a time.
fn check_kv_cache(cfg: &GpuCheckConfig, device: &Device) -> Result<Check> {
    let fx = read_fixture(cfg, "tiny-qwen2")?;
    let model = load_fixture_model(cfg, "tiny-qwen2", DType::F32, device)?;
    let prefill = 4usize.min(fx.t);
    let mut chunks = vec![prefill];
    chunks.extend(std::iter::repeat_n(1, fx.t - prefill));
    let worst = checks::kv_cache_vs_full(&model, &fx.ids, &fx.valid, fx.b, fx.t, &chunks)?.max_abs;
    Ok(Check {
        name: "kv_cache_f32".into(),
        status: judged(worst < TOL_KV_F32),
        enforced: true,
        summary: format!("KV-cached decode vs full forward (tiny-qwen2): max |Δ| {worst:.2e}"),
        tolerance: format!("max abs diff < {TOL_KV_F32:e}"),
        wall_s: 0.0,
        details: json!({"max_abs_diff": worst}),
    })
}

// ---------------------------------------------------------------------------------------------
// Gradients

/// Each parameter's name and gradient (host, f32; `None` when the loss did not reach it).
type NamedGrads = Vec<(String, Option<Vec<f32>>)>;

/// The loss and per-parameter gradients of the masked next-token loss on the fixture's batch.
fn fixture_grads(cfg: &GpuCheckConfig, dtype: DType, device: &Device) -> Result<(f64, NamedGrads)> {
    let fx = read_fixture(cfg, "tiny-qwen2")?;
    let model = &load_fixture_model(cfg, "tiny-qwen2", dtype, device)?;
    let (b, t) = (fx.b, fx.t);
    let batch = fx.batch(dtype, device)?;
    // Targets: the next slot's id; a slot counts when it and the next are real tokens.
    let mut targets = vec![0u32; b * t];
    let mut weight = vec![0f32; b * t];
    for r in 0..b {
        for j in 0..t - 1 {
            targets[r * t + j] = fx.ids[r * t + j + 1];
            if fx.valid[r * t + j] && fx.valid[r * t + j + 1] {
                weight[r * t + j] = 1.0;
            }
        }
    }
    let count: f32 = weight.iter().sum();
    let targets = Tensor::from_vec(targets, (b, t), device)?;
    let weight = Tensor::from_vec(weight, (b, t), device)?;
    let lp = model.token_logprobs(&batch, &targets)?;
    let loss = ((lp * weight)?.sum_all()? / (-(count as f64)))?;
    let loss_value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()? as f64;
    let grads = loss.backward()?;
    let mut out = vec![];
    for (name, var) in model.params().iter() {
        let g = grads.get(var.as_tensor()).map(to_host_f32).transpose()?;
        out.push((name.to_string(), g));
    }
    Ok((loss_value, out))
}

fn check_gradients(cfg: &GpuCheckConfig, device: &Device, dtype: DType) -> Result<Check> {
    let (loss_dev, dev_grads) = fixture_grads(cfg, dtype, device)?;
    let (loss_cpu, cpu_grads) = fixture_grads(cfg, DType::F32, &Device::Cpu)?;
    let mut per_param = vec![];
    let mut problems = vec![];
    let mut worst_rel = 0f64;
    let mut worst_abs = 0f64;
    for ((name, g), (_, c)) in dev_grads.iter().zip(&cpu_grads) {
        let Some(g) = g else {
            problems.push(format!("{name}: no gradient"));
            continue;
        };
        let c = c.as_ref().context("the CPU run lost a gradient")?;
        let gmax = g.iter().fold(0f64, |m, &x| m.max((x as f64).abs()));
        let cmax = c.iter().fold(0f64, |m, &x| m.max((x as f64).abs()));
        let diff = g
            .iter()
            .zip(c)
            .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
        let finite = g.iter().all(|x| x.is_finite());
        let rel = diff / cmax.max(1e-30);
        worst_rel = worst_rel.max(rel);
        worst_abs = worst_abs.max(diff);
        if !finite {
            problems.push(format!("{name}: non-finite gradient"));
        } else if gmax == 0.0 {
            problems.push(format!("{name}: all-zero gradient"));
        } else if dtype == DType::F32 && diff > TOL_F32_GRAD_ABS + TOL_F32_GRAD_REL * cmax {
            problems.push(format!("{name}: max |Δg| {diff:.2e} (max |g| {cmax:.2e})"));
        } else if dtype != DType::F32 && rel > TOL_BF16_GRAD_REL {
            problems.push(format!("{name}: relative error {rel:.2e}"));
        }
        per_param
            .push(json!({"name": name, "max_abs_grad": gmax, "max_abs_diff": diff, "rel": rel}));
    }
    let tolerance = if dtype == DType::F32 {
        format!("every parameter: finite, non-zero, max |Δg| ≤ {TOL_F32_GRAD_ABS:e} + {TOL_F32_GRAD_REL:e}·max|g_cpu|")
    } else {
        format!(
            "every parameter: finite, non-zero, max |Δg| / max |g_cpu f32| ≤ {TOL_BF16_GRAD_REL}"
        )
    };
    Ok(Check {
        name: format!(
            "gradients_{}",
            if dtype == DType::F32 { "f32" } else { "bf16" }
        ),
        status: judged(problems.is_empty() && per_param.len() == dev_grads.len()),
        enforced: true,
        summary: if problems.is_empty() {
            format!(
                "{} parameters, all with gradients; vs CPU f32: worst max |Δg| {worst_abs:.2e}, worst relative {worst_rel:.2e}; loss {loss_dev:.5} vs {loss_cpu:.5}",
                dev_grads.len()
            )
        } else {
            format!("{} problems: {}", problems.len(), problems.join("; "))
        },
        tolerance,
        wall_s: 0.0,
        details: json!({"loss_device": loss_dev, "loss_cpu": loss_cpu, "params": per_param}),
    })
}

// ---------------------------------------------------------------------------------------------
// Smoke runs

fn arithmetic_task() -> Result<Arc<dyn Task>> {
    tasks::synthetic_tasks()
        .into_iter()
        .find(|t| t.name() == "arithmetic")
        .map(Arc::from)
        .context("no arithmetic task")
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn check_grpo(cfg: &GpuCheckConfig, device: &Device) -> Result<Check> {
    let base = checkpoint::load(&cfg.base.to_string_lossy(), DType::F32, device)?;
    let tk = base.tokenizer()?.clone();
    let test = tasks::read_test_set(&cfg.data.join("tasks"), "arithmetic")?;
    let held_out = tasks::questions(&test);
    let template = Template::R1ZeroShort;
    let rewards = Arc::new(RewardSet::r1_zero(template.prompt_opens_think()));
    // The R1-Zero workshop preset (G = 8, 8 questions, 128 tokens, lr 1e-4), fewer steps.
    let gcfg = if cfg.quick {
        GrpoConfig {
            steps: cfg.grpo_steps,
            group_size: 4,
            prompts_per_step: 2,
            max_completion_length: 32,
            template,
            ..Default::default()
        }
    } else {
        GrpoConfig {
            steps: cfg.grpo_steps,
            group_size: 8,
            prompts_per_step: 8,
            max_completion_length: 128,
            lr: 1e-4,
            template,
            ..Default::default()
        }
    };
    let mut trainer = GrpoTrainer::new(
        base.model,
        tk,
        arithmetic_task()?,
        rewards,
        held_out,
        gcfg.clone(),
    )?;
    let mut steps = vec![];
    let t0 = Instant::now();
    for _ in 0..gcfg.steps {
        let m = trainer.train_step()?.metrics;
        steps.push(m);
        if t0.elapsed().as_secs_f64() > cfg.grpo_budget_s && steps.len() >= 10 {
            break;
        }
    }
    let reward: Vec<f64> = steps.iter().map(|m| m.reward_mean).collect();
    let k = (reward.len() / 5).clamp(1, 5);
    let (first, last) = (mean(&reward[..k]), mean(&reward[reward.len() - k..]));
    let rises = last > first;
    let tps = mean(&steps.iter().map(|m| m.tokens_per_s).collect::<Vec<_>>());
    Ok(Check {
        name: "grpo_smoke".into(),
        status: if cfg.quick {
            Status::Info
        } else {
            judged(rises && reward.iter().all(|r| r.is_finite()))
        },
        enforced: !cfg.quick,
        summary: format!(
            "{}/{} GRPO steps (G = {}, {} questions/step) from {}: mean reward of the first {k} steps {first:.3}, of the last {k} {last:.3} ({}); {tps:.0} tokens/s",
            steps.len(),
            gcfg.steps,
            gcfg.group_size,
            gcfg.prompts_per_step,
            cfg.base.display(),
            if rises { "rises" } else { "does not rise" }
        ),
        tolerance: if cfg.quick {
            "not enforced in --quick (too few steps for a trend)".into()
        } else {
            format!("mean reward of the last {k} steps > that of the first {k}")
        },
        wall_s: 0.0,
        details: json!({
            "config": gcfg,
            "reward_first": first,
            "reward_last": last,
            "reward_mean": reward,
            "accuracy": steps.iter().map(|m| m.accuracy).collect::<Vec<_>>(),
            "format_rate": steps.iter().map(|m| m.format_rate).collect::<Vec<_>>(),
            "completion_len_mean": steps.iter().map(|m| m.completion_len_mean).collect::<Vec<_>>(),
            "kl": steps.iter().map(|m| m.kl).collect::<Vec<_>>(),
            "tokens_per_s": steps.iter().map(|m| m.tokens_per_s).collect::<Vec<_>>(),
        }),
    })
}

/// SFT rows: the short R1-Zero prompt, then the task's canonical worked solution in the
/// `<think>…</think> <answer>…</answer>` form of the corpus, loss on the completion only.
fn sft_rows(
    cfg: &GpuCheckConfig,
    tk: &crate::tokenizer::Tokenizer,
    n: usize,
) -> Result<Vec<SftRow>> {
    let task = arithmetic_task()?;
    let test = tasks::read_test_set(&cfg.data.join("tasks"), "arithmetic")?;
    let held_out = tasks::questions(&test);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let eos = *tk
        .eos_ids
        .first()
        .context("the tokenizer has no end-of-sequence id")?;
    let mut rows = vec![];
    while rows.len() < n {
        let p = tasks::sample_fresh(task.as_ref(), &mut rng, &held_out)
            .context("no fresh arithmetic problem")?;
        let Some(body) = task.solution_text(&p, Lang::A) else {
            continue;
        };
        let prompt = tk.encode(&Template::R1ZeroShort.render(&p.question))?;
        let mut completion =
            tk.encode(&format!(" {body} </think> <answer> {} </answer>", p.answer))?;
        completion.push(eos);
        rows.push(SftRow::prompt_completion(&prompt, &completion));
    }
    Ok(rows)
}

fn check_sft(cfg: &GpuCheckConfig, device: &Device) -> Result<Check> {
    let base = checkpoint::load(&cfg.base.to_string_lossy(), DType::F32, device)?;
    let tk = base.tokenizer()?.clone();
    // Quick: one batch of 4 rows seen every step, so the loss falls step by step.
    let (n_rows, batch) = if cfg.quick { (4, 4) } else { (64, 16) };
    let rows = sft_rows(cfg, &tk, n_rows)?;
    let scfg = SftConfig {
        steps: cfg.sft_steps,
        batch_size: batch,
        lr: 1e-3,
        warmup_steps: 2,
        min_lr_ratio: 0.1,
        ..Default::default()
    };
    let logs = sft::train(&base.model, &rows, &scfg, |_| {})?;
    let loss: Vec<f64> = logs.iter().map(|l| l.loss).collect();
    let k = (loss.len() / 5).clamp(1, 5);
    let (first, last) = (mean(&loss[..k]), mean(&loss[loss.len() - k..]));
    let falls = last < first && loss.iter().all(|l| l.is_finite());
    Ok(Check {
        name: "sft_smoke".into(),
        status: judged(falls),
        enforced: true,
        summary: format!(
            "{} SFT steps (batch {batch}, {n_rows} worked arithmetic solutions) from {}: mean loss of the first {k} steps {first:.3}, of the last {k} {last:.3} ({})",
            scfg.steps,
            cfg.base.display(),
            if falls { "falls" } else { "does not fall" }
        ),
        tolerance: format!("mean loss of the last {k} steps < that of the first {k}"),
        wall_s: 0.0,
        details: json!({"config": scfg, "loss": loss, "tokens_per_s": logs.iter().map(|l| l.tokens_per_s).collect::<Vec<_>>()}),
    })
}

// ---------------------------------------------------------------------------------------------
// Throughput

/// KV-cached greedy decoding with everything on the device (argmax on the device, no host-side
/// sampling): new tokens per second of the decode steps, prefill excluded.
pub fn decode_forward_tokens_per_s(model: &Model, work: SampleWork, seed: u64) -> Result<f64> {
    let device = model.device().clone();
    let dtype = model.dtype();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = model.config.vocab_size as u32;
    let (b, tp) = (work.batch, work.prompt_len);
    let ids: Vec<u32> = (0..b * tp).map(|_| rng.random_range(0..v)).collect();
    let valid = vec![true; b * tp];
    let mc = &model.config;
    let mut cache = KvCache::new(
        mc.num_hidden_layers,
        b,
        mc.num_kv_heads(),
        mc.head_dim(),
        tp + work.new_tokens,
        dtype,
        &device,
    )?;
    let h = model.forward_hidden(
        &Tensor::from_vec(ids, (b, tp), &device)?,
        &Tensor::from_vec(positions_from_valid(&valid, b, tp), (b, tp), &device)?,
        &attention_mask(&valid, b, 0, tp, tp, dtype, &device)?,
        Some(&mut cache),
    )?;
    let mut next = model.last_logits(&h)?.argmax_keepdim(D::Minus1)?;
    device.synchronize()?;
    let start = Instant::now();
    for step in 0..work.new_tokens {
        let tk = tp + step + 1;
        let mask = attention_mask(&vec![true; b * tk], b, tk - 1, 1, tk, dtype, &device)?;
        let pos = Tensor::from_vec(vec![(tp + step) as u32; b], (b, 1), &device)?;
        let h = model.forward_hidden(&next, &pos, &mask, Some(&mut cache))?;
        next = model.last_logits(&h)?.argmax_keepdim(D::Minus1)?;
    }
    device.synchronize()?;
    Ok((b * work.new_tokens) as f64 / start.elapsed().as_secs_f64())
}

fn check_throughput(cfg: &GpuCheckConfig, device: &Device) -> Result<Check> {
    if cfg.skip_throughput {
        return Ok(Check {
            name: "throughput_bf16".into(),
            status: Status::Skipped,
            enforced: false,
            summary: "skipped (--skip-throughput)".into(),
            tolerance: String::new(),
            wall_s: 0.0,
            details: json!({}),
        });
    }
    // Qwen2.5-0.5B's vocabulary for the 0.5B shape; the project's 512 for the small presets.
    let vocab = if cfg.throughput_size == "0.5B" {
        151_936
    } else {
        512
    };
    let mcfg = ModelConfig::preset(&cfg.throughput_size, vocab)?;
    let (train, sample) = if cfg.quick {
        (
            TrainWork {
                batch: 4,
                seq_len: 32,
                steps: 2,
                warmup: 1,
            },
            SampleWork {
                batch: 4,
                prompt_len: 8,
                new_tokens: 8,
            },
        )
    } else {
        (
            TrainWork {
                batch: 16,
                seq_len: 512,
                steps: 5,
                warmup: 2,
            },
            SampleWork {
                batch: 64,
                prompt_len: 128,
                new_tokens: 128,
            },
        )
    };
    let t0 = Instant::now();
    let model = Model::new_random(mcfg.clone(), 0, DType::BF16, device)?;
    let init_s = t0.elapsed().as_secs_f64();
    let n = model.num_parameters() as f64;
    let opt = OptimizerCfg {
        lr: 1e-4,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
    };
    let (train_tps, step_ms, gflops_attn) = bench::bench_train(&model, train, &opt, 1)?;
    let sample_tps = bench::bench_sample(&model, sample, 2)?;
    let decode_tps = decode_forward_tokens_per_s(&model, sample, 3)?;
    let train_tflops = 6.0 * n * train_tps / 1e12;
    let sample_tflops = 2.0 * n * sample_tps / 1e12;
    let decode_tflops = 2.0 * n * decode_tps / 1e12;
    let ok = [train_tps, sample_tps, decode_tps]
        .iter()
        .all(|x| x.is_finite() && *x > 0.0);
    Ok(Check {
        name: "throughput_bf16".into(),
        status: judged(ok),
        enforced: true,
        summary: format!(
            "{} ({:.0}M params, bf16): train {train_tps:.0} tok/s ({step_ms:.0} ms/step, {train_tflops:.1} TFLOP/s = {:.1}% of {PEAK_BF16_TFLOPS}); sampling {sample_tps:.0} tok/s ({sample_tflops:.2} TFLOP/s); device-only greedy decode {decode_tps:.0} tok/s ({decode_tflops:.2} TFLOP/s)",
            cfg.throughput_size,
            n / 1e6,
            100.0 * train_tflops / PEAK_BF16_TFLOPS
        ),
        tolerance: "runs and gives finite, positive rates (the rates themselves are not judged)".into(),
        wall_s: 0.0,
        details: json!({
            "size": cfg.throughput_size,
            "params": n,
            "config": mcfg,
            "init_s": init_s,
            "train_work": {"batch": train.batch, "seq_len": train.seq_len, "steps": train.steps, "warmup": train.warmup},
            "sample_work": {"batch": sample.batch, "prompt_len": sample.prompt_len, "new_tokens": sample.new_tokens},
            "train_tokens_per_s": train_tps,
            "train_step_ms": step_ms,
            "train_tflops_6n": train_tflops,
            "train_mfu": train_tflops / PEAK_BF16_TFLOPS,
            "train_tflops_attn": gflops_attn / 1e3,
            "sample_tokens_per_s": sample_tps,
            "sample_tflops_2n": sample_tflops,
            "decode_forward_tokens_per_s": decode_tps,
            "decode_forward_tflops_2n": decode_tflops,
            "peak_tflops": PEAK_BF16_TFLOPS,
            "formula": "training 6·N·tokens/s; sampling 2·N·tokens/s; N = all parameters",
            "sampling_note": "sampling = the crate's sampler: logits copied to the host each step and sampled there (temperature 1, full vocabulary); decode_forward = the same KV-cached forward with argmax on the device",
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Output

/// Writes `gpu_check.json` and `gpu_check.md` into `out`.
pub fn write(report: &Report, out: &Path) -> Result<()> {
    checkpoint::atomic_write(
        &out.join("gpu_check.json"),
        serde_json::to_string_pretty(report)?.as_bytes(),
    )?;
    checkpoint::atomic_write(&out.join("gpu_check.md"), markdown(report).as_bytes())
}

/// The report as Markdown: one row per check, then the notes.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "# r1lab gpu-check: {}\n\n{} · {}{} · {:.0} s\n\n| check | status | result | tolerance | s |\n|---|---|---|---|---|\n",
        if r.pass { "PASS" } else { "FAIL" },
        r.describe,
        r.device,
        if r.quick { " · --quick" } else { "" },
        r.wall_s
    );
    for c in &r.checks {
        s.push_str(&format!(
            "| {} | {:?}{} | {} | {} | {:.1} |\n",
            c.name,
            c.status,
            if c.enforced { "" } else { " (not enforced)" },
            c.summary.replace('|', "/"),
            c.tolerance.replace('|', "/"),
            c.wall_s
        ));
    }
    s.push('\n');
    for n in &r.notes {
        s.push_str(&format!("- {n}\n"));
    }
    s
}
