//! The member notice (the guide's 8.4): plain words, no internals.

use super::*;
use crate::incident::{Incident, State};
use crate::settings::{IncidentSettings, Lang};

/// The guide's member notice (section 8.4).
/// What the member notice says beyond the record.
#[derive(Debug, Default, Clone)]
pub struct NoticeFields {
    pub problem: Option<String>,
    pub eta: Option<String>,
    pub workaround: Option<String>,
}

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
