//! The named parameters of a model, in a fixed order, under their Hugging Face checkpoint names.

use super::config::ModelConfig;
use super::names::{self, Layer, Proj};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::collections::HashMap;

/// Parameters as candle `Var`s (trainable), ordered as in the checkpoint.
#[derive(Clone)]
pub struct Params {
    names: Vec<String>,
    vars: Vec<Var>,
    index: HashMap<String, usize>,
    device: Device,
    dtype: DType,
}

/// What kind of initial value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Matrix,
    Norm,
    Bias,
}

/// `(out, in)` of a projection's weight under the config.
fn proj_shape(cfg: &ModelConfig, p: Proj) -> (usize, usize) {
    let h = cfg.hidden_size;
    let q = cfg.num_attention_heads * cfg.head_dim();
    let kv = cfg.num_kv_heads() * cfg.head_dim();
    let i = cfg.intermediate_size;
    match p {
        Proj::Q => (q, h),
        Proj::K | Proj::V => (kv, h),
        Proj::O => (h, q),
        Proj::Gate | Proj::Up => (i, h),
        Proj::Down => (h, i),
    }
}

/// The names, shapes and kinds of every parameter the config implies, in checkpoint order.
pub fn expected_params(cfg: &ModelConfig) -> Vec<(String, Vec<usize>, ParamKind)> {
    use ParamKind::*;
    let h = cfg.hidden_size;
    let mut out = vec![(
        names::EMBED_TOKENS.to_string(),
        vec![cfg.vocab_size, h],
        Matrix,
    )];
    for l in (0..cfg.num_hidden_layers).map(Layer) {
        let push = |out: &mut Vec<_>, group: &[Proj]| {
            for &p in group {
                let (o, i) = proj_shape(cfg, p);
                out.push((l.weight(p), vec![o, i], Matrix));
                if p.has_bias(cfg) {
                    out.push((l.bias(p), vec![o], Bias));
                }
            }
        };
        out.push((l.input_norm(), vec![h], Norm));
        push(&mut out, &Proj::ATTENTION);
        out.push((l.post_attention_norm(), vec![h], Norm));
        push(&mut out, &Proj::MLP);
    }
    out.push((names::FINAL_NORM.to_string(), vec![h], Norm));
    if !cfg.tie_word_embeddings {
        out.push((names::LM_HEAD.to_string(), vec![cfg.vocab_size, h], Matrix));
    }
    out
}

impl Params {
    fn from_vars(names: Vec<String>, vars: Vec<Var>, device: &Device, dtype: DType) -> Self {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Self {
            names,
            vars,
            index,
            device: device.clone(),
            dtype,
        }
    }

    /// Fresh parameters: normal(0, std) matrices, unit norms, zero biases; deterministic per seed.
    pub fn init(
        cfg: &ModelConfig,
        seed: u64,
        std: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(0.0f32, std as f32).context("init std must be positive")?;
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for (name, shape, kind) in expected_params(cfg) {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = match kind {
                ParamKind::Matrix => (0..n).map(|_| normal.sample(&mut rng)).collect(),
                ParamKind::Norm => vec![1.0; n],
                ParamKind::Bias => vec![0.0; n],
            };
            let t = Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?;
            names.push(name);
            vars.push(Var::from_tensor(&t)?);
        }
        Ok(Self::from_vars(names, vars, device, dtype))
    }

    /// Parameters from loaded tensors (any float dtype; converted to `dtype`), checked against the
    /// config: a missing tensor or a wrong shape is an error naming the tensor and `source`.
    pub fn from_tensors(
        cfg: &ModelConfig,
        mut tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
        source: &str,
    ) -> Result<Self> {
        let mut names = Vec::new();
        let mut vars = Vec::new();
        for (name, shape, _) in expected_params(cfg) {
            let t = match tensors.remove(&name) {
                Some(t) => t,
                None => bail!(
                    "{source} has no tensor {name:?}, which config.json implies ({} layers, tie_word_embeddings = {}): \
                     the weights do not belong to this config",
                    cfg.num_hidden_layers,
                    cfg.tie_word_embeddings
                ),
            };
            if t.dims() != shape.as_slice() {
                bail!(
                    "{source}: tensor {name:?} has shape {:?} but config.json implies {:?}: the weights do not belong \
                     to this config",
                    t.dims(),
                    shape
                );
            }
            let t = t.to_dtype(dtype)?.to_device(device)?;
            names.push(name);
            vars.push(Var::from_tensor(&t)?);
        }
        // Tied checkpoints sometimes still carry lm_head.weight; buffers like rotary inv_freq are
        // recomputed. Anything else means the file and the config disagree.
        tensors.retain(|k, _| !names::is_ignored_extra(k));
        if let Some(extra) = tensors.keys().min() {
            bail!(
                "{source} holds tensor {extra:?} (and {} more) that config.json does not describe: the weights do not \
                 belong to this config",
                tensors.len() - 1
            );
        }
        Ok(Self::from_vars(names, vars, device, dtype))
    }

    pub fn get(&self, name: &str) -> Result<&Var> {
        match self.index.get(name) {
            Some(&i) => Ok(&self.vars[i]),
            None => bail!("no parameter named {name:?}"),
        }
    }

    /// `(name, var)` in checkpoint order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.names.iter().map(|s| s.as_str()).zip(self.vars.iter())
    }

    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn len(&self) -> usize {
        self.vars.len()
    }
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn num_elements(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }

    /// New variables holding copies of the current values.
    pub fn deep_copy(&self) -> Result<Self> {
        let vars = self
            .vars
            .iter()
            .map(|v| Var::from_tensor(&v.as_tensor().copy()?))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self::from_vars(
            self.names.clone(),
            vars,
            &self.device,
            self.dtype,
        ))
    }

    /// Copies the values of `other` (same names and shapes) into these variables.
    pub fn assign_from(&self, other: &Params) -> Result<()> {
        for (name, var) in self.iter() {
            var.set(&other.get(name)?.as_tensor().to_dtype(self.dtype)?)?;
        }
        Ok(())
    }

    /// The tensors, detached, under their names (for saving).
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.iter()
            .map(|(n, v)| (n.to_string(), v.as_tensor().detach()))
            .collect()
    }
}
