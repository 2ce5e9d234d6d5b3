//! One backup or restore at a time per backup directory (cron overlaps, an operator's
//! restore during the nightly backup). An advisory `flock` on `.gymops-backup.lock`: the
//! kernel drops it when the holder exits, however it exits, so a lock is never stale. The
//! file says who holds it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::HintExt;

pub const LOCK_FILE: &str = ".gymops-backup.lock";

#[derive(Debug, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub since: DateTime<Utc>,
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

pub fn acquire(dir: &Path, command: &str) -> Result<Lock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock {}", path.display()))?;
    if let Err(err) = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
    {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let holder = serde_json::from_str::<Holder>(&text)
            .map(|h| {
                let age = Utc::now().signed_duration_since(h.since).num_seconds();
                format!(
                    "pid {} on {} (`{}`), for {}",
                    h.pid,
                    h.host,
                    h.command,
                    crate::output::short_duration(age)
                )
            })
            .unwrap_or_else(|_| "another process".into());
        return Err(anyhow!(
            "another backup or restore is running in {}: {holder} ({err})",
            dir.display()
        ))
        .hint("wait for it to finish; the lock goes away by itself when that process ends");
    }
    let holder = Holder {
        pid: std::process::id(),
        host: crate::notify::hostname(),
        command: command.to_string(),
        since: Utc::now(),
    };
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(serde_json::to_string(&holder)?.as_bytes())?;
    file.flush()?;
    Ok(Lock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "gymops backup create").unwrap();
        let err = acquire(dir.path(), "gymops backup restore").unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("another backup or restore is running"),
            "{message}"
        );
        assert!(message.contains("gymops backup create"), "{message}");
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        acquire(dir.path(), "gymops backup restore").unwrap();
    }
}
