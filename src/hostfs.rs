//! Host file systems: how full the file system holding a path is (statvfs), against
//! thresholds. Used by `disk` and `monitor`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::exit::Status;

#[derive(Debug, Clone, Serialize)]
pub struct FileSystem {
    /// `docker data root` or `backups`.
    pub name: String,
    pub path: String,
    /// The directory whose file system was measured (the nearest existing one).
    pub measured: Option<String>,
    pub total_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
    pub used_percent: Option<f64>,
    pub status: Status,
    pub note: String,
}

/// statvfs of `path`, or of its nearest existing ancestor when it does not exist yet.
pub fn measure(name: &str, path: &Path, warning: u8, critical: u8) -> FileSystem {
    let mut fs = FileSystem {
        name: name.into(),
        path: path.display().to_string(),
        measured: None,
        total_bytes: None,
        used_bytes: None,
        available_bytes: None,
        used_percent: None,
        status: Status::Unknown,
        note: String::new(),
    };
    let existing: Option<PathBuf> = path.ancestors().find(|p| p.exists()).map(Path::to_path_buf);
    let Some(existing) = existing else {
        fs.note = "no such directory".into();
        return fs;
    };
    match space(&existing) {
        Ok((total, used, available)) => {
            let percent = percent_used(used, available);
            fs.status = threshold(percent, warning, critical);
            fs.note = match fs.status {
                Status::Critical => format!("at or above {critical}%: free space now (`docker system prune`, `gymops logs clean`, old backups)"),
                Status::Warning => format!("at or above {warning}%"),
                _ => String::new(),
            };
            if existing != path {
                fs.note = format!(
                    "{} does not exist yet; measured {}. {}",
                    path.display(),
                    existing.display(),
                    fs.note
                )
                .trim()
                .to_string();
            }
            fs.measured = Some(existing.display().to_string());
            fs.total_bytes = Some(total);
            fs.used_bytes = Some(used);
            fs.available_bytes = Some(available);
            fs.used_percent = Some((percent * 10.0).round() / 10.0);
        }
        Err(err) => fs.note = format!("cannot measure {}: {err}", existing.display()),
    }
    fs
}

/// (total, used, available to unprivileged users) bytes of the file system holding `path`.
#[cfg(unix)]
fn space(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    let stat = rustix::fs::statvfs(path)?;
    let block = stat.f_frsize.max(1);
    Ok((
        stat.f_blocks * block,
        (stat.f_blocks - stat.f_bfree) * block,
        stat.f_bavail * block,
    ))
}

#[cfg(not(unix))]
fn space(_: &Path) -> std::io::Result<(u64, u64, u64)> {
    Err(std::io::Error::other(
        "host disk space is not measured on Windows (Docker Desktop's disks are inside its VM: see `gymops disk` for Docker's own use)",
    ))
}

/// Used share as df prints it: used / (used + available to unprivileged users).
pub fn percent_used(used: u64, available: u64) -> f64 {
    if used + available == 0 {
        return 0.0;
    }
    used as f64 * 100.0 / (used + available) as f64
}

pub fn threshold(percent: f64, warning: u8, critical: u8) -> Status {
    if percent >= f64::from(critical) {
        Status::Critical
    } else if percent >= f64::from(warning) {
        Status::Warning
    } else {
        Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_percentages() {
        assert_eq!(percent_used(80, 20), 80.0);
        assert_eq!(percent_used(0, 0), 0.0);
        assert_eq!(threshold(79.9, 80, 90), Status::Ok);
        assert_eq!(threshold(80.0, 80, 90), Status::Warning);
        assert_eq!(threshold(95.0, 80, 90), Status::Critical);
    }

    #[test]
    fn a_missing_directory_is_measured_at_its_nearest_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let fs = measure("backups", &dir.path().join("not").join("yet"), 101, 101);
        assert_eq!(fs.measured.as_deref(), Some(dir.path().to_str().unwrap()));
        assert_eq!(fs.status, Status::Ok);
        assert!(fs.total_bytes.unwrap() > 0);
        assert!(fs.note.contains("does not exist yet"));
    }
}
