//! `gymops health`: every probe at once, a verdict, and the monitoring exit code.

use anyhow::Result;
use comfy_table::Cell;

use super::Context;
use crate::cli::HealthArgs;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::probe::{self, summary_line, HealthPlan, HealthReport};

pub async fn run(ctx: &Context, args: &HealthArgs) -> Result<ExitStatus> {
    ctx.check_services(&args.service)?;
    let plan = HealthPlan {
        groups: args.check.clone(),
        services: args.service.clone(),
        endpoints: args.endpoint.clone(),
    };
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
    Ok(report.status)
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
