//! `gymops check daily|weekly`: the guide's checklists (section 5.1) as one report. Every
//! part runs even when another fails; a part that cannot be checked is an UNKNOWN finding
//! that says why. Each finding that is not OK says what to do.

use std::path::Path;

use anyhow::Result;
use chrono::Utc;
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::checklist::{self, unknown, BackupDir, Finding};
use crate::cli::{CheckArgs, Checklist};
use crate::docker::logs::LogRequest;
use crate::docker::{Engine, ServiceState};
use crate::exit::{ExitStatus, Status};
use crate::hostfs::measure;
use crate::logs::retention::{kind, FileKind};
use crate::logs::stats::{Collector, StatsOptions};
use crate::output::{OutputFormat, Printer};
use crate::pg::insight::{read_only, run_view, DbView};
use crate::probe::{self, HealthPlan};

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub checklist: Checklist,
    pub status: Status,
    pub checked_at: String,
    pub findings: Vec<Finding>,
}

pub async fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitStatus> {
    let report = report(ctx, args.checklist).await;
    let status = report.status;
    ctx.printer.emit_checked(
        status,
        &report,
        args.output_file.path.as_deref(),
        |printer| render(printer, &report),
    )?;
    Ok(status)
}

/// The checklist's report: every part, each that cannot be checked an UNKNOWN finding.
pub(crate) async fn report(ctx: &Context, checklist: Checklist) -> CheckReport {
    let engine = ctx.engine().await;
    let mut findings = match checklist {
        Checklist::Daily => daily(ctx, engine.as_ref().ok().copied()).await,
        Checklist::Weekly => weekly(ctx, engine.as_ref().ok().copied()).await,
    };
    if let Err(err) = &engine {
        findings.insert(0, unknown("docker", "engine", err));
    }
    CheckReport {
        checklist,
        status: Status::combine(findings.iter().map(|f| f.status)),
        checked_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        findings,
    }
}

async fn daily(ctx: &Context, engine: Option<&Engine>) -> Vec<Finding> {
    let settings = ctx.settings();
    let mut findings = Vec::new();
    // 1-2. Services and health: every probe of `gymops health`.
    match probe::run(
        settings,
        &ctx.clients,
        &HealthPlan {
            groups: Vec::new(),
            services: Vec::new(),
            endpoints: Vec::new(),
        },
    )
    .await
    {
        Ok(report) => findings.extend(checklist::health(report)),
        Err(err) => findings.push(unknown("health", "probes", &err)),
    }
    // 3. Resource use, as `gymops monitor`.
    if let Some(engine) = engine {
        let thresholds = crate::commands::monitor::Thresholds {
            cpu_percent: settings.monitor.cpu_percent,
            memory_percent: settings.monitor.memory_percent,
            disk_percent: settings.monitor.disk_percent,
        };
        match crate::commands::monitor::round(ctx, engine, &thresholds).await {
            Ok(round) => {
                for f in round
                    .findings
                    .into_iter()
                    .filter(|f| f.check == "cpu" || f.check == "memory")
                {
                    findings.push(checklist::resource(&f.check, &f.target, f.status, f.detail));
                }
            }
            Err(err) => findings.push(unknown("resources", "containers", &err)),
        }
    }
    // 4. Disk.
    let (warning, critical) = (
        settings.disk.warning_percent,
        settings.disk.critical_percent,
    );
    let mut disks = vec![("host /".to_string(), Path::new("/").to_path_buf())];
    disks.push((
        "backups".into(),
        ctx.loaded.resolve_path(&settings.backup.dir),
    ));
    for (name, path) in disks {
        let fs = measure(&name, &path, warning, critical);
        findings.push(checklist::disk(&name, &fs));
    }
    // 5. Errors in the last 24 hours of the services' logs; 6. their log rotation. One
    // look at the services serves both.
    if let Some(engine) = engine {
        let states = engine.service_states(ctx.settings(), &[]).await;
        findings.extend(errors_last_day(engine, &states).await);
        findings.extend(log_rotation(ctx, engine, &states).await);
    }
    findings
}

/// Whether each service's log (and the engine's default) is rotated: a json-file log with
/// no max-size fills the disk in the end.
async fn log_rotation(
    ctx: &Context,
    engine: &Engine,
    states: &Result<Vec<ServiceState>>,
) -> Vec<Finding> {
    let settings = ctx.settings();
    let mut findings = Vec::new();
    match states {
        Ok(states) => {
            let mut seen = std::collections::BTreeSet::new();
            for state in states {
                let Some((driver, options)) =
                    state.container.as_ref().and_then(|c| c.logging.as_ref())
                else {
                    continue;
                };
                // A replica's logging is its service's.
                if seen.insert(state.service.clone()) {
                    findings.push(checklist::log_rotation(&state.service, driver, options));
                }
            }
        }
        Err(err) => findings.push(unknown("logs", "log rotation", err)),
    }
    // The default for containers created without a logging section, from daemon.json when
    // the engine is this host's system engine and the file can be read (its defaults are in
    // each existing container's settings already). Another socket is another dockerd, with
    // a config file of its own.
    if engine.address == "unix:///var/run/docker.sock" {
        let driver = engine
            .get_json(&settings.docker, "/info")
            .await
            .ok()
            .and_then(|info| info.get("LoggingDriver")?.as_str().map(str::to_string));
        if let (Some(driver), Some(options)) = (driver, daemon_log_options()) {
            findings.push(checklist::daemon_log_rotation(&driver, &options));
        }
    }
    findings
}

/// `log-opts` of /etc/docker/daemon.json (none when the file does not exist: the engine's
/// defaults); None when it cannot be read or parsed.
fn daemon_log_options() -> Option<std::collections::BTreeMap<String, String>> {
    let path = Path::new("/etc/docker/daemon.json");
    if !path.exists() {
        return Some(Default::default());
    }
    let bytes = crate::fsutil::read_regular_file(path, "daemon.json", 1 << 20).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        config
            .get("log-opts")
            .and_then(|o| o.as_object())
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// ERROR (and FATAL, PANIC, SEVERE) events of the last 24 hours, a finding per service that
/// has a container: the backend's exceptions and PostgreSQL's FATALs alike.
async fn errors_last_day(engine: &Engine, states: &Result<Vec<ServiceState>>) -> Vec<Finding> {
    let states = match states {
        Ok(states) => states,
        Err(err) => return vec![unknown("logs", "errors in 24h", err)],
    };
    let mut findings = Vec::new();
    for state in states {
        let Some(container) = &state.container else {
            continue;
        };
        findings.push(errors_of(engine, &state.service, &container.name).await);
    }
    findings
}

async fn errors_of(engine: &Engine, service: &str, container: &str) -> Finding {
    let since = Utc::now().timestamp() - 86_400;
    let result = async {
        let mut collector = Collector::new(StatsOptions {
            since: Some(since),
            until: None,
            top: 3,
            topics: Vec::new(),
            prefer_source_time: true,
        });
        let request = LogRequest {
            follow: false,
            since,
            until: 0,
            tail: None,
        };
        engine
            .log_lines(container, &request, |line| {
                collector.line(&line.text, line.nanos.map(|n| n.div_euclid(1_000_000_000)))
            })
            .await?;
        Ok::<_, anyhow::Error>(collector.finish())
    }
    .await;
    match result {
        Ok(stats) => checklist::errors(service, &stats),
        Err(err) => unknown("logs", &crate::say!("errors in 24h ({service})"), &err),
    }
}

async fn weekly(ctx: &Context, engine: Option<&Engine>) -> Vec<Finding> {
    let settings = ctx.settings();
    let mut findings = vec![backups(&ctx.loaded.resolve_path(&settings.backup.dir))];
    // Log files older than 7 days in the backend's log directory.
    if let Some(engine) = engine {
        let target = crate::cli::LogsFilesArgs {
            service: None,
            dir: None,
        };
        let item = crate::say!("log files older than 7 days ({})", settings.logs.dir);
        match crate::commands::logs::files::target(ctx, engine, &target).await {
            Ok(target) => match crate::commands::logs::files::list(engine, &target).await {
                Ok(files) => {
                    let week_ago = Utc::now().timestamp() - 7 * 86_400;
                    let old: Vec<_> = files
                        .iter()
                        .filter(|f| kind(&f.name) != FileKind::Active && f.modified < week_ago)
                        .collect();
                    let bytes: u64 = old.iter().map(|f| f.size).sum();
                    findings.push(checklist::old_logs(&item, old.len(), bytes));
                }
                Err(err) => findings.push(unknown("logs", &item, &err)),
            },
            Err(err) => findings.push(unknown("logs", &item, &err)),
        }
        let states = engine.service_states(settings, &[]).await;
        findings.extend(log_rotation(ctx, engine, &states).await);
    }
    // Write-heavy tables and roles about to expire.
    match crate::pg::connect(&settings.postgres, settings.postgres.connect_timeout).await {
        Ok(client) => {
            if let Err(err) = read_only(&client, std::time::Duration::from_secs(30)).await {
                findings.push(unknown("database", "session", &err));
                return findings;
            }
            match run_view(&client, DbView::Writes, 5, 7).await {
                Ok(view) => {
                    let top: Vec<String> = view
                        .rows
                        .iter()
                        .map(|r| format!("{} {}", r["table"].as_str().unwrap_or("?"), r["writes"]))
                        .collect();
                    findings.push(checklist::write_heavy(&top));
                }
                Err(err) => findings.push(unknown("database", "write-heavy tables", &err)),
            }
            match run_view(&client, DbView::Roles, 20, 7).await {
                Ok(view) => {
                    let expiring: Vec<(String, String, f64)> = view
                        .rows
                        .iter()
                        .map(|row| {
                            (
                                row["role"].as_str().unwrap_or("?").to_string(),
                                row["valid_until"].as_str().unwrap_or("?").to_string(),
                                row["days_left"].as_f64().unwrap_or(0.0),
                            )
                        })
                        .collect();
                    findings.extend(checklist::roles(&expiring));
                }
                Err(err) => findings.push(unknown("database", "roles", &err)),
            }
        }
        Err(err) => findings.push(unknown("database", "connection", &err)),
    }
    findings
}

/// The newest backup file in `dir` (named `*_db_backup_*`, not a manifest), judged by
/// [`checklist::backups`].
fn backups(dir: &Path) -> Finding {
    let item = crate::say!("backups in {}", dir.display());
    let seen = match crate::backup::catalog::newest_local(dir) {
        Ok(newest) => BackupDir::Newest(newest),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => BackupDir::Missing,
        Err(err) => BackupDir::Unreadable(err.to_string()),
    };
    checklist::backups(&item, seen)
}

pub(crate) const HEADERS: &[&str] = &["AREA", "ITEM", "STATUS", "DETAIL", "WHAT TO DO"];

/// A row per finding the printer shows.
pub(crate) fn rows(printer: &Printer, report: &CheckReport) -> Vec<Vec<Cell>> {
    report
        .findings
        .iter()
        .filter(|f| printer.shows(f.status))
        .map(|f| {
            vec![
                Cell::new(&f.area),
                Cell::new(&f.item),
                printer.status_cell(f.status),
                Cell::new(&f.detail),
                Cell::new(&f.action),
            ]
        })
        .collect()
}

fn render(printer: &Printer, report: &CheckReport) -> String {
    let title = crate::i18n::text(&match report.checklist {
        Checklist::Daily => crate::say!("Daily check"),
        Checklist::Weekly => crate::say!("Weekly check"),
    });
    let mut text = if printer.format == OutputFormat::Markdown {
        format!(
            "# {title} — {} — {}\n\n",
            report.checked_at,
            report.status.label()
        )
    } else {
        String::new()
    };
    text.push_str(&printer.table(HEADERS, rows(printer, report)));
    if printer.format != OutputFormat::Markdown {
        let (status, at) = (report.status.display(), &report.checked_at);
        text.push_str(&crate::i18n::tr_args(
            "check-summary",
            &[
                ("title", title.clone()),
                ("status", status),
                ("at", at.clone()),
            ],
        ));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_backup_directory_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let finding = backups(&dir.path().join("never-made"));
        assert_eq!(finding.status, Status::Critical);
        assert!(
            finding.detail.contains("does not exist"),
            "{}",
            finding.detail
        );
    }
}
