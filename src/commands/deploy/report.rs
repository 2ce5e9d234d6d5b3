//! The deploy report: printed (table or JSON) and written to deployment_report.md.

use anyhow::Result;

use super::Context;
use crate::deploy::report::{markdown, render, DeployReport};
use crate::exit::Status;

/// Write the report to deploy.report_file (deployment_report.md); where it went.
pub(crate) fn write_file(ctx: &Context, report: &DeployReport) -> Result<std::path::PathBuf> {
    let path = ctx.loaded.resolve_path(&ctx.settings().deploy.report_file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::fsutil::write_atomic(&path, markdown(report).as_bytes(), Some(0o644))?;
    Ok(path)
}

/// Print the report, write deployment_report.md, show failures.
pub(super) fn finish(ctx: &Context, report: &DeployReport) -> Result<()> {
    let path = write_file(ctx, report)?;
    ctx.printer
        .emit_result(report, None, |printer| render(printer, report))?;
    let mut current = Some(report);
    while let Some(report) = current {
        for failure in &report.wait_failures {
            ctx.printer
                .warn(&format!("{}: {}", failure.service, failure.error));
            for line in &failure.log_tail {
                ctx.printer.note(&format!("  {}| {line}", failure.service));
            }
        }
        if let Some(gate) = &report.gate {
            for check in gate.checks.iter().filter(|c| c.status != Status::Ok) {
                ctx.printer.warn(&format!(
                    "gate: {} {}: {}",
                    check.check.label(),
                    check.name,
                    check.summary
                ));
            }
        }
        current = report.rollback.as_deref();
    }
    ctx.printer.note(&format!("report: {}", path.display()));
    Ok(())
}
