//! `gymops monitor`: the guide's monitor.sh (section 4.3) done properly — every service's
//! container and the host disks against thresholds, in one round or every interval.

use std::path::Path;

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::MonitorArgs;
use crate::docker::stats::usage;
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::hostfs::measure;
use crate::output::{OutputFormat, Printer};

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// cpu, memory, disk, container
    pub check: String,
    pub target: String,
    pub value_percent: Option<f64>,
    pub threshold_percent: Option<f64>,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_percent: f64,
}

#[derive(Debug, Serialize)]
pub struct MonitorRound {
    pub status: Status,
    pub checked_at: String,
    pub thresholds: Thresholds,
    pub findings: Vec<Finding>,
}

/// Above (or at) the threshold is a warning.
pub fn against(value: f64, threshold: f64) -> Status {
    if value >= threshold {
        Status::Warning
    } else {
        Status::Ok
    }
}

pub async fn run(ctx: &Context, args: &MonitorArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let thresholds = Thresholds {
        cpu_percent: args.cpu.unwrap_or(settings.monitor.cpu_percent),
        memory_percent: args.memory.unwrap_or(settings.monitor.memory_percent),
        disk_percent: args.disk.unwrap_or(settings.monitor.disk_percent),
    };
    for (flag, value) in [
        ("--cpu", thresholds.cpu_percent),
        ("--memory", thresholds.memory_percent),
        ("--disk", thresholds.disk_percent),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(anyhow!("{flag} {value} is not a positive percentage"));
        }
    }
    let engine = Engine::connect(&settings.docker).await?;
    loop {
        let round = round(ctx, &engine, &thresholds).await?;
        for finding in round.findings.iter().filter(|f| f.status != Status::Ok) {
            ctx.printer.warn(&format!(
                "{} of {}: {}",
                finding.check, finding.target, finding.detail
            ));
        }
        let text = match ctx.printer.format {
            OutputFormat::Json if args.interval.is_some() => serde_json::to_string(&round)? + "\n",
            OutputFormat::Json => Printer::json(&round)?,
            OutputFormat::Table | OutputFormat::Markdown => render(&ctx.printer, &round),
        };
        ctx.printer.emit(&text, None)?;
        let Some(interval) = args.interval else {
            return Ok(round.status);
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(round.status),
        }
    }
}

pub async fn round(
    ctx: &Context,
    engine: &Engine,
    thresholds: &Thresholds,
) -> Result<MonitorRound> {
    let settings = ctx.settings();
    let services: Vec<String> = settings.services.keys().cloned().collect();
    let states = engine.service_states(settings, &services).await?;
    let checked_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let per_container =
        futures_util::future::join_all(states.into_iter().map(|state| async move {
            let service = state.service;
            let container = match state.container {
                Some(container) if container.state == "running" => container,
                stopped => {
                    let detail = match stopped {
                        Some(container) => format!("{} is {}", container.name, container.state),
                        None => "no container".into(),
                    };
                    return vec![Finding {
                        check: "container".into(),
                        target: service,
                        value_percent: None,
                        threshold_percent: None,
                        status: Status::Critical,
                        detail,
                    }];
                }
            };
            match engine.stats(&container.name).await {
                Ok(stats) => {
                    let used = usage(&stats);
                    let cpu = (used.cpu_percent * 100.0).round() / 100.0;
                    let memory = (used.memory_percent * 100.0).round() / 100.0;
                    vec![
                        Finding {
                            check: "cpu".into(),
                            target: service.clone(),
                            value_percent: Some(cpu),
                            threshold_percent: Some(thresholds.cpu_percent),
                            status: against(cpu, thresholds.cpu_percent),
                            detail: format!(
                                "CPU {cpu:.1}% (threshold {}%)",
                                thresholds.cpu_percent
                            ),
                        },
                        Finding {
                            check: "memory".into(),
                            target: service,
                            value_percent: Some(memory),
                            threshold_percent: Some(thresholds.memory_percent),
                            status: against(memory, thresholds.memory_percent),
                            detail: format!(
                                "memory {memory:.1}% of its limit (threshold {}%)",
                                thresholds.memory_percent
                            ),
                        },
                    ]
                }
                Err(err) => vec![Finding {
                    check: "container".into(),
                    target: service,
                    value_percent: None,
                    threshold_percent: None,
                    status: Status::Unknown,
                    detail: crate::error::describe(&err).0,
                }],
            }
        }))
        .await;
    let mut findings: Vec<Finding> = per_container.into_iter().flatten().collect();
    let mut disks = vec![("host /".to_string(), Path::new("/").to_path_buf())];
    disks.push((
        "backups".into(),
        ctx.loaded.resolve_path(&settings.backup.dir),
    ));
    for (name, path) in disks {
        let measured = measure(&name, &path, 101, 101);
        let finding = match measured.used_percent {
            Some(percent) => Finding {
                check: "disk".into(),
                target: name,
                value_percent: Some(percent),
                threshold_percent: Some(thresholds.disk_percent),
                status: against(percent, thresholds.disk_percent),
                detail: format!(
                    "{} used {percent:.1}% (threshold {}%)",
                    measured.measured.unwrap_or(measured.path),
                    thresholds.disk_percent
                ),
            },
            None => Finding {
                check: "disk".into(),
                target: name,
                value_percent: None,
                threshold_percent: Some(thresholds.disk_percent),
                status: Status::Unknown,
                detail: measured.note,
            },
        };
        findings.push(finding);
    }
    let status = Status::combine(findings.iter().map(|f| f.status));
    Ok(MonitorRound {
        status,
        checked_at,
        thresholds: *thresholds,
        findings,
    })
}

fn render(printer: &Printer, round: &MonitorRound) -> String {
    let dash = || "-".to_string();
    let mut text = printer.table(
        &["CHECK", "TARGET", "VALUE", "THRESHOLD", "STATUS", "DETAIL"],
        round
            .findings
            .iter()
            .map(|f| {
                vec![
                    Cell::new(&f.check),
                    Cell::new(&f.target),
                    Printer::number_cell(
                        f.value_percent
                            .map(|v| format!("{v:.1}%"))
                            .unwrap_or_else(dash),
                    ),
                    Printer::number_cell(
                        f.threshold_percent
                            .map(|v| format!("{v}%"))
                            .unwrap_or_else(dash),
                    ),
                    printer.status_cell(f.status),
                    Cell::new(&f.detail),
                ]
            })
            .collect(),
    );
    text.push_str(&format!(
        "status: {} at {}\n",
        round.status.label(),
        round.checked_at
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_or_above_the_threshold_is_a_warning() {
        assert_eq!(against(79.9, 80.0), Status::Ok);
        assert_eq!(against(80.0, 80.0), Status::Warning);
        assert_eq!(against(250.0, 80.0), Status::Warning);
    }
}
