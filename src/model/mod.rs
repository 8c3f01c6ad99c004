//! The model: a trainable decoder of the Qwen2 family, its config, parameters and KV cache.

pub mod config;
pub mod kv_cache;
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
