//! `gymops up`: the deployment (or its failover stack, or the monitoring stack) brought to
//! its compose files, gated, recorded as a release, and put back automatically when it
//! fails.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Result};

use super::report::finish;
use super::rollback::put_back;
use super::{
    attempt, lock_path, monitoring_project, project_name, record, refuse, releases_path, succeeded,
    Context,
};
use crate::cli::UpArgs;
use crate::compose::Project;
use crate::deploy::releases::ReleaseKind;
use crate::deploy::report::{DeployKind, DeployReport, Phase};
use crate::deploy::run::{self, Action, UpPlan};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::settings::Orchestrator;

/// What `up` deploys: the project, its engine name, its gate and the release kind.
fn target(
    ctx: &Context,
    args: &UpArgs,
) -> Result<(Project, String, Vec<crate::probe::CheckGroup>, ReleaseKind)> {
    let settings = ctx.settings();
    if args.monitoring_only {
        let file = ctx
            .loaded
            .resolve_path(&settings.deploy.monitoring_compose_file);
        if !file.is_file() {
            return Err(anyhow!("no monitoring compose file at {}", file.display())).hint(
                "generate the monitoring stack with `gymops monitoring init`, or set deploy.monitoring_compose_file",
            );
        }
        let project = crate::compose::load(&[file], Some(&ctx.loaded.env_file), &ctx.environment)?;
        // The monitoring stack records no release (see `up`).
        return Ok((
            project,
            monitoring_project(ctx),
            Vec::new(),
            ReleaseKind::Deploy,
        ));
    }
    if args.failover {
        let files: Vec<PathBuf> = settings
            .deploy
            .failover_compose_files
            .iter()
            .map(|f| ctx.loaded.resolve_path(f))
            .collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(anyhow!("no failover compose file at {}", missing.display())).hint(
                "write the failover stack (the guide's docker-compose.backup.yml), or set deploy.failover_compose_files",
            );
        }
        let project = crate::compose::load(&files, Some(&ctx.loaded.env_file), &ctx.environment)?;
        return Ok((
            project,
            project_name(ctx),
            settings.deploy.gate.clone(),
            ReleaseKind::Failover,
        ));
    }
    Ok((
        crate::commands::service_config::load(ctx, &args.files.files)?,
        project_name(ctx),
        settings.deploy.gate.clone(),
        ReleaseKind::Deploy,
    ))
}

/// `--scale`: every named service exists and can run that many containers.
fn scale(project: &Project, args: &UpArgs) -> Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (service, count) in &args.scale {
        match project.model.services.get(service) {
            None => problems.push(format!(
                "--scale {service}={count}: no service `{service}` in the compose files"
            )),
            Some(spec) => {
                if let Some(problem) = crate::compose::scale_problem(service, spec, *count) {
                    problems.push(problem);
                }
            }
        }
        out.insert(service.clone(), *count);
    }
    refuse(
        &problems,
        "fix the --scale values or the compose files; nothing was changed",
    )?;
    Ok(out)
}

pub async fn up(ctx: &Context, args: &UpArgs) -> Result<ExitStatus> {
    let (status, report) = deploy(ctx, args).await?;
    finish(ctx, &report)?;
    if !super::succeeded(status) {
        crate::commands::notify_event(ctx, failed_event(ctx, &report)).await;
    }
    Ok(status)
}

/// The notification of a failed deploy: what failed, and whether the rollback put the
/// previous release back.
fn failed_event(ctx: &Context, report: &DeployReport) -> crate::notify::Event {
    let failed: Vec<String> = report
        .wait_failures
        .iter()
        .map(|f| f.service.clone())
        .chain(report.gate.iter().flat_map(|gate| {
            gate.checks
                .iter()
                .filter(|c| c.status != Status::Ok)
                .map(|c| c.name.clone())
        }))
        .collect();
    use crate::i18n::{tr, tr_args};
    let rollback = match &report.rollback {
        Some(rollback) if super::succeeded(rollback.status) => tr_args(
            "notify-rolled-back-healthy",
            &[(
                "release",
                rollback
                    .target
                    .clone()
                    .unwrap_or_else(|| "the previous release".into()),
            )],
        ),
        Some(_) => tr("notify-rollback-failed"),
        None => tr("notify-not-rolled-back"),
    };
    let mut event = crate::notify::Event::new(
        ctx.settings(),
        if report.rollback.is_some() {
            "DeployRolledBack"
        } else {
            "DeployFailed"
        },
        crate::settings::Severity::Critical,
        tr_args(
            "notify-deploy-failed",
            &[
                ("project", report.project.clone()),
                (
                    "what",
                    if failed.is_empty() {
                        tr("notify-see-report")
                    } else {
                        failed.join(", ")
                    },
                ),
                ("rollback", rollback),
            ],
        ),
    )
    .detail("environment", report.environment.clone())
    .detail("operator", report.operator.clone());
    if let Some(release) = &report.release {
        event = event.detail("release", release.clone());
    }
    event
}

/// The whole of `up` but printing: containers, gate, release, and the automatic rollback.
pub(crate) async fn deploy(ctx: &Context, args: &UpArgs) -> Result<(Status, DeployReport)> {
    let settings = ctx.settings();
    let (project, name, gate, kind) = target(ctx, args)?;
    // The monitoring stack runs as containers of the engine gymops talks to, always.
    if settings.orchestrator() == Orchestrator::Swarm && !args.monitoring_only {
        return super::stack::up(ctx, args, project, name, gate, kind).await;
    }
    for note in &project.model.single_engine_notes() {
        ctx.printer.warn(note);
    }
    let scale = scale(&project, args)?;
    let services = run::selection(&project, &args.services)?;
    let engine = match ctx.engine().await {
        Ok(engine) => engine,
        Err(err) => {
            // Still every problem at once: the engine's, and what the files show.
            let mut problems = vec![crate::error::describe(&err).0];
            problems.extend(crate::deploy::preflight::file_problems(
                &project,
                &ctx.loaded.env_file,
            ));
            refuse(
                &problems,
                "start the Docker engine (or fix DOCKER_HOST) and the rest; nothing was changed",
            )?;
            return Err(err);
        }
    };
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops up", args.break_lock)?;
    let preflight_started = Instant::now();
    let problems = crate::deploy::preflight::preflight(
        engine,
        &name,
        &project,
        &services,
        &ctx.loaded.env_file,
    )
    .await;
    refuse(&problems, "fix them and run up again; nothing was changed")?;
    let preflight_ms = preflight_started.elapsed().as_millis() as u64;
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
    let mut report = attempt(ctx, &plan, DeployKind::Up, &gate).await?;
    report.phases.insert(
        0,
        Phase {
            name: "preflight".into(),
            ms: preflight_ms,
        },
    );
    let mut status = report.status;
    let changed = report
        .services
        .iter()
        .any(|s| s.action != Action::Unchanged);
    // The monitoring stack has no releases.
    let releases = !args.monitoring_only;
    if succeeded(report.status) {
        // When nothing changed, the current release stays current (so that "previous"
        // still means the one before it).
        if releases {
            report.release = if changed || history.newest().is_none_or(|r| !r.passed) {
                Some(record(ctx, engine, &name, &project, kind, &report.services, true).await?)
            } else {
                history.newest().map(|r| r.id.clone())
            };
        }
    } else if !args.no_rollback && releases {
        if let Some(previous) = history.last_passed() {
            let touched: Vec<String> = report
                .services
                .iter()
                .filter(|o| {
                    matches!(
                        o.action,
                        Action::Created | Action::Recreated | Action::Removed
                    )
                })
                .map(|o| o.service.clone())
                .collect();
            if !touched.is_empty() {
                ctx.printer.warn(&format!(
                    "the new release failed; putting release {} back",
                    previous.id
                ));
                let rollback = put_back(
                    ctx,
                    engine,
                    &plan,
                    &name,
                    previous,
                    &touched,
                    DeployKind::AutomaticRollback,
                )
                .await?;
                report.rollback = Some(Box::new(rollback));
            }
        }
        // A failed deploy is critical whether or not the rollback worked.
        status = Status::Critical;
    } else {
        if releases && changed {
            // Left running for inspection: recorded as failed, so that `rollback` puts
            // back the last release that passed.
            report.release =
                Some(record(ctx, engine, &name, &project, kind, &report.services, false).await?);
        }
        status = Status::Critical;
    }
    Ok((status, report))
}
