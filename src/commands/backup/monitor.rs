//! `gymops backup monitor`: the guide's backup-monitor.ps1 — backups that silently stopped
//! are the failure every backup tool's users fear most.

use anyhow::Result;
use chrono::Utc;
use comfy_table::Cell;
use serde::Serialize;

use super::super::Context;
use super::list::local_entries;
use crate::backup::monitor::{evaluate, Finding};
use crate::backup::runlog;
use crate::cli::BackupMonitorArgs;
use crate::exit::{ExitStatus, Status};
use crate::notify::{severity_of, Event, Notifier};
use crate::output::{OutputFormat, Printer};

#[derive(Debug, Serialize)]
pub struct Report {
    pub status: Status,
    pub checked_at: String,
    pub dir: String,
    pub backups: usize,
    pub newest: Option<String>,
    pub findings: Vec<Finding>,
}

pub async fn run(ctx: &Context, args: &BackupMonitorArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let min_size = match &args.min_size {
        Some(text) => Some(super::parse_size(text)?),
        None => None,
    };
    let report = report(ctx, args.max_age, min_size)?;
    let status = report.status;
    if let Some(path) = &args.report {
        let markdown = path
            .extension()
            .is_some_and(|e| e == "md" || e == "markdown");
        let text = if markdown {
            let printer = Printer::new(OutputFormat::Markdown, true).for_file();
            render(&printer, &report)
        } else {
            Printer::json(&report)?
        };
        crate::fsutil::write_output(path, text.as_bytes())?;
    }
    ctx.printer
        .emit_checked(status, &report, None, |printer| render(printer, &report))?;
    if args.notify && status != Status::Ok {
        let notifier = Notifier::new(&settings.notify, ctx.http()?);
        let bad: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.status != Status::Ok)
            .collect();
        let severity = severity_of(status);
        let alert_type = if bad.iter().any(|f| f.check == "last run") {
            "BackupFailed"
        } else {
            "BackupStale"
        };
        let message = bad
            .iter()
            .map(|f| format!("{}: {}", f.check, f.detail))
            .collect::<Vec<_>>()
            .join("; ");
        let event = Event::new(settings, alert_type, severity, message)
            .detail("dir", report.dir.clone())
            .detail("backups", report.backups.to_string());
        let deliveries = notifier.notify(&event).await;
        if deliveries.is_empty() {
            ctx.printer.warn(
                "--notify: no notification sent (notify.channels is empty, or below notify.min_severity)",
            );
        }
        crate::commands::warn_undelivered(&ctx.printer, &deliveries);
    }
    Ok(status)
}

/// The verdicts on the backup directory: `max_age` over backup.max_age.
pub(crate) fn report(
    ctx: &Context,
    max_age: Option<std::time::Duration>,
    min_size: Option<u64>,
) -> Result<Report> {
    let settings = ctx.settings();
    let dir = ctx.loaded.resolve_path(&settings.backup.dir);
    let max_age = max_age.unwrap_or(settings.backup.max_age);
    let entries = local_entries(ctx)?;
    let last_run = runlog::last_run(&runlog::read(&dir), runlog::process_alive);
    let findings = evaluate(
        &entries,
        &last_run,
        max_age.as_secs() as i64,
        min_size,
        settings.backup.size_drop_percent,
        Utc::now(),
    );
    Ok(Report {
        status: Status::combine(findings.iter().map(|f| f.status)),
        checked_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        dir: dir.display().to_string(),
        backups: entries.len(),
        newest: entries.first().map(|e| e.name.clone()),
        findings,
    })
}

pub(crate) const HEADERS: &[&str] = &["CHECK", "STATUS", "DETAIL", "WHAT TO DO"];

/// A row per finding the printer shows.
pub(crate) fn rows(printer: &Printer, report: &Report) -> Vec<Vec<Cell>> {
    report
        .findings
        .iter()
        .filter(|f| printer.shows(f.status))
        .map(|f| {
            vec![
                Cell::new(&f.check),
                printer.status_cell(f.status),
                Cell::new(&f.detail),
                Cell::new(&f.action),
            ]
        })
        .collect()
}

fn render(printer: &Printer, report: &Report) -> String {
    let mut text = String::new();
    if printer.format == OutputFormat::Markdown {
        text.push_str(&format!(
            "# Backup monitor — {} — {}\n\n",
            report.checked_at,
            report.status.label()
        ));
    }
    text.push_str(&printer.table(HEADERS, rows(printer, report)));
    if printer.format != OutputFormat::Markdown {
        text.push_str(&crate::i18n::tr_args(
            "backup-monitor-summary",
            &[
                ("status", report.status.display()),
                ("count", report.backups.to_string()),
                ("dir", report.dir.to_string()),
            ],
        ));
        text.push('\n');
    }
    text
}
