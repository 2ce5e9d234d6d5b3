//! Advisory `flock` locks on files: one backup or restore at a time per backup directory
//! (cron overlaps), one writer at a time per incident record. The kernel drops a lock when
//! its holder exits, however it exits, so a lock is never stale. The file says who holds it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub since: DateTime<Utc>,
}

impl Holder {
    /// `pid 42 on host-1 (`gymops backup create`), for 3m`
    pub fn describe(&self) -> String {
        let age = Utc::now().signed_duration_since(self.since).num_seconds();
        format!(
            "pid {} on {} (`{}`), for {}",
            self.pid,
            self.host,
            self.command,
            crate::output::short_duration(age)
        )
    }
}

/// Held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

/// Someone else holds the lock.
#[derive(Debug)]
pub struct Busy {
    /// Who, when the lock file says so.
    pub holder: String,
    pub why: std::io::Error,
}

/// Take the lock at `path` (created when missing) or say who holds it. Errors other than
/// "held" (a directory that cannot be written...) are the outer `Err`.
pub fn try_acquire(path: &Path, command: &str) -> Result<std::result::Result<Lock, Busy>> {
    // Never through a planted symlink (the holder line would truncate its target), and only
    // a regular file.
    let mut file = {
        use crate::fsutil::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(crate::fsutil::no_follow())
            .open(path)
            .with_context(|| {
                format!(
                    "cannot open the lock {} (a symlink is refused)",
                    path.display()
                )
            })?
    };
    if !file.metadata()?.is_file() {
        anyhow::bail!("the lock {} is not a regular file", path.display());
    }
    // The standard library's file lock: flock on Unix, LockFileEx on Windows.
    if let Err(err) = file.try_lock() {
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let holder = serde_json::from_str::<Holder>(&text)
            .map(|h| h.describe())
            .unwrap_or_else(|_| "another process".into());
        return Ok(Err(Busy {
            holder,
            why: err.into(),
        }));
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
    Ok(Ok(Lock {
        _file: file,
        path: path.to_path_buf(),
    }))
}

/// Take the lock, waiting up to `patience` for the holder to let go (short critical sections
/// such as a read-modify-write of a record).
pub async fn acquire_wait(
    path: &Path,
    command: &str,
    patience: Duration,
) -> Result<std::result::Result<Lock, Busy>> {
    let started = Instant::now();
    loop {
        match try_acquire(path, command)? {
            Ok(lock) => return Ok(Ok(lock)),
            Err(busy) if started.elapsed() >= patience => return Ok(Err(busy)),
            Err(_) => tokio::time::sleep(Duration::from_millis(15)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = try_acquire(&path, "gymops backup create").unwrap().unwrap();
        let busy = try_acquire(&path, "gymops backup restore")
            .unwrap()
            .unwrap_err();
        assert!(busy.holder.contains("gymops backup create"), "{busy:?}");
        assert!(
            busy.holder.contains(&format!("pid {}", std::process::id())),
            "{busy:?}"
        );
        drop(first);
        try_acquire(&path, "gymops backup restore")
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join(".lock");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        assert!(try_acquire(&path, "gymops backup create").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = try_acquire(&path, "first").unwrap().unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(first);
        });
        let second = acquire_wait(&path, "second", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(second.is_ok());
        release.await.unwrap();
        let third = acquire_wait(&path, "third", Duration::from_millis(50))
            .await
            .unwrap();
        assert!(third.is_err(), "held by second");
    }
}
