//! `gymops disk`: the guide's `docker system df` plus the host file systems that fill up in
//! practice (Docker's data root and the backup directory), with thresholds.

use std::path::Path;

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::DiskArgs;
use crate::docker::df::{usage, volumes, UsageRow, VolumeRow};
use crate::exit::{ExitStatus, Status};
use crate::hostfs::{measure, FileSystem};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
pub struct DiskOutput {
    pub status: Status,
    pub docker: Vec<UsageRow>,
    pub filesystems: Vec<FileSystem>,
    /// With --volumes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<VolumeRow>>,
}

pub async fn run(ctx: &Context, args: &DiskArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
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
            name: crate::say!("docker data root"),
            path: root,
            measured: None,
            total_bytes: None,
            used_bytes: None,
            available_bytes: None,
            used_percent: None,
            status: Status::Ok,
            note: crate::say!(
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
        volumes: args.volumes.then(|| volumes(&df, &settings.project)),
    };
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(status)
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
    if let Some(volumes) = &output.volumes {
        text.push('\n');
        text.push_str(
            &printer.table(
                &["VOLUME", "DRIVER", "SIZE", "LINKS", "USED BY"],
                volumes
                    .iter()
                    .map(|v| {
                        let used_by: Vec<String> = v
                            .services
                            .iter()
                            .cloned()
                            .chain(
                                v.other_containers
                                    .iter()
                                    .map(|c| crate::say!("{c} (container)")),
                            )
                            .collect();
                        vec![
                            Cell::new(&v.name),
                            Cell::new(&v.driver),
                            Printer::number_cell(
                                v.size_bytes.map(human_bytes).unwrap_or_else(dash),
                            ),
                            Printer::number_cell(v.links),
                            Cell::new(if used_by.is_empty() {
                                crate::say!("nothing (prunable)")
                            } else {
                                used_by.join(", ")
                            }),
                        ]
                    })
                    .collect(),
            ),
        );
    }
    text
}
