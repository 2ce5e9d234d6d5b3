//! The incident report (the guide's 7.7), from the record.

use super::*;
use crate::incident::Incident;
use crate::settings::IncidentSettings;

/// The guide's incident report (section 7.7), kept beside the record as `report.md`.
pub fn report(incident: &Incident, settings: &IncidentSettings) -> String {
    let lang = settings.lang;
    let mut out = String::new();
    let line = |out: &mut String, text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(
        &mut out,
        format!("# {}\n", t(lang, "事件报告", "Incident report")),
    );
    line(&mut out, format!("## {}", t(lang, "事件概况", "Overview")));
    line(
        &mut out,
        format!(
            "- **{}**: {}",
            t(lang, "事件ID", "Incident ID"),
            incident.id
        ),
    );
    line(
        &mut out,
        format!(
            "- **{}**: {} ({})",
            t(lang, "严重级别", "Severity"),
            severity(lang, incident.severity),
            incident.severity.label()
        ),
    );
    line(
        &mut out,
        format!(
            "- **{}**: {}",
            t(lang, "当前状态", "Status"),
            state(lang, incident.state)
        ),
    );
    line(
        &mut out,
        format!("- **{}**: {}", t(lang, "摘要", "Summary"), incident.summary),
    );
    line(
        &mut out,
        format!(
            "- **{}**: {}",
            t(lang, "发生时间", "Started"),
            utc(incident.started_at)
        ),
    );
    line(
        &mut out,
        format!(
            "- **{}**: {}",
            t(lang, "解决时间", "Resolved"),
            incident
                .resolved_at
                .map(utc)
                .unwrap_or_else(|| t(lang, "未解决", "not yet").into())
        ),
    );
    line(
        &mut out,
        format!(
            "- **{}**: {}",
            t(lang, "影响范围", "Impact"),
            incident.impact.as_deref().unwrap_or(pending(lang))
        ),
    );
    line(
        &mut out,
        format!(
            "- **{}**: {} ({})",
            t(lang, "部署", "Deployment"),
            incident.project,
            incident.environment
        ),
    );
    line(
        &mut out,
        format!("\n## {}", t(lang, "根本原因", "Root cause")),
    );
    line(
        &mut out,
        incident
            .root_cause
            .clone()
            .unwrap_or_else(|| pending(lang).into()),
    );
    line(
        &mut out,
        format!("\n## {}", t(lang, "影响评估", "Impact assessment")),
    );
    let impact = latest(incident, |e| e.update.as_ref()?.user_impact);
    line(
        &mut out,
        format!(
            "- {}: {}",
            t(lang, "用户体验", "User experience"),
            impact
                .map(|i| user_impact(lang, i))
                .unwrap_or(pending(lang))
        ),
    );
    line(
        &mut out,
        format!(
            "- {}: {}",
            t(lang, "业务影响", "Business impact"),
            latest(incident, |e| e.update.as_ref()?.business_impact.clone())
                .unwrap_or_else(|| pending(lang).into())
        ),
    );
    line(
        &mut out,
        format!(
            "- {}: {}",
            t(lang, "数据影响", "Data impact"),
            incident.data_impact.as_deref().unwrap_or(pending(lang))
        ),
    );
    line(
        &mut out,
        format!("\n## {}", t(lang, "解决措施", "Resolution")),
    );
    line(
        &mut out,
        incident.fix.clone().unwrap_or_else(|| pending(lang).into()),
    );
    line(
        &mut out,
        format!("\n## {}", t(lang, "预防措施", "Prevention")),
    );
    if incident.actions.is_empty() {
        line(&mut out, format!("- {}", pending(lang)));
    }
    for action in &incident.actions {
        line(&mut out, action_line(lang, action));
    }
    line(&mut out, format!("\n## {}", t(lang, "时间线", "Timeline")));
    line(
        &mut out,
        format!(
            "- {} {}",
            utc(incident.opened_at),
            opened_text(lang, incident)
        ),
    );
    for entry in &incident.timeline {
        line(&mut out, entry_line(lang, entry));
    }
    line(&mut out, format!("\n## {}", t(lang, "证据", "Evidence")));
    if incident.evidence.is_empty() {
        line(
            &mut out,
            format!("- {}", t(lang, "未采集", "none captured")),
        );
    }
    for evidence in &incident.evidence {
        line(
            &mut out,
            match &evidence.file {
                Some(file) => format!(
                    "- {} ([{file}]({file})): {}",
                    evidence.name, evidence.detail
                ),
                None => format!("- {}: {}", evidence.name, evidence.detail),
            },
        );
    }
    out
}
