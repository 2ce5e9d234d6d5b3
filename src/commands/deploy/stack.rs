//! `up` and `rollback` with `deploy.orchestrator: swarm`: the compose model deployed as a
//! stack on a Swarm manager, waited for until it converges, gated, recorded; a failed
//! update (or `rollback`) put back by Swarm's own service rollback.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};

use super::{lock_path, record, refuse, releases_path, succeeded, who, Context};
use crate::cli::{RollbackArgs, UpArgs};
use crate::compose::Project;
use crate::deploy::releases::ReleaseKind;
use crate::deploy::report::{DeployKind, DeployReport};
use crate::deploy::run::{self, Action, ServiceOutcome, UpPlan};
use crate::docker::Engine;
use crate::error::HintExt;
use crate::exit::Status;

/// The engine, checked to be a Swarm manager (else nothing is done).
async fn manager(ctx: &Context) -> Result<&Engine> {
    let engine = ctx.engine().await?;
    if !engine.is_swarm_manager().await? {
        return Err(anyhow!(
            "deploy.orchestrator is swarm, but the engine at {} is not a Swarm manager",
            engine.address
        ))
        .hint("run gymops against a manager (--context, DOCKER_HOST, docker.host), `docker swarm init` there, or set deploy.orchestrator: compose; nothing was changed");
    }
    Ok(engine)
}

/// `--scale` for a stack: every named service exists (a Swarm publishes a fixed port for
/// any number of tasks through its routing mesh).
fn scale(project: &Project, args: &UpArgs) -> Result<BTreeMap<String, u32>> {
    let problems: Vec<String> = args
        .scale
        .iter()
        .filter(|(service, _)| !project.model.services.contains_key(service))
        .map(|(service, count)| {
            format!("--scale {service}={count}: no service `{service}` in the compose files")
        })
        .collect();
    refuse(
        &problems,
        "fix the --scale values or the compose files; nothing was changed",
    )?;
    Ok(args.scale.iter().cloned().collect())
}

/// `up` as a stack: `project` named `name`, gated by `gate`.
pub(super) async fn up(
    ctx: &Context,
    args: &UpArgs,
    project: Project,
    name: String,
    gate: Vec<crate::probe::CheckGroup>,
    kind: ReleaseKind,
) -> Result<(Status, DeployReport)> {
    let settings = ctx.settings();
    let scale = scale(&project, args)?;
    let services = run::selection(&project, &args.services)?;
    for note in &project.model.notes {
        ctx.printer.warn(note);
    }
    for service in &services {
        for warning in
            crate::deploy::swarm::spec::unsupported(service, &project.model.services[service])
        {
            ctx.printer.warn(&warning);
        }
    }
    let engine = manager(ctx).await?;
    let has_secrets = services
        .iter()
        .any(|s| !project.model.services[s].secrets.is_empty());
    if has_secrets && engine.plaintext_remote {
        ctx.printer.warn(&format!(
            "the stack's secrets go to the swarm through {}, an unencrypted connection to another host; use TLS (DOCKER_TLS_VERIFY) or ssh",
            engine.address
        ));
    }
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops up", args.break_lock)?;
    let history = crate::deploy::releases::load(&releases_path(ctx))?;
    let working_dir = ctx.loaded.resolve_path(std::path::Path::new("."));
    let no_pins = HashMap::new();
    let plan = UpPlan {
        project_name: &name,
        project: &project,
        services: &services,
        pull: args.pull,
        build: args.build,
        wait_timeout: args.wait_timeout.unwrap_or(settings.deploy.wait_timeout),
        stop_timeout: settings.deploy.stop_timeout,
        working_dir: &working_dir,
        environment: &ctx.environment,
        pins: &no_pins,
        scale: &scale,
    };
    let progress = ctx.printer.progress();
    let mut report = crate::deploy::attempt::attempt_stack(
        &ctx.clients,
        settings,
        &who(ctx),
        &plan,
        DeployKind::Up,
        &gate,
        &progress,
    )
    .await?;
    let changed = report
        .services
        .iter()
        .any(|s| s.action != Action::Unchanged);
    let mut status = report.status;
    if succeeded(report.status) {
        report.release = if changed || history.newest().is_none_or(|r| !r.passed) {
            Some(record(ctx, engine, &name, &project, kind, &report.services, true).await?)
        } else {
            history.newest().map(|r| r.id.clone())
        };
    } else {
        let updated: Vec<ServiceOutcome> = report
            .services
            .iter()
            .filter(|o| o.action == Action::Updated)
            .cloned()
            .collect();
        if !args.no_rollback && !updated.is_empty() {
            ctx.printer
                .warn("the new spec failed; Swarm puts each updated service's previous spec back");
            let rollback = crate::deploy::attempt::rollback_stack(
                &ctx.clients,
                settings,
                &who(ctx),
                &plan,
                DeployKind::AutomaticRollback,
                &updated,
                &gate,
                &progress,
            )
            .await?;
            report.rollback = Some(Box::new(rollback));
        } else if changed {
            report.release =
                Some(record(ctx, engine, &name, &project, kind, &report.services, false).await?);
        }
        status = Status::Critical;
    }
    Ok((status, report))
}

/// `rollback` of a stack: Swarm's rollback of each service (or `--service`) to its previous
/// spec, waited for and gated.
pub(super) async fn rollback(ctx: &Context, args: &RollbackArgs) -> Result<DeployReport> {
    if args.to.is_some() || args.image.is_some() {
        return Err(anyhow!(
            "a Swarm keeps one previous spec per service: rollback --to and --image are for deploy.orchestrator: compose"
        ))
        .hint("run `gymops rollback` (optionally --service NAME) to put each service's previous spec back, or deploy the version you want with `gymops up`");
    }
    let settings = ctx.settings();
    let name = super::project_name(ctx);
    let project = crate::commands::service_config::load(ctx, &args.files.files)?;
    let engine = manager(ctx).await?;
    let stack = engine.stack_services(&name).await?;
    if stack.is_empty() {
        return Err(anyhow!(
            "there is no stack {name} on this swarm to roll back"
        ))
        .hint("`gymops ps` shows what runs; `gymops up` deploys the stack");
    }
    let mut problems = Vec::new();
    for service in &args.service {
        if !stack.contains_key(service) {
            problems.push(crate::say!("the stack {name} has no service `{service}`"));
        }
    }
    refuse(
        &problems,
        "name the stack's services (`gymops ps` lists them); nothing was changed",
    )?;
    let services: Vec<String> = if args.service.is_empty() {
        let mut all: Vec<String> = stack.keys().cloned().collect();
        all.sort();
        all
    } else {
        args.service.clone()
    };
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops rollback", args.break_lock)?;
    let updated: Vec<ServiceOutcome> = services
        .iter()
        .map(|service| {
            let deployed = &stack[service];
            ServiceOutcome {
                service: service.clone(),
                number: deployed.desired_tasks as u32,
                container: deployed.name.clone(),
                action: Action::Updated,
                image: deployed.image.clone().unwrap_or_default(),
                pin: None,
                image_id: String::new(),
                replaced: None,
                previous_image: None,
                previous_image_id: None,
                config_hash: String::new(),
                state: String::new(),
                health: None,
                elapsed_ms: 0,
                environment: BTreeMap::new(),
            }
        })
        .collect();
    let working_dir = ctx.loaded.resolve_path(std::path::Path::new("."));
    let (no_pins, no_scale) = (HashMap::new(), BTreeMap::new());
    let plan = UpPlan {
        project_name: &name,
        project: &project,
        services: &services,
        pull: run::Pull::Never,
        build: false,
        wait_timeout: args.wait_timeout.unwrap_or(settings.deploy.wait_timeout),
        stop_timeout: settings.deploy.stop_timeout,
        working_dir: &working_dir,
        environment: &ctx.environment,
        pins: &no_pins,
        scale: &no_scale,
    };
    let progress = ctx.printer.progress();
    crate::deploy::attempt::rollback_stack(
        &ctx.clients,
        settings,
        &who(ctx),
        &plan,
        DeployKind::Rollback,
        &updated,
        &settings.deploy.gate,
        &progress,
    )
    .await
}
