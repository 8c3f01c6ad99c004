//! `ModelConfig`: the Hugging Face `config.json` of a Qwen2 (or Llama) decoder, same field names.
//!
//! A real `Qwen/Qwen2.5-0.5B`, `Qwen/Qwen2.5-1.5B` or
//! `deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B` `config.json` deserialises unchanged; the named
//! presets (`tiny`, `1M`, `4M`, `15M`, …) are the small models this repository trains on a CPU.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The architectures this crate implements. Both are the same decoder; they differ in biases and
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    /// Qwen2 / Qwen2.5 / DeepSeek-R1-Distill-Qwen: bias on q, k and v; none elsewhere.
    Qwen2,
    /// Llama 2/3 without rope scaling: biases only if `attention_bias` is set.
    Llama,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default = "default_model_type")]
    pub model_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Grouped-query attention: heads of keys and values (defaults to `num_attention_heads`).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// transformers ≥ 5 writes `rope_parameters: {rope_theta, rope_type}`; it wins when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<serde_json::Value>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Llama only: bias on q/k/v/o. Qwen2 always has q/k/v biases and no o bias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
}

fn default_model_type() -> String {
    "qwen2".into()
}
fn default_max_pos() -> usize {
    32768
}
fn default_rope_theta() -> f64 {
    10000.0
}
fn default_eps() -> f64 {
    1e-6
}
fn default_act() -> String {
    "silu".into()
}

impl ModelConfig {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read model config {}: is this a model folder?",
                path.display()
            )
        })?;
        let mut cfg: ModelConfig = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid model config.json (a field is missing or has the wrong type)",
                path.display()
            )
        })?;
        if let Some(theta) = cfg
            .rope_parameters
            .as_ref()
            .and_then(|p| p.get("rope_theta"))
            .and_then(|t| t.as_f64())
        {
            cfg.rope_theta = theta;
        }
        if let Some(kind) = cfg
            .rope_parameters
            .as_ref()
            .and_then(|p| p.get("rope_type"))
            .and_then(|t| t.as_str())
        {
            if kind != "default" {
                bail!(
                    "{}: rope_type {kind:?} is not supported: r1lab implements plain RoPE",
                    path.display()
                );
            }
        }
        cfg.validate()
            .with_context(|| format!("in {}", path.display()))?;
        Ok(cfg)
    }

    pub fn architecture(&self) -> Result<Architecture> {
        match self.model_type.as_str() {
            "qwen2" => Ok(Architecture::Qwen2),
            "llama" => Ok(Architecture::Llama),
            other => bail!(
                "unsupported architecture model_type = {other:?}: r1lab implements \"qwen2\" (Qwen2, Qwen2.5, \
                 DeepSeek-R1-Distill-Qwen) and \"llama\"; pick a checkpoint of one of those"
            ),
        }
    }

    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// q/k/v carry a bias (always for Qwen2; `attention_bias` for Llama).
    pub fn qkv_bias(&self) -> bool {
        match self.architecture() {
            Ok(Architecture::Qwen2) => true,
            _ => self.attention_bias.unwrap_or(false),
        }
    }

    /// o_proj carries a bias (Llama with `attention_bias` only).
    pub fn o_bias(&self) -> bool {
        matches!(self.architecture(), Ok(Architecture::Llama))
            && self.attention_bias.unwrap_or(false)
    }

    pub fn mlp_bias(&self) -> bool {
        self.mlp_bias.unwrap_or(false)
    }

    /// Checks what the model code relies on; every error says which field to change.
    pub fn validate(&self) -> Result<()> {
        self.architecture()?;
        if self.hidden_size == 0
            || self.num_attention_heads == 0
            || self.num_hidden_layers == 0
            || self.vocab_size == 0
        {
            bail!("hidden_size, num_attention_heads, num_hidden_layers and vocab_size must all be positive");
        }
        if self.head_dim.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            bail!(
                "hidden_size {} is not divisible by num_attention_heads {}: set head_dim or change one of them",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        if self.head_dim() % 2 != 0 {
            bail!(
                "head_dim {} must be even for rotary position embeddings",
                self.head_dim()
            );
        }
        let kv = self.num_kv_heads();
        if kv == 0 || self.num_attention_heads % kv != 0 {
            bail!(
                "num_attention_heads {} must be a multiple of num_key_value_heads {kv}",
                self.num_attention_heads
            );
        }
        if self.hidden_act != "silu" {
            bail!(
                "hidden_act {:?} is not supported: r1lab implements SwiGLU with \"silu\"",
                self.hidden_act
            );
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            bail!(
                "rms_norm_eps must be a positive finite number (1e-6 in Qwen2), got {}: a zero or \
                 negative epsilon makes NaN in the normalisation",
                self.rms_norm_eps
            );
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            bail!(
                "rope_theta must be a finite number above 1 (10000 or 1000000 in Qwen2), got {}: \
                 other values make NaN or meaningless rotary position embeddings",
                self.rope_theta
            );
        }
        if self.intermediate_size == 0 || self.max_position_embeddings == 0 {
            bail!("intermediate_size and max_position_embeddings must be positive");
        }
        if let Some(s) = &self.rope_scaling {
            if !s.is_null() {
                bail!("rope_scaling {s} is not supported: r1lab implements plain RoPE (rope_scaling null)");
            }
        }
        Ok(())
    }

    /// A named preset: the small models of this repository (`tiny`, `0.5M`, `1M`, `2M`) and the
    /// benchmark sizes (`10M`, `100M`, `0.5B`, the last shaped like Qwen2.5-0.5B).
    pub fn preset(name: &str, vocab_size: usize) -> Result<Self> {
        // (hidden, layers, heads, kv heads, intermediate)
        let (h, l, nh, kv, inter) = match name {
            "tiny" => (32, 2, 4, 2, 64),
            "0.5M" => (96, 4, 4, 2, 256),
            "1M" => (128, 4, 4, 2, 352),
            "2M" => (192, 5, 6, 2, 512),
            "4M" => (256, 6, 4, 2, 704),
            "10M" => (320, 8, 5, 1, 1024),
            "15M" => (320, 10, 5, 1, 1280),
            "100M" => (768, 12, 12, 2, 2816),
            // The shapes of Qwen2.5-0.5B, -1.5B and -7B.
            "0.5B" => (896, 24, 14, 2, 4864),
            "1.5B" => (1536, 28, 12, 2, 8960),
            "7B" => (3584, 28, 28, 4, 18944),
            other => bail!(
                "unknown model size {other:?}: choose one of tiny, 0.5M, 1M, 2M, 4M, 10M, 15M, 100M, 0.5B, 1.5B, 7B"
            ),
        };
        Ok(ModelConfig {
            model_type: "qwen2".into(),
            architectures: Some(vec!["Qwen2ForCausalLM".into()]),
            vocab_size,
            hidden_size: h,
            intermediate_size: inter,
            num_hidden_layers: l,
            num_attention_heads: nh,
            num_key_value_heads: Some(kv),
            head_dim: None,
            max_position_embeddings: 1024,
            rope_theta: 10000.0,
            rope_parameters: None,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            attention_bias: None,
            mlp_bias: None,
            hidden_act: "silu".into(),
            rope_scaling: None,
            use_sliding_window: Some(false),
            bos_token_id: None,
            eos_token_id: None,
            torch_dtype: Some("float32".into()),
        })
    }

    /// Parameter count implied by the config (tied embeddings counted once).
    pub fn num_parameters(&self) -> usize {
        let h = self.hidden_size;
        let hd = self.head_dim();
        let q = self.num_attention_heads * hd;
        let kv = self.num_kv_heads() * hd;
        let mut attn = h * q + 2 * h * kv + q * h;
        if self.qkv_bias() {
            attn += q + 2 * kv;
        }
        if self.o_bias() {
            attn += h;
        }
        let mut mlp = 3 * h * self.intermediate_size;
        if self.mlp_bias() {
            mlp += 2 * self.intermediate_size + h;
        }
        let layer = attn + mlp + 2 * h;
        let emb = self.vocab_size * h;
        let head = if self.tie_word_embeddings { 0 } else { emb };
        emb + head + self.num_hidden_layers * layer + h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen25_05b_config_parses_and_counts() {
        // The config.json of Qwen/Qwen2.5-0.5B (fields as published).
        let json = r#"{"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,
        "eos_token_id":151643,"hidden_act":"silu","hidden_size":896,"initializer_range":0.02,
        "intermediate_size":4864,"max_position_embeddings":32768,"max_window_layers":24,"model_type":"qwen2",
        "num_attention_heads":14,"num_hidden_layers":24,"num_key_value_heads":2,"rms_norm_eps":1e-06,
        "rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,"torch_dtype":"bfloat16",
        "transformers_version":"4.40.1","use_cache":true,"use_mrope":false,"use_sliding_window":false,
        "vocab_size":151936}"#;
        let cfg: ModelConfig = serde_json::from_str(json).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.architecture().unwrap(), Architecture::Qwen2);
        assert_eq!(cfg.head_dim(), 64);
        // 494,032,768 parameters as reported for Qwen2.5-0.5B.
        assert_eq!(cfg.num_parameters(), 494_032_768);
    }

    #[test]
    fn unknown_architecture_is_a_clear_error() {
        let mut cfg = ModelConfig::preset("tiny", 64).unwrap();
        cfg.model_type = "gpt2".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("gpt2") && err.contains("qwen2"), "{err}");
    }

    #[test]
    fn bad_head_split_is_rejected() {
        let mut cfg = ModelConfig::preset("tiny", 64).unwrap();
        cfg.num_key_value_heads = Some(3);
        assert!(cfg.validate().unwrap_err().to_string().contains("multiple"));
    }
}
