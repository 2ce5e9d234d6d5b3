//! `gymops disk`: the guide's `docker system df` plus the host file systems that fill up in
//! practice (Docker's data root and the backup directory), with thresholds.

use std::path::{Path, PathBuf};

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::docker::df::{usage, UsageRow};
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, OutputFormat, Printer};

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

#[derive(Debug, Serialize)]
pub struct DiskOutput {
    pub status: Status,
    pub docker: Vec<UsageRow>,
    pub filesystems: Vec<FileSystem>,
}

pub async fn run(ctx: &Context) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let engine = Engine::connect(&settings.docker).await?;
    let df = engine.get_json(&settings.docker, "/system/df").await?;
    let info = engine.get_json(&settings.docker, "/info").await?;
    let docker = usage(&df);
    let (warning, critical) = (
        settings.disk.warning_percent,
        settings.disk.critical_percent,
    );
    let mut filesystems = Vec::new();
    let root = info
        .get("DockerRootDir")
        .and_then(|v| v.as_str())
        .unwrap_or("/var/lib/docker")
        .to_string();
    if engine.address.starts_with("unix://") {
        filesystems.push(measure(
            "docker data root",
            Path::new(&root),
            warning,
            critical,
        ));
    } else {
        filesystems.push(FileSystem {
            name: "docker data root".into(),
            path: root,
            measured: None,
            total_bytes: None,
            used_bytes: None,
            available_bytes: None,
            used_percent: None,
            status: Status::Ok,
            note: format!(
                "on the remote engine {}: not measured from here",
                engine.address
            ),
        });
    }
    let backups = ctx.loaded.resolve_path(&settings.backup.dir);
    filesystems.push(measure("backups", &backups, warning, critical));
    let status = Status::combine(filesystems.iter().map(|f| f.status));
    let output = DiskOutput {
        status,
        docker,
        filesystems,
    };
    let text = match ctx.printer.format {
        OutputFormat::Json => Printer::json(&output)?,
        OutputFormat::Table => render(&ctx.printer, &output),
    };
    ctx.printer.emit(&text, None)?;
    Ok(status)
}

/// statvfs of `path`, or of its nearest existing ancestor when it does not exist yet.
fn measure(name: &str, path: &Path, warning: u8, critical: u8) -> FileSystem {
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
    match rustix::fs::statvfs(&existing) {
        Ok(stat) => {
            let block = stat.f_frsize.max(1);
            let total = stat.f_blocks * block;
            let used = (stat.f_blocks - stat.f_bfree) * block;
            let available = stat.f_bavail * block;
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

fn render(printer: &Printer, output: &DiskOutput) -> String {
    let mut text = printer.table(
        &["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        output
            .docker
            .iter()
            .map(|row| {
                let share = (row.reclaimable_bytes * 100)
                    .checked_div(row.size_bytes)
                    .unwrap_or(0);
                vec![
                    Cell::new(&row.kind),
                    Printer::number_cell(row.total),
                    Printer::number_cell(row.active),
                    Printer::number_cell(human_bytes(row.size_bytes)),
                    Printer::number_cell(format!(
                        "{} ({share}%)",
                        human_bytes(row.reclaimable_bytes)
                    )),
                ]
            })
            .collect(),
    );
    text.push('\n');
    let dash = || "-".to_string();
    text.push_str(
        &printer.table(
            &[
                "FILE SYSTEM",
                "PATH",
                "SIZE",
                "USED",
                "AVAILABLE",
                "USE%",
                "STATUS",
                "NOTE",
            ],
            output
                .filesystems
                .iter()
                .map(|fs| {
                    vec![
                        Cell::new(&fs.name),
                        Cell::new(&fs.path),
                        Printer::number_cell(fs.total_bytes.map(human_bytes).unwrap_or_else(dash)),
                        Printer::number_cell(fs.used_bytes.map(human_bytes).unwrap_or_else(dash)),
                        Printer::number_cell(
                            fs.available_bytes.map(human_bytes).unwrap_or_else(dash),
                        ),
                        Printer::number_cell(
                            fs.used_percent
                                .map(|p| format!("{p:.1}%"))
                                .unwrap_or_else(dash),
                        ),
                        printer.status_cell(fs.status),
                        Cell::new(&fs.note),
                    ]
                })
                .collect(),
        ),
    );
    text
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
