//! Notification settings: channels, Slack, webhooks, email, and the chat robots used in
//! China (DingTalk, WeCom, Feishu).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// Where a notification goes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A Slack incoming webhook
    Slack,
    /// A generic JSON webhook (POST)
    Webhook,
    /// Email over SMTP
    Email,
    /// A DingTalk (钉钉) group robot, signed when it has a secret
    Dingtalk,
    /// A WeCom (企业微信) group robot
    Wecom,
    /// A Feishu / Lark (飞书) custom bot, signed when it has a secret
    Feishu,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Webhook => "webhook",
            Channel::Email => "email",
            Channel::Dingtalk => "dingtalk",
            Channel::Wecom => "wecom",
            Channel::Feishu => "feishu",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Channels that commands' notifications (`monitor`, `backup monitor --notify`, incidents)
    /// go to; empty: commands do not notify.
    pub channels: Vec<Channel>,
    /// Events below this severity are not sent by commands (`alert send` always sends).
    pub min_severity: Severity,
    /// Timeout of one delivery attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Further attempts after a failed one (network errors, HTTP 429/5xx, SMTP 4xx).
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    pub slack: SlackSettings,
    pub webhook: WebhookSettings,
    pub email: EmailSettings,
    pub dingtalk: SignedRobotSettings,
    pub wecom: RobotSettings,
    pub feishu: SignedRobotSettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            channels: Vec::new(),
            min_severity: Severity::Warning,
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_secs(1),
            slack: SlackSettings::default(),
            webhook: WebhookSettings::default(),
            email: EmailSettings::default(),
            dingtalk: SignedRobotSettings::default(),
            wecom: RobotSettings::default(),
            feishu: SignedRobotSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSettings {
    /// File holding the incoming-webhook URL; or `GYMOPS_SLACK_WEBHOOK_URL`.
    pub webhook_url_file: Option<PathBuf>,
    /// Resolved webhook URL; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub webhook_url: Option<Secret>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// File holding the webhook URL; or `GYMOPS_WEBHOOK_URL`.
    pub url_file: Option<PathBuf>,
    /// Resolved webhook URL; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub url: Option<Secret>,
}

/// A chat robot with a signing secret (DingTalk's 加签, Feishu's 签名校验).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignedRobotSettings {
    /// File holding the robot's webhook URL (with its access token); or
    /// `GYMOPS_DINGTALK_WEBHOOK_URL` / `GYMOPS_FEISHU_WEBHOOK_URL`.
    pub webhook_url_file: Option<PathBuf>,
    /// File holding the robot's signing secret; or `GYMOPS_DINGTALK_SECRET` /
    /// `GYMOPS_FEISHU_SECRET`. Without one, messages go unsigned (the robot must then be
    /// secured by keywords or an IP list).
    pub secret_file: Option<PathBuf>,
    #[serde(skip)]
    pub webhook_url: Option<Secret>,
    #[serde(skip)]
    pub secret: Option<Secret>,
}

/// A chat robot whose webhook URL is its only key (WeCom's group robot).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RobotSettings {
    /// File holding the robot's webhook URL (with its key); or `GYMOPS_WECOM_WEBHOOK_URL`.
    pub webhook_url_file: Option<PathBuf>,
    #[serde(skip)]
    pub webhook_url: Option<Secret>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required; port 587)
    Starttls,
    /// TLS from the first byte (port 465)
    Tls,
    /// No encryption (only for a relay on this host)
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// SMTP server (the guide's Alertmanager uses smtp.gmail.com).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// Extra CA certificate (PEM) to trust for the SMTP server, e.g. a company CA.
    pub ca_file: Option<PathBuf>,
    /// SMTP user; no user: no authentication.
    pub username: Option<String>,
    /// File holding the SMTP password; or `GYMOPS_SMTP_PASSWORD`.
    pub password_file: Option<PathBuf>,
    /// Resolved password; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            smtp_host: None,
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            ca_file: None,
            username: None,
            password_file: None,
            password: None,
            from: "alerts@fitness-gym.com".into(),
            to: vec!["ops@fitness-gym.com".into()],
        }
    }
}
