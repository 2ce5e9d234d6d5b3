//! The deploy report: printed (table or JSON) and written to deployment_report.md.

use anyhow::Result;
use comfy_table::Cell;

use super::{Context, DeployReport};
use crate::deploy::run::Action;
use crate::docker::logs::LogRequest;
use crate::docker::Engine;
use crate::exit::Status;
use crate::output::Printer;

/// Print the report, write deployment_report.md, show failures.
pub(super) fn finish(ctx: &Context, report: &DeployReport) -> Result<()> {
    let path = ctx.loaded.resolve_path(&ctx.settings().deploy.report_file);
    crate::fsutil::write_atomic(&path, markdown(report).as_bytes(), Some(0o644))?;
    ctx.printer
        .emit_result(report, None, |printer| render_up(printer, report))?;
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

fn action_label(action: Action) -> &'static str {
    match action {
        Action::Created => "created",
        Action::Recreated => "recreated",
        Action::Started => "started",
        Action::Unchanged => "unchanged",
        Action::Removed => "removed (scaled down)",
    }
}

fn short_id(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..12.min(id.len())]
}

/// deployment_report.md: the guide's deployment report, from the run.
pub fn markdown(report: &DeployReport) -> String {
    let mut out = String::new();
    let title = match report.kind.as_str() {
        "rollback" => "Rollback report",
        _ => "Deployment report",
    };
    out.push_str(&format!("# {title}\n\n"));
    section(&mut out, report);
    if let Some(rollback) = &report.rollback {
        out.push_str("\n## Automatic rollback\n\n");
        out.push_str(&format!(
            "The new release failed, so release {} was put back.\n\n",
            rollback.target.as_deref().unwrap_or("-")
        ));
        section(&mut out, rollback);
    }
    out
}

fn section(out: &mut String, report: &DeployReport) {
    out.push_str(&format!(
        "- **Result**: {}\n- **Project**: {} ({})\n- **Host**: {}\n- **Operator**: {}\n- **Started**: {}\n- **Duration**: {:.1}s\n",
        report.status.label(),
        report.project,
        report.environment,
        report.host,
        report.operator,
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.elapsed_ms as f64 / 1000.0
    ));
    if let Some(release) = &report.release {
        out.push_str(&format!("- **Release**: {release}\n"));
    }
    if let Some(target) = &report.target {
        out.push_str(&format!("- **Rolled back to**: {target}\n"));
    }
    out.push_str(
        "\n### Changes\n\n| Container | Action | Before | After | State |\n|---|---|---|---|---|\n",
    );
    for s in &report.services {
        let before = match (&s.previous_image, &s.previous_image_id) {
            (Some(image), Some(id)) => format!("{image} ({})", short_id(id)),
            _ => "-".into(),
        };
        let pin = s
            .pin
            .as_ref()
            .map(|p| format!(", kept as {p}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {} ({}{pin}) | {}{} |\n",
            s.container,
            action_label(s.action),
            before,
            s.image,
            short_id(&s.image_id),
            s.state,
            s.health
                .as_ref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default()
        ));
    }
    out.push_str("\n### Phases\n\n| Phase | Time |\n|---|---|\n");
    for phase in &report.phases {
        out.push_str(&format!(
            "| {} | {:.2}s |\n",
            phase.name,
            phase.ms as f64 / 1000.0
        ));
    }
    if !report.wait_failures.is_empty() {
        out.push_str("\n### Failures\n\n");
        for failure in &report.wait_failures {
            out.push_str(&format!("- **{}**: {}\n", failure.service, failure.error));
            if !failure.log_tail.is_empty() {
                out.push_str("\n```\n");
                for line in &failure.log_tail {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str("```\n");
            }
        }
    }
    if let Some(gate) = &report.gate {
        out.push_str(
            "\n### Health at the end\n\n| Check | Name | Status | Detail |\n|---|---|---|---|\n",
        );
        for check in &gate.checks {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                check.check.label(),
                check.name,
                check.status.label(),
                check.summary.replace('|', "\\|")
            ));
        }
    }
}

/// The last lines of a container's log, for a failure report.
pub(super) async fn log_tail(engine: &Engine, container: &str) -> Vec<String> {
    let mut tail = Vec::new();
    let request = LogRequest {
        tail: Some(20),
        ..LogRequest::default()
    };
    let _ = engine
        .log_lines(container, &request, |line| {
            tail.push(String::from_utf8_lossy(&line.text).into_owned())
        })
        .await;
    tail
}

fn render_up(printer: &Printer, report: &DeployReport) -> String {
    let mut text = String::new();
    let mut current = Some(report);
    while let Some(report) = current {
        if report.kind != "up" {
            text.push_str(&format!(
                "{} to {}:\n",
                report.kind,
                report.target.as_deref().unwrap_or("-")
            ));
        }
        let rows = report
            .services
            .iter()
            .map(|s| {
                vec![
                    Cell::new(&s.service),
                    Cell::new(&s.container),
                    Cell::new(action_label(s.action)),
                    Cell::new(&s.image),
                    Cell::new(match &s.health {
                        Some(health) => format!("{} ({health})", s.state),
                        None => s.state.clone(),
                    }),
                    Printer::number_cell(format!("{:.1}s", s.elapsed_ms as f64 / 1000.0)),
                ]
            })
            .collect();
        text.push_str(&printer.table(
            &["SERVICE", "CONTAINER", "ACTION", "IMAGE", "STATE", "TIME"],
            rows,
        ));
        if let Some(gate) = &report.gate {
            text.push_str(&format!(
                "health gate: {}",
                crate::probe::summary_line(gate)
            ));
        }
        text.push_str(&format!(
            "{}: {} in {:.1}s{}\n",
            report.kind,
            report.status.label(),
            report.elapsed_ms as f64 / 1000.0,
            report
                .release
                .as_ref()
                .map(|r| format!(", release {r}"))
                .unwrap_or_default()
        ));
        current = report.rollback.as_deref();
    }
    text
}
