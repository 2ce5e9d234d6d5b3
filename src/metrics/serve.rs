//! The exporter's HTTP side: `/metrics` answers from the newest rendering held in memory, so
//! a scrape costs a copy of a string whatever the scrape rate; a collector task refreshes it.
//! `POST /alertmanager` takes Alertmanager's webhook and relays each alert to the notifier's
//! webhook channel, so the webhook URL (a secret) stays in gymops's settings.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{RwLock, Semaphore};

use crate::notify::{Event, Notifier};
use crate::settings::{Channel, Settings, Severity};

/// Largest Alertmanager payload accepted.
const MAX_BODY: usize = 1 << 20;
/// How long a request body may take to arrive (headers: HEADER_READ_TIMEOUT).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most alerts one relay request may carry (Alertmanager sends a group: a handful).
pub const MAX_ALERTS: usize = 100;
/// Relayed alerts waiting for delivery; a full queue answers 503 and Alertmanager retries.
pub const QUEUE_DEPTH: usize = 256;
/// Deliveries in flight at once.
pub const CONCURRENT_DELIVERIES: usize = 4;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The newest rendering, shared by the collector and every connection.
#[derive(Clone, Default)]
pub struct Cache {
    text: Arc<RwLock<Bytes>>,
}

impl Cache {
    pub async fn store(&self, text: String) {
        *self.text.write().await = Bytes::from(text);
    }

    async fn load(&self) -> Bytes {
        self.text.read().await.clone()
    }
}

fn response(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// What connections share: the cached metrics, and the relay's queue.
pub struct State {
    pub cache: Cache,
    pub settings: Settings,
    pub relay: Option<Relay>,
}

/// The Alertmanager relay: authenticated by a bearer token, answering at once and
/// delivering from a bounded queue (the notifier retries each delivery).
pub struct Relay {
    token: crate::settings::Secret,
    queue: tokio::sync::mpsc::Sender<Event>,
}

impl Relay {
    /// The relay and its delivery task. None when there is no token or no webhook URL:
    /// then the relay answers 503 and sends nothing.
    pub fn start(
        settings: &Settings,
        notifier: Notifier,
    ) -> Option<(Relay, tokio::task::JoinHandle<()>)> {
        let token = settings.metrics.relay_token.clone()?;
        notifier.check_channel(Channel::Webhook).ok()?;
        let (queue, mut waiting) = tokio::sync::mpsc::channel::<Event>(QUEUE_DEPTH);
        let notifier = Arc::new(notifier);
        let permits = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
        let task = tokio::spawn(async move {
            while let Some(event) = waiting.recv().await {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let notifier = notifier.clone();
                tokio::spawn(async move {
                    let delivery = notifier.send(&event, Channel::Webhook).await;
                    if !delivery.delivered {
                        tracing::warn!(
                            "relayed alert {} ({}) not delivered: {}",
                            event.alert_type,
                            event.id,
                            delivery.error.as_deref().unwrap_or("unknown")
                        );
                    }
                    drop(permit);
                });
            }
        });
        Some((Relay { token, queue }, task))
    }
}

/// Whether the request carries `Authorization: Bearer TOKEN` (compared in constant time).
fn authorized(request: &Request<Incoming>, token: &crate::settings::Secret) -> bool {
    let Some(given) = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    use sha2::Digest;
    // Equal-length digests compared byte by byte without an early exit.
    let a = sha2::Sha256::digest(given.trim().as_bytes());
    let b = sha2::Sha256::digest(token.expose().trim().as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[derive(serde::Deserialize)]
struct AlertmanagerPayload {
    #[serde(default)]
    alerts: Vec<AlertmanagerAlert>,
}

#[derive(serde::Deserialize)]
struct AlertmanagerAlert {
    #[serde(default)]
    status: String,
    /// Alertmanager's identity of the alert (its label set).
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: String,
}

/// Events for an Alertmanager payload: one per alert; a resolved alert is an info event.
fn relay_events(settings: &Settings, payload: &AlertmanagerPayload) -> Vec<Event> {
    payload
        .alerts
        .iter()
        .map(|alert| {
            let name = alert
                .labels
                .get("alertname")
                .cloned()
                .unwrap_or_else(|| "Alert".into());
            let resolved = alert.status == "resolved";
            let severity = match alert.labels.get("severity").map(String::as_str) {
                _ if resolved => Severity::Info,
                Some("critical") => Severity::Critical,
                Some("error") => Severity::Error,
                Some("info") => Severity::Info,
                _ => Severity::Warning,
            };
            let summary = alert
                .annotations
                .get("summary")
                .cloned()
                .unwrap_or_default();
            let description = alert
                .annotations
                .get("description")
                .cloned()
                .unwrap_or_default();
            let mut message = match (summary.is_empty(), description.is_empty()) {
                (false, false) => format!("{summary}: {description}"),
                (false, true) => summary,
                (true, false) => description,
                (true, true) => name.clone(),
            };
            if resolved {
                message = format!("RESOLVED: {message}");
            }
            let mut event = Event::new(settings, &name, severity, message);
            // The same alert (fingerprint, start, status) gets the same idempotency key on
            // every resend, so a receiver can drop repeats.
            event.id = alert_id(alert, &name);
            let mut event = event
                .detail("source", "alertmanager")
                .detail("status", alert.status.clone());
            if !alert.starts_at.is_empty() {
                event = event.detail("starts_at", alert.starts_at.clone());
            }
            for (label, value) in &alert.labels {
                if label != "alertname" && label != "severity" {
                    event = event.detail(label, value.clone());
                }
            }
            event
        })
        .collect()
}

/// `am-` + 16 hex digits of the alert's fingerprint (or labels), start and status.
fn alert_id(alert: &AlertmanagerAlert, name: &str) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    if alert.fingerprint.is_empty() {
        hasher.update(name.as_bytes());
        for (label, value) in &alert.labels {
            hasher.update(format!("\0{label}={value}").as_bytes());
        }
    } else {
        hasher.update(alert.fingerprint.as_bytes());
    }
    hasher.update(format!("\0{}\0{}", alert.starts_at, alert.status).as_bytes());
    let digest = hasher.finalize();
    format!("am-{}", crate::random::hex(&digest[..8]))
}

async fn relay(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let text_plain = "text/plain; charset=utf-8";
    let Some(relay) = &state.relay else {
        return response(
            StatusCode::SERVICE_UNAVAILABLE,
            text_plain,
            Bytes::from_static(b"the relay is off: gymops has no relay token (metrics.relay_token_file) or no webhook URL (GYMOPS_WEBHOOK_URL)\n"),
        );
    };
    if !authorized(&request, &relay.token) {
        let mut reply = response(
            StatusCode::UNAUTHORIZED,
            text_plain,
            Bytes::from_static(b"a bearer token is required\n"),
        );
        reply.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer"),
        );
        return reply;
    }
    let limited = http_body_util::Limited::new(request.into_body(), MAX_BODY);
    // A client that sends its body slowly never holds a connection slot for long.
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(body)) => body.to_bytes(),
        Err(_) => {
            return response(
                StatusCode::REQUEST_TIMEOUT,
                text_plain,
                Bytes::from_static(b"the request body did not arrive in time\n"),
            )
        }
        Ok(Err(_)) => {
            return response(
                StatusCode::PAYLOAD_TOO_LARGE,
                text_plain,
                Bytes::from_static(b"payload too large or cut off\n"),
            )
        }
    };
    let payload: AlertmanagerPayload = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(err) => {
            return response(
                StatusCode::BAD_REQUEST,
                text_plain,
                Bytes::from(format!("not an Alertmanager webhook payload: {err}\n")),
            )
        }
    };
    if payload.alerts.len() > MAX_ALERTS {
        return response(
            StatusCode::PAYLOAD_TOO_LARGE,
            text_plain,
            Bytes::from(format!(
                "{} alerts in one request; at most {MAX_ALERTS}\n",
                payload.alerts.len()
            )),
        );
    }
    let events = relay_events(&state.settings, &payload);
    // All or nothing: a partly queued group would be queued again on Alertmanager's retry.
    let permits = match relay.queue.try_reserve_many(events.len().max(1)) {
        Ok(permits) => permits,
        Err(_) => {
            return response(
                StatusCode::SERVICE_UNAVAILABLE,
                text_plain,
                Bytes::from_static(b"the delivery queue is full; retry later\n"),
            )
        }
    };
    let queued = events.len();
    for (permit, event) in permits.zip(events) {
        permit.send(event);
    }
    response(
        StatusCode::ACCEPTED,
        text_plain,
        Bytes::from(format!("queued {queued} alert(s) for delivery\n")),
    )
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let cache = &state.cache;
    let text_plain = "text/plain; charset=utf-8";
    if request.method() == hyper::Method::POST && request.uri().path() == "/alertmanager" {
        return Ok(relay(&state, request).await);
    }
    let reply = match (request.method().as_str(), request.uri().path()) {
        ("GET" | "HEAD", "/metrics") => {
            let body = cache.load().await;
            if body.is_empty() {
                response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    text_plain,
                    Bytes::from_static(b"first collection still running\n"),
                )
            } else {
                response(StatusCode::OK, CONTENT_TYPE, body)
            }
        }
        ("GET" | "HEAD", "/healthz") => {
            response(StatusCode::OK, text_plain, Bytes::from_static(b"ok\n"))
        }
        ("GET" | "HEAD", "/") => response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from_static(
                b"<html><head><title>gymops exporter</title></head><body><h1>gymops exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n",
            ),
        ),
        ("GET" | "HEAD", _) => response(
            StatusCode::NOT_FOUND,
            text_plain,
            Bytes::from_static(b"not found; metrics are at /metrics\n"),
        ),
        _ => response(
            StatusCode::METHOD_NOT_ALLOWED,
            text_plain,
            Bytes::from_static(b"only GET\n"),
        ),
    };
    Ok(reply)
}

/// Accept connections until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            permit = permits.clone().acquire_owned() => permit.context("the connection limit closed")?,
        };
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(state.clone(), request));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            // A whole connection is bounded too: a client that never reads cannot hold a slot.
            let _ = tokio::time::timeout(Duration::from_secs(60), connection).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alertmanager_alerts_become_events() {
        let payload: AlertmanagerPayload = serde_json::from_str(
            r#"{"version":"4","status":"firing","alerts":[
                {"status":"firing","labels":{"alertname":"PostgresDown","severity":"critical","job":"gymops"},
                 "annotations":{"summary":"PostgreSQL does not answer","description":"for 1 minute"},
                 "startsAt":"2026-11-27T10:00:00Z"},
                {"status":"resolved","labels":{"alertname":"HighCPUUsage","severity":"warning"},
                 "annotations":{"summary":"High CPU usage detected"}}]}"#,
        )
        .unwrap();
        let events = relay_events(&Settings::default(), &payload);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].alert_type, "PostgresDown");
        assert_eq!(events[0].severity, Severity::Critical);
        assert_eq!(
            events[0].message,
            "PostgreSQL does not answer: for 1 minute"
        );
        assert!(events[0]
            .details
            .contains(&("job".to_string(), "gymops".to_string())));
        assert_eq!(events[1].severity, Severity::Info);
        assert_eq!(events[1].message, "RESOLVED: High CPU usage detected");
    }
}
