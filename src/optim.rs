//! AdamW with its moments in the open (so a run resumes exactly), global gradient-norm clipping,
//! and the learning-rate schedule (linear warm-up, then constant or cosine decay).
//!
//! candle's own `AdamW` keeps its moments private and skips parameters that received no gradient
//! without a word; this one exposes its state and `step` reports such parameters as an error.

use anyhow::{bail, Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// AdamW hyperparameters (Loshchilov & Hutter 2019), PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

pub struct AdamW {
    pub config: AdamWConfig,
    vars: Vec<Var>,
    /// First and second moments, f32, one per variable.
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far (the `t` of the bias correction).
    pub step_count: usize,
}

impl AdamW {
    pub fn new(vars: Vec<Var>, config: AdamWConfig) -> Result<Self> {
        let zeros = |v: &Var| Tensor::zeros(v.shape(), DType::F32, v.device());
        let m = vars
            .iter()
            .map(zeros)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = vars
            .iter()
            .map(zeros)
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            config,
            vars,
            m,
            v,
            step_count: 0,
        })
    }

    /// One update at learning rate `lr`. Every variable must have a gradient in `grads`: a missing
    /// one means the graph does not reach it (a bug), which silently freezes it in candle's AdamW.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        let c = self.config;
        self.step_count += 1;
        let t = self.step_count as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        for (i, var) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                bail!(
                    "parameter #{i} (shape {:?}) received no gradient: the loss does not depend on it",
                    var.shape().dims()
                );
            };
            let g = g.to_dtype(DType::F32)?;
            let m = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let p = var.as_tensor().to_dtype(DType::F32)?;
            let p = if c.weight_decay > 0.0 {
                (&p * (1.0 - lr * c.weight_decay))?
            } else {
                p
            };
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + c.eps)?)?;
            let p = (p - (update * lr)?)?;
            var.set(&p.to_dtype(var.dtype())?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The optimizer state as named tensors (`m.{i}`, `v.{i}`, `step`), for a checkpoint.
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            out.insert(format!("m.{i}"), m.clone());
            out.insert(format!("v.{i}"), v.clone());
        }
        let dev = self
            .vars
            .first()
            .map(|v| v.device().clone())
            .unwrap_or(candle_core::Device::Cpu);
        out.insert("step".into(), Tensor::new(&[self.step_count as u32], &dev)?);
        Ok(out)
    }

    /// Restores a state written by [`AdamW::state`] for the same variables.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for i in 0..self.vars.len() {
            for (name, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{name}.{i}");
                let t = state.get(&key).with_context(|| {
                    format!(
                        "optimizer state lacks {key}: the checkpoint was written for another model"
                    )
                })?;
                if t.dims() != slot.dims() {
                    bail!(
                        "optimizer state {key} has shape {:?}, expected {:?}",
                        t.dims(),
                        slot.dims()
                    );
                }
                *slot = t.to_dtype(DType::F32)?.to_device(slot.device())?;
            }
        }
        let step = state
            .get("step")
            .context("optimizer state lacks its step count")?;
        self.step_count = step.to_vec1::<u32>()?[0] as usize;
        Ok(())
    }
}

/// Scales all gradients so that their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`); returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    let mut total = 0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            total += g
                .to_dtype(DType::F32)?
                .sqr()?
                .sum_all()?
                .to_scalar::<f32>()? as f64;
        }
    }
    let norm = total.sqrt();
    if !norm.is_finite() {
        bail!("the gradient norm is {norm}: the loss diverged; lower the learning rate");
    }
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for var in vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                let scaled = (g * scale)?;
                grads.insert(var.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

/// Learning-rate schedule: linear warm-up over `warmup_steps`, then constant or cosine decay to
/// `min_ratio · lr` at `total_steps`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub lr: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub cosine: bool,
    pub min_ratio: f64,
}

impl LrSchedule {
    pub fn constant(lr: f64, warmup_steps: usize) -> Self {
        Self {
            lr,
            warmup_steps,
            total_steps: 0,
            cosine: false,
            min_ratio: 1.0,
        }
    }

    /// The learning rate of update number `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        if !self.cosine || self.total_steps <= self.warmup_steps {
            return self.lr;
        }
        let progress = ((step - self.warmup_steps) as f64
            / (self.total_steps - self.warmup_steps) as f64)
            .min(1.0);
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.lr * (self.min_ratio + (1.0 - self.min_ratio) * cos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn adamw_matches_pytorch_on_one_parameter() {
        // torch.optim.AdamW([p], lr=0.1, weight_decay=0.01) on loss = sum(p^2), p = [1, -2], 2 steps:
        // closed form below.
        let p = Var::new(&[1.0f32, -2.0], &Device::Cpu).unwrap();
        let cfg = AdamWConfig {
            lr: 0.1,
            weight_decay: 0.01,
            ..Default::default()
        };
        let mut opt = AdamW::new(vec![p.clone()], cfg).unwrap();
        let mut expect = [1.0f64, -2.0];
        let (mut m, mut v) = ([0f64; 2], [0f64; 2]);
        for t in 1..=2 {
            let loss = p.as_tensor().sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            opt.step(&grads, 0.1).unwrap();
            for i in 0..2 {
                let g = 2.0 * expect[i];
                expect[i] *= 1.0 - 0.1 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mh = m[i] / (1.0 - 0.9f64.powi(t));
                let vh = v[i] / (1.0 - 0.999f64.powi(t));
                expect[i] -= 0.1 * mh / (vh.sqrt() + 1e-8);
            }
        }
        let got = p.as_tensor().to_vec1::<f32>().unwrap();
        for i in 0..2 {
            assert!(
                (got[i] as f64 - expect[i]).abs() < 1e-5,
                "{got:?} vs {expect:?}"
            );
        }
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let p = Var::new(&[3.0f32, 4.0], &Device::Cpu).unwrap();
        // grad of 0.5*|p|^2 is p, norm 5.
        let loss = (p.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
        let mut grads = loss.backward().unwrap();
        let norm = clip_grad_norm(&mut grads, std::slice::from_ref(&p), 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-5);
        let g = grads.get(p.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        assert!(
            (g[0] - 0.6).abs() < 1e-4 && (g[1] - 0.8).abs() < 1e-4,
            "{g:?}"
        );
    }

    #[test]
    fn missing_gradient_is_an_error() {
        let a = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let b = Var::new(&[1.0f32], &Device::Cpu).unwrap();
        let grads = a.as_tensor().sum_all().unwrap().backward().unwrap();
        let mut opt = AdamW::new(vec![a, b], AdamWConfig::default()).unwrap();
        assert!(opt
            .step(&grads, 1e-3)
            .unwrap_err()
            .to_string()
            .contains("no gradient"));
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        let s = LrSchedule {
            lr: 1.0,
            warmup_steps: 4,
            total_steps: 14,
            cosine: true,
            min_ratio: 0.1,
        };
        assert!((s.at(0) - 0.25).abs() < 1e-12);
        assert!((s.at(3) - 1.0).abs() < 1e-12);
        assert!((s.at(14) - 0.1).abs() < 1e-12);
        assert!(s.at(9) < 1.0 && s.at(9) > 0.1);
    }
}
