//! `gymops up`, `down`, `stop`, `start`, `restart` (also under `gymops service`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::{DownArgs, LifecycleArgs, UpArgs};
use crate::compose::Project;
use crate::deploy::run::{self, Action, ServiceOutcome, UpPlan};
use crate::deploy::spec;
use crate::docker::lifecycle::ProjectContainer;
use crate::docker::logs::LogRequest;
use crate::docker::Engine;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::probe::{self, HealthPlan, HealthReport};

fn environment() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn load(ctx: &Context, files: &[std::path::PathBuf]) -> Result<Project> {
    crate::compose::load(
        &super::service_config::files(ctx, files),
        Some(&ctx.loaded.env_file),
        &environment(),
    )
}

fn project_name(ctx: &Context) -> String {
    spec::project_name(&ctx.settings().project)
}

/// A service that did not become healthy, with the end of its log.
#[derive(Debug, Serialize)]
pub struct WaitFailure {
    pub service: String,
    pub error: String,
    pub log_tail: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct UpReport {
    pub project: String,
    pub services: Vec<ServiceOutcome>,
    pub wait_failures: Vec<WaitFailure>,
    pub gate: Option<HealthReport>,
    pub status: Status,
    pub elapsed_ms: u64,
}

pub async fn up(ctx: &Context, args: &UpArgs) -> Result<ExitStatus> {
    let started = Instant::now();
    let settings = ctx.settings();
    let project = load(ctx, &args.files.files)?;
    let services = run::selection(&project, &args.services)?;
    let name = project_name(ctx);
    let engine = Engine::connect(&settings.docker).await?;
    let problems = run::preflight(&engine, &name, &project, &services, &ctx.loaded.env_file).await;
    if !problems.is_empty() {
        return Err(anyhow!(
            "preflight found {} problem(s): {}",
            problems.len(),
            problems.join("; ")
        ))
        .hint("fix them and run up again; nothing was changed");
    }
    let wait_timeout = args.wait_timeout.unwrap_or(settings.deploy.wait_timeout);
    let environment = environment();
    let working_dir = ctx.loaded.resolve_path(std::path::Path::new("."));
    let plan = UpPlan {
        project_name: &name,
        project: &project,
        services: &services,
        pull: args.pull,
        build: args.build,
        wait_timeout,
        stop_timeout: settings.deploy.stop_timeout,
        working_dir: &working_dir,
        environment: &environment,
    };
    let printer = &ctx.printer;
    let mut progress = |line: &str| printer.note(line);
    let (mut outcomes, blocked) = run::up(&engine, &plan, &mut progress).await?;
    let mut wait_failures = Vec::new();
    if let Some(blocked) = &blocked {
        wait_failures.push(WaitFailure {
            service: blocked.dependency.clone(),
            error: format!(
                "{} (so {} and what follows it were not started)",
                blocked.error, blocked.dependent
            ),
            log_tail: log_tail(&engine, &blocked.container).await,
        });
    }
    // Every service with a healthcheck must become healthy within the wait timeout.
    let deadline = Instant::now() + wait_timeout;
    for outcome in outcomes.iter_mut() {
        if blocked.is_some() {
            break;
        }
        if outcome.health.is_none() && outcome.state == "running" {
            continue;
        }
        match run::wait_for(
            &engine,
            &outcome.container,
            &outcome.service,
            crate::compose::Condition::ServiceHealthy,
            deadline,
        )
        .await
        {
            Ok((state, health)) => {
                outcome.state = state;
                outcome.health = health;
            }
            Err(err) => {
                let tail = log_tail(&engine, &outcome.container).await;
                if let Ok((state, health, _)) = engine.container_status(&outcome.container).await {
                    outcome.state = state;
                    outcome.health = health;
                }
                wait_failures.push(WaitFailure {
                    service: outcome.service.clone(),
                    error: crate::error::describe(&err).0,
                    log_tail: tail,
                });
            }
        }
    }
    let gate = if wait_failures.is_empty() && !settings.deploy.gate.is_empty() {
        Some(
            probe::run(
                settings,
                &HealthPlan {
                    groups: settings.deploy.gate.clone(),
                    services: Vec::new(),
                    endpoints: Vec::new(),
                },
            )
            .await?,
        )
    } else {
        None
    };
    let status = if !wait_failures.is_empty() {
        Status::Critical
    } else {
        gate.as_ref().map(|g| g.status).unwrap_or(Status::Ok)
    };
    let report = UpReport {
        project: name,
        services: outcomes,
        wait_failures,
        gate,
        status,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    ctx.printer
        .emit_result(&report, None, |printer| render_up(printer, &report))?;
    for failure in &report.wait_failures {
        ctx.printer
            .warn(&format!("{}: {}", failure.service, failure.error));
        for line in &failure.log_tail {
            ctx.printer.note(&format!("  {}| {line}", failure.service));
        }
    }
    if let Some(gate) = &report.gate {
        for check in gate.checks.iter().filter(|c| c.status != Status::Ok) {
            ctx.printer.warn(&format!(
                "gate: {} {}: {}",
                check.check.label(),
                check.name,
                check.summary
            ));
        }
    }
    Ok(status)
}

/// The last lines of a container's log, for a failure report.
async fn log_tail(engine: &Engine, container: &str) -> Vec<String> {
    let mut tail = Vec::new();
    let request = LogRequest {
        tail: Some(20),
        ..LogRequest::default()
    };
    let _ = engine
        .log_lines(container, &request, |line| {
            tail.push(String::from_utf8_lossy(&line.text).into_owned())
        })
        .await;
    tail
}

fn render_up(printer: &Printer, report: &UpReport) -> String {
    let rows = report
        .services
        .iter()
        .map(|s| {
            vec![
                Cell::new(&s.service),
                Cell::new(&s.container),
                Cell::new(match s.action {
                    Action::Created => "created",
                    Action::Recreated => "recreated",
                    Action::Started => "started",
                    Action::Unchanged => "unchanged",
                }),
                Cell::new(&s.image),
                Cell::new(match &s.health {
                    Some(health) => format!("{} ({health})", s.state),
                    None => s.state.clone(),
                }),
                Printer::number_cell(format!("{:.1}s", s.elapsed_ms as f64 / 1000.0)),
            ]
        })
        .collect();
    let mut text = printer.table(
        &["SERVICE", "CONTAINER", "ACTION", "IMAGE", "STATE", "TIME"],
        rows,
    );
    if let Some(gate) = &report.gate {
        text.push_str(&format!(
            "health gate: {}",
            super::health::summary_line(gate)
        ));
    }
    text.push_str(&format!(
        "up: {} in {:.1}s\n",
        report.status.label(),
        report.elapsed_ms as f64 / 1000.0
    ));
    text
}

/// One row of `down` / `stop` / `start` / `restart`.
#[derive(Debug, Serialize)]
pub struct Step {
    pub kind: &'static str,
    pub name: String,
    pub service: Option<String>,
    pub result: String,
}

fn render_steps(printer: &Printer, steps: &[Step]) -> String {
    if steps.is_empty() {
        return "nothing to do: no container of this project\n".into();
    }
    printer.table(
        &["KIND", "NAME", "SERVICE", "RESULT"],
        steps
            .iter()
            .map(|s| {
                vec![
                    Cell::new(s.kind),
                    Cell::new(&s.name),
                    Cell::new(s.service.as_deref().unwrap_or("-")),
                    Cell::new(&s.result),
                ]
            })
            .collect(),
    )
}

/// The project's containers in start order (services the compose files do not know last).
fn ordered(containers: Vec<ProjectContainer>, project: Option<&Project>) -> Vec<ProjectContainer> {
    let rank = |service: &str| {
        project
            .and_then(|p| p.start_order.iter().position(|s| s == service))
            .unwrap_or(usize::MAX)
    };
    let mut containers = containers;
    containers.sort_by(|a, b| {
        rank(&a.service)
            .cmp(&rank(&b.service))
            .then(a.name.cmp(&b.name))
    });
    containers
}

pub async fn down(ctx: &Context, args: &DownArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let name = project_name(ctx);
    let timeout = args
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(settings.deploy.stop_timeout);
    // The compose files only give the order; down works from the engine's labels.
    let project = load(ctx, &args.files.files).ok();
    let engine = Engine::connect(&settings.docker).await?;
    let volumes = if args.volumes {
        let volumes = engine.project_volumes(&name).await?;
        if !volumes.is_empty() && !args.yes {
            super::confirm_typed(
                ctx,
                &format!(
                    "down --volumes deletes the volumes {} and all their data",
                    volumes.join(", ")
                ),
                &name,
                "take a backup first (`gymops backup create`); then add --yes",
            )?;
        }
        volumes
    } else {
        Vec::new()
    };
    let mut steps = Vec::new();
    let containers = ordered(engine.project_containers(&name).await?, project.as_ref());
    for container in containers.iter().rev() {
        engine.stop(&container.id, timeout).await?;
        engine.remove(&container.id).await?;
        steps.push(Step {
            kind: "container",
            name: container.name.clone(),
            service: Some(container.service.clone()),
            result: "removed".into(),
        });
    }
    let mut failed = false;
    for network in engine.project_networks(&name).await? {
        let result = match engine.remove_network(&network).await {
            Ok(()) => "removed".to_string(),
            Err(err) => {
                failed = true;
                crate::error::describe(&err).0
            }
        };
        steps.push(Step {
            kind: "network",
            name: network,
            service: None,
            result,
        });
    }
    for volume in volumes {
        let result = match engine.remove_volume(&volume).await {
            Ok(()) => "removed".to_string(),
            Err(err) => {
                failed = true;
                crate::error::describe(&err).0
            }
        };
        steps.push(Step {
            kind: "volume",
            name: volume,
            service: None,
            result,
        });
    }
    ctx.printer
        .emit_result(&steps, None, |printer| render_steps(printer, &steps))?;
    Ok(if failed { Status::Warning } else { Status::Ok })
}

#[derive(Debug, Clone, Copy)]
pub enum Verb {
    Stop,
    Start,
    Restart,
}

pub async fn lifecycle(ctx: &Context, args: &LifecycleArgs, verb: Verb) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let name = project_name(ctx);
    let timeout = args
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(settings.deploy.stop_timeout);
    let project = load(ctx, &args.files.files).ok();
    let engine = Engine::connect(&settings.docker).await?;
    let containers = ordered(engine.project_containers(&name).await?, project.as_ref());
    for service in &args.services {
        if !containers.iter().any(|c| &c.service == service) {
            let known: std::collections::BTreeSet<&str> =
                containers.iter().map(|c| c.service.as_str()).collect();
            return Err(anyhow!(
                "no container of service `{service}` in project {name}"
            ))
            .hint(if known.is_empty() {
                "start the deployment first with `gymops up`".to_string()
            } else {
                format!(
                    "its services with containers are: {}",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                )
            });
        }
    }
    let selected: Vec<&ProjectContainer> = containers
        .iter()
        .filter(|c| args.services.is_empty() || args.services.contains(&c.service))
        .collect();
    let mut steps = Vec::new();
    // Stopping goes against the start order: dependents first.
    if matches!(verb, Verb::Stop | Verb::Restart) {
        for container in selected.iter().rev() {
            engine.stop(&container.id, timeout).await?;
            steps.push(Step {
                kind: "container",
                name: container.name.clone(),
                service: Some(container.service.clone()),
                result: "stopped".into(),
            });
        }
    }
    if matches!(verb, Verb::Start | Verb::Restart) {
        for container in &selected {
            engine.start(&container.id).await.or_else(|err| {
                // Already running: nothing to do.
                if crate::error::describe(&err).0.contains("304") {
                    Ok(())
                } else {
                    Err(err)
                }
            })?;
            let result = if matches!(verb, Verb::Restart) {
                "restarted"
            } else {
                "started"
            };
            match steps.iter_mut().find(|s| s.name == container.name) {
                Some(step) => step.result = result.into(),
                None => steps.push(Step {
                    kind: "container",
                    name: container.name.clone(),
                    service: Some(container.service.clone()),
                    result: result.into(),
                }),
            }
        }
    }
    ctx.printer
        .emit_result(&steps, None, |printer| render_steps(printer, &steps))?;
    Ok(Status::Ok)
}
