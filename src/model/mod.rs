//! The model: a trainable decoder of the Qwen2 family, its config, parameters and KV cache.

pub mod checks;
pub mod config;
pub mod kv_cache;
pub mod names;
pub mod ops;
pub mod params;
pub mod qwen2;

pub use config::{Architecture, ModelConfig};
pub use kv_cache::KvCache;
pub use params::{expected_params, Params};
pub use qwen2::{
    apply_rope, apply_rope_composed, attention_mask, attention_probs, positions_from_valid,
    rms_norm, rms_norm_composed, Batch, Model,
};

/// A randomly initialised model of the `tiny` preset over `vocab` tokens, on the CPU in f32: the
/// unit tests' model.
#[cfg(test)]
pub(crate) fn tiny_random(vocab: usize, seed: u64) -> Model {
    Model::new_random(
        ModelConfig::preset("tiny", vocab).expect("the tiny preset"),
        seed,
        candle_core::DType::F32,
        &candle_core::Device::Cpu,
    )
    .expect("a tiny random model")
}
