//! One run per run folder: a lock file `<run folder>/.lock` holding the PID of the process that
//! writes the folder.
//!
//! The lock is an advisory `flock` on that file (on Unix; elsewhere only the PID is written), which the operating system drops when the
//! process ends however it ends (`kill -9` included), so a lock can never outlive its process. The
//! PID written into the file says who holds it (for the message a second run gets) and, when a
//! new run finds a PID in a file nobody holds, that the previous run died without releasing it:
//! the lock is taken over with a message. A run that ends normally empties the file.
//!
//! Within one process the lock is re-entrant: the stages of a pipeline, a resumed trainer and its
//! `run` share the one lock of a folder. Two processes on one folder: the second gets one error
//! naming the folder and the PID of the first, before it reads or writes anything there.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

struct Held {
    file: File,
    path: PathBuf,
}

impl Drop for Held {
    fn drop(&mut self) {
        // A clean end: empty the file (so the next run sees no dead holder), then close it, which
        // releases the lock.
        let _ = self.file.set_len(0);
        if let Ok(mut held) = registry().lock() {
            if held.get(&self.path).is_some_and(|w| w.strong_count() == 0) {
                held.remove(&self.path);
            }
        }
    }
}

/// A held run lock; the folder stays locked while any clone lives.
#[derive(Clone)]
pub struct RunLock {
    _held: Arc<Held>,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Held>>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, Weak<Held>>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// An exclusive, non-blocking `flock` of the whole file: `Ok(false)` when another open file
/// holds it (closing the file releases it).
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor this function borrows; no memory is shared.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Elsewhere there is no operating-system lock: only the PID in the file is written.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

impl RunLock {
    /// Locks `dir` (created if missing) for this process, or fails with a message naming the
    /// process that holds it. A lock left by a process that died is taken over with a message on
    /// standard error.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the run folder {}: choose another folder or fix its permissions",
                dir.display()
            )
        })?;
        let path = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?
            .join(LOCK_FILE);
        let mut held = registry()
            .lock()
            .map_err(|_| anyhow::anyhow!("the run-lock registry is poisoned"))?;
        if let Some(h) = held.get(&path).and_then(Weak::upgrade) {
            return Ok(RunLock { _held: h });
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot open the run lock {}: the run folder {} must be writable",
                    path.display(),
                    dir.display()
                )
            })?;
        let mut previous = String::new();
        match try_lock(&file) {
            Ok(true) => {}
            Ok(false) => {
                let _ = file.read_to_string(&mut previous);
                let who = match previous.trim() {
                    "" => "another process".to_string(),
                    pid => format!("process {pid}"),
                };
                bail!(
                    "the run folder {} is in use by {who} (lock file {}): wait for that run to end, \
                     or give this run another folder",
                    dir.display(),
                    path.display()
                );
            }
            Err(e) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
        let _ = file.read_to_string(&mut previous);
        let previous = previous.trim();
        if !previous.is_empty() && previous != std::process::id().to_string() {
            eprintln!(
                "r1lab: {} held the lock of process {previous}, which ended without releasing it \
                 (killed?): taking it over",
                dir.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())
            .and_then(|_| file.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        let h = Arc::new(Held {
            file,
            path: path.clone(),
        });
        held.insert(path, Arc::downgrade(&h));
        Ok(RunLock { _held: h })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_reentrant_in_a_process_and_emptied_at_the_end() {
        let tmp = tempfile::tempdir().unwrap();
        let a = RunLock::acquire(tmp.path()).unwrap();
        let b = RunLock::acquire(tmp.path()).unwrap();
        let pid = std::fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap();
        assert_eq!(pid, std::process::id().to_string());
        drop((a, b));
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(LOCK_FILE)).unwrap(),
            ""
        );
        // A file left with a PID by a dead process is taken over.
        std::fs::write(tmp.path().join(LOCK_FILE), "999999999").unwrap();
        let _c = RunLock::acquire(tmp.path()).unwrap();
    }
}
