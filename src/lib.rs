//! # r1lab — a literate Rust reproduction of DeepSeek-R1
//!
//! The library owns every piece of the reproduction; the notebooks under `notebooks/` derive and
//! call it. Modules mirror the paper:
//! - [`model`]: the trainable Qwen2-family decoder (Hugging Face names and configs);
//! - [`checkpoint`], [`hub`], [`tokenizer`]: Hugging Face checkpoints, the Hub cache, tokenizers;
//! - [`sampling`]: batched, KV-cached sampling of G completions per prompt;
//! - [`completion`]: reading a completion (its answer, chain of thought, format, language mixing,
//!   reflection), the same reading for [`rewards`] and [`eval`];
//! - [`optim`]: AdamW with exact resume, gradient clipping, the learning-rate schedule;
//! - [`rejection`], [`distill`]: rejection sampling (§2.3.3) and distillation (§2.4);
//! - [`gpu_check`]: the checks that prove the CUDA path (`r1lab gpu-check`);
//! - [`inspect`]: looking inside a GRPO run (rollout viewer, completion forms, training signals,
//!   pass@k against k), for the notebooks and `r1lab inspect`.
//!
//! - [`notebook`]: what the evcxr notebooks share (scale, folders, inline charts and tables).
//!
//! Re-exports `candle_core` as [`candle`], polars and anyhow, so a notebook needs one `:dep` line.

pub mod bench;
pub mod checkpoint;
pub mod completion;
pub mod corpus;
pub mod device;
pub mod distill;
pub mod eval;
pub mod experiments;
pub mod gpu_check;
pub mod grpo;
pub mod hub;
pub mod inspect;
pub mod model;
pub mod notebook;
pub mod optim;
pub mod rejection;
pub mod report;
pub mod rewards;
pub mod run_lock;
pub mod sampling;
pub mod sft;
pub mod tasks;
pub mod tokenizer;

pub use anyhow;
pub use candle_core as candle;
pub use candle_nn;
pub use polars;
