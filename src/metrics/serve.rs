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

/// What connections share: the cached metrics, and the relay's notifier.
pub struct State {
    pub cache: Cache,
    pub settings: Settings,
    pub notifier: Notifier,
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
            let mut event = Event::new(settings, &name, severity, message)
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

async fn relay(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    use http_body_util::BodyExt;
    let text_plain = "text/plain; charset=utf-8";
    let limited = http_body_util::Limited::new(request.into_body(), MAX_BODY);
    let body = match limited.collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
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
    if state.notifier.check_channel(Channel::Webhook).is_err() {
        return response(
            StatusCode::SERVICE_UNAVAILABLE,
            text_plain,
            Bytes::from_static(b"gymops has no webhook URL (GYMOPS_WEBHOOK_URL)\n"),
        );
    }
    let events = relay_events(&state.settings, &payload);
    let deliveries = futures_util::future::join_all(
        events
            .iter()
            .map(|event| state.notifier.send(event, Channel::Webhook)),
    )
    .await;
    let failed = deliveries.iter().filter(|d| !d.delivered).count();
    if failed == 0 {
        response(
            StatusCode::OK,
            text_plain,
            Bytes::from(format!("relayed {} alert(s)\n", deliveries.len())),
        )
    } else {
        // Alertmanager retries the whole group on a non-2xx answer.
        response(
            StatusCode::BAD_GATEWAY,
            text_plain,
            Bytes::from(format!(
                "{failed} of {} alert(s) not delivered\n",
                deliveries.len()
            )),
        )
    }
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
