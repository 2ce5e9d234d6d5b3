//! `gymops check daily|weekly`: the guide's checklists (section 5.1) as one report. Every
//! part runs even when another fails; a part that cannot be checked is an UNKNOWN finding
//! that says why. Each finding that is not OK says what to do.

use std::path::Path;

use anyhow::Result;
use chrono::Utc;
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::{CheckArgs, Checklist};
use crate::docker::logs::LogRequest;
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::hostfs::measure;
use crate::logs::retention::{kind, FileKind};
use crate::logs::stats::{Collector, StatsOptions};
use crate::output::{OutputFormat, Printer};
use crate::pg::insight::{read_only, run_view, DbView};
use crate::probe::{self, HealthPlan};

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub area: String,
    pub item: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it (empty when OK).
    pub action: String,
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub checklist: Checklist,
    pub status: Status,
    pub checked_at: String,
    pub findings: Vec<Finding>,
}

fn finding(
    area: &str,
    item: &str,
    status: Status,
    detail: impl Into<String>,
    action: impl Into<String>,
) -> Finding {
    let action = if status == Status::Ok {
        String::new()
    } else {
        action.into()
    };
    Finding {
        area: area.into(),
        item: item.into(),
        status,
        detail: detail.into(),
        action,
    }
}

fn unknown(area: &str, item: &str, err: &anyhow::Error) -> Finding {
    let (message, hint) = crate::error::describe(err);
    finding(
        area,
        item,
        Status::Unknown,
        message,
        hint.unwrap_or_else(|| "fix what stops the check, then run it again".into()),
    )
}

pub async fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitStatus> {
    let engine = ctx.engine().await;
    let findings = match args.checklist {
        Checklist::Daily => daily(ctx, engine.as_ref().ok().copied()).await,
        Checklist::Weekly => weekly(ctx, engine.as_ref().ok().copied()).await,
    };
    let mut findings = findings;
    if let Err(err) = &engine {
        findings.insert(0, unknown("docker", "engine", err));
    }
    let status = Status::combine(findings.iter().map(|f| f.status));
    let report = CheckReport {
        checklist: args.checklist,
        status,
        checked_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        findings,
    };
    ctx.printer
        .emit_checked(status, &report, args.output_file.as_deref(), |printer| {
            render(printer, &report)
        })?;
    Ok(status)
}

async fn daily(ctx: &Context, engine: Option<&Engine>) -> Vec<Finding> {
    let settings = ctx.settings();
    let mut findings = Vec::new();
    // 1-2. Services and health: every probe of `gymops health`.
    match probe::run(
        settings,
        &HealthPlan {
            groups: Vec::new(),
            services: Vec::new(),
            endpoints: Vec::new(),
        },
    )
    .await
    {
        Ok(report) => {
            for check in report
                .checks
                .into_iter()
                .filter(|c| c.check != probe::CheckKind::Docker || c.status != Status::Ok)
            {
                let kind = check.check.label();
                let action = check.hint.clone().unwrap_or_else(|| {
                    format!("look closer: `gymops health --check {}`", group_of(kind))
                });
                findings.push(finding(
                    "health",
                    &format!("{kind} {}", check.name),
                    check.status,
                    check.summary,
                    action,
                ));
            }
        }
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
                    findings.push(finding(
                        "resources",
                        &format!("{} {}", f.check, f.target),
                        f.status,
                        f.detail,
                        format!(
                            "see what uses it: `gymops perf stats {}`, `gymops logs {} --since 1h`",
                            f.target, f.target
                        ),
                    ));
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
        let detail = match fs.used_percent {
            Some(percent) => format!(
                "{} used {percent:.1}%",
                fs.measured.clone().unwrap_or(fs.path.clone())
            ),
            None => fs.note.clone(),
        };
        findings.push(finding(
            "disk",
            &name,
            fs.status,
            detail,
            "free space: `gymops disk`, `gymops logs clean`, `docker system prune`",
        ));
    }
    // 5. Errors in the last 24 hours of the backend's log.
    if let Some(engine) = engine {
        findings.extend(errors_last_day(ctx, engine).await);
    }
    findings
}

fn group_of(kind: &str) -> &str {
    match kind {
        "docker" | "container" => "containers",
        other => other,
    }
}

/// ERROR (and FATAL, PANIC, SEVERE) events of the last 24 hours, a finding per service that
/// has a container: the backend's exceptions and PostgreSQL's FATALs alike.
async fn errors_last_day(ctx: &Context, engine: &Engine) -> Vec<Finding> {
    let settings = ctx.settings();
    let names: Vec<String> = settings.services.keys().cloned().collect();
    let states = match engine.service_states(settings, &names).await {
        Ok(states) => states,
        Err(err) => return vec![unknown("logs", "errors in 24h", &err)],
    };
    let mut findings = Vec::new();
    for state in states {
        let Some(container) = state.container else {
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
            topic: None,
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
        Ok(stats) if stats.levels.error == 0 => finding(
            "logs",
            &format!("errors in 24h ({service})"),
            Status::Ok,
            format!("no ERROR in {} events", stats.events),
            "",
        ),
        Ok(stats) => {
            let top: Vec<String> = stats
                .top_errors
                .iter()
                .map(|g| format!("{}x {}", g.count, g.example))
                .collect();
            finding(
                "logs",
                &format!("errors in 24h ({service})"),
                Status::Warning,
                format!("{} ERROR events: {}", stats.levels.error, top.join("; ")),
                format!("`gymops logs stats {service} --since 24h`, then `gymops logs {service} --since 24h --level error`"),
            )
        }
        Err(err) => unknown("logs", &format!("errors in 24h ({service})"), &err),
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
        let item = format!("log files older than 7 days ({})", settings.logs.dir);
        match crate::commands::logs::files::target(ctx, engine, &target).await {
            Ok(target) => match crate::commands::logs::files::list(engine, &target).await {
                Ok(files) => {
                    let week_ago = Utc::now().timestamp() - 7 * 86_400;
                    let old: Vec<_> = files
                        .iter()
                        .filter(|f| kind(&f.name) != FileKind::Active && f.modified < week_ago)
                        .collect();
                    let bytes: u64 = old.iter().map(|f| f.size).sum();
                    let status = if old.is_empty() {
                        Status::Ok
                    } else {
                        Status::Warning
                    };
                    findings.push(finding(
                        "logs",
                        &item,
                        status,
                        format!("{} files, {}", old.len(), crate::output::human_bytes(bytes)),
                        "`gymops logs clean --dry-run`, then `gymops logs clean`",
                    ));
                }
                Err(err) => findings.push(unknown("logs", &item, &err)),
            },
            Err(err) => findings.push(unknown("logs", &item, &err)),
        }
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
                    findings.push(finding(
                        "database",
                        "write-heavy tables",
                        Status::Ok,
                        if top.is_empty() {
                            "no tables".into()
                        } else {
                            top.join(", ")
                        },
                        "",
                    ));
                }
                Err(err) => findings.push(unknown("database", "write-heavy tables", &err)),
            }
            match run_view(&client, DbView::Roles, 20, 7).await {
                Ok(view) if view.rows.is_empty() => {
                    findings.push(finding(
                        "database",
                        "roles expiring in 7 days",
                        Status::Ok,
                        "none",
                        "",
                    ));
                }
                Ok(view) => {
                    for row in &view.rows {
                        let role = row["role"].as_str().unwrap_or("?");
                        let days = row["days_left"].as_f64().unwrap_or(0.0);
                        let status = if days < 0.0 {
                            Status::Critical
                        } else {
                            Status::Warning
                        };
                        findings.push(finding(
                            "database",
                            &format!("role {role}"),
                            status,
                            expiry_detail(row["valid_until"].as_str().unwrap_or("?"), days),
                            format!("renew it: ALTER ROLE \"{}\" VALID UNTIL '<date>' (or rotate the password)", role.replace('"', "\"\"")),
                        ));
                    }
                }
                Err(err) => findings.push(unknown("database", "roles", &err)),
            }
        }
        Err(err) => findings.push(unknown("database", "connection", &err)),
    }
    findings
}

/// `password valid until DATE (expires in 3.5 days)` / `(expired 2 days ago)`.
fn expiry_detail(valid_until: &str, days_left: f64) -> String {
    if days_left < 0.0 {
        format!(
            "password valid until {valid_until} (expired {:.0} day(s) ago)",
            (-days_left).ceil()
        )
    } else {
        format!("password valid until {valid_until} (expires in {days_left:.1} days)")
    }
}

/// The newest backup file in `dir` (named `*_db_backup_*`, not a manifest): fresh within 26 h
/// is OK, within 7 days a warning, older or none critical.
fn backups(dir: &Path) -> Finding {
    let item = format!("backups in {}", dir.display());
    let action = "check the nightly backup job and its log; run a backup now";
    let files = match crate::backup::catalog::list_local(dir) {
        Ok(files) => files,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return finding(
            "backups",
            &item,
            Status::Critical,
            "the backup directory does not exist: no backup was ever taken here (check backup.dir)"
                .to_string(),
            action,
        ),
        Err(err) => {
            return finding(
                "backups",
                &item,
                Status::Critical,
                format!("cannot read the directory: {err}"),
                action,
            )
        }
    };
    let newest = files
        .into_iter()
        .next()
        .map(|file| (file.name, file.size, file.modified));
    match newest {
        None => finding(
            "backups",
            &item,
            Status::Critical,
            "no backup files",
            action,
        ),
        Some((name, size, modified)) => {
            let age = modified.elapsed().unwrap_or_default().as_secs() as i64;
            let status = if age <= 26 * 3600 {
                Status::Ok
            } else if age <= 7 * 86_400 {
                Status::Warning
            } else {
                Status::Critical
            };
            let detail = format!(
                "newest {name}: {} old, {}",
                crate::output::short_duration(age),
                crate::output::human_bytes(size)
            );
            finding("backups", &item, status, detail, action)
        }
    }
}

fn render(printer: &Printer, report: &CheckReport) -> String {
    let title = match report.checklist {
        Checklist::Daily => "Daily check",
        Checklist::Weekly => "Weekly check",
    };
    let mut text = if printer.format == OutputFormat::Markdown {
        format!(
            "# {title} — {} — {}\n\n",
            report.checked_at,
            report.status.label()
        )
    } else {
        String::new()
    };
    text.push_str(
        &printer.table(
            &["AREA", "ITEM", "STATUS", "DETAIL", "WHAT TO DO"],
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
                .collect(),
        ),
    );
    if printer.format != OutputFormat::Markdown {
        text.push_str(&format!(
            "{title}: {} at {}\n",
            report.status.label(),
            report.checked_at
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_role_says_how_long_ago() {
        assert_eq!(
            expiry_detail("2026-11-20", -8.2),
            "password valid until 2026-11-20 (expired 9 day(s) ago)"
        );
        assert_eq!(
            expiry_detail("2026-12-01", 3.5),
            "password valid until 2026-12-01 (expires in 3.5 days)"
        );
    }

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
