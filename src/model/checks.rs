//! The model's numerical checks, written once for the tests and `r1lab gpu-check`: logits against
//! the ones Hugging Face `transformers` computed for the same weights (the parity fixtures of
//! `tests/fixtures`, made by `scripts/make_parity_fixture.py`), and the KV-cached decode path
//! against the full forward. `tests/parity.rs` and `tests/model.rs` run them on the CPU,
//! `gpu-check` on the device it is given; each caller states its own tolerance.

use super::kv_cache::KvCache;
use super::qwen2::{attention_mask, positions_from_valid, Batch, Model};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::path::Path;

/// A tensor as a flat f32 vector on the host.
pub fn to_host_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?
        .to_device(&Device::Cpu)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// Whether difference `d` replaces `worst` as the largest so far: a NaN is the worst of all and
/// stays (so a NaN fails every tolerance instead of being skipped by `f64::max`).
fn is_worse(d: f64, worst: f64) -> bool {
    !worst.is_nan() && (d.is_nan() || d > worst)
}

/// A parity fixture (`parity.safetensors`): left-padded inputs and the logits `transformers`
/// computed for them, all on the host, row-major.
#[derive(Debug, Clone)]
pub struct LogitsFixture {
    /// `[b, t]` token ids.
    pub ids: Vec<u32>,
    /// `[b, t]`: true at real tokens, false at padding.
    pub valid: Vec<bool>,
    /// `[b, t]`: the position ids `transformers` used.
    pub position_ids: Vec<i64>,
    pub b: usize,
    pub t: usize,
    /// The vocabulary size (the logits' last dimension).
    pub v: usize,
    /// `[b, t, v]` f32.
    pub logits: Vec<f32>,
}

/// How far logits are from a fixture's, over its real positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitsDiff {
    /// The largest absolute difference.
    pub max_abs: f64,
    /// ‖ours − theirs‖₂ / ‖theirs‖₂.
    pub rel_l2: f64,
    /// The real positions compared.
    pub positions: usize,
}

impl LogitsFixture {
    /// Reads a fixture file.
    pub fn read(path: &Path) -> Result<Self> {
        let fx = candle_core::safetensors::load(path, &Device::Cpu).with_context(|| {
            format!(
                "cannot read the parity fixture {}: regenerate it with scripts/make_parity_fixture.py",
                path.display()
            )
        })?;
        let get = |k: &str| {
            fx.get(k)
                .with_context(|| format!("{} lacks {k}", path.display()))
        };
        let ids = get("input_ids")?.to_dtype(DType::U32)?;
        let (b, t) = ids.dims2()?;
        let logits = get("logits")?;
        Ok(Self {
            ids: ids.flatten_all()?.to_vec1()?,
            valid: get("attention_mask")?
                .to_dtype(DType::U32)?
                .flatten_all()?
                .to_vec1::<u32>()?
                .iter()
                .map(|&m| m == 1)
                .collect(),
            position_ids: get("position_ids")?
                .to_dtype(DType::I64)?
                .flatten_all()?
                .to_vec1()?,
            b,
            t,
            v: logits.dim(2)?,
            logits: to_host_f32(logits)?,
        })
    }

    /// The fixture's inputs as a batch of the model's dtype on `device`.
    pub fn batch(&self, dtype: DType, device: &Device) -> Result<Batch> {
        Batch::from_parts(
            self.ids.clone(),
            self.valid.clone(),
            self.b,
            self.t,
            dtype,
            device,
        )
    }

    /// Compares `[b, t, v]` host logits with the fixture's at every real position.
    pub fn compare(&self, ours: &[f32]) -> Result<LogitsDiff> {
        if ours.len() != self.logits.len() {
            bail!(
                "{} logits, the fixture has {}: the model does not belong to this fixture",
                ours.len(),
                self.logits.len()
            );
        }
        let v = self.v;
        let (mut max_abs, mut num, mut den, mut positions) = (0f64, 0f64, 0f64, 0usize);
        for pos in (0..self.b * self.t).filter(|&p| self.valid[p]) {
            positions += 1;
            let row = pos * v..(pos + 1) * v;
            for (&a, &e) in ours[row.clone()].iter().zip(&self.logits[row]) {
                let (a, e) = (a as f64, e as f64);
                if is_worse((a - e).abs(), max_abs) {
                    max_abs = (a - e).abs();
                }
                num += (a - e).powi(2);
                den += e.powi(2);
            }
        }
        Ok(LogitsDiff {
            max_abs,
            rel_l2: (num / den.max(1e-30)).sqrt(),
            positions,
        })
    }

    /// The model's logits on the fixture's inputs (its own dtype and device) against the
    /// fixture's.
    pub fn check(&self, model: &Model) -> Result<LogitsDiff> {
        let batch = self.batch(model.dtype(), model.device())?;
        self.compare(&to_host_f32(&model.forward(&batch)?)?)
    }
}

/// How far the KV-cached path's logits are from the full forward's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheDiff {
    /// The largest absolute difference over every real position.
    pub max_abs: f64,
    /// `(row, slot)` where it occurs.
    pub worst_at: (usize, usize),
    /// The cache's length after the last chunk.
    pub cached: usize,
}

/// Runs left-padded rows (`ids` and `valid`, `[b, t]` row-major) through the KV cache in chunks
/// of `chunks` slots (a prefill, then decode steps; they sum to at most `t`) and compares every
/// real position's logits with the full forward's, in the model's dtype on its device.
pub fn kv_cache_vs_full(
    model: &Model,
    ids: &[u32],
    valid: &[bool],
    b: usize,
    t: usize,
    chunks: &[usize],
) -> Result<CacheDiff> {
    let (dtype, device) = (model.dtype(), model.device());
    let full = to_host_f32(&model.forward(&Batch::from_parts(
        ids.to_vec(),
        valid.to_vec(),
        b,
        t,
        dtype,
        device,
    )?)?)?;
    let v = model.config.vocab_size;
    let positions = positions_from_valid(valid, b, t);
    let mc = &model.config;
    let mut cache = KvCache::new(
        mc.num_hidden_layers,
        b,
        mc.num_kv_heads(),
        mc.head_dim(),
        t,
        dtype,
        device,
    )?;
    let cols = |x: &[u32], s: usize, n: usize| -> Vec<u32> {
        (0..b)
            .flat_map(|r| x[r * t + s..r * t + s + n].to_vec())
            .collect()
    };
    let mut diff = CacheDiff {
        max_abs: 0.0,
        worst_at: (0, 0),
        cached: 0,
    };
    let mut start = 0;
    for &n in chunks {
        let key_valid: Vec<bool> = (0..b)
            .flat_map(|r| valid[r * t..r * t + start + n].to_vec())
            .collect();
        let mask = attention_mask(&key_valid, b, start, n, start + n, dtype, device)?;
        let h = model.forward_hidden(
            &Tensor::from_vec(cols(ids, start, n), (b, n), device)?,
            &Tensor::from_vec(cols(&positions, start, n), (b, n), device)?,
            &mask,
            Some(&mut cache),
        )?;
        let step = to_host_f32(&model.logits(&h)?)?;
        for r in 0..b {
            for j in (0..n).filter(|&j| valid[r * t + start + j]) {
                for k in 0..v {
                    let a = step[(r * n + j) * v + k] as f64;
                    let e = full[(r * t + start + j) * v + k] as f64;
                    if is_worse((a - e).abs(), diff.max_abs) {
                        diff.max_abs = (a - e).abs();
                        diff.worst_at = (r, start + j);
                    }
                }
            }
        }
        start += n;
    }
    diff.cached = cache.len();
    Ok(diff)
}
