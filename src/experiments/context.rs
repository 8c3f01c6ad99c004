//! The run context every stage runs in: the device, the dtypes its models load in, and the
//! folders (data, runs, reports). No experiment builds a device or names a dtype of its own: each
//! loads its models through [`RunContext::load`] (models it only samples or evaluates: a
//! teacher, a finished stage) or [`RunContext::load_for_training`] (models it trains), so
//! `--device` and `--dtype` reach every stage.
//!
//! The dtypes follow the usual practice of RL trainers on GPUs (TRL, verl): on the CPU every model
//! is f32 by default (candle's CPU bf16 matmul is slow); on CUDA the models that are only sampled
//! or evaluated load in bf16 and the trained ones keep f32 weights (bf16 weights would round away
//! updates of a learning rate of 1e-6). `--dtype` sets the dtype of the models that are only
//! sampled or evaluated, and on CUDA that of the trained ones too; on the CPU trained models stay
//! f32, since the trainer's fused CPU kernels (with their backward passes) are f32 only. So
//! `--dtype bf16` on the CPU evaluates every model in bf16, which the tests use to prove that no
//! stage drops the context (each evaluation records the dtype it ran in).
//!
//! Run folders are named once, here ([`RunContext::run_dir`]): `runs/<name>` at workshop scale,
//! `runs/<name>-smoke` at smoke scale, and a suffix naming the device and dtype for anything but
//! f32 on the CPU (`runs/r1-zero-cuda-bf16`), so a run on another device never resumes or reuses
//! a CPU run's folder.

use super::Scale;
use crate::checkpoint::{self, LoadedModel};
use anyhow::{bail, Result};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// The device, dtypes and folders of a run.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub device: Device,
    /// The dtype of models that are only sampled or evaluated.
    pub dtype: DType,
    /// The dtype of models that are trained (their master weights).
    pub train_dtype: DType,
    /// `data/`: tasks, tokenizer, base checkpoints.
    pub data: PathBuf,
    /// Where run folders go (`runs/`).
    pub runs: PathBuf,
    /// Where figures and tables go (`reports/`).
    pub reports: PathBuf,
}

impl Default for RunContext {
    fn default() -> Self {
        Self::cpu()
    }
}

impl RunContext {
    /// f32 on the CPU, with the repository's folders `data/`, `runs/` and `reports/`.
    pub fn cpu() -> Self {
        Self::on(Device::Cpu, None)
    }

    /// A context on `device`; `dtype` (if given) is the dtype of every model, trained or not.
    pub fn on(device: Device, dtype: Option<DType>) -> Self {
        let (dtype, train_dtype) = match dtype {
            Some(d) if device.is_cpu() => (d, DType::F32),
            Some(d) => (d, d),
            None if device.is_cuda() => (DType::BF16, DType::F32),
            None => (DType::F32, DType::F32),
        };
        Self {
            device,
            dtype,
            train_dtype,
            data: PathBuf::from("data"),
            runs: PathBuf::from("runs"),
            reports: PathBuf::from("reports"),
        }
    }

    /// From the command line's `--device` (`cpu`, `cuda`, `cuda:N`, `auto`) and `--dtype`
    /// (`f32`, `bf16`, `f16`; default: see the module docs).
    pub fn from_flags(device: &str, dtype: Option<&str>) -> Result<Self> {
        let device = crate::device::select(device)?;
        let dtype = dtype.map(parse_dtype).transpose()?;
        Ok(Self::on(device, dtype))
    }

    /// The same context with other folders.
    pub fn with_folders(mut self, data: &Path, runs: &Path, reports: &Path) -> Self {
        self.data = data.to_path_buf();
        self.runs = runs.to_path_buf();
        self.reports = reports.to_path_buf();
        self
    }

    /// The same context writing its reports into `reports` (an experiment's sub-runs, whose own
    /// tables must not overwrite the committed ones).
    pub fn with_reports(&self, reports: PathBuf) -> Self {
        Self {
            reports,
            ..self.clone()
        }
    }

    /// Loads a model that is only sampled or evaluated (a folder or a Hub id).
    pub fn load(&self, spec: &str) -> Result<LoadedModel> {
        checkpoint::load(spec, self.dtype, &self.device)
    }

    /// Loads a model that will be trained.
    pub fn load_for_training(&self, spec: &str) -> Result<LoadedModel> {
        checkpoint::load(spec, self.train_dtype, &self.device)
    }

    /// `model`, trained in `train_dtype` and saved at `saved`, as the models that are only
    /// evaluated are: itself where the dtypes agree, else reloaded from `saved` in `dtype`.
    pub fn for_evaluation(
        &self,
        model: crate::model::Model,
        saved: &Path,
    ) -> Result<crate::model::Model> {
        if model.dtype() == self.dtype {
            return Ok(model);
        }
        Ok(self.load(&saved.to_string_lossy())?.model)
    }

    /// `""` for f32 on the CPU (the committed runs); otherwise `-<device>-<dtype>`, the dtype
    /// being that of the models that are sampled and evaluated (`-cuda-bf16`, `-cpu-bf16`), with
    /// `-train<dtype>` where trained models are not f32 (`-cuda-bf16-trainbf16`).
    pub fn tag(&self) -> String {
        let kind = if self.device.is_cuda() { "cuda" } else { "cpu" };
        if kind == "cpu" && self.dtype == DType::F32 && self.train_dtype == DType::F32 {
            return String::new();
        }
        let mut tag = format!("-{kind}-{}", short_name(self.dtype));
        if self.train_dtype != DType::F32 {
            tag.push_str(&format!("-train{}", short_name(self.train_dtype)));
        }
        tag
    }

    /// The run folder of experiment `name` at `scale` (see the module docs).
    pub fn run_dir(&self, name: &str, scale: Scale) -> PathBuf {
        let scale = match scale {
            Scale::Smoke => "-smoke",
            Scale::Workshop => "",
        };
        self.runs.join(format!("{name}{scale}{}", self.tag()))
    }

    /// A one-line description for logs and reports.
    pub fn describe(&self) -> String {
        format!(
            "{}; models in {} (trained: {})",
            crate::device::describe(&self.device),
            short_name(self.dtype),
            short_name(self.train_dtype)
        )
    }
}

/// The command-line name of a dtype (`f32`, `bf16`, `f16`).
pub fn short_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        _ => "f32",
    }
}

/// `f32`, `bf16` or `f16`.
pub fn parse_dtype(name: &str) -> Result<DType> {
    Ok(match name {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => bail!("unknown dtype {other:?}: use f32, bf16 or f16"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_folders_name_the_scale_and_anything_but_cpu_f32() {
        let cpu = RunContext::cpu();
        assert_eq!(
            cpu.run_dir("r1-zero", Scale::Workshop),
            PathBuf::from("runs/r1-zero")
        );
        assert_eq!(
            cpu.run_dir("r1", Scale::Smoke),
            PathBuf::from("runs/r1-smoke")
        );
        let bf16 = RunContext::on(Device::Cpu, Some(DType::BF16));
        assert_eq!(
            bf16.run_dir("r1", Scale::Smoke),
            PathBuf::from("runs/r1-smoke-cpu-bf16")
        );
        // Trained models stay f32 on the CPU; a non-f32 trained dtype names itself.
        assert_eq!(bf16.train_dtype, DType::F32);
        let mut cuda_like = RunContext::cpu();
        cuda_like.train_dtype = DType::BF16;
        assert_eq!(cuda_like.tag(), "-cpu-f32-trainbf16");
        assert!(parse_dtype("f64").unwrap_err().to_string().contains("bf16"));
    }
}
