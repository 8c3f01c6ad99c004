//! Tokenizers through the `tokenizers` crate: any Hugging Face `tokenizer.json`, and the project's
//! own small byte-level BPE for the synthetic tasks (digits split one by one, as Qwen2 does, so a
//! small model can learn column arithmetic).

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{
    AddedToken, DecoderWrapper, ModelWrapper, NormalizerWrapper, PostProcessorWrapper,
    TokenizerBuilder, TokenizerImpl,
};

/// End of sequence (also used as padding) in the project's tokenizer; Qwen2.5 uses the same string.
pub const EOS: &str = "<|endoftext|>";
pub const THINK_OPEN: &str = "<think>";
pub const THINK_CLOSE: &str = "</think>";
pub const ANSWER_OPEN: &str = "<answer>";
pub const ANSWER_CLOSE: &str = "</answer>";
/// The separator of R1's cold-start format `|special_token|<reasoning_process>|special_token|<summary>`.
pub const SPECIAL_SEP: &str = "|special_token|";

/// The special tokens the synthetic tasks need, in id order (ids 0..6 of the project tokenizer).
pub const TASK_SPECIAL_TOKENS: [&str; 6] = [
    EOS,
    THINK_OPEN,
    THINK_CLOSE,
    ANSWER_OPEN,
    ANSWER_CLOSE,
    SPECIAL_SEP,
];

/// A loaded tokenizer with the ids the code needs resolved once.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Ids that end a completion (end of sequence, end of turn).
    pub eos_ids: Vec<u32>,
    /// Id used to pad batches.
    pub pad_id: u32,
}

impl Tokenizer {
    /// Loads any `tokenizer.json`. End-of-sequence ids come from `eos_ids` (the model's
    /// `generation_config.json`) or, when that is empty, from the tokenizer's own
    /// `<|endoftext|>` / `<|im_end|>` / `</s>` / `<|end▁of▁sentence|>` tokens.
    pub fn from_file(path: &Path, eos_ids: &[u32]) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            anyhow!(
                "cannot load tokenizer {}: {e} (is it a Hugging Face tokenizer.json?)",
                path.display()
            )
        })?;
        Self::from_inner(inner, eos_ids).with_context(|| format!("in {}", path.display()))
    }

    pub fn from_inner(inner: tokenizers::Tokenizer, eos_ids: &[u32]) -> Result<Self> {
        let mut eos: Vec<u32> = eos_ids.to_vec();
        if eos.is_empty() {
            for s in [
                EOS,
                "<|im_end|>",
                "</s>",
                "<|end▁of▁sentence|>",
                "<|eot_id|>",
                "<|end_of_text|>",
            ] {
                if let Some(id) = inner.token_to_id(s) {
                    eos.push(id);
                }
            }
        }
        if eos.is_empty() {
            bail!(
                "the tokenizer has no end-of-sequence token ({EOS}, <|im_end|>, </s>, …) and none was given: add \
                 eos_token_id to generation_config.json"
            );
        }
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("<|endoftext|>"))
            .unwrap_or(eos[0]);
        Ok(Self {
            inner,
            eos_ids: eos,
            pad_id,
        })
    }

    /// Fails with a clear message unless every token in `tokens` is a single known token.
    pub fn require_tokens(&self, tokens: &[&str]) -> Result<()> {
        let missing: Vec<&str> = tokens
            .iter()
            .copied()
            .filter(|t| self.inner.token_to_id(t).is_none())
            .collect();
        if !missing.is_empty() {
            bail!(
                "the tokenizer lacks the special token(s) {missing:?} that the tasks need: use the project's \
                 tokenizer (r1lab builds it with these tokens) or add them as added tokens"
            );
        }
        Ok(())
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `text` (no special tokens added around it; special tokens inside are kept).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow!("cannot tokenize {text:?}: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens included (the rewards read `<think>` and `<answer>`), end of
    /// sequence and padding left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let ids: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|i| !self.eos_ids.contains(i) && *i != self.pad_id)
            .collect();
        self.inner
            .decode(&ids, false)
            .map_err(|e| anyhow!("cannot decode token ids: {e}"))
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Writes `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, false)
            .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
    }
}

/// Trains the project's byte-level BPE on `texts` (deterministic for the same texts): the special
/// tokens of [`TASK_SPECIAL_TOKENS`] first (ids 0..6), then the 256 byte symbols, then merges up to
/// `vocab_size`. Digits are always split into single tokens.
pub fn train_task_tokenizer(texts: &[String], vocab_size: usize) -> Result<Tokenizer> {
    if vocab_size < 256 + TASK_SPECIAL_TOKENS.len() {
        bail!("vocab_size {vocab_size} is too small: a byte-level BPE needs at least 262 entries");
    }
    let specials: Vec<AddedToken> = TASK_SPECIAL_TOKENS
        .iter()
        .map(|s| AddedToken::from(*s, true))
        .collect();
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .special_tokens(specials.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .show_progress(false)
        .build();
    let pre = Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ]);
    let mut tk: TokenizerImpl<
        ModelWrapper,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    > = TokenizerBuilder::new()
        .with_model(ModelWrapper::BPE(BPE::default()))
        .with_normalizer(None)
        .with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(pre)))
        .with_post_processor(None)
        .with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())))
        .build()
        .map_err(|e| anyhow!("cannot build tokenizer: {e}"))?;
    let mut trainer = TrainerWrapper::BpeTrainer(trainer);
    tk.train(&mut trainer, texts.iter().map(|s| s.as_str()))
        .map_err(|e| anyhow!("tokenizer training failed: {e}"))?;
    tk.add_special_tokens(specials.clone())
        .map_err(|e| anyhow!("cannot add the special tokens: {e}"))?;
    let inner = tokenizers::Tokenizer::from(tk);
    let eos = inner
        .token_to_id(EOS)
        .context("trained tokenizer lacks <|endoftext|>")?;
    Tokenizer::from_inner(inner, &[eos])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        (0..200)
            .map(|i| format!("User: what is {} + {}? Assistant: <think> add the digits </think> <answer> {} </answer>", i, i * 7, i * 8))
            .collect()
    }

    #[test]
    fn task_tokenizer_round_trips_and_splits_digits() {
        let tk = train_task_tokenizer(&corpus(), 400).unwrap();
        tk.require_tokens(&TASK_SPECIAL_TOKENS).unwrap();
        assert_eq!(tk.token_id(EOS), Some(0));
        let text = "<think> add 123 and 45 </think><answer> 168 </answer>";
        let ids = tk.encode(text).unwrap();
        assert_eq!(tk.decode(&ids).unwrap(), text);
        // Every digit is its own token.
        let digits = tk.encode("9081726354").unwrap();
        assert_eq!(digits.len(), 10);
        assert!(ids.contains(&tk.token_id(THINK_OPEN).unwrap()));
    }

    #[test]
    fn missing_special_token_is_named() {
        let tk = train_task_tokenizer(&corpus(), 300).unwrap();
        let err = tk.require_tokens(&["<reflect>"]).unwrap_err().to_string();
        assert!(err.contains("<reflect>"), "{err}");
    }
}
