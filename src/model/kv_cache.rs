//! A preallocated key/value cache for incremental decoding: one `[b, kv_heads, max_len, head_dim]`
//! buffer per layer, written in place (no concatenation per step).

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};

pub struct KvCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: usize,
    max_len: usize,
}

impl KvCache {
    pub fn new(
        layers: usize,
        batch: usize,
        kv_heads: usize,
        head_dim: usize,
        max_len: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let mk = || Tensor::zeros((batch, kv_heads, max_len, head_dim), dtype, device);
        let k = (0..layers)
            .map(|_| mk())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = (0..layers)
            .map(|_| mk())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            k,
            v,
            len: 0,
            max_len,
        })
    }

    /// Tokens cached so far.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Writes `k`, `v` (`[b, kv, t, hd]`) of `layer` after the cached tokens and returns the keys and
    /// values of everything cached plus the new ones. Call `advance(t)` once all layers are done.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        if self.len + t > self.max_len {
            bail!(
                "the KV cache holds {} tokens and {} more do not fit in its {} slots: raise max_new_tokens' budget \
                 or shorten the prompts",
                self.len,
                t,
                self.max_len
            );
        }
        self.k[layer].slice_set(&k.contiguous()?, 2, self.len)?;
        self.v[layer].slice_set(&v.contiguous()?, 2, self.len)?;
        let total = self.len + t;
        Ok((
            self.k[layer].narrow(2, 0, total)?,
            self.v[layer].narrow(2, 0, total)?,
        ))
    }

    pub fn advance(&mut self, t: usize) -> Result<()> {
        if self.len + t > self.max_len {
            bail!("KV cache overflow: {} + {t} > {}", self.len, self.max_len);
        }
        self.len += t;
        Ok(())
    }

    /// Keeps only the given batch rows (finished sequences are dropped from the batch).
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for buf in self.k.iter_mut().chain(self.v.iter_mut()) {
            *buf = buf.index_select(rows, 0)?;
        }
        Ok(())
    }
}
