//! `gymops ps` / `gymops service ps`: a row per service of the deployment.

use anyhow::Result;
use comfy_table::Cell;

use super::Context;
use crate::cli::PsArgs;
use crate::docker::overview::{collect, PsOutput, PsRow};
use crate::exit::{ExitStatus, Status};
use crate::output::{short_duration, Printer};
use crate::watch::Frame;

pub async fn run(ctx: &Context, args: &PsArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.services)?;
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    let services = &args.services;
    if let Some(interval) = args.watch.every() {
        let printer = &ctx.printer;
        return crate::watch::every(printer, interval, move || async move {
            let output = collect(settings, engine, services).await?;
            Frame::new(Status::Ok, &output, render(printer, &output))
        })
        .await;
    }
    let output = collect(settings, engine, services).await?;
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(Status::Ok)
}

pub(crate) const HEADERS: &[&str] = &[
    "SERVICE",
    "CONTAINER",
    "IMAGE",
    "TAG",
    "STATE",
    "HEALTH",
    "UPTIME",
    "RESTARTS",
    "PORTS",
];

fn render(printer: &Printer, output: &PsOutput) -> String {
    printer.table(HEADERS, rows(printer, output))
}

/// A row per service.
pub(crate) fn rows(printer: &Printer, output: &PsOutput) -> Vec<Vec<Cell>> {
    let dash = || "-".to_string();
    output
        .services
        .iter()
        .map(|row| {
            vec![
                Cell::new(&row.service),
                Cell::new(row.container.clone().unwrap_or_else(dash)),
                Cell::new(row.image.clone().unwrap_or_else(dash)),
                Cell::new(row.tag.clone().unwrap_or_else(dash)),
                state_cell(printer, row),
                Cell::new(row.health.clone().unwrap_or_else(dash)),
                Printer::number_cell(row.uptime_seconds.map(short_duration).unwrap_or_else(dash)),
                Printer::number_cell(
                    row.restart_count
                        .map(|n| n.to_string())
                        .unwrap_or_else(dash),
                ),
                Cell::new(if row.ports.is_empty() {
                    dash()
                } else {
                    row.ports.join(", ")
                }),
            ]
        })
        .collect()
}

/// The state, colored like a health status when colors are on.
fn state_cell(printer: &Printer, row: &PsRow) -> Cell {
    if let Some(service) = &row.swarm {
        return printer.paint(Cell::new(&row.state), service.verdict().0);
    }
    let status = match (row.state.as_str(), row.health.as_deref()) {
        ("running", Some("unhealthy")) => Status::Critical,
        ("running", Some("starting")) => Status::Warning,
        ("running", _) => Status::Ok,
        _ => Status::Critical,
    };
    printer.paint(Cell::new(&row.state), status)
}
