//! `gymops perf stats`: `docker stats` for the deployment's services, all containers sampled
//! at once.

use std::io::IsTerminal;

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use crate::cli::PerfStatsArgs;
use crate::commands::Context;
use crate::docker::stats::Usage;
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, OutputFormat, Printer};

#[derive(Debug, Serialize)]
pub struct StatsRow {
    pub service: String,
    pub container: Option<String>,
    /// running, exited, missing, ...
    pub state: String,
    #[serde(flatten)]
    pub usage: Option<Usage>,
    /// Why there are no numbers, when there are none.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatsOutput {
    pub read_at: String,
    pub services: Vec<StatsRow>,
}

pub async fn run(ctx: &Context, args: &PerfStatsArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.services)?;
    let settings = ctx.settings();
    let services: Vec<String> = if args.services.is_empty() {
        settings.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    let engine = Engine::connect(&settings.docker).await?;
    let refresh_in_place =
        args.watch && std::io::stdout().is_terminal() && ctx.printer.format == OutputFormat::Table;
    loop {
        let output = sample(ctx.settings(), &engine, &services).await?;
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

/// Every running container sampled at once (see [`Engine::usages`]).
pub async fn sample(
    settings: &crate::settings::Settings,
    engine: &Engine,
    services: &[String],
) -> Result<StatsOutput> {
    let states = engine.service_states(settings, services).await?;
    let read_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut readings = engine.running_usages(&states).await.into_iter();
    let rows = states
        .iter()
        .map(|state| {
            let (container, state_word, reading) = match &state.container {
                None => (None, "missing".to_string(), Err("no container".to_string())),
                Some(container) if container.state != "running" => (
                    Some(container.name.clone()),
                    container.state.clone(),
                    Err("not running".to_string()),
                ),
                Some(container) => {
                    let reading = readings
                        .next()
                        .unwrap_or_else(|| Err(anyhow::anyhow!("no reading")))
                        .map_err(|err| crate::error::describe(&err).0);
                    (
                        Some(container.name.clone()),
                        container.state.clone(),
                        reading,
                    )
                }
            };
            StatsRow {
                service: state.service.clone(),
                container,
                state: state_word,
                usage: reading.as_ref().ok().cloned(),
                error: reading.err(),
            }
        })
        .collect();
    Ok(StatsOutput {
        read_at,
        services: rows,
    })
}

fn render(printer: &Printer, output: &StatsOutput) -> String {
    let dash = || "-".to_string();
    printer.table(
        &[
            "SERVICE",
            "CONTAINER",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS",
        ],
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
            .collect(),
    )
}
