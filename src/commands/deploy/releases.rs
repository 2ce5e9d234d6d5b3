//! `gymops releases` (and `rollback --list`): the history, newest first, and whether the
//! engine still keeps each release's images.

use std::collections::BTreeMap;

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::{project_name, releases_path, Context};
use crate::deploy::releases::{images_kept, History, Release, ReleaseKind};
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};

pub async fn releases(ctx: &Context) -> Result<ExitStatus> {
    let history = crate::deploy::releases::load(&releases_path(ctx))?;
    // The history is a file: list it even when the engine cannot say which images it keeps.
    let engine = match ctx.engine().await {
        Ok(engine) => Some(engine),
        Err(err) => {
            ctx.printer.warn(&format!(
                "cannot tell which images are kept: {}",
                crate::error::describe(&err).0
            ));
            None
        }
    };
    list_releases(ctx, engine, &project_name(ctx), &history, false).await
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
    kind: ReleaseKind,
    /// Whether it passed its gate (false: a failed deploy left running).
    passed: bool,
    services: BTreeMap<&'a str, ServiceRow<'a>>,
    current: bool,
    /// Whether every image of the release is still on the engine (null: unknown).
    images_kept: Option<bool>,
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
            kind: release.kind,
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
            let place = place.display();
            return crate::i18n::text(&crate::say!(
                "no releases yet in {place}: `gymops up` records one"
            )) + "\n";
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
                        row.kind.label().to_string()
                    } else {
                        format!("{} (failed)", row.kind.label())
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
