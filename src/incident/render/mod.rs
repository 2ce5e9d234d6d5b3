//! The guide's templates, filled from the record: the incident report (7.7), the internal
//! status update and the member notice (8.4), the post-incident review (8.5). Chinese as in
//! the guide, or English. Pure functions of the record and the time; one file per document,
//! the words and formats they share here.

mod notice;
mod report;
mod review;
mod status;

use chrono::{DateTime, Utc};

use super::{Action, ActionStatus, Entry, Incident, Priority, State, UserImpact};
use crate::settings::{Lang, Severity};

pub use notice::{member_notice, NoticeFields};
pub use report::report;
pub use review::review;
pub use status::status_update;

pub(super) fn t(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
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

pub(super) fn user_impact(lang: Lang, impact: UserImpact) -> &'static str {
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

pub(super) fn pending(lang: Lang) -> &'static str {
    t(lang, "待确定", "to be determined")
}

/// Newest value of an update field over the timeline.
pub(super) fn latest<T: Clone>(
    incident: &Incident,
    field: impl Fn(&Entry) -> Option<T>,
) -> Option<T> {
    incident.timeline.iter().rev().find_map(field)
}

pub(super) fn opened_text(lang: Lang, incident: &Incident) -> String {
    format!(
        "[{}] {} {}: {}",
        state(lang, State::Open),
        t(lang, "创建者", "opened by"),
        incident.opened_by,
        incident.summary
    )
}

pub(super) fn entry_line(lang: Lang, entry: &Entry) -> String {
    format!(
        "- {} [{}] {} ({})",
        utc(entry.time),
        state(lang, entry.state),
        entry.note,
        entry.by
    )
}

pub(super) fn action_line(lang: Lang, action: &Action) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Evidence, UpdateDetails};
    use crate::settings::IncidentSettings;
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
