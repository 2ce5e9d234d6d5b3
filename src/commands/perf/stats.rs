//! `gymops perf stats`: `docker stats` for the deployment's services, all containers sampled
//! at once.

use anyhow::Result;
use comfy_table::Cell;

use crate::cli::PerfStatsArgs;
use crate::commands::Context;
use crate::docker::sampling::{sample, StatsOutput};
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};
use crate::watch::Frame;

pub async fn run(ctx: &Context, args: &PerfStatsArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.services)?;
    let settings = ctx.settings();
    let services: Vec<String> = if args.services.is_empty() {
        settings.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    let engine = ctx.engine().await?;
    let services = &services;
    if let Some(interval) = args.watch.every() {
        let printer = &ctx.printer;
        return crate::watch::every(printer, interval, move || async move {
            let output = sample(settings, engine, services).await?;
            Frame::new(Status::Ok, &output, render(printer, &output))
        })
        .await;
    }
    let output = sample(settings, engine, services).await?;
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(Status::Ok)
}

pub(crate) const HEADERS: &[&str] = &[
    "SERVICE",
    "CONTAINER",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

fn render(printer: &Printer, output: &StatsOutput) -> String {
    printer.table(HEADERS, rows(printer, output))
}

/// A row per service's container.
pub(crate) fn rows(_: &Printer, output: &StatsOutput) -> Vec<Vec<Cell>> {
    let dash = || "-".to_string();
    output
        .services
        .iter()
        .map(|row| {
            let container = Cell::new(row.container.clone().unwrap_or_else(dash));
            match &row.usage {
                None => vec![
                    Cell::new(&row.service),
                    container,
                    Cell::new(format!(
                        "{} ({})",
                        row.state,
                        row.error.clone().unwrap_or_default()
                    )),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                ],
                Some(u) => vec![
                    Cell::new(&row.service),
                    container,
                    Printer::number_cell(format!("{:.2}%", u.cpu_percent)),
                    Printer::number_cell(format!(
                        "{} / {}",
                        human_bytes(u.memory_used_bytes),
                        human_bytes(u.memory_limit_bytes)
                    )),
                    Printer::number_cell(format!("{:.2}%", u.memory_percent)),
                    Printer::number_cell(format!(
                        "{} / {}",
                        human_bytes(u.net_rx_bytes),
                        human_bytes(u.net_tx_bytes)
                    )),
                    Printer::number_cell(format!(
                        "{} / {}",
                        human_bytes(u.block_read_bytes),
                        human_bytes(u.block_write_bytes)
                    )),
                    Printer::number_cell(u.pids),
                ],
            }
        })
        .collect()
}
