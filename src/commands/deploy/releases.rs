//! `gymops releases` (and `rollback --list`), and recording a release: the history entry
//! with each service's full spec, and the image tags that keep its images.

use std::collections::BTreeMap;

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::{project_name, releases_path, Context};
use crate::compose::Project;
use crate::deploy::run::{Action, Pin, ServiceOutcome};
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::release::{History, Release, ServiceRelease};

/// Record a deploy or rollback: the history (each service's spec as its containers were
/// created, its environment and replica count), and the image tags that keep its images
/// (older releases' tags beyond deploy.keep_releases removed). `passed`: false for a failed
/// deploy left running.
pub(super) async fn record(
    ctx: &Context,
    engine: &Engine,
    project_name: &str,
    project: &Project,
    kind: &str,
    outcomes: &[ServiceOutcome],
    passed: bool,
) -> Result<String> {
    let path = releases_path(ctx);
    let history = crate::release::load(&path)?;
    let now = chrono::Utc::now();
    let id = history.next_id(now);
    // Services this run did not touch keep what the newest release says of them.
    let mut services = history
        .newest()
        .map(|r| r.services.clone())
        .unwrap_or_default();
    let mut replicas: BTreeMap<&str, u32> = BTreeMap::new();
    for outcome in outcomes {
        let count = replicas.entry(&outcome.service).or_insert(0);
        if outcome.action != Action::Removed {
            *count += 1;
        }
    }
    for outcome in outcomes.iter().filter(|o| o.action != Action::Removed) {
        services.insert(
            outcome.service.clone(),
            ServiceRelease {
                image: outcome.image.clone(),
                image_id: outcome.image_id.clone(),
                config_hash: outcome.config_hash.clone(),
                spec: project.model.services.get(&outcome.service).cloned(),
                environment: Some(outcome.environment.clone()),
                replicas: replicas[outcome.service.as_str()],
            },
        );
    }
    for (service, count) in &replicas {
        if *count == 0 {
            if let Some(entry) = services.get_mut(*service) {
                entry.replicas = 0;
            }
        }
    }
    for (service, release) in &services {
        let (repo, tag) = crate::release::image_tag(project_name, service, &id);
        if let Err(err) = engine.tag(&release.image_id, &repo, &tag).await {
            ctx.printer.warn(&format!(
                "cannot keep the image of {service} for rollback: {}",
                crate::error::describe(&err).0
            ));
        }
    }
    let history = crate::release::record(
        &path,
        Release {
            id: id.clone(),
            time: now,
            environment: ctx.settings().environment.clone(),
            host: crate::notify::hostname(),
            operator: crate::incident::operator(&ctx.settings().incident),
            kind: kind.to_string(),
            services,
            passed,
            networks: project.model.networks.clone(),
            volumes: project.model.volumes.clone(),
            secrets: project.model.secrets.clone(),
            configs: project.model.configs.clone(),
        },
    )?;
    for old in history.beyond(ctx.settings().deploy.keep_releases) {
        for service in old.services.keys() {
            let (repo, tag) = crate::release::image_tag(project_name, service, &old.id);
            let _ = engine.untag(&format!("{repo}:{tag}")).await;
        }
    }
    Ok(id)
}

/// How to run a release's service again: its kept tag when the engine still has it (else
/// the image ID), the name it was deployed as, and its environment then.
pub(super) async fn pinned(
    engine: &Engine,
    project: &str,
    service: &str,
    release: &Release,
) -> Result<Option<Pin>> {
    let Some(entry) = release.services.get(service) else {
        return Ok(None);
    };
    let (repo, tag) = crate::release::image_tag(project, service, &release.id);
    let kept = format!("{repo}:{tag}");
    let reference = if engine.image_id(&kept).await?.is_some() {
        kept
    } else {
        entry.image_id.clone()
    };
    Ok(Some(Pin {
        reference,
        image_id: entry.image_id.clone(),
        deployed_as: Some(entry.image.clone()),
        environment: entry.environment.clone(),
    }))
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

/// A service of a listed release: what it ran, never its environment.
#[derive(Debug, Serialize)]
struct ServiceRow<'a> {
    image: &'a str,
    image_id: &'a str,
    replicas: u32,
}

#[derive(Debug, Serialize)]
struct ReleaseRow<'a> {
    id: &'a str,
    time: chrono::DateTime<chrono::Utc>,
    environment: &'a str,
    host: &'a str,
    operator: &'a str,
    kind: &'a str,
    /// Whether it passed its gate (false: a failed deploy left running).
    passed: bool,
    services: BTreeMap<&'a str, ServiceRow<'a>>,
    current: bool,
    /// Whether every image of the release is still on the engine (null: unknown).
    images_kept: Option<bool>,
}

/// Whether the engine still has every image of a release.
async fn images_kept(engine: &Engine, project: &str, release: &Release) -> Result<bool> {
    for (service, entry) in &release.services {
        let by_tag = pinned(engine, project, service, release)
            .await?
            .is_some_and(|pin| pin.reference != pin.image_id);
        if !by_tag && engine.image_id(&entry.image_id).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) async fn list_releases(
    ctx: &Context,
    engine: Option<&Engine>,
    project: &str,
    history: &History,
    candidates_only: bool,
) -> Result<ExitStatus> {
    let current = history.newest().map(|r| r.id.clone());
    let mut sorted: Vec<&Release> = history.releases.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.time));
    let mut rows = Vec::new();
    for release in sorted {
        let is_current = Some(&release.id) == current.as_ref();
        if candidates_only && (is_current || !release.passed) {
            continue;
        }
        let kept = match engine {
            Some(engine) => Some(images_kept(engine, project, release).await?),
            None => None,
        };
        rows.push(ReleaseRow {
            id: &release.id,
            time: release.time,
            environment: &release.environment,
            host: &release.host,
            operator: &release.operator,
            kind: &release.kind,
            passed: release.passed,
            services: release
                .services
                .iter()
                .map(|(name, s)| {
                    (
                        name.as_str(),
                        ServiceRow {
                            image: &s.image,
                            image_id: &s.image_id,
                            replicas: s.replicas,
                        },
                    )
                })
                .collect(),
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
                        .services
                        .iter()
                        .map(|(s, r)| {
                            let short = r.image_id.trim_start_matches("sha256:");
                            let scale = if r.replicas == 1 {
                                String::new()
                            } else {
                                format!(" x{}", r.replicas)
                            };
                            format!("{s}={} ({}){scale}", r.image, &short[..12.min(short.len())])
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut id = row.id.to_string();
                    if row.current {
                        id.push_str(" (current)");
                    }
                    let kind = if row.passed {
                        row.kind.to_string()
                    } else {
                        format!("{} (failed)", row.kind)
                    };
                    vec![
                        Cell::new(id),
                        Cell::new(row.time.format("%Y-%m-%d %H:%M:%S UTC")),
                        Cell::new(kind),
                        Cell::new(row.operator),
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
