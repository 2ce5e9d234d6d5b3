//! `gymops up`, `down`, `stop`, `start`, `restart` (also under `gymops service`),
//! `rollback` and `releases`: thin commands over [`crate::deploy`], one file each; here what
//! they share (the project name, grace periods, the attempt and the release record with
//! this run's operator and progress).

mod lifecycle;
mod releases;
mod report;
mod rollback;
mod stack;
mod up;

use anyhow::{anyhow, Result};
use std::time::Duration;

use super::Context;
use crate::compose::Project;
use crate::deploy::attempt::Who;
use crate::deploy::releases::{Recorder, ReleaseKind};
use crate::deploy::report::{DeployKind, DeployReport};
use crate::deploy::run::{ServiceOutcome, UpPlan};
use crate::deploy::spec;
use crate::docker::Engine;
use crate::error::HintExt;
use crate::exit::Status;

pub use lifecycle::{down, lifecycle, Verb};
pub use releases::releases;
pub(crate) use report::write_file as write_report;
pub use rollback::rollback;
pub(crate) use up::deploy;
pub use up::up;

/// Who runs this deploy, for its report and release.
fn who(ctx: &Context) -> Who {
    Who {
        environment: ctx.settings().environment.clone(),
        host: crate::notify::hostname(),
        operator: crate::incident::operator(&ctx.settings().incident),
    }
}

/// One attempt with this run's progress display.
async fn attempt(
    ctx: &Context,
    plan: &UpPlan<'_>,
    kind: DeployKind,
    gate: &[crate::probe::CheckGroup],
) -> Result<DeployReport> {
    let progress = ctx.printer.progress();
    crate::deploy::attempt::attempt(
        &ctx.clients,
        ctx.settings(),
        &who(ctx),
        plan,
        kind,
        gate,
        &progress,
    )
    .await
}

/// Record a release; what could not be kept is a warning.
async fn record(
    ctx: &Context,
    engine: &Engine,
    project_name: &str,
    project: &Project,
    kind: ReleaseKind,
    outcomes: &[ServiceOutcome],
    passed: bool,
) -> Result<String> {
    let who = who(ctx);
    let path = releases_path(ctx);
    let recorder = Recorder {
        engine,
        path: &path,
        project_name,
        environment: &who.environment,
        host: who.host.clone(),
        operator: who.operator.clone(),
        keep: ctx.settings().deploy.keep_releases,
    };
    let (id, warnings) = recorder.record(project, kind, outcomes, passed).await?;
    for warning in warnings {
        ctx.printer.warn(&warning);
    }
    Ok(id)
}

pub(crate) fn project_name(ctx: &Context) -> String {
    spec::project_name(&ctx.settings().project)
}

/// A stop's grace period: `-t SECONDS`, else the service's stop_grace_period, else
/// deploy.stop_timeout.
fn grace(
    ctx: &Context,
    seconds: Option<u64>,
    project: Option<&crate::compose::Project>,
    service: &str,
) -> Duration {
    seconds
        .map(Duration::from_secs)
        .or_else(|| {
            project
                .and_then(|p| p.model.services.get(service))
                .and_then(|s| s.stop_grace_period)
        })
        .unwrap_or(ctx.settings().deploy.stop_timeout)
}

/// The monitoring stack's own compose project.
pub(crate) fn monitoring_project(ctx: &Context) -> String {
    format!("{}_monitoring", project_name(ctx))
}

fn succeeded(status: Status) -> bool {
    matches!(status, Status::Ok | Status::Warning)
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

pub(crate) fn lock_path(ctx: &Context) -> std::path::PathBuf {
    releases_path(ctx)
        .parent()
        .map(|dir| dir.join("deploy.lock"))
        .unwrap_or_else(|| std::path::PathBuf::from(".gymops/deploy.lock"))
}
