//! `gymops up`, `down`, `stop`, `start`, `restart` (also under `gymops service`),
//! `rollback` and `releases`: thin commands over [`crate::deploy`], one file each, with the
//! deploy attempt (containers, waits, gate) and the report they share.

mod attempt;
mod lifecycle;
mod releases;
mod report;
mod rollback;
mod up;

use anyhow::{anyhow, Result};
use serde::Serialize;
use std::time::Duration;

use super::Context;
use crate::deploy::run::ServiceOutcome;
use crate::deploy::spec;
use crate::error::HintExt;
use crate::exit::Status;
use crate::probe::HealthReport;

pub use lifecycle::{down, lifecycle, Verb};
pub use releases::releases;
pub use report::markdown;
pub use rollback::rollback;
pub use up::up;

fn project_name(ctx: &Context) -> String {
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
