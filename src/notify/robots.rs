//! The chat robots used in China: DingTalk (钉钉) group robots, WeCom (企业微信) group
//! robots and Feishu / Lark (飞书) custom bots. Their messages (markdown; a Feishu card),
//! their signatures, and how their answers are read: each answers HTTP 200 with a code in
//! the body, so a 200 with a non-zero code is a failed delivery. Pure: unit-tested.

use anyhow::{anyhow, Result};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::payload::{headline, origin};
use super::retry::{classify_http, Attempt};
use super::Event;
use crate::i18n::tr;
use crate::settings::{Channel, Severity};

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk's 加签: Base64 of HMAC-SHA256 keyed by the secret over `timestamp\nsecret`
/// (timestamp in milliseconds).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let text = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), text.as_bytes()))
}

/// The DingTalk URL to post to: the robot's URL with `timestamp` and `sign` added (URL
/// encoded) when it has a secret.
pub fn dingtalk_url(url: &str, secret: Option<&str>, timestamp_ms: i64) -> Result<String> {
    let Some(secret) = secret else {
        return Ok(url.to_string());
    };
    let mut parsed = url::Url::parse(url)
        .map_err(|err| anyhow!("the DingTalk webhook URL cannot be used: {err}"))?;
    parsed
        .query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &dingtalk_sign(secret, timestamp_ms));
    Ok(parsed.into())
}

/// Feishu's 签名校验: Base64 of HMAC-SHA256 keyed by `timestamp\nsecret` over nothing
/// (timestamp in seconds).
pub fn feishu_sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// The notification's title: the headline's first line (a member notice has many).
fn title(event: &Event) -> String {
    headline(event)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The message when it has more than one line (an incident's notice), as a paragraph of
/// its own under the title.
fn body_text(event: &Event) -> String {
    if event.message.contains('\n') {
        format!("{}\n\n", event.message.trim())
    } else {
        String::new()
    }
}

/// The lines every robot message carries under its headline.
fn facts(event: &Event) -> Vec<String> {
    let mut lines = vec![
        format!(
            "- **{}**: {}",
            tr("notify-severity"),
            event.severity.label()
        ),
        format!("- **{}**: {}", tr("notify-deployment"), origin(event)),
        format!(
            "- **{}**: {}",
            tr("notify-time"),
            event
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    ];
    for (name, value) in &event.details {
        lines.push(format!("- **{name}**: {value}"));
    }
    lines.push(format!("- **{}**: {}", tr("notify-event"), event.id));
    lines
}

/// A DingTalk markdown message (the title is what the notification shows).
pub fn dingtalk(event: &Event) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {
            "title": title(event),
            "text": format!("### {}\n\n{}{}\n", title(event), body_text(event), facts(event).join("\n")),
        },
    })
}

/// WeCom's font colours per severity (its markdown knows info, comment and warning).
fn wecom_color(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "comment",
        Severity::Error | Severity::Critical => "warning",
    }
}

/// A WeCom markdown message.
pub fn wecom(event: &Event) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": {
            "content": format!(
                "### <font color=\"{}\">{}</font>\n{}{}",
                wecom_color(event.severity),
                title(event),
                body_text(event),
                facts(event)
                    .iter()
                    .map(|line| line.replace("**", ""))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        },
    })
}

/// A Feishu interactive card, its header coloured by severity; `signature` is (timestamp,
/// sign) when the bot has a secret.
pub fn feishu(event: &Event, signature: Option<(i64, String)>) -> Value {
    let template = match event.severity {
        Severity::Info => "blue",
        Severity::Warning => "orange",
        Severity::Error | Severity::Critical => "red",
    };
    let mut body = json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {
                "template": template,
                "title": {"tag": "plain_text", "content": title(event)},
            },
            "elements": [{"tag": "markdown", "content": format!("{}{}", body_text(event), facts(event).join("\n"))}],
        },
    });
    if let Some((timestamp, sign)) = signature {
        body["timestamp"] = json!(timestamp.to_string());
        body["sign"] = json!(sign);
    }
    body
}

/// Codes that mean "too many messages, try later".
fn rate_limited(channel: Channel, code: i64) -> bool {
    match channel {
        Channel::Dingtalk => code == 130101,
        Channel::Wecom => code == 45009,
        Channel::Feishu => matches!(code, 11232 | 9499),
        _ => false,
    }
}

/// Read a robot's answer: HTTP errors as any webhook's; a 200 is delivered only with code 0
/// (`errcode` for DingTalk and WeCom, `code` — or the older `StatusCode` — for Feishu).
pub fn classify_robot(
    channel: Channel,
    status: u16,
    body: &str,
    retry_after: Option<std::time::Duration>,
) -> Attempt {
    let http = classify_http(status, body, retry_after);
    if http != Attempt::Delivered {
        return http;
    }
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        let short: String = body.trim().chars().take(120).collect();
        return Attempt::Permanent(format!(
            "HTTP {status} without the {}'s answer ({short})",
            channel.label()
        ));
    };
    let code = ["errcode", "code", "StatusCode"]
        .iter()
        .find_map(|key| answer.get(*key).and_then(Value::as_i64));
    let message = ["errmsg", "msg", "StatusMessage"]
        .iter()
        .find_map(|key| answer.get(*key).and_then(Value::as_str))
        .unwrap_or("");
    match code {
        Some(0) => Attempt::Delivered,
        Some(code) => {
            let why = format!("{} refused it: code {code} ({message})", channel.label());
            if rate_limited(channel, code) {
                Attempt::Transient {
                    why,
                    retry_after: None,
                }
            } else {
                Attempt::Permanent(why)
            }
        }
        None => Attempt::Permanent(format!(
            "HTTP {status} without a code from {}",
            channel.label()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_each_services_documented_algorithm() {
        // DingTalk's documented Python: hmac.new(secret, f"{ts}\n{secret}", sha256), Base64.
        let sign = dingtalk_sign("this is secret", 1_700_000_000_000);
        assert_eq!(
            sign,
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
                b"this is secret",
                b"1700000000000\nthis is secret"
            ))
        );
        let url = dingtalk_url(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            Some("this is secret"),
            1_700_000_000_000,
        )
        .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let pairs: std::collections::HashMap<String, String> =
            parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs["access_token"], "abc");
        assert_eq!(pairs["timestamp"], "1700000000000");
        assert_eq!(pairs["sign"], sign, "URL-encoded and decoded back");
        assert!(!url.contains('+') || url.contains("%2B"));
        // Feishu's: the key is f"{ts}\n{secret}", the message empty.
        assert_eq!(
            feishu_sign("s3cret", 1_700_000_000),
            base64::engine::general_purpose::STANDARD
                .encode(hmac_sha256(b"1700000000\ns3cret", b""))
        );
    }

    #[test]
    fn a_200_with_an_error_code_is_not_a_delivery() {
        let ok = r#"{"errcode":0,"errmsg":"ok"}"#;
        assert_eq!(
            classify_robot(Channel::Dingtalk, 200, ok, None),
            Attempt::Delivered
        );
        let bad_sign = r#"{"errcode":310000,"errmsg":"sign not match"}"#;
        assert!(matches!(
            classify_robot(Channel::Dingtalk, 200, bad_sign, None),
            Attempt::Permanent(why) if why.contains("code 310000 (sign not match)")
        ));
        assert!(matches!(
            classify_robot(
                Channel::Dingtalk,
                200,
                r#"{"errcode":130101,"errmsg":"send too fast"}"#,
                None
            ),
            Attempt::Transient { .. }
        ));
        assert!(matches!(
            classify_robot(
                Channel::Wecom,
                200,
                r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
                None
            ),
            Attempt::Transient { .. }
        ));
        assert_eq!(
            classify_robot(
                Channel::Feishu,
                200,
                r#"{"code":0,"msg":"success","data":{}}"#,
                None
            ),
            Attempt::Delivered
        );
        assert_eq!(
            classify_robot(
                Channel::Feishu,
                200,
                r#"{"StatusCode":0,"StatusMessage":"success"}"#,
                None
            ),
            Attempt::Delivered
        );
        assert!(matches!(
            classify_robot(
                Channel::Feishu,
                200,
                r#"{"code":19021,"msg":"sign match fail"}"#,
                None
            ),
            Attempt::Permanent(_)
        ));
        assert!(matches!(
            classify_robot(Channel::Wecom, 200, "<html>proxy</html>", None),
            Attempt::Permanent(_)
        ));
        assert!(matches!(
            classify_robot(Channel::Wecom, 502, "bad gateway", None),
            Attempt::Transient { .. }
        ));
    }

    #[test]
    fn messages_carry_the_headline_and_the_facts() {
        let event = Event {
            id: "20261127T101500-1a2b3c4d".into(),
            alert_type: "ServiceDown".into(),
            message: "API service is down".into(),
            severity: Severity::Critical,
            project: "fitness_gym".into(),
            environment: "production".into(),
            host: "gym-1".into(),
            time: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            details: vec![("service".into(), "backend".into())],
        };
        let d = dingtalk(&event);
        assert_eq!(d["msgtype"], "markdown");
        assert_eq!(
            d["markdown"]["title"],
            "[CRITICAL] ServiceDown: API service is down"
        );
        assert!(d["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("- **service**: backend"));
        let w = wecom(&event);
        assert!(w["markdown"]["content"]
            .as_str()
            .unwrap()
            .starts_with("### <font color=\"warning\">[CRITICAL] ServiceDown"));
        let f = feishu(&event, Some((1_700_000_000, "abc".into())));
        assert_eq!(f["msg_type"], "interactive");
        assert_eq!(f["timestamp"], "1700000000");
        assert_eq!(f["sign"], "abc");
        assert_eq!(f["card"]["header"]["template"], "red");
        assert!(feishu(&event, None).get("sign").is_none());
        // A notice of many lines: the first is the title, the rest a paragraph.
        let notice = Event {
            message: "# 服务通知\n\n尊敬的会员：系统维护中".into(),
            ..event
        };
        let d = dingtalk(&notice);
        assert_eq!(d["markdown"]["title"], "[CRITICAL] ServiceDown: # 服务通知");
        assert!(d["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("尊敬的会员：系统维护中"));
    }
}
