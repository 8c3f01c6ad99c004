//! Sampling G completions for each of a batch of prompts of different lengths, with a KV cache.
//!
//! Prompts are left-padded into one batch; each row keeps its own positions; finished rows are
//! dropped from the batch (and from the cache) as they end, so long tails do not pay for short
//! ones. Each row draws from its own seeded random stream, so a completion depends only on the
//! seed, its prompt and its index, and a run repeats exactly on the CPU.

use crate::model::{attention_mask, positions_from_valid, KvCache, Model};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Result};
use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to sample. The paper's evaluation uses temperature 0.6 and top-p 0.95; R1-Zero's training
/// rollouts use temperature 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingConfig {
    /// Softmax temperature; 0 means greedy decoding.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p` (1 = off).
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens (0 = off).
    pub top_k: usize,
    /// Tokens generated at most per completion; a completion that reaches it is `truncated`.
    pub max_new_tokens: usize,
    /// Texts that end a completion (kept in the output), besides the end-of-sequence token.
    pub stop_strings: Vec<String>,
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 128,
            stop_strings: vec![],
            seed: 0,
        }
    }
}

impl SamplingConfig {
    /// The paper's evaluation setting: temperature 0.6, top-p 0.95.
    pub fn paper_eval(max_new_tokens: usize, seed: u64) -> Self {
        Self {
            temperature: 0.6,
            top_p: 0.95,
            max_new_tokens,
            seed,
            ..Default::default()
        }
    }

    /// Sampling for the tasks: a completion ends at `</answer>` (where the rewards and the
    /// evaluation read the answer) or at the end-of-sequence token.
    pub fn until_answer(temperature: f64, top_p: f64, max_new_tokens: usize, seed: u64) -> Self {
        Self {
            temperature,
            top_p,
            max_new_tokens,
            stop_strings: vec![crate::tokenizer::ANSWER_CLOSE.to_string()],
            seed,
            ..Default::default()
        }
    }

    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            temperature: 0.0,
            max_new_tokens,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            bail!(
                "temperature must be ≥ 0 (0 = greedy), got {}",
                self.temperature
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("top_p must be in (0, 1], got {}", self.top_p);
        }
        if self.max_new_tokens == 0 {
            bail!("max_new_tokens must be at least 1");
        }
        Ok(())
    }
}

/// The memory limit of [`check_memory`], in GiB: `R1LAB_MEMORY_LIMIT_GB` when set, else this
/// machine's memory (Linux `MemTotal`), else 64.
pub fn memory_limit_gb() -> f64 {
    if let Some(v) = std::env::var("R1LAB_MEMORY_LIMIT_GB")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
    {
        return v;
    }
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / (1024.0 * 1024.0))
        .unwrap_or(64.0)
}

/// Refuses, before anything is allocated, a sampling request whose memory would exceed
/// [`memory_limit_gb`]: `prompts × n_per_prompt` rows of up to `prompt_tokens + max_new_tokens`
/// tokens (KV cache, prefill activations, logits, the completions) and `kept_completions`
/// finished completions held by the caller (an evaluation keeps all of its samples).
pub fn check_memory(
    config: &crate::model::ModelConfig,
    dtype: candle_core::DType,
    prompts: usize,
    n_per_prompt: usize,
    prompt_tokens: usize,
    max_new_tokens: usize,
    kept_completions: usize,
) -> Result<()> {
    let f = |x: usize| x as f64;
    let rows = f(prompts) * f(n_per_prompt);
    let total = f(prompt_tokens) + f(max_new_tokens);
    let elem = f(dtype.size_in_bytes());
    let kv = f(config.num_hidden_layers) * 2.0 * f(config.num_kv_heads()) * f(config.head_dim());
    let kv_bytes = rows * total * kv * elem;
    let widest = f(config
        .intermediate_size
        .max(config.hidden_size)
        .max(config.vocab_size / prompt_tokens.max(1)));
    let prefill = rows
        * f(prompt_tokens)
        * (4.0 * widest + f(config.num_attention_heads) * f(prompt_tokens))
        * elem;
    let logits = rows * f(config.vocab_size) * (elem + 4.0);
    // Per completion: ids, log-probs, text, validity mask.
    let per_completion = 160.0 + f(max_new_tokens) * 16.0 + total;
    let completions = (rows + f(kept_completions)) * per_completion;
    let bytes = kv_bytes + prefill + logits + completions;
    let limit = memory_limit_gb();
    let gb = |b: f64| b / f64::powi(1024.0, 3);
    if gb(bytes) > limit {
        bail!(
            "sampling {prompts} prompt(s) × {n_per_prompt} completion(s) of up to {max_new_tokens} \
             tokens needs about {:.1} GiB of memory ({:.1} GiB of KV cache), above the limit of \
             {limit:.1} GiB: lower the completions per prompt (generate -n, eval -k), the number \
             of problems or --max-new-tokens, or raise the limit with R1LAB_MEMORY_LIMIT_GB",
            gb(bytes),
            gb(kv_bytes)
        );
    }
    Ok(())
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    Eos,
    StopString,
    /// Reached `max_new_tokens`.
    Length,
}

/// One sampled completion (owned, so it can live in a notebook variable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub prompt_index: usize,
    pub sample_index: usize,
    /// The generated ids, the end-of-sequence token included when one ended it.
    pub token_ids: Vec<u32>,
    pub text: String,
    /// `log softmax(logits / T)` of each sampled token (T = 1 when greedy), before top-k/top-p.
    pub logprobs: Vec<f32>,
    pub truncated: bool,
    pub finish: Finish,
}

/// Samples `n_per_prompt` completions for each prompt; the result is prompt-major
/// (`[p0 s0, p0 s1, …, p1 s0, …]`).
pub fn generate(
    model: &Model,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    n_per_prompt: usize,
    cfg: &SamplingConfig,
) -> Result<Vec<Completion>> {
    generate_with(
        model,
        Some(tokenizer),
        &tokenizer.eos_ids,
        tokenizer.pad_id,
        prompts,
        n_per_prompt,
        cfg,
    )
}

/// [`generate`] without a tokenizer: `eos_ids` end a completion (none: always `max_new_tokens`),
/// texts stay empty and stop strings are ignored. Used by the benchmark.
pub fn generate_with(
    model: &Model,
    tokenizer: Option<&Tokenizer>,
    eos_ids: &[u32],
    pad: u32,
    prompts: &[Vec<u32>],
    n_per_prompt: usize,
    cfg: &SamplingConfig,
) -> Result<Vec<Completion>> {
    let rows = plan_rows(model, prompts, n_per_prompt, cfg)?;
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let model = &model.for_decoding()?;
    let (mut batch, mut logits) = DecodingBatch::prefill(model, prompts, &rows, pad, cfg)?;
    let mut sampled = Sampled::new(&rows, tokenizer, eos_ids, cfg);
    for step in 0..cfg.max_new_tokens {
        let next = sampled.sample_step(&logits, &batch.active, step)?;
        if step + 1 == cfg.max_new_tokens {
            break;
        }
        match batch.advance(next, step, |row| sampled.finish[row].is_none())? {
            Some(l) => logits = l,
            None => break,
        }
    }
    sampled.into_completions()
}

/// Checks a sampling request against the config, the memory limit and the model's positions, and
/// lists its rows as `(prompt, sample)` pairs, prompt-major. A request with no rows (no prompts, or
/// none per prompt) is not checked against the positions: nothing will be decoded.
fn plan_rows(
    model: &Model,
    prompts: &[Vec<u32>],
    n_per_prompt: usize,
    cfg: &SamplingConfig,
) -> Result<Vec<(usize, usize)>> {
    cfg.validate()?;
    if prompts.iter().any(|p| p.is_empty()) {
        bail!("every prompt needs at least one token");
    }
    let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    check_memory(
        &model.config,
        model.dtype(),
        prompts.len(),
        n_per_prompt,
        longest,
        cfg.max_new_tokens,
        0,
    )?;
    let rows: Vec<(usize, usize)> = (0..prompts.len())
        .flat_map(|p| (0..n_per_prompt).map(move |s| (p, s)))
        .collect();
    if rows.is_empty() {
        return Ok(rows);
    }
    let tp = prompts.iter().map(|p| p.len()).max().unwrap_or(1);
    if tp + cfg.max_new_tokens > model.config.max_position_embeddings {
        bail!(
            "prompt ({tp} tokens) + max_new_tokens ({}) exceeds the model's {} positions: lower max_new_tokens (the CLI's --max-new-tokens or --max-completion)",
            cfg.max_new_tokens,
            model.config.max_position_embeddings
        );
    }
    Ok(rows)
}

/// The rows still being decoded: the model's KV cache over them, and for every row which key
/// positions hold real tokens (not left padding) and the position its next token takes.
struct DecodingBatch<'m> {
    model: &'m Model,
    cache: KvCache,
    /// Per row: whether each key position holds a real token.
    key_valid: Vec<Vec<bool>>,
    /// Per row: the position of its next token.
    next_pos: Vec<u32>,
    /// `active[i]` is the row held in batch slot i of the cache.
    active: Vec<usize>,
    /// The length of the left-padded prompts.
    prompt_len: usize,
}

impl<'m> DecodingBatch<'m> {
    /// Runs the left-padded prompts through `model` into a fresh cache sized for
    /// `cfg.max_new_tokens` more tokens; returns the batch and each row's next-token logits.
    fn prefill(
        model: &'m Model,
        prompts: &[Vec<u32>],
        rows: &[(usize, usize)],
        pad: u32,
        cfg: &SamplingConfig,
    ) -> Result<(Self, Vec<Vec<f32>>)> {
        let (device, dtype) = (model.device(), model.dtype());
        let b = rows.len();
        let tp = prompts.iter().map(|p| p.len()).max().unwrap_or(1);
        let mut ids = Vec::with_capacity(b * tp);
        let mut key_valid: Vec<Vec<bool>> = Vec::with_capacity(b);
        for &(p, _) in rows {
            let prompt = &prompts[p];
            ids.extend(std::iter::repeat_n(pad, tp - prompt.len()));
            ids.extend_from_slice(prompt);
            let mut kv = vec![false; tp - prompt.len()];
            kv.extend(std::iter::repeat_n(true, prompt.len()));
            key_valid.push(kv);
        }
        let flat_valid: Vec<bool> = key_valid.iter().flatten().copied().collect();
        let positions = positions_from_valid(&flat_valid, b, tp);
        let next_pos: Vec<u32> = rows.iter().map(|&(p, _)| prompts[p].len() as u32).collect();
        let cfgm = &model.config;
        let mut cache = KvCache::new(
            cfgm.num_hidden_layers,
            b,
            cfgm.num_kv_heads(),
            cfgm.head_dim(),
            tp + cfg.max_new_tokens,
            dtype,
            device,
        )?;
        let mask = attention_mask(&flat_valid, b, 0, tp, tp, dtype, device)?;
        let hidden = model.forward_hidden(
            &Tensor::from_vec(ids, (b, tp), device)?,
            &Tensor::from_vec(positions, (b, tp), device)?,
            &mask,
            Some(&mut cache),
        )?;
        let logits = model.last_logits(&hidden)?.to_vec2::<f32>()?;
        let batch = Self {
            model,
            cache,
            key_valid,
            next_pos,
            active: (0..b).collect(),
            prompt_len: tp,
        };
        Ok((batch, logits))
    }

    /// Drops the rows that are no longer `running` from the batch and the cache, feeds the others
    /// the tokens `next` (one per batch slot) sampled at `step`, and returns their next-token
    /// logits; `None` when no row is running.
    fn advance(
        &mut self,
        mut next: Vec<u32>,
        step: usize,
        running: impl Fn(usize) -> bool,
    ) -> Result<Option<Vec<Vec<f32>>>> {
        let (device, dtype) = (self.model.device(), self.model.dtype());
        let keep: Vec<usize> = (0..self.active.len())
            .filter(|&s| running(self.active[s]))
            .collect();
        if keep.is_empty() {
            return Ok(None);
        }
        if keep.len() < self.active.len() {
            let idx = Tensor::from_vec(
                keep.iter().map(|&s| s as u32).collect::<Vec<_>>(),
                keep.len(),
                device,
            )?;
            self.cache.select_rows(&idx)?;
            next = keep.iter().map(|&s| next[s]).collect();
            self.active = keep.iter().map(|&s| self.active[s]).collect();
        }
        let nb = self.active.len();
        let tk = self.prompt_len + step + 1;
        let mut valid = Vec::with_capacity(nb * tk);
        let mut pos = Vec::with_capacity(nb);
        for &row in &self.active {
            self.key_valid[row].push(true);
            valid.extend_from_slice(&self.key_valid[row]);
            pos.push(self.next_pos[row]);
            self.next_pos[row] += 1;
        }
        let mask = attention_mask(&valid, nb, tk - 1, 1, tk, dtype, device)?;
        let hidden = self.model.forward_hidden(
            &Tensor::from_vec(next, (nb, 1), device)?,
            &Tensor::from_vec(pos, (nb, 1), device)?,
            &mask,
            Some(&mut self.cache),
        )?;
        Ok(Some(self.model.last_logits(&hidden)?.to_vec2::<f32>()?))
    }
}

/// What every row has sampled so far: its own seeded random stream (so a completion depends only
/// on the seed, its prompt and its index), its tokens and their log-probabilities, and why it
/// ended once it has.
struct Sampled<'a> {
    rows: &'a [(usize, usize)],
    tokenizer: Option<&'a Tokenizer>,
    eos_ids: &'a [u32],
    cfg: &'a SamplingConfig,
    rngs: Vec<ChaCha8Rng>,
    ids: Vec<Vec<u32>>,
    logprobs: Vec<Vec<f32>>,
    finish: Vec<Option<Finish>>,
}

impl<'a> Sampled<'a> {
    fn new(
        rows: &'a [(usize, usize)],
        tokenizer: Option<&'a Tokenizer>,
        eos_ids: &'a [u32],
        cfg: &'a SamplingConfig,
    ) -> Self {
        let b = rows.len();
        let rngs = (0..b)
            .map(|r| {
                let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
                rng.set_stream(r as u64);
                rng
            })
            .collect();
        Self {
            rows,
            tokenizer,
            eos_ids,
            cfg,
            rngs,
            ids: vec![vec![]; b],
            logprobs: vec![vec![]; b],
            finish: vec![None; b],
        }
    }

    /// Draws token `step` of every row in `active` (batch slot order) from its `logits`, and
    /// records whether it ends the row (end of sequence, a stop string, or the last token
    /// allowed). Returns the tokens, one per slot.
    fn sample_step(
        &mut self,
        logits: &[Vec<f32>],
        active: &[usize],
        step: usize,
    ) -> Result<Vec<u32>> {
        let cfg = self.cfg;
        let mut next = Vec::with_capacity(active.len());
        for (slot, &row) in active.iter().enumerate() {
            if let Some(bad) = logits[slot].iter().find(|x| !x.is_finite()) {
                bail!(
                    "the model's logits are {bad} at completion token {} of prompt {} (sample {}): \
                     its weights or its config.json (rms_norm_eps, rope_theta) make NaN or infinite \
                     values; check the checkpoint or re-save it from a good run",
                    step + 1,
                    self.rows[row].0,
                    self.rows[row].1
                );
            }
            let (tok, lp) = sample_token(&logits[slot], cfg, &mut self.rngs[row]);
            self.ids[row].push(tok);
            self.logprobs[row].push(lp);
            if self.eos_ids.contains(&tok) {
                self.finish[row] = Some(Finish::Eos);
            } else if let (Some(tk), false) = (self.tokenizer, cfg.stop_strings.is_empty()) {
                let text = tk.decode(&self.ids[row])?;
                if cfg.stop_strings.iter().any(|s| text.contains(s.as_str())) {
                    self.finish[row] = Some(Finish::StopString);
                }
            }
            if self.finish[row].is_none() && step + 1 == cfg.max_new_tokens {
                self.finish[row] = Some(Finish::Length);
            }
            next.push(tok);
        }
        Ok(next)
    }

    /// The completions in row order, their texts decoded and cut after the first stop string.
    fn into_completions(mut self) -> Result<Vec<Completion>> {
        let mut out = Vec::with_capacity(self.rows.len());
        for (row, &(p, s)) in self.rows.iter().enumerate() {
            let finish = self.finish[row].unwrap_or(Finish::Length);
            let mut text = match self.tokenizer {
                Some(tk) => tk.decode(&self.ids[row])?,
                None => String::new(),
            };
            if finish == Finish::StopString {
                if let Some(end) = self
                    .cfg
                    .stop_strings
                    .iter()
                    .filter_map(|s| text.find(s.as_str()).map(|i| i + s.len()))
                    .min()
                {
                    text.truncate(end);
                }
            }
            out.push(Completion {
                prompt_index: p,
                sample_index: s,
                token_ids: std::mem::take(&mut self.ids[row]),
                text,
                logprobs: std::mem::take(&mut self.logprobs[row]),
                truncated: finish == Finish::Length,
                finish,
            });
        }
        Ok(out)
    }
}

/// Draws one token from `logits` under `cfg`; returns it with its log-probability under
/// `softmax(logits / T)`.
pub fn sample_token(logits: &[f32], cfg: &SamplingConfig, rng: &mut ChaCha8Rng) -> (u32, f32) {
    let greedy = cfg.temperature == 0.0;
    let t = if greedy { 1.0 } else { cfg.temperature as f32 };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let scaled: Vec<f32> = logits.iter().map(|&l| (l - max) / t).collect();
    let lse = scaled.iter().map(|&x| x.exp()).sum::<f32>().ln();
    if greedy {
        let (tok, _) =
            scaled
                .iter()
                .enumerate()
                .fold((0usize, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                });
        return (tok as u32, scaled[tok] - lse);
    }
    // Candidates sorted by probability (ties by id, for determinism), then truncated.
    let mut order: Vec<usize> = (0..scaled.len()).collect();
    let filter = cfg.top_k > 0 || cfg.top_p < 1.0;
    if filter {
        order.sort_unstable_by(|&a, &b| scaled[b].total_cmp(&scaled[a]).then(a.cmp(&b)));
        if cfg.top_k > 0 {
            order.truncate(cfg.top_k.max(1));
        }
        if cfg.top_p < 1.0 {
            let mut cum = 0f64;
            let mut keep = 0;
            for &i in &order {
                cum += ((scaled[i] - lse) as f64).exp();
                keep += 1;
                if cum >= cfg.top_p {
                    break;
                }
            }
            order.truncate(keep.max(1));
        }
    }
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| ((scaled[i] - lse) as f64).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    let mut pick = order[order.len() - 1];
    for (k, &w) in weights.iter().enumerate() {
        if u < w {
            pick = order[k];
            break;
        }
        u -= w;
    }
    (pick as u32, scaled[pick] - lse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_one_is_greedy() {
        let logits = [0.1f32, 2.0, -1.0, 1.9];
        let cfg = SamplingConfig {
            top_k: 1,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(sample_token(&logits, &cfg, &mut rng).0, 1);
        }
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        // probabilities ≈ [0.643, 0.237, 0.087, 0.032]: top_p 0.8 keeps ids 0 and 1 only.
        let logits = [3.0f32, 2.0, 1.0, 0.0];
        let cfg = SamplingConfig {
            top_p: 0.8,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = [0usize; 4];
        for _ in 0..2000 {
            seen[sample_token(&logits, &cfg, &mut rng).0 as usize] += 1;
        }
        assert_eq!(seen[2] + seen[3], 0, "{seen:?}");
        // Renormalised: 0.643 / 0.880 ≈ 0.731.
        let frac = seen[0] as f64 / 2000.0;
        assert!((frac - 0.731).abs() < 0.04, "{frac}");
    }

    #[test]
    fn logprob_is_of_the_tempered_distribution() {
        let logits = [1.0f32, 0.0];
        let cfg = SamplingConfig::greedy(1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (tok, lp) = sample_token(&logits, &cfg, &mut rng);
        assert_eq!(tok, 0);
        let expect = -(1.0f32 + (-1.0f32).exp()).ln();
        assert!((lp - expect).abs() < 1e-6);
    }
}
