//! A seed's record: what each finished unit of the sizes experiment measured (per-problem pass@1
//! of every model it evaluated), kept beside the data so that the seeded experiment resumes
//! across machines. Training a seed takes hours on 2 cores and `runs/` is not committed: without
//! the record, a session that ends mid-seed loses every finished run with its machine. The
//! record holds no weights, only what [`super::findings`] pools ([`ProblemValues`], a few KB per
//! model).
//!
//! A unit is one run of the experiment: R1-Zero from one base, the R1 pipeline from one base,
//! or distillation from the teacher. Each is recorded under its name with a hash of its settings
//! (the configuration it ran with, paths left out, and the bytes of the base weights it started
//! from), so a unit whose preset, base model or seed changed is run again rather than reused.
//! Units are written as they finish, each save one atomic rename.
//!
//! Where: `<data>/sizes/<run>-seed<N>.json` at workshop scale (`data/sizes/sizes-seed1.json`,
//! committed; `<run>` names the device and dtype as run folders do), `<runs>/<run>/records/` at
//! smoke scale (the tests). To run a seed's units again, delete its file.

use crate::experiments::findings::ProblemValues;
use crate::experiments::{RunContext, Scale};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One finished unit: its settings' hash, the wall time it took and each evaluated model's
/// per-problem values by role (`base`, `r1_zero`, `r1`, `distilled <size>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub settings: String,
    pub wall_s: f64,
    pub values: BTreeMap<String, ProblemValues>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SeedRecord {
    run: String,
    seed: u64,
    units: BTreeMap<String, Unit>,
}

/// The record of one seed, read from and saved to its file.
#[derive(Debug)]
pub struct Records {
    path: PathBuf,
    record: SeedRecord,
}

impl Records {
    /// The record file of `seed` for this context and scale.
    pub fn path(ctx: &RunContext, scale: Scale, seed: u64) -> PathBuf {
        let run = ctx.run_dir(super::RUN_NAME, scale);
        let name = run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| super::RUN_NAME.to_string());
        match scale {
            Scale::Smoke => run.join("records").join(format!("seed{seed}.json")),
            Scale::Workshop => ctx
                .data
                .join("sizes")
                .join(format!("{name}-seed{seed}.json")),
        }
    }

    /// Reads `path` (an empty record when it does not exist yet).
    pub fn open(path: &Path, seed: u64) -> Result<Self> {
        let run = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let record = match std::fs::read_to_string(path) {
            Ok(text) => {
                let r: SeedRecord = serde_json::from_str(&text).with_context(|| {
                    format!(
                        "the seed record {} is not a record this version can read: delete it to \
                         run seed {seed}'s units again (or restore it with `git checkout`)",
                        path.display()
                    )
                })?;
                anyhow::ensure!(
                    r.seed == seed,
                    "the seed record {} holds seed {}, not {seed}: rename or delete it",
                    path.display(),
                    r.seed
                );
                r
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SeedRecord {
                run,
                seed,
                units: BTreeMap::new(),
            },
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading the seed record {}", path.display()))
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            record,
        })
    }

    pub fn file(&self) -> &Path {
        &self.path
    }

    /// The unit `name` if it was recorded with these `settings`.
    pub fn get(&self, name: &str, settings: &str) -> Option<&Unit> {
        self.record
            .units
            .get(name)
            .filter(|u| u.settings == settings)
    }

    /// Whether `name` is recorded, but with other settings than these.
    pub fn stale(&self, name: &str, settings: &str) -> bool {
        self.record
            .units
            .get(name)
            .is_some_and(|u| u.settings != settings)
    }

    /// Records `unit` as `name` and saves the file (written beside it, then renamed over it).
    pub fn put(&mut self, name: &str, unit: Unit) -> Result<()> {
        self.record.units.insert(name.to_string(), unit);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the records folder {}", dir.display()))?;
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string(&self.record)?;
        std::fs::write(&tmp, text + "\n")
            .with_context(|| format!("writing the seed record {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("saving the seed record {}", self.path.display()))
    }
}

/// 16 hex digits of the FNV-1a hash of a file's bytes (a base model's weights, in a unit's
/// settings).
pub fn file_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    Ok(format!("{hash:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(model: &str) -> ProblemValues {
        ProblemValues {
            model: model.into(),
            metric: "pass@1".into(),
            problem_ids: vec!["a".into(), "b".into()],
            values: vec![0.25, 1.0],
        }
    }

    #[test]
    fn a_unit_is_reused_only_with_its_settings_and_survives_a_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sizes-seed1.json");
        let mut r = Records::open(&path, 1).unwrap();
        assert!(r.get("r1-zero base-1M", "s1").is_none());
        let unit = Unit {
            settings: "s1".into(),
            wall_s: 3.0,
            values: BTreeMap::from([("base".to_string(), values("base-1M"))]),
        };
        r.put("r1-zero base-1M", unit.clone()).unwrap();
        let again = Records::open(&path, 1).unwrap();
        assert_eq!(again.get("r1-zero base-1M", "s1"), Some(&unit));
        assert!(again.get("r1-zero base-1M", "s2").is_none());
        assert!(again.stale("r1-zero base-1M", "s2"));
        assert!(!path.with_extension("json.tmp").exists());
        // Another seed's file, or a damaged one, is refused with what to do.
        let err = Records::open(&path, 2).unwrap_err();
        assert!(format!("{err:#}").contains("holds seed 1"), "{err:#}");
        std::fs::write(&path, "{\"run\": ").unwrap();
        let err = Records::open(&path, 1).unwrap_err();
        assert!(format!("{err:#}").contains("delete it"), "{err:#}");
    }

    #[test]
    fn the_file_hash_follows_the_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::write(&a, b"weights").unwrap();
        std::fs::write(&b, b"weightz").unwrap();
        assert_eq!(file_hash(&a).unwrap(), file_hash(&a).unwrap());
        assert_ne!(file_hash(&a).unwrap(), file_hash(&b).unwrap());
        assert!(format!("{:#}", file_hash(&tmp.path().join("c")).unwrap_err()).contains("reading"));
    }
}
