//! HTTP probes: the Spring backend's endpoints, MinIO's health endpoints and console.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::{CheckKind, CheckResult};
use crate::exit::Status;
use crate::netutil::{error_chain, Http};
use crate::say;

/// One URL to probe.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    pub check: CheckKind,
    pub name: String,
    pub service: Option<String>,
    pub url: String,
    /// The status when the endpoint fails (critical for the API, warning for the console).
    pub on_failure: Status,
    pub slow_threshold: Duration,
}

/// The most of a body that is read (health answers are small).
const BODY_LIMIT: usize = 64 * 1024;

pub async fn probe(http: &Http, spec: &HttpProbe, timeout: Duration) -> CheckResult {
    let started = Instant::now();
    let outcome = fetch(http, &spec.url, timeout).await;
    let latency = started.elapsed();
    let mut result = CheckResult::new(spec.check, &spec.name, spec.service.clone(), &spec.url);
    result.latency_ms = Some(latency.as_secs_f64() * 1000.0);
    match outcome {
        Ok((code, body)) => {
            let verdict = http_verdict(code, &body, latency, spec.slow_threshold, spec.on_failure);
            result.status = verdict.status;
            result.summary = verdict.summary;
            result.details = verdict.details;
        }
        Err(err) => {
            result.status = spec.on_failure;
            result.summary = err;
        }
    }
    result
}

async fn fetch(http: &Http, url: &str, timeout: Duration) -> Result<(u16, Vec<u8>), String> {
    let mut response = http
        .get_following(url, None, timeout)
        .await
        .map_err(|err| err.to_string())?;
    let code = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| error_chain(&err))? {
        let room = BODY_LIMIT.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= BODY_LIMIT {
            break;
        }
    }
    Ok((code, body))
}

/// The verdict on an HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpVerdict {
    pub status: Status,
    pub summary: String,
    pub details: Map<String, Value>,
}

/// Judge an answer: 4xx/5xx fail; a Spring actuator `status` of DOWN or OUT_OF_SERVICE fails,
/// UNKNOWN warns; slower than the threshold warns.
pub fn http_verdict(
    code: u16,
    body: &[u8],
    latency: Duration,
    slow: Duration,
    on_failure: Status,
) -> HttpVerdict {
    let mut details = Map::new();
    details.insert("http_status".into(), json!(code));
    let actuator = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string));
    if let Some(state) = &actuator {
        details.insert("actuator_status".into(), json!(state));
    }
    let answer = match actuator.as_deref() {
        Some(state) => say!("HTTP {code}, status {state}"),
        None => say!("HTTP {code}"),
    };
    let (mut status, mut summary) = if code >= 400 {
        (on_failure, answer)
    } else {
        match actuator.as_deref() {
            Some("DOWN") | Some("OUT_OF_SERVICE") => (on_failure, answer),
            Some("UP") | None => (Status::Ok, answer),
            Some(_) => (Status::Warning, answer),
        }
    };
    if status == Status::Ok && latency > slow {
        status = Status::Warning;
        let took = humantime::format_duration(Duration::from_millis(latency.as_millis() as u64));
        let slow = humantime::format_duration(slow);
        summary = say!("{summary} in {took} (slower than {slow})");
    }
    HttpVerdict {
        status,
        summary,
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(20);
    const SLOW: Duration = Duration::from_secs(1);

    #[test]
    fn a_2xx_answer_is_ok_and_an_error_status_fails() {
        assert_eq!(
            http_verdict(200, b"{\"code\":0}", FAST, SLOW, Status::Critical).status,
            Status::Ok
        );
        let down = http_verdict(503, b"{\"status\":\"DOWN\"}", FAST, SLOW, Status::Critical);
        assert_eq!(
            (down.status, down.summary.as_str()),
            (Status::Critical, "HTTP 503, status DOWN")
        );
        assert_eq!(
            http_verdict(404, b"", FAST, SLOW, Status::Warning).status,
            Status::Warning
        );
    }

    #[test]
    fn the_actuator_status_counts_even_with_a_200() {
        assert_eq!(
            http_verdict(200, b"{\"status\":\"UP\"}", FAST, SLOW, Status::Critical).status,
            Status::Ok
        );
        assert_eq!(
            http_verdict(
                200,
                b"{\"status\":\"OUT_OF_SERVICE\"}",
                FAST,
                SLOW,
                Status::Critical
            )
            .status,
            Status::Critical
        );
        assert_eq!(
            http_verdict(
                200,
                b"{\"status\":\"UNKNOWN\"}",
                FAST,
                SLOW,
                Status::Critical
            )
            .status,
            Status::Warning
        );
    }

    #[test]
    fn a_slow_answer_is_a_warning_that_says_how_slow() {
        let verdict = http_verdict(
            200,
            b"",
            Duration::from_millis(1500),
            SLOW,
            Status::Critical,
        );
        assert_eq!(verdict.status, Status::Warning);
        assert_eq!(verdict.summary, "HTTP 200 in 1s 500ms (slower than 1s)");
    }
}
