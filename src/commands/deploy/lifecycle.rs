//! `gymops down`, `stop`, `start`, `restart`: every container of the project (each
//! replica), in start order or against it, each with its grace period.

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::{grace, lock_path, monitoring_project, project_name, Context};
use crate::cli::{DownArgs, LifecycleArgs};
use crate::compose::Project;
use crate::docker::lifecycle::ProjectContainer;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;

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
    let _settings = ctx.settings();
    let name = if args.monitoring_only {
        monitoring_project(ctx)
    } else {
        project_name(ctx)
    };
    // The compose files only give the order and grace periods; down works from the
    // engine's labels.
    let project = crate::commands::service_config::load(ctx, &args.files.files).ok();
    let engine = ctx.engine().await?;
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops down", false)?;
    let volumes = if args.volumes {
        let volumes = engine.project_volumes(&name).await?;
        if !volumes.is_empty() && !args.yes {
            crate::commands::confirm_typed(
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
        let timeout = grace(ctx, args.timeout, project.as_ref(), &container.service);
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
    let mut removal = |kind: &'static str, name: String, result: Result<()>| {
        let result = match result {
            Ok(()) => "removed".to_string(),
            Err(err) => {
                failed = true;
                crate::error::describe(&err).0
            }
        };
        steps.push(Step {
            kind,
            name,
            service: None,
            result,
        });
    };
    // A stack deployed on a swarm manager (`docker stack deploy`) goes as `docker stack rm`
    // takes it: services, then secrets, configs and networks.
    let wait = args
        .timeout
        .map(std::time::Duration::from_secs)
        .unwrap_or(ctx.settings().deploy.stop_timeout)
        + std::time::Duration::from_secs(5);
    for (part, part_name, result) in engine.remove_stack(&name, wait).await? {
        removal(part.label(), part_name, result);
    }
    for network in engine.project_networks(&name).await? {
        let result = engine.remove_network(&network).await;
        removal("network", network, result);
    }
    for volume in volumes {
        let result = engine.remove_volume(&volume).await;
        removal("volume", volume, result);
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
    let _settings = ctx.settings();
    let name = project_name(ctx);
    let project = crate::commands::service_config::load(ctx, &args.files.files).ok();
    let engine = ctx.engine().await?;
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
        // On a terminal, a line per container while it gets its grace period (a container
        // that ignores SIGTERM takes all of it); nothing in cron or CI.
        let progress = ctx.printer.progress();
        for container in selected.iter().rev() {
            let timeout = grace(ctx, args.timeout, project.as_ref(), &container.service);
            progress.transient(&format!(
                "stopping {} (grace period {}s)",
                container.name,
                timeout.as_secs()
            ));
            let stopped = engine.stop(&container.id, timeout).await;
            progress.terminal_line(&format!("stopped {}", container.name));
            stopped?;
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
            // Already running is not an error (decided from the engine's status code).
            engine.start(&container.id).await?;
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
