//! `r1lab bench` (throughput against the anchors) and `r1lab gpu-check` (the CUDA proof).

use anyhow::{Context, Result};
use clap::Args;
use r1lab::experiments::RunContext;
use r1lab::{bench, checkpoint, device, gpu_check};
use std::path::{Path, PathBuf};

/// Training-step and sampling throughput at named model sizes (see bench/configs.json).
#[derive(Args, Debug)]
pub struct Bench {
    /// Sizes to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["1M".to_string(), "10M".to_string(), "100M".to_string()])]
    pub sizes: Vec<String>,
    /// Another configs file with the shape of bench/configs.json.
    #[arg(long)]
    pub configs: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Measure in bf16 (GPU) instead of f32.
    #[arg(long)]
    pub bf16: bool,
    /// Measure whole GRPO steps instead (the `grpo` workload of the configs, which
    /// bench/trl_bench.py runs with TRL's GRPOTrainer).
    #[arg(long)]
    pub grpo: bool,
}

/// Writes a `r1lab bench` result file: the framework, threads and device that every result
/// file carries (read by bench/compare.py), then `fields`.
fn write_bench_json(
    path: &Path,
    dev: &candle_core::Device,
    fields: serde_json::Value,
) -> Result<()> {
    let mut doc = serde_json::json!({
        "framework": "r1lab-candle",
        "threads": candle_core::utils::get_num_threads(),
        "device": device::describe(dev),
    });
    if let (Some(d), serde_json::Value::Object(f)) = (doc.as_object_mut(), fields) {
        d.extend(f);
    }
    checkpoint::atomic_write(path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub fn bench(a: Bench, ctx: &RunContext) -> Result<()> {
    let dev = &ctx.device;
    let text = match &a.configs {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        None => bench::DEFAULT_CONFIGS.to_string(),
    };
    let cfgs = bench::BenchConfigs::parse(&text)?;
    if a.grpo {
        let work = cfgs.grpo.as_ref().context(
            "the configs have no \"grpo\" workload; see bench/configs.json for its shape",
        )?;
        eprintln!("{}", device::describe(dev));
        let r = bench::bench_grpo_step(work, dev)?;
        eprintln!(
            "GRPO step ({}, G {} x {} prompts, <= {} tokens): {:.2} s/step | {:.0} completion tokens/step | {:.0} completion tok/s | peak RSS {:.0} MiB",
            r.checkpoint, r.group_size, r.prompts_per_step, r.max_completion_length,
            r.step_s, r.completion_tokens_per_step, r.completion_tokens_per_s, r.peak_rss_mb
        );
        eprintln!(
            "  per step: sampling {:.2} s | rollout tensors and reference/old log-probs {:.2} s | update {:.2} s",
            r.phase_s.sample, r.phase_s.score, r.phase_s.update
        );
        if let Some(path) = a.json {
            write_bench_json(&path, dev, serde_json::json!({ "grpo": r }))?;
        }
        return Ok(());
    }
    let dtype = if a.bf16 {
        candle_core::DType::BF16
    } else {
        candle_core::DType::F32
    };
    eprintln!("{}", device::describe(dev));
    let results = bench::run(&cfgs, &a.sizes, dtype, dev)?;
    if let Some(path) = a.json {
        let fields = serde_json::json!({
            "dtype": format!("{dtype:?}"),
            "results": results,
        });
        write_bench_json(&path, dev, fields)?;
    }
    Ok(())
}

/// Prove the CUDA path: parity, gradients, GRPO and SFT smoke runs, 0.5B bf16 throughput
/// (writes gpu_check.json and gpu_check.md; exits 1 if a check fails).
#[derive(Args, Debug)]
pub struct GpuCheck {
    /// Where gpu_check.json and gpu_check.md go.
    #[arg(long, default_value = "gpu-check")]
    pub out: PathBuf,
    /// Smoke-sized workloads (seconds on a CPU; what the tests run).
    #[arg(long)]
    pub quick: bool,
    /// The parity fixtures (tiny-qwen2, tiny-llama).
    #[arg(long, default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
    #[arg(long, default_value = "data")]
    pub data: PathBuf,
    /// The base checkpoint of the GRPO and SFT smoke runs.
    #[arg(long, default_value = super::common::DEFAULT_MODEL)]
    pub base: PathBuf,
    /// GRPO steps (default 40; 3 with --quick).
    #[arg(long)]
    pub grpo_steps: Option<usize>,
    /// SFT steps (default 40; 6 with --quick).
    #[arg(long)]
    pub sft_steps: Option<usize>,
    /// Model preset of the throughput check (default 0.5B; 1M with --quick).
    #[arg(long)]
    pub throughput_size: Option<String>,
    #[arg(long)]
    pub skip_throughput: bool,
}

pub fn gpu_check(a: GpuCheck, ctx: &RunContext) -> Result<()> {
    let mut cfg = gpu_check::GpuCheckConfig::new(a.quick);
    cfg.fixtures = a.fixtures;
    cfg.data = a.data;
    cfg.base = a.base;
    cfg.skip_throughput = a.skip_throughput;
    if let Some(n) = a.grpo_steps {
        cfg.grpo_steps = n;
    }
    if let Some(n) = a.sft_steps {
        cfg.sft_steps = n;
    }
    if let Some(s) = a.throughput_size {
        cfg.throughput_size = s;
    }
    eprintln!("{}", device::describe(&ctx.device));
    let report = gpu_check::run(&cfg, &ctx.device, &a.out, |m| eprintln!("{m}"))?;
    println!("{}", gpu_check::markdown(&report));
    println!("wrote {}", a.out.join("gpu_check.json").display());
    if !report.pass {
        anyhow::bail!(
            "gpu-check failed: see {}",
            a.out.join("gpu_check.md").display()
        );
    }
    Ok(())
}
