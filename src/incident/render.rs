//! The guide's templates, filled from the record: the incident report (7.7), the internal
//! status update and the member notice (8.4), the post-incident review (8.5). Chinese as in
//! the guide, or English. Pure functions of the record and the time.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration as Span, Utc};

use super::{Action, ActionStatus, Entry, Incident, Priority, State, UserImpact};
use crate::settings::{IncidentSettings, Lang, Severity};

fn t(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// `2026-11-27 14:30 UTC`, as the guide writes times.
pub fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `45s`, `4m 30s`, `2h 5m`: seconds matter for one-minute targets.
pub fn span(seconds: i64) -> String {
    match seconds {
        s if s < 0 => "-".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 && s % 60 == 0 => format!("{}m", s / 60),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => crate::output::short_duration(s),
    }
}

pub fn severity(lang: Lang, severity: Severity) -> &'static str {
    match severity {
        Severity::Info => t(lang, "信息", "info"),
        Severity::Warning => t(lang, "警告", "warning"),
        Severity::Error => t(lang, "错误", "error"),
        Severity::Critical => t(lang, "严重", "critical"),
    }
}

pub fn state(lang: Lang, state: State) -> &'static str {
    match state {
        State::Open => t(lang, "待响应", "open"),
        State::Investigating => t(lang, "调查中", "investigating"),
        State::Fixing => t(lang, "修复中", "fixing"),
        State::Monitoring => t(lang, "监控中", "monitoring"),
        State::Resolved => t(lang, "已解决", "resolved"),
    }
}

fn user_impact(lang: Lang, impact: UserImpact) -> &'static str {
    match impact {
        UserImpact::None => t(lang, "无影响", "none"),
        UserImpact::Minor => t(lang, "轻微影响", "minor"),
        UserImpact::Moderate => t(lang, "中等影响", "moderate"),
        UserImpact::Severe => t(lang, "严重影响", "severe"),
    }
}

pub fn priority(lang: Lang, priority: Priority) -> &'static str {
    match priority {
        Priority::High => t(lang, "高", "high"),
        Priority::Medium => t(lang, "中", "medium"),
        Priority::Low => t(lang, "低", "low"),
    }
}

pub fn action_status(lang: Lang, status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Todo => t(lang, "待开始", "to do"),
        ActionStatus::InProgress => t(lang, "进行中", "in progress"),
        ActionStatus::Done => t(lang, "已完成", "done"),
    }
}

fn pending(lang: Lang) -> &'static str {
    t(lang, "待确定", "to be determined")
}

/// Newest value of an update field over the timeline.
fn latest<T: Clone>(incident: &Incident, field: impl Fn(&Entry) -> Option<T>) -> Option<T> {
    incident.timeline.iter().rev().find_map(field)
}

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

fn opened_text(lang: Lang, incident: &Incident) -> String {
    format!(
        "[{}] {} {}: {}",
        state(lang, State::Open),
        t(lang, "创建者", "opened by"),
        incident.opened_by,
        incident.summary
    )
}

fn entry_line(lang: Lang, entry: &Entry) -> String {
    format!(
        "- {} [{}] {} ({})",
        utc(entry.time),
        state(lang, entry.state),
        entry.note,
        entry.by
    )
}

fn action_line(lang: Lang, action: &Action) -> String {
    format!(
        "- {} — {} ({}: {}, {}: {}, {}: {})",
        action.item,
        action.owner,
        t(lang, "优先级", "priority"),
        priority(lang, action.priority),
        t(lang, "状态", "status"),
        action_status(lang, action.status),
        t(lang, "截止", "due"),
        action
            .due
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into())
    )
}

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

/// What the member notice says beyond the record.
#[derive(Debug, Default, Clone)]
pub struct NoticeFields {
    pub problem: Option<String>,
    pub eta: Option<String>,
    pub workaround: Option<String>,
}

/// The guide's member notice (section 8.4).
pub fn member_notice(
    incident: &Incident,
    settings: &IncidentSettings,
    lang: Lang,
    fields: &NoticeFields,
) -> String {
    let problem = fields
        .problem
        .clone()
        .unwrap_or_else(|| incident.summary.clone());
    let impact = incident.impact.clone().unwrap_or_else(|| {
        t(
            lang,
            "部分服务可能无法正常使用",
            "some services may not work as usual",
        )
        .into()
    });
    let eta = fields
        .eta
        .clone()
        .or_else(|| latest(incident, |e| e.update.as_ref()?.eta.clone()))
        .unwrap_or_else(|| {
            t(
                lang,
                "我们会尽快通知您",
                "we will let you know as soon as possible",
            )
            .into()
        });
    let workaround = fields
        .workaround
        .clone()
        .unwrap_or_else(|| t(lang, "暂无", "none at the moment").into());
    let signature = match lang {
        Lang::Zh => settings.team_name.clone(),
        Lang::En if settings.team_name == "健身房技术团队" => {
            "The gym's technical team".into()
        }
        Lang::En => settings.team_name.clone(),
    };
    if incident.state == State::Resolved {
        return match lang {
            Lang::Zh => format!(
                "# 服务恢复通知\n\n亲爱的健身房会员：\n\n此前影响服务的技术问题已经解决，所有服务已恢复正常。\n\n**问题描述**: {problem}\n\n**恢复时间**: {}\n\n我们为带来的不便深表歉意。\n\n如有疑问，请联系客服: {}\n\n{signature}\n",
                incident.resolved_at.map(utc).unwrap_or_default(),
                settings.support_contact
            ),
            Lang::En => format!(
                "# Service restored\n\nDear gym member,\n\nThe technical problem that affected our service has been fixed, and all services are working normally again.\n\n**Problem**: {problem}\n\n**Restored at**: {}\n\nWe apologise for the inconvenience.\n\nIf you have any questions, please contact: {}\n\n{signature}\n",
                incident.resolved_at.map(utc).unwrap_or_default(),
                settings.support_contact
            ),
        };
    }
    match lang {
        Lang::Zh => format!(
            "# 服务维护通知\n\n亲爱的健身房会员：\n\n我们正在经历技术问题，目前正在全力修复。\n\n**问题描述**: {problem}\n\n**影响**: {impact}\n\n**预计解决时间**: {eta}\n\n**备用方案**: {workaround}\n\n我们为带来的不便深表歉意，将尽快恢复正常服务。\n\n如有疑问，请联系客服: {}\n\n{signature}\n",
            settings.support_contact
        ),
        Lang::En => format!(
            "# Service notice\n\nDear gym member,\n\nWe are experiencing a technical problem and are working hard to fix it.\n\n**Problem**: {problem}\n\n**Impact**: {impact}\n\n**Expected resolution**: {eta}\n\n**Alternative**: {workaround}\n\nWe apologise for the inconvenience and will restore normal service as soon as possible.\n\nIf you have any questions, please contact: {}\n\n{signature}\n",
            settings.support_contact
        ),
    }
}

/// The post-incident review (section 8.5), prefilled from the record.
pub fn review(incident: &Incident, settings: &IncidentSettings, now: DateTime<Utc>) -> String {
    let lang = settings.lang;
    let mut out = String::new();
    let mut push = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let to_fill = t(lang, "[待填写]", "[to fill in]");
    push(format!(
        "# {} - #{}\n",
        t(lang, "事件回顾会议", "Post-incident review"),
        incident.id
    ));
    push(format!(
        "{}: {} ({}), {}: {}\n",
        t(lang, "摘要", "Summary"),
        incident.summary,
        severity(lang, incident.severity),
        t(lang, "当前状态", "status"),
        state(lang, incident.state)
    ));
    push(format!("## {}", t(lang, "参会人员", "Participants")));
    let mut people = BTreeSet::new();
    people.insert(incident.opened_by.clone());
    for entry in &incident.timeline {
        people.insert(entry.by.clone());
    }
    for action in &incident.actions {
        people.insert(action.owner.clone());
    }
    for person in people {
        push(format!("- {person}"));
    }
    push(format!("\n## {}", t(lang, "时间线回顾", "Timeline")));
    let since =
        |from: DateTime<Utc>, to: DateTime<Utc>| span(to.signed_duration_since(from).num_seconds());
    push(format!(
        "- {}: {}",
        t(lang, "事件开始时间", "Incident start"),
        utc(incident.started_at)
    ));
    push(format!(
        "- {}: {} (+{} {})",
        t(lang, "告警触发时间", "Alert fired"),
        utc(incident.alerted_at),
        since(incident.started_at, incident.alerted_at),
        t(lang, "自开始", "after the start")
    ));
    let target = incident.response_target_seconds as i64;
    match incident.responded_at {
        Some(at) => {
            let took = at.signed_duration_since(incident.alerted_at).num_seconds();
            let verdict = if took <= target {
                t(lang, "达标", "within target")
            } else {
                t(lang, "超时", "late")
            };
            push(format!(
                "- {}: {} (+{} {}; {} {}: {verdict})",
                t(lang, "响应开始时间", "Response began"),
                utc(at),
                span(took),
                t(lang, "自告警", "after the alert"),
                t(lang, "目标", "target"),
                span(target),
            ));
        }
        None => push(format!(
            "- {}: {}",
            t(lang, "响应开始时间", "Response began"),
            t(lang, "无响应记录", "no response recorded")
        )),
    }
    let fixed = incident.fixed_at.or(incident.resolved_at);
    match (fixed, incident.responded_at) {
        (Some(at), Some(from)) => push(format!(
            "- {}: {} (+{} {})",
            t(lang, "问题解决时间", "Problem fixed"),
            utc(at),
            since(from, at),
            t(lang, "自响应", "after the response")
        )),
        (Some(at), None) => push(format!(
            "- {}: {}",
            t(lang, "问题解决时间", "Problem fixed"),
            utc(at)
        )),
        (None, _) => push(format!(
            "- {}: {}",
            t(lang, "问题解决时间", "Problem fixed"),
            t(lang, "未解决", "not yet")
        )),
    }
    match incident.resolved_at {
        Some(at) => push(format!(
            "- {}: {} (+{} {}; {} {})",
            t(lang, "服务完全恢复时间", "Full recovery"),
            utc(at),
            since(fixed.unwrap_or(at), at),
            t(lang, "自解决", "after the fix"),
            t(lang, "总时长", "total"),
            since(incident.started_at, at)
        )),
        None => push(format!(
            "- {}: {} ({} {})",
            t(lang, "服务完全恢复时间", "Full recovery"),
            t(lang, "未恢复", "not yet"),
            t(lang, "已持续", "ongoing for"),
            since(incident.started_at, now)
        )),
    }
    push(format!(
        "\n### {}",
        t(lang, "详细时间线", "Detailed timeline")
    ));
    push(format!(
        "- {} {}",
        utc(incident.opened_at),
        opened_text(lang, incident)
    ));
    for entry in &incident.timeline {
        push(entry_line(lang, entry));
    }
    push(format!("\n## {}", t(lang, "事件分析", "Analysis")));
    push(format!("### {}", t(lang, "根本原因", "Root cause")));
    push(
        incident
            .root_cause
            .clone()
            .unwrap_or_else(|| to_fill.into()),
    );
    push(format!("\n### {}", t(lang, "影响范围", "Impact")));
    push(format!(
        "- {}: {to_fill}",
        t(lang, "受影响的用户数量", "Users affected")
    ));
    push(format!(
        "- {}: {}",
        t(lang, "受影响的功能", "Functions affected"),
        incident.impact.as_deref().unwrap_or(to_fill)
    ));
    push(format!(
        "- {}: {}",
        t(lang, "业务损失评估", "Business loss"),
        latest(incident, |e| e.update.as_ref()?.business_impact.clone())
            .unwrap_or_else(|| to_fill.into())
    ));
    if let Some(data) = &incident.data_impact {
        push(format!("- {}: {data}", t(lang, "数据影响", "Data impact")));
    }
    let (good, improve) = assessment(incident, lang);
    push(format!(
        "\n## {}",
        t(lang, "响应评估", "Response assessment")
    ));
    push(format!("### {}", t(lang, "做得好的地方", "What went well")));
    for item in good {
        push(format!("- {item}"));
    }
    push(format!("- {to_fill}"));
    push(format!(
        "\n### {}",
        t(lang, "需要改进的地方", "What to improve")
    ));
    for item in improve {
        push(format!("- {item}"));
    }
    push(format!("- {to_fill}"));
    push(format!("\n## {}", t(lang, "改进措施", "Improvements")));
    // Short term: due within two weeks of the review (or no date); long term: later.
    let horizon = now.date_naive() + Span::days(14);
    let (short, long): (Vec<&Action>, Vec<&Action>) = incident
        .actions
        .iter()
        .partition(|a| a.due.is_none_or(|due| due <= horizon));
    for (title, items) in [
        (
            t(
                lang,
                "短期措施 (1-2周内实施)",
                "Short term (within 1-2 weeks)",
            ),
            short,
        ),
        (
            t(
                lang,
                "长期措施 (1-3个月内实施)",
                "Long term (within 1-3 months)",
            ),
            long,
        ),
    ] {
        push(format!("### {title}"));
        if items.is_empty() {
            push(format!("1. {to_fill}"));
        }
        for (n, action) in items.iter().enumerate() {
            push(format!(
                "{}. {} ({}: {})",
                n + 1,
                action.item,
                t(lang, "验证标准", "verified by"),
                action.verification
            ));
        }
        push(String::new());
    }
    push(format!("## {}", t(lang, "行动项分配", "Action items")));
    if incident.actions.is_empty() {
        push(format!("- {to_fill}"));
    }
    for action in &incident.actions {
        push(format!(
            "- {}: {} ({} {}, {})",
            action.owner,
            action.item,
            t(lang, "截止", "due"),
            action
                .due
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            action_status(lang, action.status)
        ));
    }
    out
}

/// What the record itself says about the response: on time or late, evidence, notices.
fn assessment(incident: &Incident, lang: Lang) -> (Vec<String>, Vec<String>) {
    let mut good = Vec::new();
    let mut improve = Vec::new();
    let target = incident.response_target_seconds as i64;
    if let Some(at) = incident.responded_at {
        let took = at.signed_duration_since(incident.alerted_at).num_seconds();
        if took <= target {
            good.push(match lang {
                Lang::Zh => format!("响应用时 {}，在 {} 的目标之内", span(took), span(target)),
                Lang::En => format!(
                    "responded in {}, within the {} target",
                    span(took),
                    span(target)
                ),
            });
        } else {
            improve.push(match lang {
                Lang::Zh => format!(
                    "响应用时 {}，超出 {} 的目标 {}",
                    span(took),
                    span(target),
                    span(took - target)
                ),
                Lang::En => format!(
                    "responded in {}, {} over the {} target",
                    span(took),
                    span(took - target),
                    span(target)
                ),
            });
        }
    }
    let captured = incident.evidence.iter().filter(|e| e.captured).count();
    let missing: Vec<&str> = incident
        .evidence
        .iter()
        .filter(|e| !e.captured)
        .map(|e| e.name.as_str())
        .collect();
    if captured > 0 {
        good.push(match lang {
            Lang::Zh => format!("创建事件时自动采集了 {captured} 项证据"),
            Lang::En => {
                format!("{captured} pieces of evidence captured when the incident was opened")
            }
        });
    }
    if !missing.is_empty() {
        improve.push(match lang {
            Lang::Zh => format!("以下证据未能采集: {}", missing.join(", ")),
            Lang::En => format!(
                "evidence that could not be captured: {}",
                missing.join(", ")
            ),
        });
    }
    let members_told = incident
        .notices
        .iter()
        .any(|n| n.audience == "members" && n.delivered);
    if members_told {
        good.push(t(lang, "已通知会员", "members were notified").into());
    } else if incident.severity >= Severity::Error {
        improve.push(t(lang, "未向会员发送通知", "no notice was sent to members").into());
    }
    (good, improve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Evidence, UpdateDetails};
    use chrono::{NaiveDate, TimeZone};

    fn at(hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 16, hour, minute, second)
            .unwrap()
    }

    fn resolved_incident() -> Incident {
        let mut incident = Incident {
            id: "INC-2025-1116-001".into(),
            severity: Severity::Error,
            summary: "API 响应延迟增加".into(),
            impact: Some("API 服务响应延迟增加 20%".into()),
            state: State::Open,
            project: "fitness_gym".into(),
            environment: "production".into(),
            host: "h".into(),
            started_at: at(14, 25, 0),
            alerted_at: at(14, 30, 0),
            opened_at: at(14, 30, 10),
            opened_by: "alice".into(),
            response_target_seconds: 300,
            responded_at: None,
            fixed_at: None,
            resolved_at: None,
            root_cause: None,
            fix: None,
            data_impact: None,
            timeline: Vec::new(),
            evidence: vec![
                Evidence {
                    name: "health".into(),
                    file: Some("evidence/health.json".into()),
                    captured: true,
                    detail: "status: CRITICAL".into(),
                    elapsed_ms: 12,
                },
                Evidence {
                    name: "ps".into(),
                    file: None,
                    captured: false,
                    detail: "unavailable: cannot reach Docker".into(),
                    elapsed_ms: 3,
                },
            ],
            actions: Vec::new(),
            notices: Vec::new(),
        };
        let details = UpdateDetails {
            user_impact: Some(UserImpact::Moderate),
            business_impact: Some("订单处理延迟".into()),
            eta: Some("15:30 UTC".into()),
            next: Some("扩大连接池".into()),
            support: None,
        };
        incident
            .update(
                State::Investigating,
                "连接池耗尽",
                "bob",
                Some(details),
                at(14, 33, 0),
            )
            .unwrap();
        incident
            .update(State::Fixing, "扩大连接池", "bob", None, at(14, 50, 0))
            .unwrap();
        incident
            .update(State::Monitoring, "已部署", "bob", None, at(15, 0, 0))
            .unwrap();
        incident
            .resolve(
                "数据库连接池耗尽",
                "增加数据库连接池大小",
                "bob",
                at(15, 15, 0),
            )
            .unwrap();
        incident.actions.push(Action {
            id: "A1".into(),
            item: "增加数据库连接池监控".into(),
            owner: "@dba".into(),
            priority: Priority::High,
            status: ActionStatus::InProgress,
            due: NaiveDate::from_ymd_opt(2025, 11, 20),
            verification: "监控指标正常，告警规则生效".into(),
            created_at: at(15, 20, 0),
            done_at: None,
        });
        incident.actions.push(Action {
            id: "A2".into(),
            item: "实施蓝绿部署策略".into(),
            owner: "@devops".into(),
            priority: Priority::Medium,
            status: ActionStatus::Todo,
            due: NaiveDate::from_ymd_opt(2026, 1, 31),
            verification: "部署脚本支持蓝绿部署".into(),
            created_at: at(15, 20, 0),
            done_at: None,
        });
        incident
    }

    #[test]
    fn spans_keep_seconds_below_an_hour() {
        assert_eq!(span(40), "40s");
        assert_eq!(span(180), "3m");
        assert_eq!(span(270), "4m 30s");
        assert_eq!(span(7500), "2h 5m");
    }

    #[test]
    fn the_report_fills_every_field_of_the_guide_template() {
        let text = report(&resolved_incident(), &IncidentSettings::default());
        for expected in [
            "# 事件报告",
            "- **事件ID**: INC-2025-1116-001",
            "- **发生时间**: 2025-11-16 14:25 UTC",
            "- **解决时间**: 2025-11-16 15:15 UTC",
            "- **影响范围**: API 服务响应延迟增加 20%",
            "## 根本原因\n数据库连接池耗尽",
            "- 用户体验: 中等影响",
            "- 业务影响: 订单处理延迟",
            "## 解决措施\n增加数据库连接池大小",
            "- 增加数据库连接池监控 — @dba (优先级: 高, 状态: 进行中, 截止: 2025-11-20)",
            "- ps: unavailable: cannot reach Docker",
            "- health ([evidence/health.json](evidence/health.json)): status: CRITICAL",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn the_status_update_renders_the_newest_update_in_both_languages() {
        let incident = resolved_incident();
        let first = &incident.timeline[0];
        let zh = status_update(&incident, Some(first), Lang::Zh);
        for expected in [
            "# 事件状态更新 - #INC-2025-1116-001",
            "**当前状态**: 调查中",
            "**最新进展**:\n- 连接池耗尽",
            "- 用户影响: 中等影响",
            "- 业务影响: 订单处理延迟",
            "**预计恢复时间**: 15:30 UTC",
            "**下一步行动**:\n- 扩大连接池",
            "**需要支持**: 否",
        ] {
            assert!(zh.contains(expected), "missing {expected:?} in\n{zh}");
        }
        let en = status_update(&incident, None, Lang::En);
        assert!(en.contains("**Current status**: resolved"), "{en}");
        assert!(en.contains("**Expected recovery**: recovered"), "{en}");
        assert!(en.contains("- User impact: moderate"), "{en}");
    }

    #[test]
    fn the_member_notice_follows_the_guide_and_says_when_service_is_back() {
        let mut incident = resolved_incident();
        let settings = IncidentSettings::default();
        let fields = NoticeFields {
            problem: Some("无法在线预约课程".into()),
            eta: None,
            workaround: Some("请前台预约".into()),
        };
        let resolved = member_notice(&incident, &settings, Lang::Zh, &fields);
        assert!(resolved.contains("# 服务恢复通知"), "{resolved}");
        assert!(resolved.contains("**恢复时间**: 2025-11-16 15:15 UTC"));
        incident.state = State::Fixing;
        let zh = member_notice(&incident, &settings, Lang::Zh, &fields);
        for expected in [
            "# 服务维护通知",
            "亲爱的健身房会员：",
            "**问题描述**: 无法在线预约课程",
            "**影响**: API 服务响应延迟增加 20%",
            "**预计解决时间**: 15:30 UTC",
            "**备用方案**: 请前台预约",
            "如有疑问，请联系客服: support@fitness-gym.com",
            "健身房技术团队",
        ] {
            assert!(zh.contains(expected), "missing {expected:?} in\n{zh}");
        }
        let en = member_notice(&incident, &settings, Lang::En, &NoticeFields::default());
        assert!(en.contains("**Problem**: API 响应延迟增加"), "{en}");
        assert!(en.contains("**Alternative**: none at the moment"), "{en}");
        assert!(en.contains("The gym's technical team"), "{en}");
    }

    #[test]
    fn the_review_measures_each_phase_and_sorts_actions_by_horizon() {
        let incident = resolved_incident();
        let settings = IncidentSettings::default();
        let text = review(&incident, &settings, at(16, 0, 0));
        for expected in [
            "# 事件回顾会议 - #INC-2025-1116-001",
            "- alice\n- bob\n",
            "- 事件开始时间: 2025-11-16 14:25 UTC",
            "- 告警触发时间: 2025-11-16 14:30 UTC (+5m 自开始)",
            "- 响应开始时间: 2025-11-16 14:33 UTC (+3m 自告警; 目标 5m: 达标)",
            "- 问题解决时间: 2025-11-16 15:00 UTC (+27m 自响应)",
            "- 服务完全恢复时间: 2025-11-16 15:15 UTC (+15m 自解决; 总时长 50m)",
            "### 根本原因\n数据库连接池耗尽",
            "- 受影响的功能: API 服务响应延迟增加 20%",
            "- 响应用时 3m，在 5m 的目标之内",
            "- 以下证据未能采集: ps",
            "- 未向会员发送通知",
            "### 短期措施 (1-2周内实施)\n1. 增加数据库连接池监控 (验证标准: 监控指标正常，告警规则生效)",
            "### 长期措施 (1-3个月内实施)\n1. 实施蓝绿部署策略",
            "- @dba: 增加数据库连接池监控 (截止 2025-11-20, 进行中)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
