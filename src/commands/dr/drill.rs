//! `gymops dr drill` (guide 8.6): restore the newest backup into a scratch stack — the
//! newest base backup and the WAL archive into a new PostgreSQL container, or, with only
//! logical backups, the newest dump into a scratch database — check it, compare its rows
//! with the live database at the recovery point, measure RTO and RPO, write the record.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use chrono::Utc;
use comfy_table::Cell;

use super::super::Context;
use crate::backup::drill::{self, Check, DrillReport};
use crate::backup::pitr::plan::Target;
use crate::backup::wal::Lsn;
use crate::cli::DrDrillArgs;
use crate::commands::backup::{self as backup_commands, pitr, verify};
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::pg::replication;

pub async fn run(ctx: &Context, args: &DrDrillArgs) -> Result<ExitStatus> {
    let clock = Instant::now();
    let started_at = Utc::now();
    let project = format!(
        "gymops-drill-{}",
        chrono::Local::now().format("%Y%m%d%H%M%S")
    );
    let mut report = DrillReport {
        status: Status::Ok,
        started_at,
        finished_at: started_at,
        method: String::new(),
        backup: None,
        wal_segments: 0,
        restored_into: None,
        kept: args.keep,
        recovery_point: None,
        rto_seconds: None,
        rpo_seconds: None,
        checks: Vec::new(),
        tables: Vec::new(),
        error: None,
    };
    let outcome = match pitr::base_candidates(ctx, args.key.trust_unsigned) {
        Err(err) => Err(err),
        // The logical restore test ends itself on Ctrl-C (rolled back, database dropped).
        Ok(bases) if bases.is_empty() => logical(ctx, args, clock, &mut report).await,
        // Interrupted, the drill still removes its scratch stack and records that it failed.
        Ok(_) => tokio::select! {
            outcome = drill(ctx, args, &project, clock, &mut report) => outcome,
            signal = crate::signals::terminated() => Err(anyhow!("interrupted by {signal}")),
        },
    };
    if let Err(err) = outcome {
        report.error = Some(crate::error::describe(&err).0);
    }
    if report.method == "base+wal" && !args.keep {
        if let Ok(engine) = ctx.engine().await {
            crate::backup::pitr::remove(engine, &project).await;
        }
        report.kept = false;
    }
    report.finished_at = Utc::now();
    drill::verdict(&mut report);
    let dir = match &args.report_dir {
        Some(dir) => dir.clone(),
        None => ctx
            .loaded
            .resolve_path(&ctx.settings().backup.dir)
            .join("drills"),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|err| anyhow!("cannot create {}: {err}", dir.display()))?;
    let stem = format!(
        "dr-drill-{}",
        report
            .started_at
            .with_timezone(&chrono::Local)
            .format("%Y%m%d")
    );
    let markdown = dir.join(format!("{stem}.md"));
    crate::fsutil::write_atomic(&markdown, drill::markdown(&report).as_bytes(), Some(0o644))?;
    crate::fsutil::write_atomic(
        &dir.join(format!("{stem}.json")),
        Printer::json(&report)?.as_bytes(),
        Some(0o644),
    )?;
    ctx.printer
        .emit_checked(report.status, &report, None, |printer| {
            render(printer, &report)
        })?;
    if let Some(error) = &report.error {
        ctx.printer.warn(&crate::say!("the drill failed: {error}"));
    }
    ctx.printer
        .note(&crate::say!("drill record: {}", markdown.display()));
    if report.kept {
        if let Some(into) = &report.restored_into {
            let (container, volume, network) = crate::backup::pitr::names(into);
            ctx.printer.note(&crate::say!(
                "the scratch stack is kept: remove it with `docker rm -f {container}`, `docker volume rm {volume}`, `docker network rm {network}`"
            ));
        }
    }
    Ok(report.status)
}

/// The newest base backup and the WAL, restored to the live database's position of one
/// snapshot, checked against it.
async fn drill(
    ctx: &Context,
    args: &DrDrillArgs,
    project: &str,
    clock: Instant,
    report: &mut DrillReport,
) -> Result<()> {
    let settings = ctx.settings();
    let pg = &settings.postgres;
    report.method = "base+wal".into();
    let live = crate::pg::connect(pg, pg.connect_timeout).await?;
    // The live rows and WAL position in one snapshot: the restore is taken to exactly
    // that position and must have exactly these rows.
    live.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?;
    let lsn: String = live
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    let tables = crate::backup::sql::user_tables(&live).await?;
    let live_counts: BTreeMap<String, u64> = crate::backup::sql::count_rows(&live, &tables).await?;
    live.batch_execute("COMMIT").await?;
    let live_at = Utc::now();
    let snapshot_clock = Instant::now();
    let streaming = replication::streaming(&live).await?.is_some();
    let target = if streaming {
        // A record after that position for recovery to stop at: an empty transaction's
        // commit (it changes no table).
        live.batch_execute("SELECT pg_current_xact_id()").await?;
        let end: Lsn = live
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await?
            .get::<_, String>(0)
            .parse()?;
        // RPO: how long until the archive holds that commit.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let flushed = replication::streaming(&live)
                .await?
                .and_then(|s| s.flush_lsn)
                .and_then(|l| l.parse::<Lsn>().ok());
            if flushed.is_some_and(|f| f >= end) {
                report.rpo_seconds = Some(snapshot_clock.elapsed().as_secs_f64());
                break;
            }
            if Instant::now() >= deadline {
                return Err(anyhow!(
                    "the WAL receiver did not receive the drill's commit within 60 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        report.recovery_point = Some(live_at);
        Target::Lsn(lsn.parse()?)
    } else {
        ctx.printer.note(
            "no WAL receiver streams: the drill restores to the end of the archive, and rows written since then differ",
        );
        Target::Latest
    };
    let restored = pitr::restore_with(
        ctx,
        None,
        target,
        project.to_string(),
        args.timeout,
        &args.key,
    )
    .await?;
    report.backup = Some(restored.base_backup.clone());
    report.wal_segments = restored.segments;
    report.restored_into = Some(restored.project.clone());
    if report.recovery_point.is_none() {
        report.recovery_point = restored.recovery_point;
        report.rpo_seconds = restored
            .recovery_point
            .map(|point| (Utc::now() - point).num_milliseconds() as f64 / 1000.0);
    }
    report.checks.push(Check {
        check: "postgres".into(),
        status: Status::Ok,
        detail: crate::say!(
            "{} accepts connections at {}, recovery finished at {}",
            restored.container,
            restored.address,
            restored.lsn
        ),
    });
    report.checks.push(Check {
        check: "database".into(),
        status: if restored.tables.is_empty() && !live_counts.is_empty() {
            Status::Critical
        } else {
            Status::Ok
        },
        detail: crate::say!(
            "{} tables, {} rows in {}",
            restored.tables.len(),
            restored.rows,
            pg.database
        ),
    });
    report.tables = drill::compare(&restored.tables, &live_counts);
    backend(ctx, project, report).await?;
    // RTO: until everything restored answers its checks.
    report.rto_seconds = Some(clock.elapsed().as_secs_f64());
    Ok(())
}

/// A copy of the backend on the restored database, when its container (its image) is
/// there: the API's health endpoints must answer as they do live.
async fn backend(ctx: &Context, project: &str, report: &mut DrillReport) -> Result<()> {
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    let service = &settings.backend.service;
    let live = match crate::commands::found_container(ctx, engine, service).await {
        Ok(live) => live,
        Err(err) => {
            report.checks.push(Check {
                check: "backend".into(),
                status: Status::Ok,
                detail: crate::say!(
                    "not started: no {service} container to take the image from ({})",
                    crate::error::describe(&err).0
                ),
            });
            return Ok(());
        }
    };
    let template = engine.inspect(&live.name).await?;
    // The container port behind backend.url's port; else the first it exposes.
    let url_port = settings
        .backend
        .url
        .port_or_known_default()
        .unwrap_or(80)
        .to_string();
    let container_port = template
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.clone())
        .and_then(|ports| {
            ports.into_iter().find_map(|(port, bindings)| {
                bindings?
                    .iter()
                    .any(|b| b.host_port.as_deref() == Some(url_port.as_str()))
                    .then_some(port)
            })
        })
        .or_else(|| {
            template
                .config
                .as_ref()
                .and_then(|c| c.exposed_ports.clone())
                .and_then(|ports| ports.into_iter().next())
        })
        .unwrap_or_else(|| format!("{url_port}/tcp"));
    let (name, port) =
        crate::backup::pitr::start_companion(engine, project, service, &template, &container_port)
            .await?;
    let Some(port) = port else {
        report.checks.push(Check {
            check: "backend".into(),
            status: Status::Critical,
            detail: crate::say!("{name} publishes no port for {container_port}"),
        });
        return Ok(());
    };
    let http = ctx.http()?;
    let endpoints: Vec<(String, String)> = settings
        .backend
        .endpoint_urls()
        .into_iter()
        .filter_map(|(endpoint, url)| {
            let mut url = url::Url::parse(&url).ok()?;
            url.set_host(Some("127.0.0.1")).ok()?;
            url.set_port(Some(port)).ok()?;
            Some((endpoint, url.to_string()))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut results = Vec::new();
        for (endpoint, url) in &endpoints {
            let spec = crate::probe::http::HttpProbe {
                check: crate::probe::CheckKind::Api,
                name: endpoint.clone(),
                service: Some(service.clone()),
                url: url.clone(),
                on_failure: Status::Critical,
                slow_threshold: settings.health.slow_threshold,
            };
            results.push(crate::probe::http::probe(http, &spec, settings.health.timeout).await);
        }
        let healthy = results.iter().all(|r| r.status != Status::Critical);
        if healthy || Instant::now() >= deadline {
            for result in results {
                report.checks.push(Check {
                    check: format!("api {}", result.name),
                    status: result.status,
                    detail: crate::say!("{name}: {} {}", result.target, result.summary),
                });
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Only logical backups: the newest restored into a scratch database and compared with
/// its manifest.
async fn logical(
    ctx: &Context,
    args: &DrDrillArgs,
    clock: Instant,
    report: &mut DrillReport,
) -> Result<()> {
    report.method = "logical".into();
    let newest = backup_commands::list::local_entries(ctx)?
        .into_iter()
        .find(|e| e.manifest.as_ref().is_some_and(|m| m.base.is_none()))
        .ok_or_else(|| anyhow!("there is no backup to drill with"))?;
    let source = crate::backup::restore::Source::Local(newest.location.clone().into());
    let manifest = source.manifest().await?;
    backup_commands::authenticate(ctx, &source, manifest.as_ref(), args.key.trust_unsigned)?;
    let shape = crate::backup::restore::shape(&source.name(), manifest.as_ref());
    let key = backup_commands::key(ctx, &args.key)?;
    let decrypt = crate::backup::restore::decrypt_for(&shape, manifest.as_ref(), &key)?;
    report.backup = Some(newest.name.clone());
    let test =
        verify::restore_test(ctx, false, &source, &shape, manifest.as_ref(), decrypt).await?;
    report.rto_seconds = Some(clock.elapsed().as_secs_f64());
    report.restored_into = Some(test.database.clone());
    if let Some(manifest) = &manifest {
        report.recovery_point = Some(manifest.started_at);
        report.rpo_seconds =
            Some((Utc::now() - manifest.started_at).num_milliseconds() as f64 / 1000.0);
    }
    report.checks.push(Check {
        check: "restore".into(),
        status: if test.problems.is_empty() {
            Status::Ok
        } else {
            Status::Critical
        },
        detail: if test.problems.is_empty() {
            crate::say!(
                "{} tables, {} rows as in the backup (scratch database dropped)",
                test.tables,
                test.rows
            )
        } else {
            test.problems.join("; ")
        },
    });
    Ok(())
}

fn render(printer: &Printer, report: &DrillReport) -> String {
    let differing = report
        .tables
        .iter()
        .filter(|t| t.status != Status::Ok)
        .count();
    let rows: Vec<Vec<Cell>> = [
        ("status", report.status.display()),
        ("method", report.method.clone()),
        (
            "backup",
            report.backup.clone().unwrap_or_else(|| "-".into()),
        ),
        ("wal segments", report.wal_segments.to_string()),
        (
            "restored into",
            report.restored_into.clone().unwrap_or_else(|| "-".into()),
        ),
        ("recovery point", drill::time(report.recovery_point)),
        ("rto", drill::seconds(report.rto_seconds)),
        ("rpo", drill::seconds(report.rpo_seconds)),
        (
            "rows",
            crate::say!(
                "{} tables compared, {} differ",
                report.tables.len(),
                differing
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::new(crate::i18n::header(k)), Cell::new(v)])
    .collect();
    printer.table(&["DRILL", ""], rows)
}
