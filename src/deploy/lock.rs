//! The deploy lock (`.gymops/deploy.lock`): one `up` or `rollback` at a time. The file is
//! created exclusively and removed when the deploy ends; it names its holder, so a refused
//! deploy says who holds it and for how long. A deploy that was killed leaves its lock: on
//! this host a holder whose process is gone is reported as stale, and `--break-lock`
//! removes a stale lock (or one from another host, where gymops cannot tell) explicitly.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use chrono::Utc;

use crate::error::HintExt;
use crate::lock::Holder;

#[derive(Debug)]
pub struct DeployLock {
    path: PathBuf,
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the holder's process is gone (on this host only).
fn stale(holder: &Holder) -> Option<bool> {
    (holder.host == crate::notify::hostname())
        .then(|| !Path::new(&format!("/proc/{}", holder.pid)).exists())
}

pub fn acquire(path: &Path, command: &str, break_lock: bool) -> Result<DeployLock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for _ in 0..2 {
        let holder = Holder {
            pid: std::process::id(),
            host: crate::notify::hostname(),
            command: command.to_string(),
            since: Utc::now(),
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(serde_json::to_string(&holder)?.as_bytes())?;
                file.sync_all()?;
                return Ok(DeployLock {
                    path: path.to_path_buf(),
                });
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let current: Option<Holder> = serde_json::from_str(&text).ok();
                let described = current
                    .as_ref()
                    .map(Holder::describe)
                    .unwrap_or_else(|| "an unknown holder (unreadable lock file)".into());
                let is_stale = current.as_ref().and_then(stale);
                match (break_lock, is_stale) {
                    (true, Some(false)) => {
                        return Err(anyhow!(
                            "the deploy lock {} is held by {described}, which is still running",
                            path.display()
                        ))
                        .hint("wait for it to finish; --break-lock only breaks a lock whose holder is gone");
                    }
                    (true, _) => {
                        std::fs::remove_file(path).with_context(|| {
                            format!("cannot remove the lock {}", path.display())
                        })?;
                        continue;
                    }
                    (false, Some(true)) => {
                        return Err(anyhow!(
                            "the deploy lock {} is stale: {described}, and that process is gone",
                            path.display()
                        ))
                        .hint("check that no deploy is running, then add --break-lock");
                    }
                    (false, _) => {
                        return Err(anyhow!(
                            "another deploy holds the lock {}: {described}",
                            path.display()
                        ))
                        .hint("wait for it to finish; if its process is gone (another host), add --break-lock");
                    }
                }
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot create the lock {}", path.display()))
            }
        }
    }
    Err(anyhow!("cannot take the deploy lock {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_stale_and_broken_locks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gymops/deploy.lock");
        let held = acquire(&path, "gymops up", false).unwrap();
        let err = format!(
            "{:#}",
            acquire(&path, "gymops rollback", false).unwrap_err()
        );
        assert!(err.contains("another deploy holds the lock"), "{err}");
        assert!(err.contains("`gymops up`"), "{err}");
        let err = format!("{:#}", acquire(&path, "gymops rollback", true).unwrap_err());
        assert!(
            err.contains("still running"),
            "a live holder is never broken: {err}"
        );
        drop(held);
        assert!(!path.exists(), "released on drop");
        // A holder whose process is gone.
        let ghost = Holder {
            pid: 999_999_999,
            host: crate::notify::hostname(),
            command: "gymops up".into(),
            since: Utc::now(),
        };
        std::fs::write(&path, serde_json::to_string(&ghost).unwrap()).unwrap();
        let err = format!("{:#}", acquire(&path, "gymops up", false).unwrap_err());
        assert!(err.contains("is stale"), "{err}");
        let lock = acquire(&path, "gymops up", true).unwrap();
        drop(lock);
    }
}
