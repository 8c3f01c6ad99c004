//! Checkpoints in the Hugging Face layout: `config.json`, `model.safetensors` (or sharded with
//! `model.safetensors.index.json`), `tokenizer.json`, `generation_config.json`.
//!
//! Saving is atomic: everything is written into a sibling `.partial` folder, ended by a manifest
//! ([`MANIFEST`]) of its files, which is then renamed into place, so an interrupted save never
//! leaves a folder that loads half-written weights; [`recover_interrupted_save`] recognises and
//! cleans what a kill in the middle of a save left behind.
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
    save_unit(model, tokenizer, generation, extra, &[], dir)
}

/// The file a complete checkpoint folder ends with: every other file's name and size, written
/// last inside the folder before it is renamed into place. [`recover_interrupted_save`] reads it
/// to tell a complete new checkpoint from a half-written one. Loading does not check it (a
/// hand-edited `config.json` stays loadable); each file is validated as it is read.
pub const MANIFEST: &str = "r1lab_checkpoint.json";

/// Like [`save_with`], with further small files (e.g. `trainer_state.json`) written into the same
/// folder, so that weights, optimizer moments and trainer state are committed as one unit: one
/// rename of a complete folder whose [`MANIFEST`] is written last. Refuses, before writing
/// anything, weights that hold NaN or infinite values, so a diverged step never replaces a good
/// checkpoint.
pub fn save_unit(
    model: &Model,
    tokenizer: Option<&Tokenizer>,
    generation: &GenerationConfig,
    extra: &HashMap<String, Tensor>,
    files: &[(&str, Vec<u8>)],
    dir: &Path,
) -> Result<()> {
    let tensors: HashMap<String, Tensor> = model
        .params()
        .tensors()
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    let extra: HashMap<String, Tensor> = extra
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    for (name, t) in tensors.iter().chain(&extra) {
        if !all_finite(t)? {
            bail!(
                "refusing to save {}: tensor {name:?} holds NaN or infinite values (the training \
                 diverged: lower the learning rate or grad_clip); the \
                 previous checkpoint there, if any, is kept unchanged",
                dir.display()
            );
        }
    }
    atomic_dir(dir, |tmp| {
        let mut cfg = model.config.clone();
        cfg.torch_dtype = Some(dtype_name(model.dtype()).into());
        if cfg.architectures.is_none() {
            cfg.architectures = Some(vec![match cfg.model_type.as_str() {
                "llama" => "LlamaForCausalLM".into(),
                _ => "Qwen2ForCausalLM".into(),
            }]);
        }
        write_file(
            &tmp.join("config.json"),
            serde_json::to_string_pretty(&cfg)?.as_bytes(),
        )?;
        write_file(
            &tmp.join("generation_config.json"),
            serde_json::to_string_pretty(generation)?.as_bytes(),
        )?;
        let weights = tmp.join("model.safetensors");
        candle_core::safetensors::save(&tensors, &weights)
            .with_context(|| format!("cannot write {}", weights.display()))?;
        file_op_done(&weights, Some(0));
        if !extra.is_empty() {
            let path = tmp.join("extra.safetensors");
            candle_core::safetensors::save(&extra, &path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file_op_done(&path, Some(0));
        }
        if let Some(tk) = tokenizer {
            let path = tmp.join("tokenizer.json");
            tk.save(&path)?;
            file_op_done(&path, Some(0));
        }
        for (name, bytes) in files {
            write_file(&tmp.join(name), bytes)?;
        }
        write_manifest(tmp)
    })
}

/// The file [`export`] writes beside the weights: where they came from.
pub const EXPORT_RECORD: &str = "r1lab_export.json";

/// Writes the model of the training checkpoint `from` (a run's `checkpoint` folder) into `to`
/// in the Hugging Face layout, as `save_pretrained` does: weights in their stored values,
/// `config.json`, the tokenizer and the paper's sampling defaults (temperature 0.6, top-p 0.95);
/// without the optimizer state. [`EXPORT_RECORD`] keeps the source folder and the trainer state
/// it was saved with (steps, seed, settings, wall time). Refuses an existing `to`.
pub fn export(from: &Path, to: &Path) -> Result<()> {
    anyhow::ensure!(
        !to.exists(),
        "{} already exists: remove it or export to another folder (nothing was written)",
        to.display()
    );
    let loaded = load(&from.to_string_lossy(), DType::F32, &Device::Cpu)?;
    let tokenizer = loaded.tokenizer()?;
    let state = ["trainer_state.json", "r1lab_sft.json"]
        .iter()
        .map(|f| from.join(f))
        .find(|p| p.exists());
    let state: serde_json::Value = match &state {
        Some(p) => serde_json::from_str(&std::fs::read_to_string(p)?)
            .with_context(|| format!("{} is not valid JSON", p.display()))?,
        None => serde_json::Value::Null,
    };
    let record = serde_json::json!({ "source": from, "trained": state });
    save_unit(
        &loaded.model,
        Some(tokenizer),
        &sampling_generation_config(tokenizer),
        &HashMap::new(),
        &[(EXPORT_RECORD, serde_json::to_vec_pretty(&record)?)],
        to,
    )
}

/// Whether every value of `t` is finite (`t - t` is zero exactly where `t` is finite).
fn all_finite(t: &Tensor) -> Result<bool> {
    let s = t
        .sub(t)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(s.is_finite())
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    /// Every other file of the folder and its size in bytes.
    files: std::collections::BTreeMap<String, u64>,
}

fn write_manifest(dir: &Path) -> Result<()> {
    let mut files = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name != MANIFEST && entry.file_type()?.is_file() {
            files.insert(name, entry.metadata()?.len());
        }
    }
    write_file(
        &dir.join(MANIFEST),
        serde_json::to_string_pretty(&Manifest { files })?.as_bytes(),
    )
}

/// Checks a folder against its [`MANIFEST`]: `Ok(true)` when complete, `Ok(false)` when it has
/// none (a folder not written by r1lab), an error naming the first missing or resized file.
pub fn verify_manifest(dir: &Path) -> Result<bool> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return Ok(false);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a valid checkpoint manifest (truncated?): re-save the checkpoint or move {} away",
            path.display(),
            dir.display()
        )
    })?;
    for (name, bytes) in &manifest.files {
        let f = dir.join(name);
        match std::fs::metadata(&f) {
            Ok(m) if m.len() == *bytes => {}
            Ok(m) => bail!(
                "{} is {} bytes but the checkpoint's {MANIFEST} says {bytes}: the file was changed \
                 or cut short; re-save the checkpoint or move {} away",
                f.display(),
                m.len(),
                dir.display()
            ),
            Err(_) => bail!(
                "{} is missing but listed in the checkpoint's {MANIFEST}: re-save the checkpoint \
                 or move {} away",
                f.display(),
                dir.display()
            ),
        }
    }
    Ok(true)
}

/// The leftovers of interrupted saves of `dir`: its sibling `.<name>.partial-<pid>` and
/// `.<name>.old-<pid>` folders.
fn save_leftovers(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (parent, name) = parent_and_name(dir)?;
    let (mut partial, mut old) = (vec![], vec![]);
    let Ok(entries) = std::fs::read_dir(&parent) else {
        return Ok((partial, old));
    };
    for entry in entries {
        let entry = entry?;
        let n = entry.file_name().to_string_lossy().to_string();
        if n.starts_with(&format!(".{name}.partial-")) {
            partial.push(entry.path());
        } else if n.starts_with(&format!(".{name}.old-")) {
            old.push(entry.path());
        }
    }
    partial.sort();
    old.sort();
    Ok((partial, old))
}

/// Recognises and cleans what a save of `dir` interrupted by a kill left behind, returning one
/// message per action. When `dir` is missing (killed between moving the old checkpoint aside and
/// moving the new one in), the new one is moved in if its manifest shows it complete, else the
/// old one is restored; every other leftover is removed. Call it while holding the run's lock.
pub fn recover_interrupted_save(dir: &Path) -> Result<Vec<String>> {
    let (partial, old) = save_leftovers(dir)?;
    let mut log = vec![];
    if !dir.exists() {
        let complete = partial
            .iter()
            .find(|p| matches!(verify_manifest(p), Ok(true)));
        if let Some(p) = complete.or(old.first()) {
            std::fs::rename(p, dir).with_context(|| {
                format!(
                    "cannot move {} back to {}: move it there by hand",
                    p.display(),
                    dir.display()
                )
            })?;
            log.push(format!(
                "a save of {} was interrupted after the old checkpoint was moved aside: restored \
                 the {} checkpoint from {}",
                dir.display(),
                if complete.is_some() {
                    "new (complete)"
                } else {
                    "previous"
                },
                p.display()
            ));
        }
    }
    for p in partial.iter().chain(&old) {
        if p.exists() {
            std::fs::remove_dir_all(p).with_context(|| {
                format!(
                    "cannot remove {}, left by an interrupted save: remove it by hand",
                    p.display()
                )
            })?;
            log.push(format!(
                "removed {}, left by an interrupted save",
                p.display()
            ));
        }
    }
    Ok(log)
}

fn parent_and_name(dir: &Path) -> Result<(PathBuf, String)> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dir
        .file_name()
        .context("a checkpoint path needs a folder name")?
        .to_string_lossy()
        .to_string();
    Ok((parent, name))
}

/// Runs `write` on a fresh sibling folder, then renames it to `dir` (replacing an older `dir`).
pub fn atomic_dir(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let (parent, name) = parent_and_name(dir)?;
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create folder {}", parent.display()))?;
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file_op_done(&tmp, None);
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
        file_op_done(&old, None);
    }
    std::fs::rename(&tmp, dir)
        .with_context(|| format!("cannot move the new checkpoint into {}", dir.display()))?;
    file_op_done(dir, None);
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
        file_op_done(&old, None);
    }
    Ok(())
}

/// Writes one file atomically (write a sibling, then rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("partial-{}", std::process::id()));
    write_file(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))?;
    file_op_done(path, None);
    Ok(())
}

/// Writes a whole file (one file operation of the fault-injection hook).
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    file_op_done(path, Some(0));
    Ok(())
}

/// Appends `bytes` to `path` (created if missing) in one write: the run's `metrics.csv` and
/// `samples.jsonl` (one file operation of the fault-injection hook).
pub fn append_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let before = f.metadata().map(|m| m.len()).unwrap_or(0);
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    drop(f);
    file_op_done(path, Some(before));
    Ok(())
}

static FILE_OPERATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many file operations of checkpoints and run files this process has made (what
/// `R1LAB_FAULT_AFTER_WRITES` counts).
pub fn file_operations() -> usize {
    FILE_OPERATIONS.load(std::sync::atomic::Ordering::SeqCst)
}

/// The fault-injection hook of the tests (`tests/README.md`, "Fault model"). With
/// `R1LAB_FAULT_AFTER_WRITES=N` the process aborts (no destructor, no flush: like `kill -9`)
/// right after its Nth file operation of checkpoints and run files (a file written or appended,
/// a folder created, renamed or removed); with `R1LAB_FAULT_TORN=1` as well, a write that is the
/// Nth operation is first cut to half of what it added, as by a kill in the middle of it.
/// `written_from` is the file's length before a write (None for other operations).
fn file_op_done(path: &Path, written_from: Option<u64>) {
    let done = FILE_OPERATIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    static PLAN: std::sync::OnceLock<Option<(usize, bool)>> = std::sync::OnceLock::new();
    let plan = PLAN.get_or_init(|| {
        let n = std::env::var("R1LAB_FAULT_AFTER_WRITES")
            .ok()?
            .parse()
            .ok()?;
        Some((n, std::env::var("R1LAB_FAULT_TORN").is_ok_and(|v| v == "1")))
    });
    let Some((n, torn)) = *plan else { return };
    if done != n {
        return;
    }
    let mut what = "after";
    if let (true, Some(from)) = (torn, written_from) {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(from);
            let _ = f.set_len(from + (len - from) / 2);
            what = "in the middle of";
        }
    }
    eprintln!(
        "R1LAB_FAULT_AFTER_WRITES={n}: aborting {what} file operation {n} ({})",
        path.display()
    );
    std::process::abort();
}

/// Checks that `dir` can be written, before a run spends time on results it could not save:
/// the folder itself, or when it does not exist yet its nearest existing parent (nothing is
/// created); `what` names the folder for the message (e.g. "the --reports folder").
pub fn ensure_writable(dir: &Path, what: &str) -> Result<()> {
    let mut probe_dir = dir;
    while !probe_dir.exists() {
        match probe_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe_dir = p,
            _ => {
                probe_dir = Path::new(".");
                break;
            }
        }
    }
    if !probe_dir.is_dir() {
        bail!(
            "cannot create {what} {}: {} is not a folder; choose another folder",
            dir.display(),
            probe_dir.display()
        );
    }
    let probe = probe_dir.join(format!(".r1lab-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "{what} {} is not writable ({} refuses new files): choose another folder or fix its \
             permissions",
            dir.display(),
            probe_dir.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
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
