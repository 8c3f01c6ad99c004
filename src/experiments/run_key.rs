//! Run folders keyed by their settings, so that a changed setting starts a new run instead of
//! meeting the old one's "made with other settings" error. The preset's run keeps its plain
//! name (`runs/r1-zero`, the committed one); a run whose training settings differ from the
//! preset's gets `-<8 hex digits>` of a hash of those settings (`runs/r1-zero-3f9a01c2`), the
//! same digits for the same settings on every machine. TRL and verl name runs by hand
//! (`output_dir`, `trainer.experiment_name`); nanochat by a tag: here the name follows the
//! settings. Adding a field to the hashed settings moves every non-preset hash (the preset keeps
//! its plain name), so runs made before under changed settings are made again.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// 8 hex digits of the FNV-1a hash of `value`'s JSON (fields in declaration order, so stable
/// across runs and platforms).
pub fn settings_hash(value: &impl Serialize) -> String {
    let json = serde_json::to_string(value).expect("run settings serialise to JSON");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in json.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:08x}", (hash >> 32) ^ (hash & 0xffff_ffff))
}

/// `dir` when `settings` equal `preset`'s, else `dir-<settings_hash(settings)>`.
pub fn keyed_dir<T: Serialize + PartialEq>(dir: &Path, settings: &T, preset: &T) -> PathBuf {
    if settings == preset {
        dir.to_path_buf()
    } else {
        PathBuf::from(format!("{}-{}", dir.display(), settings_hash(settings)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, PartialEq)]
    struct S {
        beta: f64,
        g: usize,
    }

    #[test]
    fn the_preset_keeps_its_name_and_other_settings_get_their_own() {
        let preset = S { beta: 0.001, g: 8 };
        let dir = Path::new("runs/r1-zero");
        assert_eq!(keyed_dir(dir, &S { beta: 0.001, g: 8 }, &preset), dir);
        let a = keyed_dir(dir, &S { beta: 0.0, g: 8 }, &preset);
        let b = keyed_dir(dir, &S { beta: 0.0, g: 8 }, &preset);
        let c = keyed_dir(dir, &S { beta: 0.0, g: 16 }, &preset);
        assert_eq!(a, b, "the same settings name the same folder");
        assert_ne!(a, c, "other settings name another folder");
        let name = a.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("r1-zero-") && name.len() == "r1-zero-".len() + 8);
        // Pinned (computed independently from FNV-1a of `[1,"a"]`): the digits must not move
        // between versions, or the runs made before would no longer be found.
        assert_eq!(settings_hash(&(1, "a")), "6d3df452");
    }
}
