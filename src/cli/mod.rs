//! The `r1lab` command line: one module per stage, each with its flags (`#[derive(Args)]`) and
//! a function that fills the library's preset and calls it. Every subcommand that loads or trains
//! a model runs in the [`RunContext`] of the global `--device` and `--dtype`.

mod bench;
mod common;
mod control;
mod experiments;
mod inspect;
mod knobs;
mod model;
mod pretrain;

use anyhow::Result;
use clap::{Parser, Subcommand};
use r1lab::experiments::RunContext;

#[derive(Parser)]
#[command(
    name = "r1lab",
    version,
    about = "A literate Rust reproduction of DeepSeek-R1 (GRPO, R1-Zero, R1, distillation)"
)]
pub struct Cli {
    /// Device: cpu, cuda, cuda:N or auto [default: cpu; cuda for gpu-check].
    #[arg(long, global = true)]
    device: Option<String>,
    /// The dtype of every model: f32, bf16 or f16 [default: f32 on the CPU; on CUDA bf16 for
    /// the models that are only sampled or evaluated, f32 for the trained ones].
    #[arg(long, global = true)]
    dtype: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Info(model::Info),
    Generate(model::Generate),
    Pretrain(pretrain::Pretrain),
    Eval(model::Eval),
    Export(model::Export),
    R1Zero(experiments::R1Zero),
    R1(experiments::R1),
    Table4(experiments::Table4),
    Distill(experiments::Distill),
    Variants(experiments::Variants),
    Real(experiments::Real),
    Reproduce(experiments::Reproduce),
    Sizes(experiments::Sizes),
    Knobs(knobs::Knobs),
    Control(control::Control),
    Inspect(inspect::Inspect),
    EvalBase(model::EvalBase),
    TestSets(model::TestSets),
    Bench(bench::Bench),
    GpuCheck(bench::GpuCheck),
}

/// Runs the command line's subcommand.
pub fn run(cli: Cli) -> Result<()> {
    if let Command::TestSets(a) = cli.command {
        anyhow::ensure!(
            cli.device.is_none() && cli.dtype.is_none(),
            "test-sets writes problem files and loads no model: drop --device and --dtype"
        );
        return model::test_sets(a);
    }
    if let Command::Export(a) = cli.command {
        anyhow::ensure!(
            cli.device.is_none() && cli.dtype.is_none(),
            "export copies weights in their stored values on the CPU: drop --device and --dtype"
        );
        return model::export(a);
    }
    if let Command::Inspect(a) = cli.command {
        anyhow::ensure!(
            cli.device.is_none() && cli.dtype.is_none(),
            "inspect reads a run's files and loads no model: drop --device and --dtype"
        );
        return inspect::run(a);
    }
    if let (Some(d), Command::Bench(_) | Command::GpuCheck(_)) = (&cli.dtype, &cli.command) {
        anyhow::bail!(
            "--dtype {d}: bench and gpu-check choose their dtypes per measurement (bench --bf16; \
             gpu-check runs f32 and bf16): drop --dtype"
        );
    }
    let default_device = match cli.command {
        Command::GpuCheck(_) => "cuda",
        _ => "cpu",
    };
    let device = cli.device.as_deref().unwrap_or(default_device);
    let ctx = RunContext::from_flags(device, cli.dtype.as_deref())?;
    match cli.command {
        Command::Info(a) => model::info(a, &ctx),
        Command::Generate(a) => model::generate(a, &ctx),
        Command::Pretrain(a) => pretrain::run(a, &ctx),
        Command::Eval(a) => model::eval(a, &ctx),
        Command::R1Zero(a) => experiments::r1_zero(a, &ctx),
        Command::R1(a) => experiments::r1(a, &ctx),
        Command::Table4(a) => experiments::table4(a, &ctx),
        Command::Distill(a) => experiments::distill(a, &ctx),
        Command::Variants(a) => experiments::variants(a, &ctx),
        Command::Real(a) => experiments::real(a, &ctx),
        Command::Reproduce(a) => experiments::reproduce(a, &ctx),
        Command::Sizes(a) => experiments::sizes(a, &ctx),
        Command::Knobs(a) => knobs::run(a, &ctx),
        Command::Control(a) => control::run(a, &ctx),
        Command::EvalBase(a) => model::eval_base(a, &ctx),
        Command::Bench(a) => bench::bench(a, &ctx),
        Command::GpuCheck(a) => bench::gpu_check(a, &ctx),
        Command::TestSets(_) | Command::Inspect(_) | Command::Export(_) => {
            unreachable!("handled above")
        }
    }
}
