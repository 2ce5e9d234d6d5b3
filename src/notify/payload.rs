//! What each channel receives for an event: pure functions, unit-tested without a network.

use serde_json::{json, Value};

use super::Event;
use crate::i18n::tr;
use crate::settings::Severity;

/// Slack attachment color per severity.
fn color(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "#439FE0",
        Severity::Warning => "#F2C744",
        Severity::Error => "#E8590C",
        Severity::Critical => "#D00000",
    }
}

/// The one-line headline every channel starts with: `[CRITICAL] ServiceDown: API is down`.
pub fn headline(event: &Event) -> String {
    format!(
        "[{}] {}: {}",
        event.severity.label().to_uppercase(),
        event.alert_type,
        event.message
    )
}

/// Where the event comes from: `fitness_gym (production) on host-1`.
pub fn origin(event: &Event) -> String {
    format!(
        "{} ({}) on {}",
        event.project, event.environment, event.host
    )
}

/// A Slack incoming-webhook message: the headline as text (what notifications show), and an
/// attachment colored by severity carrying the origin, time and details as fields.
pub fn slack(event: &Event) -> Value {
    let mut fields = vec![
        json!({"title": tr("notify-severity"), "value": event.severity.label(), "short": true}),
        json!({"title": tr("notify-deployment"), "value": origin(event), "short": true}),
    ];
    for (name, value) in &event.details {
        fields.push(json!({"title": name, "value": value, "short": value.len() < 40}));
    }
    json!({
        "text": slack_text(&headline(event)),
        "attachments": [{
            "color": color(event.severity),
            "fallback": headline(event),
            "fields": fields,
            "footer": format!("gymops {} · event {}", env!("CARGO_PKG_VERSION"), event.id),
            "ts": event.time.timestamp(),
        }],
    })
}

/// The generic webhook body: every field of the event, flat and typed.
pub fn webhook(event: &Event) -> Value {
    let details: serde_json::Map<String, Value> = event
        .details
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    json!({
        "id": event.id,
        "source": "gymops",
        "version": env!("CARGO_PKG_VERSION"),
        "alert_type": event.alert_type,
        "severity": event.severity.label(),
        "message": event.message,
        "project": event.project,
        "environment": event.environment,
        "host": event.host,
        "time": event.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "details": details,
    })
}

/// Email subject and plain-text body.
/// Markdown as plain text for email and SMS: no `**`, no `#` before headings (which become
/// a line of their own), lists and paragraphs kept.
pub fn plain_text(markdown: &str) -> String {
    markdown
        .lines()
        .map(|line| {
            let line = line.replace("**", "");
            match line.trim_start().strip_prefix('#') {
                Some(_) => line
                    .trim_start()
                    .trim_start_matches('#')
                    .trim_start()
                    .to_string(),
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Markdown in Slack's mrkdwn: `**bold**` is `*bold*`, a heading is a bold line.
pub fn slack_text(markdown: &str) -> String {
    markdown
        .lines()
        .map(|line| match line.trim_start().strip_prefix('#') {
            Some(_) => format!(
                "*{}*",
                line.trim_start()
                    .trim_start_matches('#')
                    .trim()
                    .replace("**", "")
            ),
            None => line.replace("**", "*"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn email(event: &Event) -> (String, String) {
    let subject = format!(
        "[gymops][{}] {} - {} ({})",
        event.severity.label().to_uppercase(),
        event.alert_type,
        event.project,
        event.environment
    );
    let time = event
        .time
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // English lines its values up in a column; Chinese puts them after its own colon.
    let english = crate::i18n::current() == crate::i18n::Lang::En;
    let label = |id: &str| format!("{}{}", tr(id), if english { ":" } else { "：" });
    let field = |id: &str, value: &str| {
        if english {
            format!("{:<13}{value}\n", label(id))
        } else {
            format!("{}{value}\n", label(id))
        }
    };
    let mut body = format!("{}\n\n", plain_text(&event.message));
    body.push_str(&field("notify-severity", event.severity.label()));
    body.push_str(&field("notify-deployment", &origin(event)));
    body.push_str(&field("notify-time", &time));
    body.push_str(&field("notify-event-id", &event.id));
    if !event.details.is_empty() {
        body.push_str(&format!("\n{}\n", label("notify-details")));
        for (name, value) in &event.details {
            body.push_str(&format!("  {name}: {value}\n"));
        }
    }
    body.push_str(&format!(
        "\n-- \nSent by gymops {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn event() -> Event {
        Event {
            id: "20261127T101500-1a2b3c4d".into(),
            alert_type: "ServiceDown".into(),
            message: "API service is down".into(),
            severity: Severity::Critical,
            project: "fitness_gym".into(),
            environment: "production".into(),
            host: "gym-1".into(),
            time: chrono::Utc
                .with_ymd_and_hms(2026, 11, 27, 10, 15, 0)
                .unwrap(),
            details: vec![("service".into(), "backend".into())],
        }
    }

    #[test]
    fn slack_text_carries_severity_type_and_message() {
        let payload = slack(&event());
        assert_eq!(
            payload["text"],
            "[CRITICAL] ServiceDown: API service is down"
        );
        let attachment = &payload["attachments"][0];
        assert_eq!(attachment["color"], "#D00000");
        let fields = attachment["fields"].as_array().unwrap();
        assert!(fields
            .iter()
            .any(|f| f["title"] == "service" && f["value"] == "backend"));
        assert!(fields
            .iter()
            .any(|f| f["value"] == "fitness_gym (production) on gym-1"));
    }

    #[test]
    fn webhook_body_is_every_field() {
        let payload = webhook(&event());
        assert_eq!(payload["id"], "20261127T101500-1a2b3c4d");
        assert_eq!(payload["severity"], "critical");
        assert_eq!(payload["time"], "2026-11-27T10:15:00Z");
        assert_eq!(payload["details"]["service"], "backend");
    }

    #[test]
    fn email_subject_and_body() {
        let (subject, body) = email(&event());
        assert_eq!(
            subject,
            "[gymops][CRITICAL] ServiceDown - fitness_gym (production)"
        );
        assert!(body.starts_with("API service is down\n"));
        assert!(body.contains("Event ID:    20261127T101500-1a2b3c4d"));
        assert!(body.contains("  service: backend"));
    }

    #[test]
    fn member_notices_are_plain_text_in_email_and_mrkdwn_in_slack() {
        let notice = "# Service notice\n\nDear gym member,\n\n**Problem**: the app is down\n- item";
        assert_eq!(
            plain_text(notice),
            "Service notice\n\nDear gym member,\n\nProblem: the app is down\n- item"
        );
        assert_eq!(
            slack_text(notice),
            "*Service notice*\n\nDear gym member,\n\n*Problem*: the app is down\n- item"
        );
    }
}
