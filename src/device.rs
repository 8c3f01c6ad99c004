//! Device selection: the CPU by default; the first CUDA GPU when built with the `cuda` feature.

use anyhow::Result;
use candle_core::{DType, Device};

/// The device to run on: `cpu`, `cuda` / `cuda:N` (needs the `cuda` feature), or `auto`.
pub fn select(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if cfg!(feature = "cuda") && candle_core::utils::cuda_is_available() {
                Ok(Device::new_cuda(0)?)
            } else {
                Ok(Device::Cpu)
            }
        }
        n if n == "cuda" || n.starts_with("cuda:") => {
            if !cfg!(feature = "cuda") {
                anyhow::bail!("device {n:?} needs a build with the cuda feature: cargo build --release --features cuda");
            }
            let idx = n
                .strip_prefix("cuda:")
                .map(|s| s.parse::<usize>())
                .transpose()?
                .unwrap_or(0);
            Ok(Device::new_cuda(idx)?)
        }
        other => anyhow::bail!("unknown device {other:?}: use cpu, cuda, cuda:N or auto"),
    }
}

/// The dtype for inference on a device: bf16 on a GPU, f32 on the CPU (candle's CPU bf16 matmul
/// is slow and training needs f32 there).
pub fn inference_dtype(device: &Device) -> DType {
    if device.is_cuda() {
        DType::BF16
    } else {
        DType::F32
    }
}

/// A one-line description of the device and build, for logs and notebooks.
pub fn describe(device: &Device) -> String {
    let kind = if device.is_cuda() { "cuda" } else { "cpu" };
    format!(
        "r1lab {} on {kind} ({} threads, cuda feature: {})",
        env!("CARGO_PKG_VERSION"),
        candle_core::utils::get_num_threads(),
        cfg!(feature = "cuda")
    )
}
