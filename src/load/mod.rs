//! An HTTP load generator: keep-alive connections, each a task sending requests back to
//! back (or paced to a rate), latencies in an HDR histogram. Bounded in time and count, and
//! aimed only at loopback or the deployment's own URLs unless the operator says otherwise.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

use crate::probe::timing::{authority, bare_host, handshake, request_target};

/// The longest a run may last, whatever is asked.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// The most requests a run may send.
pub const MAX_REQUESTS: u64 = 100_000_000;

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub url: url::Url,
    pub connections: u32,
    /// Stop after this long (always set: the default or the bound).
    pub duration: Duration,
    /// Stop after this many requests, when given.
    pub requests: Option<u64>,
    /// Requests per second over all connections, when given.
    pub rate: Option<f64>,
    pub method: hyper::Method,
    pub body: Bytes,
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    pub timeout: Duration,
}

/// Whether `host` may be loaded without --allow-remote: loopback, or a host of the
/// deployment's own configured URLs.
pub fn target_allowed(host: &str, deployment_hosts: &[String]) -> bool {
    let bare = bare_host(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if ip.is_loopback() {
            return true;
        }
    }
    deployment_hosts
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(bare))
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub url: String,
    pub connections: u32,
    pub duration_seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    pub latency: Option<Latency>,
}

#[derive(Default)]
struct Shared {
    sent: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
}

struct Tally {
    histogram: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            // 1 µs .. 1 h, 3 significant figures.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }
}

/// Run the plan; `progress` is called about once a second with (elapsed, done, errors).
pub async fn run(
    plan: LoadPlan,
    mut progress: impl FnMut(Duration, u64, u64),
) -> Result<LoadReport> {
    let shared = Arc::new(Shared::default());
    let total = Arc::new(Mutex::new(Tally::new()));
    let started = Instant::now();
    let deadline = started + plan.duration.min(MAX_DURATION);
    let plan = Arc::new(plan);
    let mut tasks = Vec::new();
    for _ in 0..plan.connections {
        let (plan, shared, total) = (Arc::clone(&plan), Arc::clone(&shared), Arc::clone(&total));
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            connection_loop(&plan, &shared, &mut tally, started, deadline).await;
            let mut total = total.lock().expect("no panics while holding the tally");
            total.histogram.add(&tally.histogram).expect("same bounds");
            for (code, n) in tally.statuses {
                *total.statuses.entry(code).or_default() += n;
            }
            for (kind, n) in tally.errors {
                *total.errors.entry(kind).or_default() += n;
            }
        }));
    }
    let all = futures_util::future::join_all(tasks);
    tokio::pin!(all);
    loop {
        tokio::select! {
            _ = &mut all => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                progress(started.elapsed(), shared.done.load(Ordering::Relaxed), shared.errors.load(Ordering::Relaxed));
            }
            _ = crate::signals::terminated() => shared.stop.store(true, Ordering::Relaxed),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = Arc::try_unwrap(total)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .unwrap_or_else(Tally::new);
    let requests = total.histogram.len();
    let us = |v: u64| v as f64 / 1000.0;
    let latency = (requests > 0).then(|| Latency {
        mean_ms: (total.histogram.mean() / 1000.0 * 1000.0).round() / 1000.0,
        p50_ms: us(total.histogram.value_at_quantile(0.5)),
        p90_ms: us(total.histogram.value_at_quantile(0.9)),
        p99_ms: us(total.histogram.value_at_quantile(0.99)),
        p999_ms: us(total.histogram.value_at_quantile(0.999)),
        max_ms: us(total.histogram.max()),
    });
    Ok(LoadReport {
        url: crate::settings::mask_url(plan.url.as_str()),
        connections: plan.connections,
        duration_seconds: (elapsed * 1000.0).round() / 1000.0,
        requests,
        requests_per_second: ((requests as f64 / elapsed.max(1e-9)) * 10.0).round() / 10.0,
        statuses: total.statuses,
        errors: total.errors,
        latency,
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(plan: &LoadPlan, tls: Option<&tokio_rustls::TlsConnector>) -> Result<Sender> {
    let host = plan.url.host_str().ok_or_else(|| anyhow!("no host"))?;
    let bare = bare_host(host).to_string();
    let port = plan.url.port_or_known_default().unwrap_or(80);
    let tcp = TcpStream::connect((bare.as_str(), port))
        .await
        .context("connect")?;
    tcp.set_nodelay(true).ok();
    let sender = match tls {
        Some(connector) => {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(bare)
                .map_err(|_| anyhow!("tls name"))?;
            let stream = connector.connect(name, tcp).await.context("tls")?;
            handshake(TokioIo::new(stream)).await.context("http")?
        }
        None => handshake(TokioIo::new(tcp)).await.context("http")?,
    };
    Ok(sender)
}

/// What kind of failure, for counting: connect, tls, timeout, http.
fn error_kind(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let kind = text.split(':').next().unwrap_or("error").trim().to_string();
    if kind.is_empty() {
        "error".into()
    } else {
        kind
    }
}

async fn connection_loop(
    plan: &LoadPlan,
    shared: &Shared,
    tally: &mut Tally,
    started: Instant,
    deadline: Instant,
) {
    let tls = match plan.url.scheme() {
        "https" => match crate::probe::timing::tls_config(None) {
            Ok(config) => Some(tokio_rustls::TlsConnector::from(config)),
            Err(_) => {
                *tally.errors.entry("tls".into()).or_default() += 1;
                return;
            }
        },
        _ => None,
    };
    // The request line and Host header are the same for every request: built once.
    let (target, authority) = (request_target(&plan.url), authority(&plan.url));
    let mut sender: Option<Sender> = None;
    loop {
        if shared.stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            return;
        }
        // Claim a request slot (the count bound), and wait for its turn (the rate).
        let slot = shared.sent.fetch_add(1, Ordering::Relaxed);
        if slot >= plan.requests.unwrap_or(MAX_REQUESTS).min(MAX_REQUESTS) {
            return;
        }
        if let Some(rate) = plan.rate {
            let due = started + Duration::from_secs_f64(slot as f64 / rate);
            if due >= deadline {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        // A connection the server closed (Connection: close) is opened again, not an error.
        if let Some(existing) = sender.as_mut() {
            if existing.ready().await.is_err() {
                sender = None;
            }
        }
        if sender.is_none() {
            match tokio::time::timeout(plan.timeout, connect(plan, tls.as_ref())).await {
                Ok(Ok(new)) => sender = Some(new),
                Ok(Err(err)) => {
                    record_error(shared, tally, error_kind(&err));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(_) => {
                    record_error(shared, tally, "timeout".into());
                    continue;
                }
            }
        }
        let Some(active) = sender.as_mut() else {
            continue;
        };
        let mut request = hyper::Request::builder()
            .method(plan.method.clone())
            .uri(target.as_str())
            .header(hyper::header::HOST, authority.as_str());
        for (name, value) in &plan.headers {
            request = request.header(name, value);
        }
        let Ok(request) = request.body(Full::new(plan.body.clone())) else {
            record_error(shared, tally, "request".into());
            return;
        };
        let sent_at = Instant::now();
        let exchange = async {
            let response = active.send_request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            Ok::<u16, hyper::Error>(status)
        };
        match tokio::time::timeout(plan.timeout, exchange).await {
            Ok(Ok(status)) => {
                let micros = sent_at.elapsed().as_micros().clamp(1, 3_600_000_000) as u64;
                let _ = tally.histogram.record(micros);
                *tally.statuses.entry(status).or_default() += 1;
                shared.done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(err)) => {
                sender = None;
                let kind = if err.is_incomplete_message() {
                    "connection closed"
                } else {
                    "http"
                };
                record_error(shared, tally, kind.into());
            }
            Err(_) => {
                sender = None;
                record_error(shared, tally, "timeout".into());
            }
        }
    }
}

fn record_error(shared: &Shared, tally: &mut Tally, kind: String) {
    shared.errors.fetch_add(1, Ordering::Relaxed);
    *tally.errors.entry(kind).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_the_deployment_are_targets_by_default() {
        let deployment = vec!["gym.internal".to_string()];
        for host in [
            "127.0.0.1",
            "127.3.4.5",
            "localhost",
            "[::1]",
            "gym.internal",
        ] {
            assert!(target_allowed(host, &deployment), "{host}");
        }
        for host in ["10.0.0.5", "192.168.1.1", "example.com", "8.8.8.8"] {
            assert!(!target_allowed(host, &deployment), "{host}");
        }
    }

    #[test]
    fn errors_are_counted_by_their_first_word() {
        assert_eq!(
            error_kind(&anyhow!("refused").context("connect")),
            "connect"
        );
    }
}
