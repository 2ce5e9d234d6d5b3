//! The post-incident review (the guide's 8.5) and its assessment of what went well and what did not.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration as Span, Utc};

use super::*;
use crate::incident::{Action, Incident};
use crate::settings::{IncidentSettings, Lang, Severity};

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
