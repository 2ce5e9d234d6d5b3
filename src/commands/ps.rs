//! `gymops ps` / `gymops service ps`: a row per service of the deployment.

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::PsArgs;
use crate::docker::resolve::Resolution;
use crate::docker::{split_image, Engine, ServiceState};
use crate::exit::{ExitStatus, Status};
use crate::output::{short_duration, Printer};

/// One service, as `ps --output json` prints it.
#[derive(Debug, Serialize)]
pub struct PsRow {
    pub service: String,
    /// Container name; null when no container was found.
    pub container: Option<String>,
    pub id: Option<String>,
    pub image: Option<String>,
    pub tag: Option<String>,
    /// Container state, or `missing`.
    pub state: String,
    /// starting / healthy / unhealthy; null without a healthcheck.
    pub health: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// Seconds since start, while running.
    pub uptime_seconds: Option<i64>,
    pub restart_count: Option<i64>,
    pub ports: Vec<String>,
    pub resolution: Option<Resolution>,
}

#[derive(Debug, Serialize)]
pub struct PsOutput {
    pub project: String,
    pub docker_host: String,
    pub services: Vec<PsRow>,
}

pub async fn run(ctx: &Context, args: &PsArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.services)?;
    let settings = ctx.settings();
    let engine = Engine::connect(&settings.docker).await?;
    let output = collect(settings, &engine, &args.services).await?;
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(Status::Ok)
}

/// The rows of `ps` for these services (empty: all).
pub async fn collect(
    settings: &crate::settings::Settings,
    engine: &Engine,
    services: &[String],
) -> Result<PsOutput> {
    let states = engine.service_states(settings, services).await?;
    let now = Utc::now();
    Ok(PsOutput {
        project: settings.project.clone(),
        docker_host: engine.address.clone(),
        services: states.iter().map(|state| row(state, now)).collect(),
    })
}

fn row(state: &ServiceState, now: DateTime<Utc>) -> PsRow {
    match &state.container {
        None => PsRow {
            service: state.service.clone(),
            container: None,
            id: None,
            image: None,
            tag: None,
            state: "missing".into(),
            health: None,
            started_at: None,
            uptime_seconds: None,
            restart_count: None,
            ports: Vec::new(),
            resolution: None,
        },
        Some(container) => {
            let (image, tag) = split_image(&container.image);
            let running = matches!(container.state.as_str(), "running" | "paused");
            PsRow {
                service: state.service.clone(),
                container: Some(container.name.clone()),
                id: Some(container.id.clone()),
                image: Some(image),
                tag: Some(tag),
                state: container.state.clone(),
                health: container.health.clone(),
                started_at: container.started_at,
                uptime_seconds: container
                    .started_at
                    .filter(|_| running)
                    .map(|started| (now - started).num_seconds().max(0)),
                restart_count: Some(container.restart_count),
                ports: container.ports.clone(),
                resolution: state.resolution,
            }
        }
    }
}

fn render(printer: &Printer, output: &PsOutput) -> String {
    let dash = || "-".to_string();
    let rows = output
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
        .collect();
    printer.table(
        &[
            "SERVICE",
            "CONTAINER",
            "IMAGE",
            "TAG",
            "STATE",
            "HEALTH",
            "UPTIME",
            "RESTARTS",
            "PORTS",
        ],
        rows,
    )
}

/// The state, colored like a health status when colors are on.
fn state_cell(printer: &Printer, row: &PsRow) -> Cell {
    let status = match (row.state.as_str(), row.health.as_deref()) {
        ("running", Some("unhealthy")) => Status::Critical,
        ("running", Some("starting")) => Status::Warning,
        ("running", _) => Status::Ok,
        _ => Status::Critical,
    };
    printer.paint(Cell::new(&row.state), status)
}
