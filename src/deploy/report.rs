//! The deploy report of `up` and `rollback`: what was done to each container, the phases,
//! the failures with log tails, the gate, and the automatic rollback; printed (a table or
//! JSON) and written as deployment_report.md. Pure.

use comfy_table::Cell;
use serde::Serialize;

use super::run::{Action, ServiceOutcome};
use crate::exit::Status;
use crate::i18n::{tr, tr_args};
use crate::output::Printer;
use crate::probe::HealthReport;

/// A service that did not become healthy, with the end of its log.
#[derive(Debug, Serialize)]
pub struct WaitFailure {
    pub service: String,
    pub error: String,
    pub log_tail: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: String,
    pub ms: u64,
}

/// What a deploy report is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployKind {
    /// `up` (also `up --failover`, `up --monitoring-only`)
    Up,
    Rollback,
    /// The rollback a failed `up` did by itself
    AutomaticRollback,
}

impl DeployKind {
    pub fn label(self) -> &'static str {
        match self {
            DeployKind::Up => "up",
            DeployKind::Rollback => "rollback",
            DeployKind::AutomaticRollback => "automatic-rollback",
        }
    }
}

/// What `up` or `rollback` did, as printed (JSON) and written to deployment_report.md.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub kind: DeployKind,
    pub project: String,
    pub environment: String,
    pub host: String,
    pub operator: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The release recorded, when this succeeded.
    pub release: Option<String>,
    /// For a rollback: the release (or image) put back.
    pub target: Option<String>,
    pub services: Vec<ServiceOutcome>,
    pub phases: Vec<Phase>,
    pub wait_failures: Vec<WaitFailure>,
    pub gate: Option<HealthReport>,
    pub status: Status,
    pub elapsed_ms: u64,
    /// When a failed up put the previous release back: that rollback.
    pub rollback: Option<Box<DeployReport>>,
}

fn action_label(action: Action) -> &'static str {
    match action {
        Action::Created => "created",
        Action::Recreated => "recreated",
        Action::Started => "started",
        Action::Unchanged => "unchanged",
        Action::Removed => "removed (scaled down)",
        Action::Updated => "updated (rolling)",
    }
}

fn short_id(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..12.min(id.len())]
}

/// deployment_report.md: the guide's deployment report, from the run.
pub fn markdown(report: &DeployReport) -> String {
    let mut out = String::new();
    let title = match report.kind {
        DeployKind::Up => tr("report-deploy-title"),
        DeployKind::Rollback | DeployKind::AutomaticRollback => tr("report-rollback-title"),
    };
    out.push_str(&format!("# {title}\n\n"));
    section(&mut out, report);
    if let Some(rollback) = &report.rollback {
        out.push_str(&format!("\n## {}\n\n", tr("report-automatic-rollback")));
        out.push_str(&tr_args(
            "report-put-back",
            &[(
                "release",
                rollback.target.clone().unwrap_or_else(|| "-".into()),
            )],
        ));
        out.push_str("\n\n");
        section(&mut out, rollback);
    }
    out
}

/// A Markdown table row of the catalogue's column names.
fn row(ids: &[&str]) -> String {
    let cells: Vec<String> = ids.iter().map(|id| tr(id)).collect();
    format!("| {} |\n", cells.join(" | "))
}

fn section(out: &mut String, report: &DeployReport) {
    out.push_str(&format!(
        "- **{}**: {}\n- **{}**: {} ({})\n- **{}**: {}\n- **{}**: {}\n- **{}**: {}\n- **{}**: {:.1}s\n",
        tr("report-result"),
        report.status.display(),
        tr("report-project"),
        report.project,
        report.environment,
        tr("report-host"),
        report.host,
        tr("report-operator"),
        report.operator,
        tr("report-started"),
        report.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        tr("report-duration"),
        report.elapsed_ms as f64 / 1000.0
    ));
    if let Some(release) = &report.release {
        out.push_str(&format!("- **{}**: {release}\n", tr("report-release")));
    }
    if let Some(target) = &report.target {
        out.push_str(&format!(
            "- **{}**: {target}\n",
            tr("report-rolled-back-to")
        ));
    }
    out.push_str(&format!(
        "\n### {}\n\n{}|---|---|---|---|---|\n",
        tr("report-changes"),
        row(&[
            "report-col-container",
            "report-col-action",
            "report-col-before",
            "report-col-after",
            "report-col-state"
        ])
    ));
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
    out.push_str(&format!(
        "\n### {}\n\n{}|---|---|\n",
        tr("report-phases"),
        row(&["report-col-phase", "report-col-time"])
    ));
    for phase in &report.phases {
        out.push_str(&format!(
            "| {} | {:.2}s |\n",
            phase.name,
            phase.ms as f64 / 1000.0
        ));
    }
    if !report.wait_failures.is_empty() {
        out.push_str(&format!("\n### {}\n\n", tr("report-failures")));
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
        out.push_str(&format!(
            "\n### {}\n\n{}|---|---|---|---|\n",
            tr("report-health-at-end"),
            row(&[
                "report-col-check",
                "report-col-name",
                "report-col-status",
                "report-col-detail"
            ])
        ));
        for check in &gate.checks {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                check.check.label(),
                check.name,
                check.status.display(),
                check.summary.replace('|', "\\|")
            ));
        }
    }
}

pub fn render(printer: &Printer, report: &DeployReport) -> String {
    let mut text = String::new();
    let mut current = Some(report);
    while let Some(report) = current {
        if report.kind != DeployKind::Up {
            text.push_str(&format!(
                "{} to {}:\n",
                report.kind.label(),
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
            report.kind.label(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn outcome(container: &str, action: Action, pin: Option<&str>) -> ServiceOutcome {
        ServiceOutcome {
            service: "api".into(),
            number: 1,
            container: container.into(),
            action,
            image: "fitness-gym-api:v1.1.5".into(),
            pin: pin.map(str::to_string),
            image_id: "sha256:0123456789abcdef".into(),
            replaced: None,
            previous_image: Some("fitness-gym-api:v1.2.0".into()),
            previous_image_id: Some("sha256:fedcba9876543210".into()),
            config_hash: "h".into(),
            state: "running".into(),
            health: Some("healthy".into()),
            elapsed_ms: 1500,
            environment: BTreeMap::from([("DB_PASSWORD".to_string(), "never-shown".to_string())]),
        }
    }

    fn report(kind: DeployKind, services: Vec<ServiceOutcome>) -> DeployReport {
        DeployReport {
            kind,
            project: "gym".into(),
            environment: "production".into(),
            host: "gym-1".into(),
            operator: "ops".into(),
            started_at: chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
            release: Some("20261128-100000".into()),
            target: None,
            services,
            phases: vec![Phase {
                name: "containers".into(),
                ms: 1200,
            }],
            wait_failures: Vec::new(),
            gate: None,
            status: Status::Ok,
            elapsed_ms: 3000,
            rollback: None,
        }
    }

    #[test]
    fn the_markdown_report_names_each_container_and_a_rollbacks_pin() {
        let mut failed = report(
            DeployKind::Up,
            vec![outcome("gym_api_1", Action::Recreated, None)],
        );
        failed.status = Status::Critical;
        failed.release = None;
        failed.wait_failures.push(WaitFailure {
            service: "api".into(),
            error: "api is unhealthy".into(),
            log_tail: vec!["boom".into()],
        });
        let mut back = report(
            DeployKind::AutomaticRollback,
            vec![outcome(
                "gym_api_1",
                Action::Recreated,
                Some("gymops-release/gym-api:20261128-090000"),
            )],
        );
        back.target = Some("20261128-090000".into());
        failed.rollback = Some(Box::new(back));
        let text = markdown(&failed);
        assert!(text.starts_with("# Deployment report\n"), "{text}");
        assert!(text.contains("- **Result**: CRITICAL"), "{text}");
        assert!(
            text.contains("| gym_api_1 | recreated | fitness-gym-api:v1.2.0 (fedcba987654) | fitness-gym-api:v1.1.5 (0123456789ab) | running (healthy) |"),
            "{text}"
        );
        assert!(text.contains("## Automatic rollback"), "{text}");
        assert!(
            text.contains("release 20261128-090000 was put back"),
            "{text}"
        );
        assert!(
            text.contains("(0123456789ab, kept as gymops-release/gym-api:20261128-090000)"),
            "{text}"
        );
        assert!(text.contains("- **api**: api is unhealthy"), "{text}");
        assert!(text.contains("| containers | 1.20s |"), "{text}");
        assert!(
            !text.contains("never-shown"),
            "the environment is never in a report"
        );
        let json = serde_json::to_string(&failed).unwrap();
        assert!(!json.contains("never-shown"), "{json}");
        assert!(json.contains(r#""kind":"up""#) && json.contains(r#""kind":"automatic-rollback""#));
        assert!(
            markdown(&report(DeployKind::Rollback, Vec::new())).starts_with("# Rollback report")
        );
    }
}
