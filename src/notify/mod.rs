//! The notifier every command uses: Slack incoming webhooks, a generic JSON webhook, email
//! over SMTP (STARTTLS by default), and DingTalk, WeCom and Feishu robots ([`robots`]). One event is one message: each attempt of a
//! delivery carries the same event ID (`Idempotency-Key` header for webhooks), attempts are
//! retried with backoff only when the failure is transient, and every attempt has a timeout.
//! Webhook URLs and SMTP passwords are [`Secret`]s: errors and reports name only the host.

pub mod changes;
pub mod payload;
pub mod retry;
pub mod robots;

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::HintExt;
use crate::netutil::Http;
use crate::settings::{Channel, NotifySettings, Secret, Settings, Severity, SmtpTls};
use retry::{backoff_delay, classify_http, Attempt};

/// Something worth telling people about.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unique per event; the same on every attempt and every channel.
    pub id: String,
    /// What kind of event: ServiceDown, HighCPU, BackupStale...
    pub alert_type: String,
    pub message: String,
    pub severity: Severity,
    pub project: String,
    pub environment: String,
    pub host: String,
    pub time: DateTime<Utc>,
    /// Extra facts, in order (service, value, threshold...).
    pub details: Vec<(String, String)>,
}

impl Event {
    pub fn new(
        settings: &Settings,
        alert_type: &str,
        severity: Severity,
        message: impl Into<String>,
    ) -> Event {
        let time = Utc::now();
        Event {
            id: event_id(time),
            alert_type: alert_type.to_string(),
            message: message.into(),
            severity,
            project: settings.project.clone(),
            environment: settings.environment.clone(),
            host: hostname(),
            time,
            details: Vec::new(),
        }
    }

    pub fn detail(mut self, name: &str, value: impl Into<String>) -> Event {
        self.details.push((name.to_string(), value.into()));
        self
    }
}

/// The severity a check status is notified at: critical stays critical, "could not check"
/// is an error, anything else (a warning) a warning.
pub fn severity_of(status: crate::exit::Status) -> Severity {
    match status {
        crate::exit::Status::Critical => Severity::Critical,
        crate::exit::Status::Unknown => Severity::Error,
        _ => Severity::Warning,
    }
}

/// `20261127T101500-1a2b3c4d`: sortable by time, random enough to be unique.
fn event_id(time: DateTime<Utc>) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(time.timestamp_nanos_opt().unwrap_or_default() as u128);
    hasher.write_u32(std::process::id());
    format!(
        "{}-{:08x}",
        time.format("%Y%m%dT%H%M%S"),
        hasher.finish() as u32
    )
}

/// The error for deliveries that failed (`what` was not delivered), or Ok when all arrived.
pub fn delivered_or_error(what: &str, deliveries: &[Delivery]) -> Result<()> {
    let failed: Vec<String> = deliveries
        .iter()
        .filter(|d| !d.delivered)
        .map(|d| {
            format!(
                "{} after {} attempt(s): {}",
                d.channel.label(),
                d.attempts,
                d.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(anyhow!("{what} not delivered: {}", failed.join("; "))).hint(
        "check the receiver and the notify.* settings (`gymops config check`); transient failures were retried",
    )
}

/// This machine's name, for the reader of a notification.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// How one channel's delivery of one event went.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub channel: Channel,
    /// Where it went, without secrets: the webhook's host, or the email recipients.
    pub target: String,
    pub delivered: bool,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Notifier {
    settings: NotifySettings,
    http: Http,
}

impl Notifier {
    /// Notifications through the run's HTTP client, which never follows a redirect: a
    /// webhook URL does not send its secret-bearing request on to another address.
    pub fn new(settings: &NotifySettings, http: &Http) -> Notifier {
        Notifier {
            settings: settings.clone(),
            http: http.clone(),
        }
    }

    /// Channels commands notify through: the configured ones that have what they need.
    pub fn command_channels(&self) -> Vec<Channel> {
        self.settings
            .channels
            .iter()
            .copied()
            .filter(|channel| self.check_channel(*channel).is_ok())
            .collect()
    }

    /// Whether commands would send an event of this severity anywhere.
    pub fn wants(&self, severity: Severity) -> bool {
        severity >= self.settings.min_severity && !self.command_channels().is_empty()
    }

    /// What a channel still lacks, as an error with the setting to fill in.
    pub fn check_channel(&self, channel: Channel) -> Result<()> {
        match channel {
            Channel::Slack if self.settings.slack.webhook_url.is_none() => Err(anyhow!(
                "the slack channel has no webhook URL"
            ))
            .hint("set GYMOPS_SLACK_WEBHOOK_URL or notify.slack.webhook_url_file (a file holding only the URL)"),
            Channel::Webhook if self.settings.webhook.url.is_none() => Err(anyhow!(
                "the webhook channel has no URL"
            ))
            .hint("set GYMOPS_WEBHOOK_URL or notify.webhook.url_file (a file holding only the URL)"),
            Channel::Dingtalk if self.settings.dingtalk.webhook_url.is_none() => Err(anyhow!(
                "the dingtalk channel has no robot webhook URL"
            ))
            .hint("set GYMOPS_DINGTALK_WEBHOOK_URL or notify.dingtalk.webhook_url_file (a file holding only the URL), and its signing secret in GYMOPS_DINGTALK_SECRET or notify.dingtalk.secret_file"),
            Channel::Wecom if self.settings.wecom.webhook_url.is_none() => Err(anyhow!(
                "the wecom channel has no robot webhook URL"
            ))
            .hint("set GYMOPS_WECOM_WEBHOOK_URL or notify.wecom.webhook_url_file (a file holding only the URL)"),
            Channel::Feishu if self.settings.feishu.webhook_url.is_none() => Err(anyhow!(
                "the feishu channel has no bot webhook URL"
            ))
            .hint("set GYMOPS_FEISHU_WEBHOOK_URL or notify.feishu.webhook_url_file (a file holding only the URL), and its signing secret in GYMOPS_FEISHU_SECRET or notify.feishu.secret_file"),
            Channel::Email if self.settings.email.smtp_host.is_none() => {
                Err(anyhow!("the email channel has no SMTP server"))
                    .hint("set notify.email.smtp_host (and smtp_port, username, password_file) in gymops.yaml")
            }
            Channel::Email if self.settings.email.to.is_empty() => {
                Err(anyhow!("the email channel has no recipients"))
                    .hint("set notify.email.to in gymops.yaml, or pass --to ADDRESS")
            }
            Channel::Email
                if self.settings.email.username.is_some()
                    && self.settings.email.password.is_none() =>
            {
                Err(anyhow!(
                    "notify.email.username is set but there is no SMTP password"
                ))
                .hint("set GYMOPS_SMTP_PASSWORD or notify.email.password_file")
            }
            Channel::Email
                if self.settings.email.username.is_some()
                    && self.settings.email.tls == crate::settings::SmtpTls::None
                    && !crate::netutil::is_loopback_host(self.settings.email.smtp_host.as_deref().unwrap_or("")) =>
            {
                Err(anyhow!(
                    "notify.email.tls is none: the SMTP password would cross the network in clear text to {}",
                    self.settings.email.smtp_host.as_deref().unwrap_or("")
                ))
                .hint("set notify.email.tls to starttls or tls (none is only for a relay on this host)")
            }
            _ => Ok(()),
        }
    }

    /// Send to the channels commands use, when the event is severe enough; concurrently.
    pub async fn notify(&self, event: &Event) -> Vec<Delivery> {
        if event.severity < self.settings.min_severity {
            return Vec::new();
        }
        self.send_all(event, &self.command_channels()).await
    }

    pub async fn send_all(&self, event: &Event, channels: &[Channel]) -> Vec<Delivery> {
        futures_util::future::join_all(channels.iter().map(|channel| self.send(event, *channel)))
            .await
    }

    /// Deliver one event to one channel, retrying transient failures with backoff.
    pub async fn send(&self, event: &Event, channel: Channel) -> Delivery {
        let started = Instant::now();
        let target = self.target(channel);
        let mut delivery = Delivery {
            channel,
            target,
            delivered: false,
            attempts: 0,
            elapsed_ms: 0,
            error: None,
        };
        if let Err(err) = self.check_channel(channel) {
            delivery.error = Some(crate::error::describe(&err).0);
            return delivery;
        }
        let attempts = self.settings.retries.saturating_add(1);
        for attempt in 0..attempts {
            delivery.attempts = attempt + 1;
            let outcome = self.attempt(event, channel).await;
            tracing::debug!(
                channel = channel.label(),
                attempt = attempt + 1,
                ?outcome,
                "notification attempt"
            );
            match outcome {
                Attempt::Delivered => {
                    delivery.delivered = true;
                    delivery.error = None;
                    break;
                }
                Attempt::Permanent(why) => {
                    delivery.error = Some(why);
                    break;
                }
                Attempt::Transient { why, retry_after } => {
                    delivery.error = Some(why);
                    if attempt + 1 < attempts {
                        tokio::time::sleep(backoff_delay(
                            self.settings.backoff,
                            attempt,
                            retry_after,
                        ))
                        .await;
                    }
                }
            }
        }
        delivery.elapsed_ms = started.elapsed().as_millis() as u64;
        delivery
    }

    fn target(&self, channel: Channel) -> String {
        let host_of = |secret: &Option<Secret>| {
            secret
                .as_ref()
                .and_then(|url| url::Url::parse(url.expose()).ok())
                .and_then(|url| url.host_str().map(str::to_string))
                .unwrap_or_else(|| "-".into())
        };
        match channel {
            Channel::Slack => host_of(&self.settings.slack.webhook_url),
            Channel::Webhook => host_of(&self.settings.webhook.url),
            Channel::Email => self.settings.email.to.join(", "),
            Channel::Dingtalk => host_of(&self.settings.dingtalk.webhook_url),
            Channel::Wecom => host_of(&self.settings.wecom.webhook_url),
            Channel::Feishu => host_of(&self.settings.feishu.webhook_url),
        }
    }

    async fn attempt(&self, event: &Event, channel: Channel) -> Attempt {
        let timeout = self.settings.timeout;
        let work = async {
            match channel {
                Channel::Slack => {
                    let url = self.settings.slack.webhook_url.as_ref();
                    self.post(url, event, &payload::slack(event)).await
                }
                Channel::Webhook => {
                    let url = self.settings.webhook.url.as_ref();
                    self.post(url, event, &payload::webhook(event)).await
                }
                Channel::Email => self.email(event).await,
                Channel::Dingtalk => {
                    let Some(url) = self.settings.dingtalk.webhook_url.as_ref() else {
                        return Attempt::Permanent("no URL configured".into());
                    };
                    // Signed per attempt: DingTalk refuses a timestamp an hour old.
                    let secret = self.settings.dingtalk.secret.as_ref().map(|s| s.expose());
                    match robots::dingtalk_url(url.expose(), secret, Utc::now().timestamp_millis())
                    {
                        Ok(signed) => {
                            self.post_robot(channel, &signed, event, &robots::dingtalk(event))
                                .await
                        }
                        Err(err) => Attempt::Permanent(crate::error::describe(&err).0),
                    }
                }
                Channel::Wecom => {
                    let Some(url) = self.settings.wecom.webhook_url.as_ref() else {
                        return Attempt::Permanent("no URL configured".into());
                    };
                    self.post_robot(channel, url.expose(), event, &robots::wecom(event))
                        .await
                }
                Channel::Feishu => {
                    let Some(url) = self.settings.feishu.webhook_url.as_ref() else {
                        return Attempt::Permanent("no URL configured".into());
                    };
                    let signature = self.settings.feishu.secret.as_ref().map(|secret| {
                        let now = Utc::now().timestamp();
                        (now, robots::feishu_sign(secret.expose(), now))
                    });
                    self.post_robot(
                        channel,
                        url.expose(),
                        event,
                        &robots::feishu(event, signature),
                    )
                    .await
                }
            }
        };
        // The client has its own timeouts; this one also bounds SMTP's many round trips.
        match tokio::time::timeout(timeout + Duration::from_millis(500), work).await {
            Ok(outcome) => outcome,
            Err(_) => Attempt::Transient {
                why: format!("no answer within {}", humantime::format_duration(timeout)),
                retry_after: None,
            },
        }
    }

    async fn post(&self, url: Option<&Secret>, event: &Event, body: &serde_json::Value) -> Attempt {
        let Some(url) = url else {
            return Attempt::Permanent("no URL configured".into());
        };
        self.post_to(url.expose(), event, body, |status, text, retry_after| {
            classify_http(status, text, retry_after)
        })
        .await
    }

    /// Post to a chat robot, whose answer says in its body whether it took the message.
    async fn post_robot(
        &self,
        channel: Channel,
        url: &str,
        event: &Event,
        body: &serde_json::Value,
    ) -> Attempt {
        self.post_to(url, event, body, |status, text, retry_after| {
            robots::classify_robot(channel, status, text, retry_after)
        })
        .await
    }

    /// POST `body` as JSON to `url` (a secret: never in an error) and sort the answer.
    async fn post_to(
        &self,
        url: &str,
        event: &Event,
        body: &serde_json::Value,
        classify: impl Fn(u16, &str, Option<Duration>) -> Attempt,
    ) -> Attempt {
        let request = self
            .http
            .request(reqwest::Method::POST, url, self.settings.timeout)
            .header("Idempotency-Key", &event.id)
            .header("X-Gymops-Event", &event.id)
            .json(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text =
                    crate::netutil::text_capped(response, crate::netutil::NOTIFY_ANSWER_CAP).await;
                classify(status, &text, retry_after)
            }
            // without_url: the URL is the secret.
            // A URL that cannot be sent to (a bad scheme, no host) is wrong on every try.
            Err(err) if err.is_builder() => Attempt::Permanent(format!(
                "the URL cannot be used: {}",
                root_cause(&err.without_url())
            )),
            Err(err) => {
                let err = err.without_url();
                let why = if err.is_timeout() {
                    "timed out".to_string()
                } else if err.is_connect() {
                    format!("cannot connect ({})", root_cause(&err))
                } else {
                    root_cause(&err)
                };
                Attempt::Transient {
                    why,
                    retry_after: None,
                }
            }
        }
    }

    async fn email(&self, event: &Event) -> Attempt {
        match self.email_transport_and_message(event) {
            Ok((transport, message)) => {
                use lettre::AsyncTransport;
                match transport.send(message).await {
                    Ok(_) => Attempt::Delivered,
                    Err(err) if err.is_permanent() => {
                        Attempt::Permanent(format!("SMTP server refused: {}", root_cause(&err)))
                    }
                    Err(err) => Attempt::Transient {
                        why: format!("SMTP: {}", root_cause(&err)),
                        retry_after: None,
                    },
                }
            }
            Err(err) => Attempt::Permanent(crate::error::describe(&err).0),
        }
    }

    fn email_transport_and_message(
        &self,
        event: &Event,
    ) -> Result<(
        lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        lettre::Message,
    )> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        use lettre::{AsyncSmtpTransport, Tokio1Executor};

        let email = &self.settings.email;
        let host = email
            .smtp_host
            .as_deref()
            .ok_or_else(|| anyhow!("no SMTP server configured"))?;
        let parameters = || -> Result<TlsParameters> {
            let mut builder = TlsParameters::builder(host.to_string());
            if let Some(path) = &email.ca_file {
                let pem = std::fs::read(path).with_context(|| {
                    format!("cannot read notify.email.ca_file {}", path.display())
                })?;
                let certificate = Certificate::from_pem(&pem).with_context(|| {
                    format!(
                        "notify.email.ca_file {} is not a PEM certificate",
                        path.display()
                    )
                })?;
                builder = builder.add_root_certificate(certificate);
            }
            builder.build_rustls().context("cannot set up TLS for SMTP")
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(email.smtp_port)
            .timeout(Some(self.settings.timeout));
        builder = match email.tls {
            SmtpTls::Starttls => builder.tls(Tls::Required(parameters()?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(parameters()?)),
            SmtpTls::None => builder.tls(Tls::None),
        };
        if let Some(user) = &email.username {
            let password = email
                .password
                .as_ref()
                .ok_or_else(|| anyhow!("no SMTP password for {user}"))?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let (subject, body) = payload::email(event);
        let mut message =
            lettre::Message::builder()
                .from(email.from.parse().with_context(|| {
                    format!("notify.email.from `{}` is not an address", email.from)
                })?)
                .subject(subject)
                .message_id(Some(format!("<{}@gymops>", event.id)));
        for to in &email.to {
            message = message.to(to
                .parse()
                .with_context(|| format!("recipient `{to}` is not an address"))?);
        }
        let message = message
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body)
            .context("cannot build the email")?;
        Ok((builder.build(), message))
    }
}

/// The innermost cause of an error, which is what says what went wrong.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = err;
    let mut text = cause.to_string();
    while let Some(source) = cause.source() {
        cause = source;
        let next = cause.to_string();
        if !next.is_empty() {
            text = next;
        }
    }
    text
}
