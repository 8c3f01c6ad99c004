//! Every fused CPU kernel against its composed form: values and gradients.

mod common;
use common::max_abs_diff;

use r1lab::candle::{DType, Device, Tensor, Var, D};
use r1lab::model::ops;
use r1lab::model::{apply_rope_composed, rms_norm_composed};

fn randn(shape: &[usize], seed: u64) -> Tensor {
    // A deterministic pseudo-random fill (no RNG state shared between tests).
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| {
            let x = ((i as u64 + 1)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(seed * 1442695040888963407)
                >> 33) as f32;
            (x / (1u64 << 31) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// Compares f(vars) for the fused and composed forms: values, and the gradient of Σ f·r for a
/// fixed random r with respect to every var.
fn compare(
    vars: &[Var],
    fused: impl Fn(&[Var]) -> Tensor,
    composed: impl Fn(&[Var]) -> Tensor,
    tol: f32,
) {
    let a = fused(vars);
    let b = composed(vars);
    assert!(
        max_abs_diff(&a, &b) < tol,
        "values differ by {}",
        max_abs_diff(&a, &b)
    );
    let r = randn(a.dims(), 99);
    let ga = (&a * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let gb = (&b * &r).unwrap().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate() {
        let (x, y) = (ga.get(v.as_tensor()), gb.get(v.as_tensor()));
        let (x, y) = (
            x.unwrap_or_else(|| panic!("fused: no grad for var {i}")),
            y.expect("composed grad"),
        );
        assert!(
            max_abs_diff(x, y) < tol,
            "gradient of var {i} differs by {}",
            max_abs_diff(x, y)
        );
    }
}

#[test]
fn rms_norm_matches_composed() {
    let x = Var::from_tensor(&randn(&[3, 5, 16], 1)).unwrap();
    let w = Var::from_tensor(&(randn(&[16], 2) + 1.0).unwrap()).unwrap();
    compare(
        &[x, w],
        |v| ops::rms_norm(v[0].as_tensor(), v[1].as_tensor(), 1e-6).unwrap(),
        |v| rms_norm_composed(v[0].as_tensor(), v[1].as_tensor(), 1e-6).unwrap(),
        1e-5,
    );
}

#[test]
fn rope_matches_composed() {
    let x = Var::from_tensor(&randn(&[2, 3, 7, 8], 3)).unwrap();
    // cos/sin with equal halves, as the model builds them.
    let half = randn(&[2, 1, 7, 4], 4);
    let ang = Tensor::cat(&[&half, &half], D::Minus1).unwrap();
    let (cos, sin) = (ang.cos().unwrap(), ang.sin().unwrap());
    compare(
        &[x],
        |v| ops::rope(v[0].as_tensor(), &cos, &sin).unwrap(),
        |v| apply_rope_composed(v[0].as_tensor(), &cos, &sin).unwrap(),
        1e-5,
    );
}

#[test]
fn masked_softmax_matches_composed() {
    // 37 keys: two full lanes of the kernel's 16-wide reductions and a remainder; enough rows for
    // the parallel path. Row 0 is left-padded by 5 keys, row 2 by 11.
    let (b, h, t, k) = (3, 5, 36, 37);
    let s = Var::from_tensor(&(randn(&[b, h, t, k], 5) * 3.0).unwrap()).unwrap();
    let valid: Vec<bool> = (0..b * k).map(|i| i % k >= [5, 0, 11][i / k]).collect();
    let mask = r1lab::model::attention_mask(&valid, b, 1, t, k, DType::F32, &Device::Cpu).unwrap();
    compare(
        &[s],
        |v| ops::masked_softmax(v[0].as_tensor(), &mask, 0.35).unwrap(),
        |v| {
            let z = (v[0].as_tensor() * 0.35)
                .unwrap()
                .broadcast_add(&mask)
                .unwrap();
            r1lab::candle_nn::ops::softmax(&z, D::Minus1).unwrap()
        },
        1e-5,
    );
}

#[test]
fn swiglu_matches_composed() {
    // Large enough to take the parallel path, gate values in −30..30 (σ near 0 and 1).
    let a = Var::from_tensor(&(randn(&[3, 70, 100], 7) * 30.0).unwrap()).unwrap();
    let b = Var::from_tensor(&randn(&[3, 70, 100], 8)).unwrap();
    compare(
        &[a, b],
        |v| ops::swiglu(v[0].as_tensor(), v[1].as_tensor()).unwrap(),
        |v| (v[0].as_tensor().silu().unwrap() * v[1].as_tensor()).unwrap(),
        1e-5,
    );
}

#[test]
fn target_logprob_matches_composed() {
    // 37 classes (two full 16-wide lanes and a remainder), enough rows for the parallel path.
    let (n, v) = (450, 37);
    let logits = Var::from_tensor(&(randn(&[n, v], 6) * 4.0).unwrap()).unwrap();
    let targets: Vec<u32> = (0..n).map(|i| ((i * 7 + 3) % v) as u32).collect();
    let targets = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
    compare(
        &[logits],
        |v| ops::target_logprob(v[0].as_tensor(), &targets).unwrap(),
        |v| {
            let lp = r1lab::candle_nn::ops::log_softmax(v[0].as_tensor(), D::Minus1).unwrap();
            lp.gather(&targets.unsqueeze(1).unwrap(), 1)
                .unwrap()
                .squeeze(1)
                .unwrap()
        },
        1e-5,
    );
}
