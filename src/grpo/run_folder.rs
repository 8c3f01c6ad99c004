//! The run folder of a GRPO run: its lock, what an interrupted save left behind, the files of an
//! attempt stopped before its first checkpoint, and the checkpoint's `trainer_state.json`.

use crate::checkpoint;
use anyhow::{Context, Result};
use std::path::Path;

/// Reads a `trainer_state.json`, with an error naming the file when it is missing or cut short.
pub fn read_trainer_state(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {}: it is not a GRPO checkpoint; move the checkpoint folder away to start \
             the run again",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON (cut short or edited?): move the checkpoint folder away to start \
             the run again",
            path.display()
        )
    })
}

/// Locks the run folder `run` ([`crate::run_lock`]) and recognises, reports and cleans what an
/// interrupted save of its checkpoint `ckpt` left behind ([`checkpoint::recover_interrupted_save`]).
/// Call before reading anything in the folder; the folder stays locked while the result lives.
pub fn open_run(run: &Path, ckpt: &Path) -> Result<crate::run_lock::RunLock> {
    let lock = crate::run_lock::RunLock::acquire(run)?;
    for line in checkpoint::recover_interrupted_save(ckpt)? {
        eprintln!("r1lab: {line}");
    }
    Ok(lock)
}

/// Before a run starts from step 0 in `run`, which holds no checkpoint: moves the `metrics.csv`
/// and `samples.jsonl` of an earlier attempt stopped before its first checkpoint aside (to
/// `*.stale`, replacing an older `*.stale`) and says so, so that a rerun never mixes two runs and
/// never silently drops rows.
pub fn set_aside_stale(run: &Path) -> Result<()> {
    for f in ["metrics.csv", "samples.jsonl"] {
        let p = run.join(f);
        if !p.exists() {
            continue;
        }
        let stale = run.join(format!("{f}.stale"));
        std::fs::rename(&p, &stale).with_context(|| {
            format!(
                "cannot move the stale {} aside: move it away by hand",
                p.display()
            )
        })?;
        eprintln!(
            "r1lab: {} holds {f} but no checkpoint (an earlier run stopped before its first \
             checkpoint): starting again from step 0, the old file is kept as {}",
            run.display(),
            stale.display()
        );
    }
    Ok(())
}
