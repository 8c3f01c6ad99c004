//! Fused CPU operations with their own backward pass.
//!
//! candle's own fused kernels (`rms_norm`, `softmax_last_dim`, `rope`) drop gradients; the
//! composed forms keep them but run five to ten passes over memory, each allocating. These are
//! single-pass f32 CPU kernels whose backward is written out (and itself fused). Every one is
//! tested against the composed form, values and gradients (`tests/ops.rs`). On other devices or
//! dtypes the callers fall back to the composed forms.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

/// Whether the fused kernels apply to `t` (f32 on the CPU).
pub fn fused_ok(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{what}: expected f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

fn u32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [u32]> {
    let data = match s {
        CpuStorage::U32(v) => v.as_slice(),
        _ => candle_core::bail!("{what}: expected u32 ids"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

/// [`exp`] returns exactly 0 below this.
const EXP_ZERO_BELOW: f32 = -87.3;

/// `eˣ` for f32 without a call into libm, so the loops of the kernels below vectorise (libm's
/// scalar `expf` was ~7% of a 1M training step). Range reduction `x = n·ln2 + r`, |r| ≤ ln2/2,
/// then a degree-7 polynomial for `eʳ` (Cephes' `expf` coefficients) and `2ⁿ` built in the
/// exponent bits. Relative error under 3e-7 against `f32::exp` (a unit test sweeps −87.3..88.3);
/// below −87.3 it returns 0, above 88.3 +∞ (the true value overflows at 88.72), NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LO: f32 = EXP_ZERO_BELOW;
    const HI: f32 = 88.3;
    const MAGIC: f32 = 12_582_912.0; // 1.5·2²³: adding and subtracting it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(LO, HI); // a NaN stays NaN
    let n = (xc * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_3e-1;
    let e = p * r * r + r + 1.0;
    let y = e * f32::from_bits(((n as i32 + 127) << 23) as u32);
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        y
    }
}

/// Lanes of the reductions below. A float sum in one accumulator must keep its order, so it does
/// not vectorise; sixteen independent partial sums (and maxima) do.
const LANES: usize = 16;

/// `Σ_{j<n} f(j)` in [`LANES`] partial sums.
#[inline(always)]
fn sum_lanes(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let full = n / LANES * LANES;
    for i in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i + l);
        }
    }
    acc.iter().sum::<f32>() + (full..n).map(f).sum::<f32>()
}

/// The maximum of `v` (−∞ for an empty slice) in [`LANES`] partial maxima.
#[inline(always)]
fn max_lanes(v: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    let m = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    acc.iter().fold(m, |m, &x| m.max(x))
}

/// Rows of at least this many elements in total are split across threads.
const PAR_MIN: usize = 1 << 14;

fn rows_mut(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(width)
            .enumerate()
            .for_each(|(i, r)| f(i, r));
    } else {
        out.chunks_mut(width).enumerate().for_each(|(i, r)| f(i, r));
    }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm: y = x · rsqrt(mean(x²) + eps) · w

struct RmsNorm {
    eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "r1lab-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "rms_norm x")?;
        let w = f32_slice(s2, l2, "rms_norm weight")?;
        let h = w.len();
        let mut out = vec![0f32; x.len()];
        rows_mut(&mut out, h, |i, o| {
            let xr = &x[i * h..(i + 1) * h];
            let ms = sum_lanes(h, |j| xr[j] * xr[j]) / h as f32;
            let r = 1.0 / (ms + self.eps).sqrt();
            for j in 0..h {
                o[j] = xr[j] * r * w[j];
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let dx = x.apply_op3_no_bwd(w, &g, &RmsNormBwdX { eps: self.eps })?;
        let dw = x.apply_op2_no_bwd(&g, &RmsNormBwdW { eps: self.eps })?;
        Ok((Some(dx), Some(dw)))
    }
}

/// dx = r · (g·w − x · r² · mean(g·w·x)), r = rsqrt(mean(x²) + eps).
struct RmsNormBwdX {
    eps: f32,
}

impl CustomOp3 for RmsNormBwdX {
    fn name(&self) -> &'static str {
        "r1lab-rms-norm-bwd-x"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "rms_norm x")?;
        let w = f32_slice(s2, l2, "rms_norm weight")?;
        let g = f32_slice(s3, l3, "rms_norm grad")?;
        let h = w.len();
        let mut out = vec![0f32; x.len()];
        rows_mut(&mut out, h, |i, o| {
            let xr = &x[i * h..(i + 1) * h];
            let gr = &g[i * h..(i + 1) * h];
            let ms = sum_lanes(h, |j| xr[j] * xr[j]) / h as f32;
            let r = 1.0 / (ms + self.eps).sqrt();
            let dot = sum_lanes(h, |j| gr[j] * w[j] * xr[j]) / h as f32;
            for j in 0..h {
                o[j] = r * (gr[j] * w[j] - xr[j] * r * r * dot);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// dw = Σ_rows g · x · r.
struct RmsNormBwdW {
    eps: f32,
}

impl CustomOp2 for RmsNormBwdW {
    fn name(&self) -> &'static str {
        "r1lab-rms-norm-bwd-w"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "rms_norm x")?;
        let g = f32_slice(s2, l2, "rms_norm grad")?;
        let h = *l1.dims().last().unwrap_or(&1);
        let mut dw = vec![0f32; h];
        for (xr, gr) in x.chunks(h).zip(g.chunks(h)) {
            let ms = sum_lanes(h, |j| xr[j] * xr[j]) / h as f32;
            let r = 1.0 / (ms + self.eps).sqrt();
            for j in 0..h {
                dw[j] += gr[j] * xr[j] * r;
            }
        }
        Ok((CpuStorage::F32(dw), Shape::from(h)))
    }
}

/// Fused RMSNorm with backward (f32, CPU, contiguous input).
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(w, RmsNorm { eps: eps as f32 })
}

// ---------------------------------------------------------------------------------------------
// Rotary embedding, HF "rotate half" form: y = x·cos + rotate_half(x)·sin, rotate_half([a, b]) =
// [−b, a]. cos/sin are `[b, 1, t, d]` with equal halves, so the backward is the same map with −sin.

struct Rope {
    /// Multiply sin by −1 (the backward pass).
    transpose: bool,
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "r1lab-rope"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "rope x")?;
        let cos = f32_slice(s2, l2, "rope cos")?;
        let sin = f32_slice(s3, l3, "rope sin")?;
        let (_, h, t, d) = l1.shape().dims4()?;
        let half = d / 2;
        let sign = if self.transpose { -1.0f32 } else { 1.0 };
        let mut out = vec![0f32; x.len()];
        rows_mut(&mut out, t * d, |bh, o| {
            let bi = bh / h;
            let xr = &x[bh * t * d..(bh + 1) * t * d];
            for ti in 0..t {
                let c = &cos[(bi * t + ti) * d..(bi * t + ti + 1) * d];
                let s = &sin[(bi * t + ti) * d..(bi * t + ti + 1) * d];
                let xi = &xr[ti * d..(ti + 1) * d];
                let oi = &mut o[ti * d..(ti + 1) * d];
                for j in 0..half {
                    oi[j] = xi[j] * c[j] - sign * xi[j + half] * s[j];
                    oi[j + half] = xi[j + half] * c[j + half] + sign * xi[j] * s[j + half];
                }
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = g.contiguous()?.apply_op3_no_bwd(
            cos,
            sin,
            &Rope {
                transpose: !self.transpose,
            },
        )?;
        Ok((Some(dx), None, None))
    }
}

/// Fused rotary embedding with backward; `x` `[b, h, t, d]`, cos/sin `[b, 1, t, d]`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &cos.contiguous()?,
        &sin.contiguous()?,
        Rope { transpose: false },
    )
}

// ---------------------------------------------------------------------------------------------
// Attention probabilities: softmax(scores · scale + mask) over the last axis, scores
// `[b, h, t, k]`, mask `[b, 1, t, k]` (additive). Backward: dS = scale · P ⊙ (dP − Σ dP ⊙ P).

struct MaskedSoftmax {
    scale: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "r1lab-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "softmax scores")?;
        let m = f32_slice(s2, l2, "softmax mask")?;
        let (_, h, t, k) = l1.shape().dims4()?;
        let mut out = vec![0f32; x.len()];
        rows_mut(&mut out, k, |row, o| {
            let bi = row / (h * t);
            let ti = row % t;
            let xr = &x[row * k..(row + 1) * k];
            let mr = &m[(bi * t + ti) * k..(bi * t + ti + 1) * k];
            for j in 0..k {
                o[j] = xr[j] * self.scale + mr[j];
            }
            let max = max_lanes(o);
            // Keys masked out (or far below the maximum) give exactly 0 from `exp`: the causal
            // tail and the left padding are written as zeros instead of exponentiated. The sum
            // still runs over every key, so the result is the same to the bit.
            // A NaN counts as live, so it still reaches the sum.
            let live = |v: &f32| *v - max >= EXP_ZERO_BELOW || v.is_nan();
            let beg = o.iter().position(live).unwrap_or(k);
            let end = o.iter().rposition(live).map_or(beg, |j| j + 1);
            o[..beg].fill(0.0);
            o[end..].fill(0.0);
            for v in o[beg..end].iter_mut() {
                *v = exp(*v - max);
            }
            let inv = 1.0 / sum_lanes(k, |j| o[j]);
            for v in o.iter_mut() {
                *v *= inv;
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _m: &Tensor,
        p: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ds = p.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBwd { scale: self.scale })?;
        Ok((Some(ds), None))
    }
}

struct SoftmaxBwd {
    scale: f32,
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "r1lab-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let p = f32_slice(s1, l1, "softmax probs")?;
        let g = f32_slice(s2, l2, "softmax grad")?;
        let k = *l1.dims().last().unwrap_or(&1);
        let mut out = vec![0f32; p.len()];
        rows_mut(&mut out, k, |row, o| {
            let pr = &p[row * k..(row + 1) * k];
            let gr = &g[row * k..(row + 1) * k];
            let dot = sum_lanes(k, |j| pr[j] * gr[j]);
            for j in 0..k {
                o[j] = self.scale * pr[j] * (gr[j] - dot);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `softmax(scores · scale + mask)` with backward.
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    scores.contiguous()?.apply_op2(
        &mask.contiguous()?,
        MaskedSoftmax {
            scale: scale as f32,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// SwiGLU's gate: y = silu(a) · b = a · σ(a) · b, elementwise. Backward: da = g · b · σ(a) ·
// (1 + a · (1 − σ(a))), db = g · silu(a); both in one pass, returned stacked as `[2, ..]`.

/// Elements per parallel chunk of the elementwise kernels.
const CHUNK: usize = 1 << 12;

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "r1lab-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "swiglu gate")?;
        let b = f32_slice(s2, l2, "swiglu up")?;
        if a.len() != b.len() {
            candle_core::bail!("swiglu: gate and up differ in shape");
        }
        let mut out = vec![0f32; a.len()];
        // Chunks of CHUNK elements, split across threads as rows are.
        rows_mut(&mut out, CHUNK, |c, o| {
            let base = c * CHUNK;
            for (j, oj) in o.iter_mut().enumerate() {
                let x = a[base + j];
                *oj = x / (1.0 + exp(-x)) * b[base + j];
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = a.apply_op3_no_bwd(b, &g.contiguous()?, &SwiGluBwd)?;
        Ok((Some(d.get(0)?), Some(d.get(1)?)))
    }
}

struct SwiGluBwd;

impl CustomOp3 for SwiGluBwd {
    fn name(&self) -> &'static str {
        "r1lab-swiglu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = f32_slice(s1, l1, "swiglu gate")?;
        let b = f32_slice(s2, l2, "swiglu up")?;
        let g = f32_slice(s3, l3, "swiglu grad")?;
        let n = a.len();
        let mut out = vec![0f32; 2 * n];
        let (da, db) = out.split_at_mut(n);
        let f = |c: usize, (oa, ob): (&mut [f32], &mut [f32])| {
            let base = c * CHUNK;
            for j in 0..oa.len() {
                let (x, gj) = (a[base + j], g[base + j]);
                let s = 1.0 / (1.0 + exp(-x));
                oa[j] = gj * b[base + j] * s * (1.0 + x * (1.0 - s));
                ob[j] = gj * x * s;
            }
        };
        if n >= PAR_MIN {
            da.par_chunks_mut(CHUNK)
                .zip(db.par_chunks_mut(CHUNK))
                .enumerate()
                .for_each(|(c, o)| f(c, o));
        } else {
            da.chunks_mut(CHUNK)
                .zip(db.chunks_mut(CHUNK))
                .enumerate()
                .for_each(|(c, o)| f(c, o));
        }
        let mut dims = vec![2];
        dims.extend_from_slice(l1.dims());
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// `silu(a) · b` with backward (SwiGLU's gate); `a` and `b` f32 on the CPU, of one shape.
pub fn swiglu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        candle_core::bail!(
            "swiglu: gate {:?} and up {:?} differ in shape",
            a.dims(),
            b.dims()
        );
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, SwiGlu)
}

// ---------------------------------------------------------------------------------------------
// Log-probability of a target token: lp[n] = logits[n, y_n] − logsumexp(logits[n, :]), logits
// `[n, v]`, targets `[n]` u32. Backward: dlogits = g ⊙ (onehot(y) − softmax(logits)); the full
// log-softmax never exists.

struct TargetLogprob {
    targets: Tensor,
}

impl CustomOp1 for TargetLogprob {
    fn name(&self) -> &'static str {
        "r1lab-target-logprob"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "logits")?;
        let (n, v) = l.shape().dims2()?;
        let (ts, tl) = self.targets.storage_and_layout();
        let targets = match &*ts {
            candle_core::Storage::Cpu(c) => u32_slice(c, tl, "targets")?.to_vec(),
            _ => candle_core::bail!("targets must be on the CPU"),
        };
        let mut out = vec![0f32; n];
        let f = |i: usize, o: &mut f32| {
            let row = &x[i * v..(i + 1) * v];
            let max = max_lanes(row);
            let sum = sum_lanes(v, |j| exp(row[j] - max));
            *o = row[targets[i] as usize] - max - sum.ln();
        };
        if n * v >= PAR_MIN {
            out.par_iter_mut().enumerate().for_each(|(i, o)| f(i, o));
        } else {
            out.iter_mut().enumerate().for_each(|(i, o)| f(i, o));
        }
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }

    fn bwd(&self, logits: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let d = logits.apply_op3_no_bwd(&self.targets, &g.contiguous()?, &TargetLogprobBwd)?;
        Ok(Some(d))
    }
}

struct TargetLogprobBwd;

impl CustomOp3 for TargetLogprobBwd {
    fn name(&self) -> &'static str {
        "r1lab-target-logprob-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "logits")?;
        let targets = u32_slice(s2, l2, "targets")?;
        let g = f32_slice(s3, l3, "grad")?;
        let (_, v) = l1.shape().dims2()?;
        let mut out = vec![0f32; x.len()];
        rows_mut(&mut out, v, |i, o| {
            let row = &x[i * v..(i + 1) * v];
            let max = max_lanes(row);
            for j in 0..v {
                o[j] = exp(row[j] - max);
            }
            let scale = -g[i] / sum_lanes(v, |j| o[j]);
            for oj in o.iter_mut() {
                *oj *= scale;
            }
            o[targets[i] as usize] += g[i];
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `log softmax(logits)[n, targets[n]]`, `[n]`, with backward; logits `[n, v]` f32 on the CPU.
pub fn target_logprob(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets = targets.flatten_all()?.contiguous()?;
    logits.contiguous()?.apply_op1(TargetLogprob { targets })
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    /// The masked softmax exponentiates every key, as it did before it skipped the keys that
    /// `exp` sends to zero.
    fn softmax_every_key(x: &[f32], m: &[f32], scale: f32) -> Vec<f32> {
        let v: Vec<f32> = x.iter().zip(m).map(|(a, b)| a * scale + b).collect();
        let max = super::max_lanes(&v);
        let e: Vec<f32> = v.iter().map(|a| super::exp(a - max)).collect();
        let inv = 1.0 / super::sum_lanes(e.len(), |j| e[j]);
        e.iter().map(|a| a * inv).collect()
    }

    #[test]
    fn masked_softmax_skips_only_exact_zeros() {
        // Causal and left-padded rows of 37 keys (lanes and a remainder), a NaN in a masked tail.
        let (b, t, k) = (2, 37, 37);
        let valid: Vec<bool> = (0..b * k).map(|i| i % k >= [0, 9][i / k]).collect();
        let mask =
            crate::model::attention_mask(&valid, b, 0, t, k, DType::F32, &Device::Cpu).unwrap();
        let mut x: Vec<f32> = (0..b * t * k)
            .map(|i| ((i * 7919 % 1000) as f32 / 100.0) - 5.0)
            .collect();
        let nan_at = (t - 3) * k + k - 1; // row 0, query t-3: key k-1 is in its causal tail
        x[nan_at] = f32::NAN;
        let scores = Tensor::from_vec(x.clone(), (b, 1, t, k), &Device::Cpu).unwrap();
        let got = super::masked_softmax(&scores, &mask, 0.7)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let m = mask.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for r in 0..b * t {
            let want = softmax_every_key(&x[r * k..(r + 1) * k], &m[r * k..(r + 1) * k], 0.7);
            let got = &got[r * k..(r + 1) * k];
            if r == t - 3 {
                assert!(got.iter().all(|v| v.is_nan()), "the NaN must reach its row");
                continue;
            }
            for (a, w) in got.iter().zip(&want) {
                assert_eq!(a.to_bits(), w.to_bits(), "row {r}: {a} vs {w}");
            }
        }
    }

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0f64;
        // The whole range between the clamps, ending on both bounds.
        let mut x = -87.3f32;
        while x <= 88.3 {
            let (a, b) = (super::exp(x) as f64, x.exp() as f64);
            worst = worst.max(((a - b) / b).abs());
            x += 0.001_3;
        }
        for x in [-87.3f32, 88.3] {
            let (a, b) = (super::exp(x) as f64, x.exp() as f64);
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(super::exp(0.0), 1.0);
        assert_eq!(super::exp(-1e9), 0.0);
        assert_eq!(super::exp(1e9), f32::INFINITY);
        assert!(super::exp(f32::NAN).is_nan());
    }
}
