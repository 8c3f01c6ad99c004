//! Parity with the reference implementation: tiny random Qwen2 and Llama checkpoints saved by
//! Hugging Face `transformers`, with the logits it computed on left-padded inputs
//! (`scripts/make_parity_fixture.py`). Every real position must match to 1e-4.

use r1lab::candle::{DType, Device, Tensor};
use r1lab::checkpoint;
use r1lab::model::Batch;
use std::path::Path;

fn check(dir: &str, tol: f32) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let loaded =
        checkpoint::load(root.join(dir).to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    let fx = checkpoint::read_safetensors(&[root
        .join(dir.trim_end_matches("-bf16"))
        .join("parity.safetensors")])
    .unwrap();
    let ids = fx["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = fx["attention_mask"].to_vec2::<i64>().unwrap();
    let expected = &fx["logits"];
    let (b, t) = ids.dims2().unwrap();
    let valid: Vec<bool> = mask.iter().flatten().map(|&m| m == 1).collect();
    let batch = Batch::from_parts(
        ids.flatten_all().unwrap().to_vec1().unwrap(),
        valid.clone(),
        b,
        t,
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    // Our positions equal the fixture's at real tokens.
    let ours = batch
        .positions
        .to_dtype(DType::I64)
        .unwrap()
        .to_vec2::<i64>()
        .unwrap();
    let theirs = fx["position_ids"].to_vec2::<i64>().unwrap();
    let logits = loaded.model.forward(&batch).unwrap();
    let mut checked = 0;
    let mut worst = 0f32;
    for row in 0..b {
        for j in 0..t {
            if !valid[row * t + j] {
                continue;
            }
            assert_eq!(
                ours[row][j], theirs[row][j],
                "position of row {row} slot {j}"
            );
            let a: Tensor = logits.get(row).unwrap().get(j).unwrap();
            let e: Tensor = expected.get(row).unwrap().get(j).unwrap();
            let d = (a - e)
                .unwrap()
                .abs()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            worst = worst.max(d);
            checked += 1;
        }
    }
    assert!(checked > 20);
    assert!(
        worst < tol,
        "{dir}: logits differ from transformers by up to {worst} (tolerance {tol})"
    );
}

#[test]
fn qwen2_logits_match_transformers() {
    check("tiny-qwen2", 1e-4);
}

#[test]
fn llama_logits_match_transformers() {
    check("tiny-llama", 1e-4);
}

#[test]
fn bf16_checkpoint_loads_into_f32_and_stays_close() {
    // The bf16 file holds the tiny-qwen2 weights rounded to bf16: compare to the f32 logits loosely.
    check("tiny-qwen2-bf16", 0.15);
}
