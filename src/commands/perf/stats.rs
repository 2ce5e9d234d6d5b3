//! `gymops perf stats`: `docker stats` for the deployment's services, all containers sampled
//! at once.

use std::io::IsTerminal;

use anyhow::Result;
use comfy_table::Cell;

use crate::cli::PerfStatsArgs;
use crate::commands::Context;
use crate::docker::sampling::{sample, StatsOutput};
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, OutputFormat, Printer};

pub async fn run(ctx: &Context, args: &PerfStatsArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.services)?;
    let settings = ctx.settings();
    let services: Vec<String> = if args.services.is_empty() {
        settings.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    let engine = ctx.engine().await?;
    let refresh_in_place =
        args.watch && std::io::stdout().is_terminal() && ctx.printer.format == OutputFormat::Table;
    loop {
        let output = sample(ctx.settings(), engine, &services).await?;
        let text = match ctx.printer.format {
            // With --watch, one compact JSON document per line (JSON Lines).
            OutputFormat::Json if args.watch => serde_json::to_string(&output)? + "\n",
            OutputFormat::Json => Printer::json(&output)?,
            OutputFormat::Table | OutputFormat::Markdown => render(&ctx.printer, &output),
        };
        let text = if refresh_in_place {
            format!("\u{1b}[H\u{1b}[2J{text}")
        } else {
            text
        };
        ctx.printer.emit(&text, None)?;
        if !args.watch {
            return Ok(Status::Ok);
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = crate::signals::terminated() => return Ok(Status::Ok),
        }
    }
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
