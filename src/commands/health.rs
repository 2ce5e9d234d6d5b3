//! `gymops health`: every probe at once, a verdict, and the monitoring exit code.

use anyhow::{bail, Context as _, Result};
use comfy_table::Cell;

use super::Context;
use crate::cli::HealthArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::notify::changes::{digest, Seen, ToldState};
use crate::notify::{delivered_or_error, Notifier};
use crate::output::Printer;
use crate::probe::{self, summary_line, HealthPlan, HealthReport};
use crate::watch::Frame;

pub async fn run(ctx: &Context, args: &HealthArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.service)?;
    let plan = HealthPlan {
        groups: args.check.clone(),
        services: args.service.clone(),
        endpoints: args.endpoint.clone(),
    };
    if let Some(interval) = args.watch.every() {
        if args.output_file.path.is_some() {
            bail!("--watch and --output-file do not go together (a file holds one result); drop one of them");
        }
        let plan = &plan;
        return crate::watch::every(&ctx.printer, interval, move || async move {
            let report = probe::run(ctx.settings(), &ctx.clients, plan).await?;
            if args.notify {
                notify_changes(ctx, &report).await?;
            }
            Frame::new(report.status, &report, render(&ctx.printer, &report))
        })
        .await;
    }
    let report = probe::run(ctx.settings(), &ctx.clients, &plan).await?;
    ctx.printer.emit_checked(
        report.status,
        &report,
        args.output_file.path.as_deref(),
        |printer| render(printer, &report),
    )?;
    for check in report.checks.iter().filter(|c| c.status != Status::Ok) {
        if let Some(hint) = &check.hint {
            ctx.printer.note(&format!(
                "hint ({} {}): {hint}",
                kind_label(check),
                check.name
            ));
        }
    }
    if args.notify {
        notify_changes(ctx, &report).await?;
    }
    Ok(report.status)
}

/// `--notify`: one message for the checks that changed since the last `--notify` run. The
/// state is saved only when the message went out (or there was none), so a failed delivery
/// is tried again by the next run.
async fn notify_changes(ctx: &Context, report: &HealthReport) -> Result<()> {
    let settings = ctx.settings();
    let notifier = Notifier::new(&settings.notify, ctx.http()?);
    if notifier.command_channels().is_empty() {
        ctx.printer.warn(
            "health --notify: notify.channels names no usable channel, so nothing is sent (`gymops config check` says what each lacks)",
        );
        return Ok(());
    }
    let path = ctx.loaded.resolve_path(&settings.health.notify_state_file);
    // A regular file of bounded size only: a FIFO or a device planted there is an error at
    // once, never a hang of the cron job.
    let mut told: ToldState = if std::fs::symlink_metadata(&path).is_err() {
        ToldState::default()
    } else {
        let bytes = crate::fsutil::read_regular_file(&path, "health.notify_state_file", 1 << 20)
            .hint(
            "health.notify_state_file must be a regular file gymops wrote; remove what is there",
        )?;
        serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            ctx.printer.warn(&format!(
                "{} is damaged ({err}); starting over: every check that is not OK is told again",
                path.display()
            ));
            ToldState::default()
        })
    };
    let seen: Vec<Seen> = report
        .checks
        .iter()
        .map(|check| Seen {
            key: format!("{} {}", kind_label(check), check.name),
            status: check.status,
            detail: check.summary.clone(),
        })
        .collect();
    let changes = told.take_changes(&seen, chrono::Utc::now(), settings.health.notify_quiet);
    if let Some(event) = digest(settings, "health", &changes) {
        let deliveries = notifier.notify(&event).await;
        // Below notify.min_severity nothing is sent, and that is not a failure.
        if let Err(err) = delivered_or_error("the health notification", &deliveries) {
            ctx.printer.warn(&crate::error::describe(&err).0);
            return Ok(());
        }
        for delivery in &deliveries {
            ctx.printer.note(&format!(
                "told {} ({}) about {} changed check(s)",
                delivery.channel.label(),
                delivery.target,
                changes.len()
            ));
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    crate::fsutil::write_atomic(&path, &serde_json::to_vec_pretty(&told)?, Some(0o600))
}

fn kind_label(check: &probe::CheckResult) -> String {
    check.check.label().to_string()
}

/// The table's columns (the fleet puts SITE before them).
pub(crate) const HEADERS: &[&str] = &["CHECK", "NAME", "TARGET", "STATUS", "LATENCY", "DETAIL"];

fn render(printer: &Printer, report: &HealthReport) -> String {
    let mut text = printer.table(HEADERS, rows(printer, report));
    text.push_str(&summary_line(report));
    text
}

/// A row per check the printer shows.
pub(crate) fn rows(printer: &Printer, report: &HealthReport) -> Vec<Vec<Cell>> {
    report
        .checks
        .iter()
        .filter(|check| printer.shows(check.status))
        .map(|check| {
            vec![
                Cell::new(kind_label(check)),
                Cell::new(&check.name),
                Cell::new(&check.target),
                printer.status_cell(check.status),
                Printer::number_cell(
                    check
                        .latency_ms
                        .map(format_latency)
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::new(&check.summary),
            ]
        })
        .collect()
}

fn format_latency(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_reads_in_milliseconds_then_seconds() {
        assert_eq!(format_latency(3.4), "3 ms");
        assert_eq!(format_latency(1520.0), "1.52 s");
    }
}
