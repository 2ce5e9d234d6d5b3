//! Backups of the deployment's database: pg_dump streamed through compression and age
//! encryption to a file (and S3), with a manifest; verify, restore, list, monitor, prune.

pub mod catalog;
pub mod create;
pub mod drill;
pub mod inspect;
pub mod load;
pub mod manifest;
pub mod monitor;
pub mod pipeline;
pub mod pitr;
pub mod process;
pub mod restore;
pub mod restoring;
pub mod runlog;
pub mod s3;
pub mod sidecar;
pub mod signing;
pub mod sql;
pub mod tarscan;
pub mod tool_args;
pub mod wal;

use std::path::Path;

use anyhow::{anyhow, Context, Result};

use crate::error::HintExt;

/// The lock file in a backup directory.
pub const LOCK_FILE: &str = ".gymops-backup.lock";

/// One backup or restore at a time per backup directory (cron overlaps, an operator's
/// restore during the nightly backup).
pub fn lock(dir: &Path, command: &str) -> Result<crate::lock::Lock> {
    {
        use crate::fsutil::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    }
    match crate::lock::try_acquire(&dir.join(LOCK_FILE), command)? {
        Ok(lock) => Ok(lock),
        Err(busy) => Err(anyhow!(
            "another backup or restore is running in {}: {} ({})",
            dir.display(),
            busy.holder,
            busy.why
        ))
        .hint("wait for it to finish; the lock goes away by itself when that process ends"),
    }
}
