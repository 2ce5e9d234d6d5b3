//! The internal status update (the guide's 8.4), from the record and its latest entry.

use super::*;
use crate::incident::{Entry, Incident, State};
use crate::settings::Lang;

/// The guide's internal status update (section 8.4) for `entry` (the newest when `None`).
pub fn status_update(incident: &Incident, entry: Option<&Entry>, lang: Lang) -> String {
    let entry = entry.or_else(|| incident.latest_update());
    let details = entry.and_then(|e| e.update.clone()).unwrap_or_default();
    let current = entry.map(|e| e.state).unwrap_or(incident.state);
    let progress = entry
        .map(|e| e.note.clone())
        .unwrap_or_else(|| incident.summary.clone());
    let impact = details
        .user_impact
        .or_else(|| latest(incident, |e| e.update.as_ref()?.user_impact));
    let business = details
        .business_impact
        .or_else(|| latest(incident, |e| e.update.as_ref()?.business_impact.clone()))
        .or_else(|| incident.impact.clone());
    let mut out = String::new();
    out.push_str(&format!(
        "# {} - #{}\n\n",
        t(lang, "事件状态更新", "Incident status update"),
        incident.id
    ));
    out.push_str(&format!(
        "**{}**: {} ({}: {})\n\n",
        t(lang, "当前状态", "Current status"),
        state(lang, current),
        t(lang, "严重级别", "severity"),
        severity(lang, incident.severity)
    ));
    out.push_str(&format!(
        "**{}**:\n- {}\n\n",
        t(lang, "最新进展", "Latest progress"),
        progress
    ));
    out.push_str(&format!("**{}**:\n", t(lang, "影响评估", "Impact")));
    out.push_str(&format!(
        "- {}: {}\n",
        t(lang, "用户影响", "User impact"),
        impact
            .map(|i| user_impact(lang, i))
            .unwrap_or(pending(lang))
    ));
    out.push_str(&format!(
        "- {}: {}\n\n",
        t(lang, "业务影响", "Business impact"),
        business.unwrap_or_else(|| pending(lang).into())
    ));
    let eta = if current == State::Resolved {
        t(lang, "已恢复", "recovered").to_string()
    } else {
        details.eta.unwrap_or_else(|| pending(lang).into())
    };
    out.push_str(&format!(
        "**{}**: {}\n\n",
        t(lang, "预计恢复时间", "Expected recovery"),
        eta
    ));
    out.push_str(&format!(
        "**{}**:\n- {}\n\n",
        t(lang, "下一步行动", "Next steps"),
        details.next.unwrap_or_else(|| pending(lang).into())
    ));
    out.push_str(&format!(
        "**{}**: {}\n",
        t(lang, "需要支持", "Support needed"),
        details
            .support
            .unwrap_or_else(|| t(lang, "否", "no").into())
    ));
    out
}
