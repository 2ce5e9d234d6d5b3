//! The backups kept on this host: files named `*_db_backup_*` in the backup directory
//! (their `.json` manifests, hidden and temporary files left out), newest first.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::manifest::Manifest;

/// A backup as `backup list` shows it: local or on S3, with its manifest when it has one.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    /// A path, or s3://bucket/key.
    pub location: String,
    pub time: Option<DateTime<Utc>>,
    pub size: u64,
    pub manifest: Option<Manifest>,
}

impl Entry {
    pub fn verified(&self) -> bool {
        self.manifest.as_ref().is_some_and(|m| m.verified.is_some())
    }

    /// A base backup (pg_basebackup's tar), by its manifest or else its name.
    pub fn is_base(&self) -> bool {
        super::restore::shape(&self.name, self.manifest.as_ref()).format
            == crate::settings::DumpFormat::Tar
    }
}

#[derive(Debug, Clone)]
pub struct BackupFile {
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
}

/// Whether a file name is a backup (not a manifest, not a temporary or hidden file).
pub fn is_backup_name(name: &str) -> bool {
    name.contains("_db_backup_")
        && !name.ends_with(".json")
        && !name.ends_with(".tmp")
        && !name.starts_with('.')
}

/// The backups in `dir`, newest first.
/// The newest backup in `dir`: (name, size, age in seconds), None when there is none; a
/// directory that does not exist is `NotFound`.
pub fn newest_local(dir: &Path) -> io::Result<Option<(String, u64, i64)>> {
    Ok(list_local(dir)?.into_iter().next().map(|file| {
        let age = file.modified.elapsed().unwrap_or_default().as_secs() as i64;
        (file.name, file.size, age)
    }))
}

pub fn list_local(dir: &Path) -> io::Result<Vec<BackupFile>> {
    let mut files: Vec<BackupFile> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            if !is_backup_name(&name) {
                return None;
            }
            let metadata = entry.metadata().ok()?;
            if !metadata.is_file() {
                return None;
            }
            Some(BackupFile {
                path: entry.path(),
                name,
                size: metadata.len(),
                modified: metadata.modified().ok()?,
            })
        })
        .collect();
    files.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_and_temporary_files_are_not_backups() {
        assert!(is_backup_name(
            "fitness_gym_db_backup_full_20261127_020000.sql.zst.age"
        ));
        assert!(!is_backup_name(
            "fitness_gym_db_backup_full_20261127_020000.sql.zst.age.json"
        ));
        assert!(!is_backup_name(
            ".fitness_gym_db_backup_full_20261127_020000.sql.zst.tmp"
        ));
        assert!(!is_backup_name("notes.txt"));
    }

    #[test]
    fn newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("x_db_backup_full_1.sql");
        let new = dir.path().join("x_db_backup_full_2.sql");
        std::fs::write(&old, b"old").unwrap();
        std::fs::write(&new, b"newer").unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        std::fs::write(dir.path().join("x_db_backup_full_2.sql.json"), b"{}").unwrap();
        let files = list_local(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["x_db_backup_full_2.sql", "x_db_backup_full_1.sql"]);
        assert_eq!(files[0].size, 5);
    }
}
