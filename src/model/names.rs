//! The checkpoint names of the model's tensors, as Hugging Face's Qwen2 and Llama checkpoints spell
//! them (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`, …): built here only,
//! for the parameter list ([`super::params`]) and the decoder that reads it ([`super::qwen2`]).

use super::config::ModelConfig;

/// The token embedding, `[vocab, hidden]`.
pub const EMBED_TOKENS: &str = "model.embed_tokens.weight";
/// The final RMSNorm's weight, `[hidden]`.
pub const FINAL_NORM: &str = "model.norm.weight";
/// The LM head, `[vocab, hidden]`; absent when the embedding is tied.
pub const LM_HEAD: &str = "lm_head.weight";

/// A linear projection of a decoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Proj {
    /// The attention's projections, in checkpoint order.
    pub const ATTENTION: [Proj; 4] = [Proj::Q, Proj::K, Proj::V, Proj::O];
    /// The MLP's projections, in checkpoint order.
    pub const MLP: [Proj; 3] = [Proj::Gate, Proj::Up, Proj::Down];

    /// The module's path inside a layer.
    fn module(self) -> &'static str {
        match self {
            Proj::Q => "self_attn.q_proj",
            Proj::K => "self_attn.k_proj",
            Proj::V => "self_attn.v_proj",
            Proj::O => "self_attn.o_proj",
            Proj::Gate => "mlp.gate_proj",
            Proj::Up => "mlp.up_proj",
            Proj::Down => "mlp.down_proj",
        }
    }

    /// Whether the config gives this projection a bias (Qwen2: q, k and v only).
    pub fn has_bias(self, cfg: &ModelConfig) -> bool {
        match self {
            Proj::Q | Proj::K | Proj::V => cfg.qkv_bias(),
            Proj::O => cfg.o_bias(),
            Proj::Gate | Proj::Up | Proj::Down => cfg.mlp_bias(),
        }
    }
}

/// The names of decoder layer `index`'s tensors.
#[derive(Debug, Clone, Copy)]
pub struct Layer(pub usize);

impl Layer {
    /// The RMSNorm before the attention.
    pub fn input_norm(self) -> String {
        format!("model.layers.{}.input_layernorm.weight", self.0)
    }

    /// The RMSNorm before the MLP.
    pub fn post_attention_norm(self) -> String {
        format!("model.layers.{}.post_attention_layernorm.weight", self.0)
    }

    /// A projection's weight, `[out, in]`.
    pub fn weight(self, p: Proj) -> String {
        format!("model.layers.{}.{}.weight", self.0, p.module())
    }

    /// A projection's bias, `[out]`.
    pub fn bias(self, p: Proj) -> String {
        format!("model.layers.{}.{}.bias", self.0, p.module())
    }
}

/// Tensors a checkpoint may carry that the model does not read: the LM head of a tied checkpoint
/// and the rotary embedding's `inv_freq` buffers (recomputed from `rope_theta`).
pub fn is_ignored_extra(name: &str) -> bool {
    name == LM_HEAD || name.ends_with("rotary_emb.inv_freq")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_hugging_faces() {
        let l = Layer(3);
        assert_eq!(l.input_norm(), "model.layers.3.input_layernorm.weight");
        assert_eq!(
            l.post_attention_norm(),
            "model.layers.3.post_attention_layernorm.weight"
        );
        assert_eq!(l.weight(Proj::Q), "model.layers.3.self_attn.q_proj.weight");
        assert_eq!(l.bias(Proj::V), "model.layers.3.self_attn.v_proj.bias");
        assert_eq!(l.weight(Proj::O), "model.layers.3.self_attn.o_proj.weight");
        assert_eq!(l.weight(Proj::Down), "model.layers.3.mlp.down_proj.weight");
        assert!(is_ignored_extra(
            "model.layers.0.self_attn.rotary_emb.inv_freq"
        ));
        assert!(!is_ignored_extra(EMBED_TOKENS));
    }
}
