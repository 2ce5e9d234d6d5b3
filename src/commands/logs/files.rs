//! `gymops logs files`: the log files in the backend container's log directory.

use std::path::{Component, Path};
use std::time::Duration;

use anyhow::{anyhow, Result};
use chrono::Utc;
use comfy_table::Cell;
use serde::Serialize;

use crate::cli::LogsFilesArgs;
use crate::commands::container_of;
use crate::commands::Context;
use crate::docker::Engine;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::logs::retention::{kind, parse_listing_line, FileKind, LogFile};
use crate::logs::stats::rfc3339;
use crate::output::{human_bytes, short_duration, OutputFormat, Printer};

/// Where the files are: the container and the directory.
pub struct Target {
    pub service: String,
    pub container: String,
    pub dir: String,
}

/// Resolve `--service` / `--dir`; a directory outside `logs.dir` is refused.
pub async fn target(ctx: &Context, engine: &Engine, args: &LogsFilesArgs) -> Result<Target> {
    let settings = ctx.settings();
    let service = args
        .service
        .clone()
        .unwrap_or_else(|| settings.logs.service.clone());
    let dir = match &args.dir {
        None => settings.logs.dir.clone(),
        Some(dir) => inside(&settings.logs.dir, dir)?,
    };
    let container = container_of(ctx, engine, &service).await?;
    Ok(Target {
        service,
        container,
        dir,
    })
}

/// `dir` normalised, when it is `base` or below it; `..` and relative paths are refused.
pub fn inside(base: &str, dir: &str) -> Result<String> {
    let path = Path::new(dir);
    let clean = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let base_path = Path::new(base);
    if !clean || !path.starts_with(base_path) {
        return Err(anyhow!(
            "--dir {dir} is outside the configured log directory {base}"
        ))
        .hint("give a directory inside logs.dir, or change logs.dir in gymops.yaml");
    }
    Ok(path.display().to_string())
}

/// The regular files of the directory (not descending, not following links).
pub async fn list(engine: &Engine, target: &Target) -> Result<Vec<LogFile>> {
    let dir = target.dir.as_str();
    // GNU find prints what we need; BusyBox find has no -printf, so ask stat instead.
    let listings: [&[&str]; 2] = [
        &[
            "find",
            dir,
            "-maxdepth",
            "1",
            "-type",
            "f",
            "-printf",
            "%s %T@ %f\\n",
        ],
        &[
            "find",
            dir,
            "-maxdepth",
            "1",
            "-type",
            "f",
            "-exec",
            "stat",
            "-c",
            "%s %Y %n",
            "{}",
            "+",
        ],
    ];
    let mut first_error = None;
    for argv in listings {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let output = engine
            .exec(&target.container, &argv, 8 << 20, Duration::from_secs(30))
            .await?;
        if output.exit_code == 0 {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut files: Vec<LogFile> = text.lines().filter_map(parse_listing_line).collect();
            files.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(files);
        }
        first_error
            .get_or_insert_with(|| String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    Err(anyhow!(
        "cannot list {dir} in {}: {}",
        target.container,
        first_error.unwrap_or_default()
    ))
    .hint("check that the directory exists in the container (logs.dir)")
}

#[derive(Debug, Serialize)]
pub struct FileRow {
    pub name: String,
    pub kind: FileKind,
    pub size_bytes: u64,
    pub modified: String,
    pub age_seconds: i64,
}

#[derive(Debug, Serialize)]
pub struct FilesOutput {
    pub service: String,
    pub container: String,
    pub dir: String,
    pub total_bytes: u64,
    pub files: Vec<FileRow>,
}

pub async fn run(ctx: &Context, args: &LogsFilesArgs) -> Result<ExitStatus> {
    let engine = ctx.engine().await?;
    let target = target(ctx, engine, args).await?;
    let now = Utc::now().timestamp();
    let files = list(engine, &target).await?;
    let output = FilesOutput {
        total_bytes: files.iter().map(|f| f.size).sum(),
        files: files
            .iter()
            .map(|f| FileRow {
                name: f.name.clone(),
                kind: kind(&f.name),
                size_bytes: f.size,
                modified: rfc3339(f.modified),
                age_seconds: now - f.modified,
            })
            .collect(),
        service: target.service,
        container: target.container,
        dir: target.dir,
    };
    let text = match ctx.printer.format {
        OutputFormat::Json => Printer::json(&output)?,
        OutputFormat::Table | OutputFormat::Markdown => {
            let mut text = ctx.printer.table(
                &["NAME", "KIND", "SIZE", "MODIFIED", "AGE"],
                output
                    .files
                    .iter()
                    .map(|f| {
                        vec![
                            Cell::new(&f.name),
                            Cell::new(format!("{:?}", f.kind).to_lowercase()),
                            Printer::number_cell(human_bytes(f.size_bytes)),
                            Cell::new(&f.modified),
                            Printer::number_cell(short_duration(f.age_seconds)),
                        ]
                    })
                    .collect(),
            );
            text.push_str(&format!(
                "{} files, {} in {}:{}\n",
                output.files.len(),
                human_bytes(output.total_bytes),
                output.container,
                output.dir
            ));
            text
        }
    };
    ctx.printer.emit(&text, None)?;
    Ok(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_inside_the_log_directory_are_accepted() {
        assert_eq!(inside("/app/logs", "/app/logs").unwrap(), "/app/logs");
        assert_eq!(
            inside("/app/logs", "/app/logs/archive").unwrap(),
            "/app/logs/archive"
        );
        for bad in [
            "/app",
            "/app/logs/../secrets",
            "/etc",
            "app/logs",
            "/app/logsx",
        ] {
            assert!(inside("/app/logs", bad).is_err(), "{bad}");
        }
    }
}
