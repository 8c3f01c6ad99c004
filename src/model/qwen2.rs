//! A trainable decoder of the Qwen2 family (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen; Llama too).
//!
//! Key characteristics, as in the Hugging Face implementation:
//! - token embedding, pre-norm blocks with RMSNorm, rotary position embedding (the "rotate half"
//!   form, `rope_theta`), grouped-query attention with optional q/k/v bias, SwiGLU MLP, final
//!   RMSNorm, LM head optionally tied to the embedding;
//! - tensor names equal the checkpoint names (`model.layers.0.self_attn.q_proj.weight`, …; built in
//!   [`super::names`]).
//!
//! Departures from `candle_transformers::models::qwen2` (which is inference-only):
//! 1. every operation is a composed candle op that has a backward pass: candle's fused
//!    `rms_norm`, `softmax_last_dim` and `rope` silently drop gradients, so they are not used;
//! 2. batches are left-padded: each row carries its own positions, and the attention mask is
//!    causal + padding;
//! 3. `token_logprobs` returns per-token log-probabilities of given targets (what RL and SFT need)
//!    with `log_softmax` computed once over `[batch·seq, vocab]`.
//!
//! References: Qwen2 technical report (arXiv 2407.10671); RoFormer (arXiv 2104.09864);
//! GQA (arXiv 2305.13245); Hugging Face `modeling_qwen2.py`.

use super::config::ModelConfig;
use super::kv_cache::KvCache;
use super::names::{self, Layer, Proj};
use super::ops;
use super::params::Params;
use anyhow::{Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor, D};

/// The value added to masked attention scores. Finite, so a fully masked (padding) query row gives
/// a uniform distribution instead of NaN; such rows are never read.
const MASKED: f32 = -1e9;

#[derive(Clone)]
struct Linear {
    /// `[out, in]`, as checkpoints store it.
    weight: Tensor,
    bias: Option<Tensor>,
    /// A detached contiguous copy of `weightᵀ`, `[in, out]`, in a model made by
    /// [`Model::for_decoding`].
    weight_t: Option<Tensor>,
}

impl Linear {
    /// The weight as the right operand of `x · Wᵀ`.
    fn rhs(&self) -> Result<Tensor> {
        Ok(match &self.weight_t {
            Some(w) => w.clone(),
            None => self.weight.t()?,
        })
    }

    fn with_transposed(&self) -> Result<Self> {
        Ok(Self {
            weight_t: Some(self.weight.detach().t()?.contiguous()?),
            ..self.clone()
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, i) = x.dims3()?;
        let y = x.reshape((b * t, i))?.matmul(&self.rhs()?)?;
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        Ok(y.reshape((b, t, ()))?)
    }
}

/// RMSNorm `y = x / sqrt(mean(x²) + eps) · w`: the fused kernel of [`ops`] for f32 on the CPU,
/// else [`rms_norm_composed`].
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    if ops::fused_ok(x) && ops::fused_ok(weight) {
        return Ok(ops::rms_norm(x, weight, eps)?);
    }
    rms_norm_composed(x, weight, eps)
}

/// RMSNorm composed of candle ops that all have a backward pass (candle's fused `rms_norm` drops
/// gradients), computed in f32 for half-precision inputs.
pub fn rms_norm_composed(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x32 = if dtype == DType::F32 {
        x.clone()
    } else {
        x.to_dtype(DType::F32)?
    };
    let ms = x32.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = x32.broadcast_div(&(ms + eps)?.sqrt()?)?;
    let normed = if dtype == DType::F32 {
        normed
    } else {
        normed.to_dtype(dtype)?
    };
    Ok(normed.broadcast_mul(weight)?)
}

/// Rotary position embedding tables, `[max_positions, head_dim]` each, in the model dtype.
#[derive(Clone)]
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(cfg: &ModelConfig, dtype: DType, device: &Device) -> Result<Self> {
        let hd = cfg.head_dim();
        let half = hd / 2;
        // Computed in f32 exactly as transformers does, so long positions agree too.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0f32 / (cfg.rope_theta as f32).powf((2 * i) as f32 / hd as f32))
            .collect();
        let n = cfg.max_position_embeddings;
        let mut cos = Vec::with_capacity(n * hd);
        let mut sin = Vec::with_capacity(n * hd);
        for p in 0..n {
            // HF layout: the frequencies twice, `cat(freqs, freqs)`.
            for _ in 0..2 {
                for f in &inv_freq {
                    let a = p as f32 * f;
                    cos.push(a.cos());
                    sin.push(a.sin());
                }
            }
        }
        let cos = Tensor::from_vec(cos, (n, hd), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (n, hd), device)?.to_dtype(dtype)?;
        Ok(Self { cos, sin })
    }

    /// cos and sin for positions `[b, t]`, shaped `[b, 1, t, head_dim]`.
    fn at(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, t) = positions.dims2()?;
        let flat = positions.flatten_all()?;
        let hd = self.cos.dim(1)?;
        let cos = self.cos.index_select(&flat, 0)?.reshape((b, 1, t, hd))?;
        let sin = self.sin.index_select(&flat, 0)?.reshape((b, 1, t, hd))?;
        Ok((cos, sin))
    }
}

/// `x·cos + rotate_half(x)·sin` with `rotate_half([x1, x2]) = [−x2, x1]` (RoFormer eq. 34, HF form).
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    if ops::fused_ok(x) && ops::fused_ok(cos) {
        return Ok(ops::rope(x, cos, sin)?);
    }
    apply_rope_composed(x, cos, sin)
}

/// [`apply_rope`] composed of candle ops with backward passes.
pub fn apply_rope_composed(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let hd = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, hd / 2)?;
    let x2 = x.narrow(D::Minus1, hd / 2, hd / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

#[derive(Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    n_heads: usize,
    n_kv: usize,
    head_dim: usize,
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.n_heads, self.n_kv, self.head_dim);
        let q = self
            .q
            .forward(x)?
            .reshape((b, t, nh, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = self
            .k
            .forward(x)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let v = self
            .v
            .forward(x)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let q = apply_rope(&q, cos, sin)?;
        let k = apply_rope(&k, cos, sin)?;
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, &k, &v)?,
            None => (k, v),
        };
        let tk = k.dim(2)?;
        // Grouped-query attention without copying keys: the n_rep query heads that share a key
        // head are stacked along the sequence axis, `[b, nkv, n_rep·t, hd]`.
        let n_rep = nh / nkv;
        let q = q.reshape((b, nkv, n_rep * t, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = q.matmul(&k.t()?)?.reshape((b, nh, t, tk))?;
        let probs = attention_probs(&scores, mask, scale)?;
        let out = probs.reshape((b, nkv, n_rep * t, tk))?.matmul(&v)?;
        let out = out
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nh * hd))?;
        self.o.forward(&out)
    }
}

/// `softmax(scores · scale + mask)` over keys. Fused (one pass, its own backward) for f32 on the
/// CPU with a mask of shape `[b, 1, t, k]`; else composed: scaled and masked in the scores' dtype,
/// the softmax in f32 (for half precision only the softmax is widened, so the graph keeps no f32
/// copy of the scores before it).
pub fn attention_probs(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let (b, _, t, k) = scores.dims4()?;
    if ops::fused_ok(scores) && ops::fused_ok(mask) && mask.dims() == [b, 1, t, k] {
        return Ok(ops::masked_softmax(scores, mask, scale)?);
    }
    let z = (scores * scale)?.broadcast_add(mask)?;
    Ok(if z.dtype() == DType::F32 {
        candle_nn::ops::softmax(&z, D::Minus1)?
    } else {
        candle_nn::ops::softmax(&z.to_dtype(DType::F32)?, D::Minus1)?.to_dtype(z.dtype())?
    })
}

#[derive(Clone)]
struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    /// SwiGLU: `down(silu(gate(x)) · up(x))`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (g, u) = (self.gate.forward(x)?, self.up.forward(x)?);
        let h = if ops::fused_ok(&g) {
            ops::swiglu(&g, &u)?
        } else {
            (g.silu()? * u)?
        };
        self.down.forward(&h)
    }
}

#[derive(Clone)]
struct Block {
    input_norm: Tensor,
    attn: Attention,
    post_norm: Tensor,
    mlp: Mlp,
}

/// The decoder. Cloning is cheap and shares the parameters (use `Model::deep_copy` for a frozen
/// reference copy).
#[derive(Clone)]
pub struct Model {
    pub config: ModelConfig,
    params: Params,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Tensor,
    /// `lm_headᵀ` contiguous, in a model made by [`Model::for_decoding`].
    lm_head_t: Option<Tensor>,
    rope: Rope,
    device: Device,
    dtype: DType,
}

/// A batch of left-padded token rows as the model consumes it.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[b, t]` u32 token ids (pad positions hold any id).
    pub input_ids: Tensor,
    /// `[b, t]` u32 positions: 0 at each row's first real token.
    pub positions: Tensor,
    /// `[b, 1, t, t]` additive causal + padding mask in the model dtype.
    pub mask: Tensor,
}

impl Batch {
    /// Builds a left-padded batch from rows of different lengths.
    pub fn left_padded(
        rows: &[Vec<u32>],
        pad_id: u32,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let t = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let b = rows.len();
        let mut ids = Vec::with_capacity(b * t);
        let mut valid = Vec::with_capacity(b * t);
        for r in rows {
            let pad = t - r.len();
            ids.extend(std::iter::repeat_n(pad_id, pad));
            ids.extend_from_slice(r);
            valid.extend(std::iter::repeat_n(false, pad));
            valid.extend(std::iter::repeat_n(true, r.len()));
        }
        Self::from_parts(ids, valid, b, t, dtype, device)
    }

    /// From flat row-major ids and a validity mask (true = real token).
    pub fn from_parts(
        ids: Vec<u32>,
        valid: Vec<bool>,
        b: usize,
        t: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let positions = positions_from_valid(&valid, b, t);
        let mask = attention_mask(&valid, b, 0, t, t, dtype, device)?;
        Ok(Self {
            input_ids: Tensor::from_vec(ids, (b, t), device)?,
            positions: Tensor::from_vec(positions, (b, t), device)?,
            mask,
        })
    }
}

/// Per-row positions: the count of real tokens before each slot (0 for leading pads).
pub fn positions_from_valid(valid: &[bool], b: usize, t: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(b * t);
    for row in 0..b {
        let mut p = 0u32;
        for j in 0..t {
            if valid[row * t + j] {
                out.push(p);
                p += 1;
            } else {
                out.push(p.saturating_sub(1));
            }
        }
    }
    out
}

/// Additive mask `[b, 1, tq, tk]` for queries at absolute slots `q_offset..q_offset+tq` over keys
/// `0..tk`: key j is visible to query i when `j ≤ i` and key j is a real token.
/// `key_valid` is `[b, tk]` row-major.
pub fn attention_mask(
    key_valid: &[bool],
    b: usize,
    q_offset: usize,
    tq: usize,
    tk: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut m = vec![0f32; b * tq * tk];
    for row in 0..b {
        for i in 0..tq {
            let qi = q_offset + i;
            let base = (row * tq + i) * tk;
            for j in 0..tk {
                if j > qi || !key_valid[row * tk + j] {
                    m[base + j] = MASKED;
                }
            }
        }
    }
    Ok(Tensor::from_vec(m, (b, 1, tq, tk), device)?.to_dtype(dtype)?)
}

impl Model {
    /// Builds the model over an existing set of named parameters (checked against the config).
    pub fn from_params(config: ModelConfig, params: Params) -> Result<Self> {
        config.validate()?;
        let device = params.device().clone();
        let dtype = params.dtype();
        let get = |name: &str| -> Result<Tensor> { Ok(params.get(name)?.as_tensor().clone()) };
        let opt =
            |name: &str| -> Option<Tensor> { params.get(name).ok().map(|v| v.as_tensor().clone()) };
        let mut blocks = Vec::with_capacity(config.num_hidden_layers);
        for l in (0..config.num_hidden_layers).map(Layer) {
            let linear = |p: Proj| -> Result<Linear> {
                Ok(Linear {
                    weight_t: None,
                    weight: get(&l.weight(p))?,
                    bias: if p.has_bias(&config) {
                        Some(get(&l.bias(p))?)
                    } else {
                        None
                    },
                })
            };
            blocks.push(Block {
                input_norm: get(&l.input_norm())?,
                post_norm: get(&l.post_attention_norm())?,
                attn: Attention {
                    q: linear(Proj::Q)?,
                    k: linear(Proj::K)?,
                    v: linear(Proj::V)?,
                    o: linear(Proj::O)?,
                    n_heads: config.num_attention_heads,
                    n_kv: config.num_kv_heads(),
                    head_dim: config.head_dim(),
                },
                mlp: Mlp {
                    gate: linear(Proj::Gate)?,
                    up: linear(Proj::Up)?,
                    down: linear(Proj::Down)?,
                },
            });
        }
        let embed = get(names::EMBED_TOKENS)?;
        let lm_head = if config.tie_word_embeddings {
            embed.clone()
        } else {
            opt(names::LM_HEAD).with_context(|| {
                format!(
                    "the checkpoint has no {} but tie_word_embeddings is false: fix config.json or the file",
                    names::LM_HEAD
                )
            })?
        };
        let rope = Rope::new(&config, dtype, &device)?;
        Ok(Self {
            norm: get(names::FINAL_NORM)?,
            config,
            params,
            embed,
            blocks,
            lm_head,
            lm_head_t: None,
            rope,
            device,
            dtype,
        })
    }

    /// A freshly initialised model (normal(0, 0.02) matrices as transformers' `initializer_range`,
    /// unit norms, zero biases), deterministic for a seed.
    pub fn new_random(
        config: ModelConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let params = Params::init(&config, seed, 0.02, dtype, device)?;
        Self::from_params(config, params)
    }

    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn num_parameters(&self) -> usize {
        self.params.num_elements()
    }

    /// The same model for token-by-token decoding on the CPU: every matrix is also held
    /// transposed and contiguous (detached copies, `[in, out]`). A decode step multiplies a few
    /// rows by every weight once; `gemm` then reads `Wᵀ` as stored instead of first gathering
    /// the transposed operand element by element, which cost nearly as much as the arithmetic.
    /// The copies are made once per call and do not follow later updates of the parameters, so
    /// make a fresh one after each optimizer step (`sampling::generate_with` makes one per call).
    /// On the CPU they hold a second copy of every matrix (the tied embedding too, as the LM
    /// head) while the model is alive. Elsewhere (a GPU multiplies transposed operands directly)
    /// it returns a plain clone, without doubling the weights' memory.
    pub fn for_decoding(&self) -> Result<Self> {
        if !self.device.is_cpu() {
            return Ok(self.clone());
        }
        let mut m = self.clone();
        for blk in &mut m.blocks {
            for l in [
                &mut blk.attn.q,
                &mut blk.attn.k,
                &mut blk.attn.v,
                &mut blk.attn.o,
                &mut blk.mlp.gate,
                &mut blk.mlp.up,
                &mut blk.mlp.down,
            ] {
                *l = l.with_transposed()?;
            }
        }
        m.lm_head_t = Some(self.lm_head.detach().t()?.contiguous()?);
        Ok(m)
    }

    /// An independent copy of the parameters (a frozen reference policy, a teacher).
    pub fn deep_copy(&self) -> Result<Self> {
        Self::from_params(self.config.clone(), self.params.deep_copy()?)
    }

    /// Hidden states after the final norm, `[b, t, hidden]`. With a cache, the new keys and values
    /// are appended and attention covers everything cached so far.
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mask: &Tensor,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let mut x = self
            .embed
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((b, t, ()))?;
        let (cos, sin) = self.rope.at(positions)?;
        let eps = self.config.rms_norm_eps;
        for (i, blk) in self.blocks.iter().enumerate() {
            let h = rms_norm(&x, &blk.input_norm, eps)?;
            let h = blk
                .attn
                .forward(&h, &cos, &sin, mask, cache.as_deref_mut().map(|c| (c, i)))?;
            x = (x + h)?;
            let h = rms_norm(&x, &blk.post_norm, eps)?;
            x = (x + blk.mlp.forward(&h)?)?;
        }
        if let Some(c) = cache {
            c.advance(t)?;
        }
        rms_norm(&x, &self.norm, eps)
    }

    /// Logits `[b, t, vocab]` (f32) of a full batch.
    pub fn forward(&self, batch: &Batch) -> Result<Tensor> {
        let h = self.forward_hidden(&batch.input_ids, &batch.positions, &batch.mask, None)?;
        self.logits(&h)
    }

    /// `[b, t, hidden] -> [b, t, vocab]` in f32.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let (b, t, h) = hidden.dims3()?;
        let rhs = match &self.lm_head_t {
            Some(w) => w.clone(),
            None => self.lm_head.t()?,
        };
        let logits = hidden.reshape((b * t, h))?.matmul(&rhs)?;
        Ok(logits.to_dtype(DType::F32)?.reshape((b, t, ()))?)
    }

    /// Per-token log-probabilities `log π(targets[b, t] | input[b, ..=t])`, `[b, t]` f32, with
    /// gradients. The log-softmax runs once over `[b·t, vocab]`; its max shift is detached (it
    /// cancels mathematically), so backward holds the logits and one softmax-sized buffer.
    pub fn token_logprobs(&self, batch: &Batch, targets: &Tensor) -> Result<Tensor> {
        let h = self.forward_hidden(&batch.input_ids, &batch.positions, &batch.mask, None)?;
        self.logprobs_from_hidden(&h, targets)
    }

    /// Log-probabilities of `targets` `[b, t]` from hidden states `[b, t, hidden]`.
    pub fn logprobs_from_hidden(&self, hidden: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let (b, t, _) = hidden.dims3()?;
        let logits = self.logits(hidden)?.reshape((b * t, ()))?;
        if ops::fused_ok(&logits) {
            return Ok(ops::target_logprob(&logits, targets)?.reshape((b, t))?);
        }
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let shifted = logits.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
        let picked = shifted.gather(&targets.flatten_all()?.unsqueeze(1)?, 1)?;
        Ok((picked - lse)?.reshape((b, t))?)
    }

    /// Logits of the last slot of each row, `[b, vocab]` f32.
    pub fn last_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let t = hidden.dim(1)?;
        let last = hidden.i((.., t - 1..t, ..))?.contiguous()?;
        Ok(self.logits(&last)?.squeeze(1)?)
    }
}
