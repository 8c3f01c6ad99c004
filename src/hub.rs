//! Finding a model's files: a local folder, or a Hugging Face Hub id through `hf-hub` and its
//! normal cache (`$HF_HOME/hub`, default `~/.cache/huggingface/hub`), honouring `HF_HUB_OFFLINE=1`
//! (cache only, no network).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The files of one model.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The folder holding them (a checkpoint folder or a Hub snapshot folder).
    pub dir: PathBuf,
    pub config: PathBuf,
    /// `model.safetensors`, or every shard listed in `model.safetensors.index.json`.
    pub weights: Vec<PathBuf>,
    pub tokenizer: Option<PathBuf>,
    pub generation_config: Option<PathBuf>,
}

/// Where the files come from.
trait Source {
    /// The path of `name`, or None if the model has no such file.
    fn get(&self, name: &str) -> Result<Option<PathBuf>>;
    fn describe(&self) -> String;
}

struct Folder(PathBuf);

impl Source for Folder {
    fn get(&self, name: &str) -> Result<Option<PathBuf>> {
        let p = self.0.join(name);
        Ok(p.exists().then_some(p))
    }
    fn describe(&self) -> String {
        format!("folder {}", self.0.display())
    }
}

struct HubCache {
    id: String,
    cache: hf_hub::Cache,
}

impl Source for HubCache {
    fn get(&self, name: &str) -> Result<Option<PathBuf>> {
        Ok(self.cache.model(self.id.clone()).get(name))
    }
    fn describe(&self) -> String {
        format!(
            "{} in the Hugging Face cache {} (offline)",
            self.id,
            self.cache.path().display()
        )
    }
}

struct HubApi {
    id: String,
    api: hf_hub::api::sync::Api,
}

impl Source for HubApi {
    fn get(&self, name: &str) -> Result<Option<PathBuf>> {
        match self.api.model(self.id.clone()).get(name) {
            Ok(p) => Ok(Some(p)),
            // A 404 means the repository has no such file; other errors are real failures.
            Err(hf_hub::api::sync::ApiError::RequestError(e)) if e.to_string().contains("404") => Ok(None),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot fetch {name} of {} from the Hugging Face Hub: check the id and the network, or set \
                     HF_HUB_OFFLINE=1 to use the local cache only",
                    self.id
                )
            }),
        }
    }
    fn describe(&self) -> String {
        format!("{} on the Hugging Face Hub", self.id)
    }
}

/// True when `HF_HUB_OFFLINE` is set to a true value (as in `huggingface_hub`).
pub fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes" | "ON" | "on"))
        .unwrap_or(false)
}

/// Resolves a folder path or a Hub id (`owner/name`) to the model's files. A Hub id is looked up
/// in the cache first; without `HF_HUB_OFFLINE` missing files are downloaded.
pub fn resolve(spec: &str) -> Result<ModelFiles> {
    let path = Path::new(spec);
    if path.is_dir() {
        return collect(&Folder(path.to_path_buf()), path.to_path_buf());
    }
    let looks_like_id =
        spec.split('/').count() == 2 && !spec.starts_with('.') && !spec.starts_with('/');
    if !looks_like_id {
        bail!("{spec} is not a folder, and not a Hugging Face Hub id of the form owner/name");
    }
    let cache = hf_hub::Cache::from_env();
    if offline() {
        return from_cache(spec, cache, "HF_HUB_OFFLINE is set");
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .context("cannot set up the Hugging Face Hub client")?;
    let src = HubApi {
        id: spec.to_string(),
        api,
    };
    let config = src
        .get("config.json")?
        .with_context(|| format!("{spec} has no config.json on the Hub"))?;
    let dir = config.parent().map(Path::to_path_buf).unwrap_or_default();
    collect(&src, dir)
}

/// Resolves a Hub id from the cache rooted at `cache_root` (a `$HF_HOME/hub` folder) only, never
/// the network; a folder path resolves as in [`resolve`].
pub fn resolve_in_cache(spec: &str, cache_root: &Path) -> Result<ModelFiles> {
    let path = Path::new(spec);
    if path.is_dir() {
        return collect(&Folder(path.to_path_buf()), path.to_path_buf());
    }
    from_cache(
        spec,
        hf_hub::Cache::new(cache_root.to_path_buf()),
        "a cache was given",
    )
}

fn from_cache(spec: &str, cache: hf_hub::Cache, why: &str) -> Result<ModelFiles> {
    let src = HubCache {
        id: spec.to_string(),
        cache: cache.clone(),
    };
    if src.get("config.json")?.is_none() {
        bail!(
            "{spec} is not a folder and is not in the Hugging Face cache {} ({why}): download it \
             first, point HF_HOME at the cache that holds it, or give a checkpoint folder",
            cache.path().display()
        );
    }
    let dir = src
        .get("config.json")?
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    collect(&src, dir)
}

fn collect(src: &dyn Source, dir: PathBuf) -> Result<ModelFiles> {
    let config = src.get("config.json")?.with_context(|| {
        format!(
            "{} has no config.json: is it a model checkpoint?",
            src.describe()
        )
    })?;
    let weights = if let Some(single) = src.get("model.safetensors")? {
        vec![single]
    } else if let Some(index) = src.get("model.safetensors.index.json")? {
        let text = std::fs::read_to_string(&index)
            .with_context(|| format!("cannot read {}", index.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", index.display()))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .with_context(|| format!("{} has no weight_map", index.display()))?;
        let mut shards: Vec<String> = map
            .values()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        shards.sort();
        shards.dedup();
        let mut out = Vec::new();
        for s in shards {
            out.push(src.get(&s)?.with_context(|| {
                format!("{} lists shard {s}, which is missing", index.display())
            })?);
        }
        out
    } else {
        bail!(
            "{} has no model.safetensors (nor model.safetensors.index.json): r1lab reads safetensors weights only",
            src.describe()
        );
    };
    Ok(ModelFiles {
        dir,
        config,
        weights,
        tokenizer: src.get("tokenizer.json")?,
        generation_config: src.get("generation_config.json")?,
    })
}

/// Lays a checkpoint folder out as a Hub cache entry (`models--owner--name/{blobs,refs,snapshots}`)
/// under `cache_root` (a `$HF_HOME/hub`), so it loads by id offline. Used by the tests and to
/// share the project's models through a normal cache.
pub fn install_in_cache(
    checkpoint: &Path,
    cache_root: &Path,
    id: &str,
    commit: &str,
) -> Result<PathBuf> {
    let cache = hf_hub::Cache::new(cache_root.to_path_buf());
    let repo = cache.model(id.to_string());
    repo.create_ref(commit).with_context(|| {
        format!(
            "cannot write the ref of {id} under {}",
            cache_root.display()
        )
    })?;
    let folder = cache_root.join(format!("models--{}", id.replace('/', "--")));
    let snapshot = folder.join("snapshots").join(commit);
    let blobs = folder.join("blobs");
    std::fs::create_dir_all(&snapshot)?;
    std::fs::create_dir_all(&blobs)?;
    for entry in std::fs::read_dir(checkpoint)
        .with_context(|| format!("cannot read {}", checkpoint.display()))?
    {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        // Blobs are named by content hash in the real cache; a stable name per file is enough here.
        let name = entry.file_name().to_string_lossy().to_string();
        let blob = blobs.join(format!("{commit}-{name}"));
        std::fs::copy(entry.path(), &blob)?;
        let link = snapshot.join(&name);
        if link.exists() {
            std::fs::remove_file(&link)?;
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(blob.file_name().unwrap_or_default()),
            &link,
        )?;
        #[cfg(not(unix))]
        std::fs::copy(&blob, &link)?;
    }
    Ok(snapshot)
}
