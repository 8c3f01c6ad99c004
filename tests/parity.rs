//! Parity with the reference implementation: tiny random Qwen2 and Llama checkpoints saved by
//! Hugging Face `transformers`, with the logits it computed on left-padded inputs
//! (`scripts/make_parity_fixture.py`). Every real position must match to 1e-4.

use r1lab::candle::{DType, Device};
use r1lab::checkpoint;
use r1lab::model::checks::LogitsFixture;
use std::path::Path;

fn check(dir: &str, tol: f32) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let loaded =
        checkpoint::load(root.join(dir).to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    let fx = LogitsFixture::read(
        &root
            .join(dir.trim_end_matches("-bf16"))
            .join("parity.safetensors"),
    )
    .unwrap();
    // Our positions equal the fixture's at real tokens.
    let ours = fx
        .batch(DType::F32, &Device::Cpu)
        .unwrap()
        .positions
        .to_dtype(DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<i64>()
        .unwrap();
    for slot in (0..fx.b * fx.t).filter(|&s| fx.valid[s]) {
        assert_eq!(
            ours[slot],
            fx.position_ids[slot],
            "position of row {} slot {}",
            slot / fx.t,
            slot % fx.t
        );
    }
    let diff = fx.check(&loaded.model).unwrap();
    assert!(diff.positions > 20);
    assert!(
        diff.max_abs < tol as f64,
        "{dir}: logits differ from transformers by up to {} (tolerance {tol})",
        diff.max_abs
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
