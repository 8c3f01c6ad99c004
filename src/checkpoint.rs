//! Checkpoints in the Hugging Face layout: `config.json`, `model.safetensors` (or sharded with
//! `model.safetensors.index.json`), `tokenizer.json`, `generation_config.json`.
//!
//! Saving is atomic: everything is written into a sibling `.partial` folder which is then renamed
//! into place, so an interrupted save never leaves a folder that loads half-written weights.
//! Loading accepts f32, f16 and bf16 files and converts them to the requested dtype (f32 for
//! training). Every malformed input is one error that names the file and what is wrong.

use crate::hub::{self, ModelFiles};
use crate::model::{Model, ModelConfig, Params};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `generation_config.json`: the ids and sampling defaults shipped with a model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    /// One id or a list, as in transformers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_sample: Option<bool>,
}

impl GenerationConfig {
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().map(|x| vec![x as u32]).unwrap_or_default()
            }
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u32)
                .collect(),
            _ => vec![],
        }
    }
}

/// A model with its tokenizer and generation defaults, as loaded from a folder or the Hub.
#[derive(Clone)]
pub struct LoadedModel {
    pub model: Model,
    pub tokenizer: Option<Tokenizer>,
    pub generation: GenerationConfig,
    /// Where it came from (a folder, or the Hub snapshot folder).
    pub source: PathBuf,
}

impl LoadedModel {
    /// The tokenizer, or an error saying the checkpoint has none.
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer.as_ref().with_context(|| {
            format!(
                "{} has no tokenizer.json: copy one next to config.json",
                self.source.display()
            )
        })
    }
}

/// Loads a model from a folder or a Hugging Face Hub id (`Qwen/Qwen2.5-0.5B`), see [`hub::resolve`].
pub fn load(spec: &str, dtype: DType, device: &Device) -> Result<LoadedModel> {
    let files = hub::resolve(spec)?;
    load_files(&files, dtype, device)
}

/// Loads from resolved files.
pub fn load_files(files: &ModelFiles, dtype: DType, device: &Device) -> Result<LoadedModel> {
    let config = ModelConfig::from_file(&files.config)?;
    let tensors = read_safetensors(&files.weights)?;
    let source = files
        .weights
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let params = Params::from_tensors(&config, tensors, dtype, device, &source)?;
    let model = Model::from_params(config, params)?;
    let generation = match &files.generation_config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid generation_config.json", p.display()))?
        }
        None => GenerationConfig::default(),
    };
    let tokenizer = match &files.tokenizer {
        Some(p) => Some(Tokenizer::from_file(p, &generation.eos_ids())?),
        None => None,
    };
    if let Some(tk) = &tokenizer {
        if tk.vocab_size() > model.config.vocab_size {
            bail!(
                "{}: the tokenizer has {} tokens but the model's vocab_size is {}: they do not belong together",
                files.config.display(),
                tk.vocab_size(),
                model.config.vocab_size
            );
        }
    }
    Ok(LoadedModel {
        model,
        tokenizer,
        generation,
        source: files.dir.clone(),
    })
}

/// Reads every tensor of one or more safetensors files onto the CPU.
pub fn read_safetensors(paths: &[PathBuf]) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for path in paths {
        // SAFETY: the file is opened read-only and not modified while mapped (a checkpoint).
        let st = unsafe { MmapedSafetensors::new(path) }.with_context(|| {
            format!(
                "{} is not a readable safetensors file (missing, truncated or corrupt): re-save or re-download it",
                path.display()
            )
        })?;
        for (name, _) in st.tensors() {
            let t = st.load(&name, &Device::Cpu).with_context(|| {
                format!(
                    "{}: cannot read tensor {name:?} (truncated file?)",
                    path.display()
                )
            })?;
            out.insert(name, t);
        }
    }
    Ok(out)
}

/// Writes a checkpoint folder atomically: `config.json`, `model.safetensors` (in the model's
/// dtype), `generation_config.json`, and `tokenizer.json` if given.
/// The `generation_config.json` of the project's models: the tokenizer's end-of-sequence and
/// padding ids, and the paper's sampling settings (temperature 0.6, top-p 0.95).
pub fn sampling_generation_config(tokenizer: &Tokenizer) -> GenerationConfig {
    GenerationConfig {
        eos_token_id: Some(serde_json::json!(tokenizer.eos_ids[0])),
        pad_token_id: Some(tokenizer.pad_id),
        temperature: Some(0.6),
        top_p: Some(0.95),
        do_sample: Some(true),
        ..Default::default()
    }
}

pub fn save(
    model: &Model,
    tokenizer: Option<&Tokenizer>,
    generation: &GenerationConfig,
    dir: &Path,
) -> Result<()> {
    let extra: HashMap<String, Tensor> = HashMap::new();
    save_with(model, tokenizer, generation, &extra, dir)
}

/// Like [`save`], with extra files' tensors (e.g. optimizer state) saved as `extra.safetensors`.
pub fn save_with(
    model: &Model,
    tokenizer: Option<&Tokenizer>,
    generation: &GenerationConfig,
    extra: &HashMap<String, Tensor>,
    dir: &Path,
) -> Result<()> {
    atomic_dir(dir, |tmp| {
        let mut cfg = model.config.clone();
        cfg.torch_dtype = Some(dtype_name(model.dtype()).into());
        if cfg.architectures.is_none() {
            cfg.architectures = Some(vec![match cfg.model_type.as_str() {
                "llama" => "LlamaForCausalLM".into(),
                _ => "Qwen2ForCausalLM".into(),
            }]);
        }
        std::fs::write(tmp.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
        std::fs::write(
            tmp.join("generation_config.json"),
            serde_json::to_string_pretty(generation)?,
        )?;
        let tensors: HashMap<String, Tensor> = model
            .params()
            .tensors()
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_device(&Device::Cpu)?)))
            .collect::<Result<_>>()?;
        candle_core::safetensors::save(&tensors, tmp.join("model.safetensors"))?;
        if !extra.is_empty() {
            let extra: HashMap<String, Tensor> = extra
                .iter()
                .map(|(k, v)| Ok((k.clone(), v.to_device(&Device::Cpu)?)))
                .collect::<Result<_>>()?;
            candle_core::safetensors::save(&extra, tmp.join("extra.safetensors"))?;
        }
        if let Some(tk) = tokenizer {
            tk.save(&tmp.join("tokenizer.json"))?;
        }
        Ok(())
    })
}

/// Runs `write` on a fresh sibling folder, then renames it to `dir` (replacing an older `dir`).
pub fn atomic_dir(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create folder {}", parent.display()))?;
    let name = dir
        .file_name()
        .context("a checkpoint path needs a folder name")?
        .to_string_lossy()
        .to_string();
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!(
            "writing {} failed; nothing was replaced",
            dir.display()
        )));
    }
    if dir.exists() {
        std::fs::rename(dir, &old)
            .with_context(|| format!("cannot move the old {} aside", dir.display()))?;
    }
    std::fs::rename(&tmp, dir)
        .with_context(|| format!("cannot move the new checkpoint into {}", dir.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Writes one file atomically (write a sibling, then rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        DType::F64 => "float64",
        _ => "float32",
    }
}
