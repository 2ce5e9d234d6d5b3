//! `gymops up`, `down`, `stop`, `start`, `restart` (also under `gymops service`).

use std::collections::HashMap;
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

fn project_name(ctx: &Context) -> String {
    spec::project_name(&ctx.settings().project)
}

/// A stop's grace period: `-t SECONDS`, else deploy.stop_timeout.
fn grace(ctx: &Context, seconds: Option<u64>) -> Duration {
    seconds
        .map(Duration::from_secs)
        .unwrap_or(ctx.settings().deploy.stop_timeout)
}

/// The monitoring stack's own compose project.
fn monitoring_project(ctx: &Context) -> String {
    format!("{}_monitoring", project_name(ctx))
}

/// A service that did not become healthy, with the end of its log.
#[derive(Debug, Serialize)]
pub struct WaitFailure {
    pub service: String,
    pub error: String,
    pub log_tail: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: String,
    pub ms: u64,
}

/// What `up` or `rollback` did, as printed (JSON) and written to deployment_report.md.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    /// up, rollback, or automatic-rollback
    pub kind: String,
    pub project: String,
    pub environment: String,
    pub host: String,
    pub operator: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The release recorded, when this succeeded.
    pub release: Option<String>,
    /// For a rollback: the release (or image) put back.
    pub target: Option<String>,
    pub services: Vec<ServiceOutcome>,
    pub phases: Vec<Phase>,
    pub wait_failures: Vec<WaitFailure>,
    pub gate: Option<HealthReport>,
    pub status: Status,
    pub elapsed_ms: u64,
    /// When a failed up put the previous release back: that rollback.
    pub rollback: Option<Box<DeployReport>>,
}

fn succeeded(status: Status) -> bool {
    matches!(status, Status::Ok | Status::Warning)
}

/// One deploy attempt: containers, waits, gate.
async fn attempt(
    ctx: &Context,
    engine: &Engine,
    plan: &UpPlan<'_>,
    kind: &str,
    gate_groups: &[crate::probe::CheckGroup],
) -> Result<DeployReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let printer = &ctx.printer;
    // On a terminal, pull and build output scrolls by on a spinner line and the steps stay;
    // elsewhere (cron, CI) every line is logged.
    let bar = (std::io::IsTerminal::is_terminal(&std::io::stderr()) && !printer.quiet).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut progress = |line: &str| match &bar {
        Some(bar) => {
            let step = [
                "creating ",
                "recreating ",
                "starting ",
                "building ",
                "pulling ",
            ]
            .iter()
            .any(|p| line.starts_with(p))
                || line.contains(": waiting for ");
            if step {
                bar.println(line);
            }
            bar.set_message(line.to_string());
        }
        None => printer.note(line),
    };
    let run = run::up(engine, plan, &mut progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let run = run?;
    let mut phases: Vec<Phase> = run
        .phases
        .iter()
        .map(|(name, ms)| Phase {
            name: name.clone(),
            ms: *ms,
        })
        .collect();
    let mut outcomes = run.outcomes;
    let mut wait_failures = Vec::new();
    if let Some(blocked) = &run.blocked {
        wait_failures.push(WaitFailure {
            service: blocked.dependency.clone(),
            error: format!(
                "{} (so {} and what follows it were not started)",
                blocked.error, blocked.dependent
            ),
            log_tail: log_tail(engine, &blocked.container).await,
        });
    }
    // Every service with a healthcheck must become healthy within the wait timeout.
    let waits = Instant::now();
    let deadline = waits + plan.wait_timeout;
    for outcome in outcomes.iter_mut() {
        if run.blocked.is_some() {
            break;
        }
        if outcome.health.is_none() && outcome.state == "running" {
            continue;
        }
        match run::wait_for(
            engine,
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
                let tail = log_tail(engine, &outcome.container).await;
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
    phases.push(Phase {
        name: "health waits".into(),
        ms: waits.elapsed().as_millis() as u64,
    });
    let gate = if wait_failures.is_empty() && !gate_groups.is_empty() {
        let gate_started = Instant::now();
        let report = probe::run(
            ctx.settings(),
            &HealthPlan {
                groups: gate_groups.to_vec(),
                services: Vec::new(),
                endpoints: Vec::new(),
            },
        )
        .await?;
        phases.push(Phase {
            name: "health gate".into(),
            ms: gate_started.elapsed().as_millis() as u64,
        });
        Some(report)
    } else {
        None
    };
    let status = if !wait_failures.is_empty() {
        Status::Critical
    } else {
        gate.as_ref().map(|g| g.status).unwrap_or(Status::Ok)
    };
    Ok(DeployReport {
        kind: kind.to_string(),
        project: plan.project_name.to_string(),
        environment: ctx.settings().environment.clone(),
        host: crate::notify::hostname(),
        operator: crate::incident::operator(&ctx.settings().incident),
        started_at,
        release: None,
        target: None,
        services: outcomes,
        phases,
        wait_failures,
        gate,
        status,
        elapsed_ms: started.elapsed().as_millis() as u64,
        rollback: None,
    })
}

/// Every preflight problem in one error, or Ok when there is none.
fn refuse(problems: &[String], hint: &str) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow!(
        "preflight found {} problem(s): {}",
        problems.len(),
        problems.join("; ")
    ))
    .hint(hint.to_string())
}

fn releases_path(ctx: &Context) -> std::path::PathBuf {
    ctx.loaded
        .resolve_path(&ctx.settings().metrics.releases_file)
}

fn lock_path(ctx: &Context) -> std::path::PathBuf {
    releases_path(ctx)
        .parent()
        .map(|dir| dir.join("deploy.lock"))
        .unwrap_or_else(|| std::path::PathBuf::from(".gymops/deploy.lock"))
}

/// Record a successful deploy or rollback: the history, and the image tags that keep its
/// images (older releases' tags beyond deploy.keep_releases removed).
async fn record(
    ctx: &Context,
    engine: &Engine,
    project: &str,
    kind: &str,
    outcomes: &[ServiceOutcome],
) -> Result<String> {
    let path = releases_path(ctx);
    let history = crate::release::load(&path)?;
    let now = chrono::Utc::now();
    let id = history.next_id(now);
    let mut services = history
        .newest()
        .map(|r| r.services.clone())
        .unwrap_or_default();
    for outcome in outcomes {
        // A rollback runs a kept tag or an ID: record the name the image had.
        let image = if outcome.image.starts_with("gymops-release/")
            || outcome.image.starts_with("sha256:")
        {
            let mut sorted: Vec<&crate::release::Release> = history.releases.iter().collect();
            sorted.sort_by_key(|r| std::cmp::Reverse(r.time));
            sorted
                .iter()
                .filter_map(|r| r.services.get(&outcome.service))
                .find(|s| s.image_id == outcome.image_id && !s.image.starts_with("gymops-release/"))
                .map(|s| s.image.clone())
                .unwrap_or_else(|| outcome.image.clone())
        } else {
            outcome.image.clone()
        };
        services.insert(
            outcome.service.clone(),
            crate::release::ServiceRelease {
                image,
                image_id: outcome.image_id.clone(),
                config_hash: outcome.config_hash.clone(),
            },
        );
    }
    for (service, release) in &services {
        let (repo, tag) = crate::release::image_tag(project, service, &id);
        if let Err(err) = engine.tag(&release.image_id, &repo, &tag).await {
            ctx.printer.warn(&format!(
                "cannot keep the image of {service} for rollback: {}",
                crate::error::describe(&err).0
            ));
        }
    }
    let history = crate::release::record(
        &path,
        crate::release::Release {
            id: id.clone(),
            time: now,
            environment: ctx.settings().environment.clone(),
            host: crate::notify::hostname(),
            operator: crate::incident::operator(&ctx.settings().incident),
            kind: kind.to_string(),
            services,
        },
    )?;
    for old in history.beyond(ctx.settings().deploy.keep_releases) {
        for service in old.services.keys() {
            let (repo, tag) = crate::release::image_tag(project, service, &old.id);
            let _ = engine.untag(&format!("{repo}:{tag}")).await;
        }
    }
    Ok(id)
}

/// (reference, image ID) to run a release's service on: its kept tag when the engine still
/// has it, else the image ID.
async fn pinned(
    engine: &Engine,
    project: &str,
    service: &str,
    release: &crate::release::Release,
) -> Result<Option<(String, String)>> {
    let Some(entry) = release.services.get(service) else {
        return Ok(None);
    };
    let (repo, tag) = crate::release::image_tag(project, service, &release.id);
    let reference = format!("{repo}:{tag}");
    if engine.image_id(&reference).await?.is_some() {
        return Ok(Some((reference, entry.image_id.clone())));
    }
    Ok(Some((entry.image_id.clone(), entry.image_id.clone())))
}

pub async fn up(ctx: &Context, args: &UpArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let (project, name, gate) = if args.monitoring_only {
        let file = ctx
            .loaded
            .resolve_path(&settings.deploy.monitoring_compose_file);
        if !file.is_file() {
            return Err(anyhow!("no monitoring compose file at {}", file.display())).hint(
                "generate the monitoring stack with `gymops monitoring init`, or set deploy.monitoring_compose_file",
            );
        }
        let project = crate::compose::load(&[file], Some(&ctx.loaded.env_file), &ctx.environment)?;
        (project, monitoring_project(ctx), Vec::new())
    } else {
        (
            super::service_config::load(ctx, &args.files.files)?,
            project_name(ctx),
            settings.deploy.gate.clone(),
        )
    };
    let services = run::selection(&project, &args.services)?;
    let engine = match Engine::connect(&settings.docker).await {
        Ok(engine) => engine,
        Err(err) => {
            // Still every problem at once: the engine's, and what the files show.
            let mut problems = vec![crate::error::describe(&err).0];
            problems.extend(run::file_problems(&project, &ctx.loaded.env_file));
            refuse(
                &problems,
                "start the Docker engine (or fix DOCKER_HOST) and the rest; nothing was changed",
            )?;
            return Err(err);
        }
    };
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops up", args.break_lock)?;
    let preflight_started = Instant::now();
    let problems = run::preflight(&engine, &name, &project, &services, &ctx.loaded.env_file).await;
    refuse(&problems, "fix them and run up again; nothing was changed")?;
    let preflight_ms = preflight_started.elapsed().as_millis() as u64;
    let history = crate::release::load(&releases_path(ctx))?;
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
        images: &no_pins,
    };
    let mut report = attempt(ctx, &engine, &plan, "up", &gate).await?;
    report.phases.insert(
        0,
        Phase {
            name: "preflight".into(),
            ms: preflight_ms,
        },
    );
    let mut status = report.status;
    if succeeded(report.status) {
        let changed = report
            .services
            .iter()
            .any(|s| s.action != Action::Unchanged);
        // The monitoring stack has no releases. When nothing changed, the current release
        // stays current (so that "previous" still means the one before it).
        if !args.monitoring_only {
            report.release = if changed || history.newest().is_none() {
                Some(record(ctx, &engine, &name, "deploy", &report.services).await?)
            } else {
                history.newest().map(|r| r.id.clone())
            };
        }
    } else if !args.no_rollback && !args.monitoring_only {
        if let Some(previous) = history.newest() {
            let mut pins = HashMap::new();
            for outcome in &report.services {
                if matches!(outcome.action, Action::Created | Action::Recreated) {
                    if let Some(pin) = pinned(&engine, &name, &outcome.service, previous).await? {
                        pins.insert(outcome.service.clone(), pin);
                    }
                }
            }
            if !pins.is_empty() {
                ctx.printer.warn(&format!(
                    "the new release failed; putting release {} back",
                    previous.id
                ));
                let back = UpPlan {
                    images: &pins,
                    pull: run::Pull::Never,
                    build: false,
                    ..plan
                };
                let mut rollback =
                    attempt(ctx, &engine, &back, "automatic-rollback", &gate).await?;
                rollback.target = Some(previous.id.clone());
                if succeeded(rollback.status) {
                    rollback.release =
                        Some(record(ctx, &engine, &name, "rollback", &rollback.services).await?);
                }
                report.rollback = Some(Box::new(rollback));
            }
        }
        // A failed deploy is critical whether or not the rollback worked.
        status = Status::Critical;
    }
    finish(ctx, &report)?;
    Ok(status)
}

pub async fn rollback(ctx: &Context, args: &crate::cli::RollbackArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let history = crate::release::load(&releases_path(ctx))?;
    let name = project_name(ctx);
    let engine = Engine::connect(&settings.docker).await?;
    if args.list {
        return list_releases(ctx, Some(&engine), &name, &history, true).await;
    }
    let project = super::service_config::load(ctx, &args.files.files)?;
    let mut pins = HashMap::new();
    let target = if let Some(image) = &args.image {
        let id = engine
            .image_id(image)
            .await?
            .ok_or_else(|| anyhow!("image {image} is not on this engine"))
            .hint("pull or build it first, or roll back to a release (--to)")?;
        for service in &args.service {
            pins.insert(service.clone(), (image.clone(), id.clone()));
        }
        image.clone()
    } else {
        let release = match &args.to {
            Some(to) => history
                .find(to)
                .or_else(|| history.with_tag(to))
                .ok_or_else(|| {
                    anyhow!("no release {to}, and no earlier release ran an image tagged {to}")
                }),
            None => history
                .previous()
                .ok_or_else(|| anyhow!("there is no previous release to roll back to")),
        }
        .hint("`gymops rollback --list` shows the releases and their images")?;
        let services: Vec<String> = if args.service.is_empty() {
            release.services.keys().cloned().collect()
        } else {
            args.service.clone()
        };
        for service in &services {
            match pinned(&engine, &name, service, release).await? {
                Some(pin) => {
                    pins.insert(service.clone(), pin);
                }
                None => {
                    return Err(anyhow!("release {} has no service `{service}`", release.id))
                        .hint("`gymops rollback --list` shows each release's services")
                }
            }
        }
        release.id.clone()
    };
    for service in pins.keys() {
        if !project.model.services.contains_key(service) {
            return Err(anyhow!("service `{service}` is not in the compose files"))
                .hint("roll back the services the deployment still has (--service)");
        }
    }
    let wanted: Vec<String> = pins.keys().cloned().collect();
    let services = run::selection(&project, &wanted)?;
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops rollback", args.break_lock)?;
    let problems = run::preflight(&engine, &name, &project, &services, &ctx.loaded.env_file).await;
    refuse(
        &problems,
        "fix them and run rollback again; nothing was changed",
    )?;
    let working_dir = ctx.loaded.resolve_path(std::path::Path::new("."));
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
        images: &pins,
    };
    let mut report = attempt(ctx, &engine, &plan, "rollback", &settings.deploy.gate).await?;
    report.target = Some(target);
    if succeeded(report.status) {
        report.release = Some(record(ctx, &engine, &name, "rollback", &report.services).await?);
    }
    let status = report.status;
    finish(ctx, &report)?;
    Ok(status)
}

pub async fn releases(ctx: &Context) -> Result<ExitStatus> {
    let history = crate::release::load(&releases_path(ctx))?;
    // The history is a file: list it even when the engine cannot say which images it keeps.
    let engine = match Engine::connect(&ctx.settings().docker).await {
        Ok(engine) => Some(engine),
        Err(err) => {
            ctx.printer.warn(&format!(
                "cannot tell which images are kept: {}",
                crate::error::describe(&err).0
            ));
            None
        }
    };
    list_releases(ctx, engine.as_ref(), &project_name(ctx), &history, false).await
}

#[derive(Debug, Serialize)]
struct ReleaseRow<'a> {
    #[serde(flatten)]
    release: &'a crate::release::Release,
    current: bool,
    /// Whether every image of the release is still on the engine (null: unknown).
    images_kept: Option<bool>,
}

/// Whether the engine still has every image of a release.
async fn images_kept(
    engine: &Engine,
    project: &str,
    release: &crate::release::Release,
) -> Result<bool> {
    for (service, entry) in &release.services {
        let by_tag = pinned(engine, project, service, release)
            .await?
            .is_some_and(|(reference, id)| reference != id);
        if !by_tag && engine.image_id(&entry.image_id).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn list_releases(
    ctx: &Context,
    engine: Option<&Engine>,
    project: &str,
    history: &crate::release::History,
    candidates_only: bool,
) -> Result<ExitStatus> {
    let current = history.newest().map(|r| r.id.clone());
    let mut sorted: Vec<&crate::release::Release> = history.releases.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.time));
    let mut rows = Vec::new();
    for release in sorted {
        let is_current = Some(&release.id) == current.as_ref();
        if candidates_only && is_current {
            continue;
        }
        let kept = match engine {
            Some(engine) => Some(images_kept(engine, project, release).await?),
            None => None,
        };
        rows.push(ReleaseRow {
            release,
            current: is_current,
            images_kept: kept,
        });
    }
    let place = ctx
        .loaded
        .resolve_path(&ctx.settings().metrics.releases_file);
    ctx.printer.emit_result(&rows, None, |printer| {
        if rows.is_empty() {
            return format!(
                "no releases yet in {}: `gymops up` records one\n",
                place.display()
            );
        }
        printer.table(
            &["RELEASE", "TIME", "KIND", "OPERATOR", "SERVICES", "IMAGES"],
            rows.iter()
                .map(|row| {
                    let services = row
                        .release
                        .services
                        .iter()
                        .map(|(s, r)| {
                            let short = r.image_id.trim_start_matches("sha256:");
                            format!("{s}={} ({})", r.image, &short[..12.min(short.len())])
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![
                        Cell::new(if row.current {
                            format!("{} (current)", row.release.id)
                        } else {
                            row.release.id.clone()
                        }),
                        Cell::new(row.release.time.format("%Y-%m-%d %H:%M:%S UTC")),
                        Cell::new(&row.release.kind),
                        Cell::new(&row.release.operator),
                        Cell::new(services),
                        Cell::new(match row.images_kept {
                            Some(true) => "kept",
                            Some(false) => "missing",
                            None => "unknown",
                        }),
                    ]
                })
                .collect(),
        )
    })?;
    Ok(Status::Ok)
}

/// Print the report, write deployment_report.md, show failures.
fn finish(ctx: &Context, report: &DeployReport) -> Result<()> {
    let path = ctx.loaded.resolve_path(&ctx.settings().deploy.report_file);
    crate::fsutil::write_atomic(&path, markdown(report).as_bytes(), Some(0o644))?;
    ctx.printer
        .emit_result(report, None, |printer| render_up(printer, report))?;
    let mut current = Some(report);
    while let Some(report) = current {
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
        current = report.rollback.as_deref();
    }
    ctx.printer.note(&format!("report: {}", path.display()));
    Ok(())
}

fn action_label(action: Action) -> &'static str {
    match action {
        Action::Created => "created",
        Action::Recreated => "recreated",
        Action::Started => "started",
        Action::Unchanged => "unchanged",
    }
}

fn short_id(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..12.min(id.len())]
}

/// deployment_report.md: the guide's deployment report, from the run.
pub fn markdown(report: &DeployReport) -> String {
    let mut out = String::new();
    let title = match report.kind.as_str() {
        "rollback" => "Rollback report",
        _ => "Deployment report",
    };
    out.push_str(&format!("# {title}\n\n"));
    section(&mut out, report);
    if let Some(rollback) = &report.rollback {
        out.push_str("\n## Automatic rollback\n\n");
        out.push_str(&format!(
            "The new release failed, so release {} was put back.\n\n",
            rollback.target.as_deref().unwrap_or("-")
        ));
        section(&mut out, rollback);
    }
    out
}

fn section(out: &mut String, report: &DeployReport) {
    out.push_str(&format!(
        "- **Result**: {}\n- **Project**: {} ({})\n- **Host**: {}\n- **Operator**: {}\n- **Started**: {}\n- **Duration**: {:.1}s\n",
        report.status.label(),
        report.project,
        report.environment,
        report.host,
        report.operator,
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.elapsed_ms as f64 / 1000.0
    ));
    if let Some(release) = &report.release {
        out.push_str(&format!("- **Release**: {release}\n"));
    }
    if let Some(target) = &report.target {
        out.push_str(&format!("- **Rolled back to**: {target}\n"));
    }
    out.push_str(
        "\n### Changes\n\n| Service | Action | Before | After | State |\n|---|---|---|---|---|\n",
    );
    for s in &report.services {
        let before = match (&s.previous_image, &s.previous_image_id) {
            (Some(image), Some(id)) => format!("{image} ({})", short_id(id)),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} ({}) | {}{} |\n",
            s.service,
            action_label(s.action),
            before,
            s.image,
            short_id(&s.image_id),
            s.state,
            s.health
                .as_ref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ));
    }
    out.push_str("\n### Phases\n\n| Phase | Time |\n|---|---|\n");
    for phase in &report.phases {
        out.push_str(&format!(
            "| {} | {:.2}s |\n",
            phase.name,
            phase.ms as f64 / 1000.0
        ));
    }
    if !report.wait_failures.is_empty() {
        out.push_str("\n### Failures\n\n");
        for failure in &report.wait_failures {
            out.push_str(&format!("- **{}**: {}\n", failure.service, failure.error));
            if !failure.log_tail.is_empty() {
                out.push_str("\n```\n");
                for line in &failure.log_tail {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("```\n");
            }
        }
    }
    if let Some(gate) = &report.gate {
        out.push_str(
            "\n### Health at the end\n\n| Check | Name | Status | Detail |\n|---|---|---|---|\n",
        );
        for check in &gate.checks {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                check.check.label(),
                check.name,
                check.status.label(),
                check.summary.replace('|', "\\|")
            ));
        }
    }
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

fn render_up(printer: &Printer, report: &DeployReport) -> String {
    let mut text = String::new();
    let mut current = Some(report);
    while let Some(report) = current {
        if report.kind != "up" {
            text.push_str(&format!(
                "{} to {}:\n",
                report.kind,
                report.target.as_deref().unwrap_or("-")
            ));
        }
        let rows = report
            .services
            .iter()
            .map(|s| {
                vec![
                    Cell::new(&s.service),
                    Cell::new(&s.container),
                    Cell::new(action_label(s.action)),
                    Cell::new(&s.image),
                    Cell::new(match &s.health {
                        Some(health) => format!("{} ({health})", s.state),
                        None => s.state.clone(),
                    }),
                    Printer::number_cell(format!("{:.1}s", s.elapsed_ms as f64 / 1000.0)),
                ]
            })
            .collect();
        text.push_str(&printer.table(
            &["SERVICE", "CONTAINER", "ACTION", "IMAGE", "STATE", "TIME"],
            rows,
        ));
        if let Some(gate) = &report.gate {
            text.push_str(&format!(
                "health gate: {}",
                crate::probe::summary_line(gate)
            ));
        }
        text.push_str(&format!(
            "{}: {} in {:.1}s{}\n",
            report.kind,
            report.status.label(),
            report.elapsed_ms as f64 / 1000.0,
            report
                .release
                .as_ref()
                .map(|r| format!(", release {r}"))
                .unwrap_or_default()
        ));
        current = report.rollback.as_deref();
    }
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
    let name = if args.monitoring_only {
        monitoring_project(ctx)
    } else {
        project_name(ctx)
    };
    let timeout = grace(ctx, args.timeout);
    // The compose files only give the order; down works from the engine's labels.
    let project = super::service_config::load(ctx, &args.files.files).ok();
    let engine = Engine::connect(&settings.docker).await?;
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops down", false)?;
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
    let settings = ctx.settings();
    let name = project_name(ctx);
    let timeout = grace(ctx, args.timeout);
    let project = super::service_config::load(ctx, &args.files.files).ok();
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
        // On a terminal, a line per container while it gets its grace period (a container
        // that ignores SIGTERM takes all of it); nothing in cron or CI.
        let progress = (std::io::IsTerminal::is_terminal(&std::io::stderr()) && !ctx.printer.quiet)
            .then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            });
        for container in selected.iter().rev() {
            if let Some(bar) = &progress {
                bar.set_message(format!(
                    "stopping {} (grace period {}s)",
                    container.name,
                    timeout.as_secs()
                ));
            }
            let stopped = engine.stop(&container.id, timeout).await;
            if let Some(bar) = &progress {
                bar.println(format!("stopped {}", container.name));
            }
            stopped?;
            steps.push(Step {
                kind: "container",
                name: container.name.clone(),
                service: Some(container.service.clone()),
                result: "stopped".into(),
            });
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
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
