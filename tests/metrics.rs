//! `metrics export` / `metrics serve` against a real stack, the output read back by the
//! reference Prometheus parser; the Alertmanager relay; `monitor` notifying a real receiver.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{free_port, run, text, Receiver, Stack};

#[derive(Debug, serde::Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse exposition text with Python's prometheus_client OpenMetrics parser.
fn parse(exposition: &str) -> Vec<Sample> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/parse_metrics.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (apt-get install python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the reference parser rejected the text: {}\n{exposition}",
        text(&output.stderr)
    );
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const RELAY_TOKEN: &str = "relay-token-for-the-test-0123456789";

fn http_post(port: u16, path: &str, body: &str) -> u16 {
    http_post_as(port, path, body, None)
}

fn http_post_as(port: u16, path: &str, body: &str, token: Option<&str>) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Kills `gymops metrics serve` if the test fails before stopping it.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_exporter_publishes_the_stack_and_serves_scrapes_from_its_cache() {
    let stack = Stack::start();
    let dir = stack.rig.dir.path();
    let receiver = Receiver::start(&[(200, "ok")]);
    let config = format!(
        "{}backup:\n  dir: backups\nnotify:\n  channels: [webhook]\n  backoff: 50ms\n",
        stack.config_yaml()
    );
    stack.rig.write_config(&config);
    std::fs::create_dir(dir.join("backups")).unwrap();
    std::fs::write(
        dir.join("backups/fitness_gym_db_backup_full_20261127_020000.sql.zst"),
        vec![7u8; 4096],
    )
    .unwrap();
    std::fs::create_dir(dir.join(".gymops")).unwrap();
    std::fs::write(
        dir.join(".gymops/releases.json"),
        r#"{"releases":[{"id":"r-2026-11-26","time":"2026-11-26T08:00:00Z","environment":"development","services":{}}]}"#,
    )
    .unwrap();

    // export: one collection, written atomically.
    let output = run(stack
        .gymops()
        .args(["metrics", "export", "--output-file", "gymops.prom"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let exposition = std::fs::read_to_string(dir.join("gymops.prom")).unwrap();
    // Prometheus's own linter on the real output: no warning (no `_count` on gauges...).
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), exposition.as_bytes()).unwrap();
    let linted = promtool.wait_with_output().unwrap();
    assert!(
        linted.status.success() && linted.stdout.is_empty() && linted.stderr.is_empty(),
        "promtool check metrics: {}{}",
        text(&linted.stdout),
        text(&linted.stderr)
    );
    let samples = parse(&exposition);
    let api = [("check", "api"), ("name", "health")];
    assert_eq!(value(&samples, "gymops_probe_up", &api), Some(1.0));
    assert!(value(&samples, "gymops_probe_latency_seconds", &api).unwrap() > 0.0);
    for service in ["backend", "postgres", "minio"] {
        let labels = [("service", service)];
        assert_eq!(
            value(&samples, "gymops_container_running", &labels),
            Some(1.0),
            "{service}"
        );
        assert!(value(&samples, "gymops_container_memory_usage_bytes", &labels).unwrap() > 0.0);
        assert_eq!(
            value(&samples, "gymops_container_restarts", &labels),
            Some(0.0)
        );
    }
    assert_eq!(value(&samples, "gymops_postgres_up", &[]), Some(1.0));
    let size = value(
        &samples,
        "gymops_postgres_database_size_bytes",
        &[("database", "fitness_gym")],
    )
    .unwrap();
    assert!(size > 1_000_000.0, "{size}");
    let connections: f64 = samples
        .iter()
        .filter(|s| s.name == "gymops_postgres_connections")
        .map(|s| s.value)
        .sum();
    assert!(connections >= 1.0, "the collector's own connection counts");
    assert_eq!(value(&samples, "gymops_backups", &[]), Some(1.0));
    assert_eq!(
        value(&samples, "gymops_backup_newest_size_bytes", &[]),
        Some(4096.0)
    );
    assert_eq!(
        value(
            &samples,
            "gymops_release_info",
            &[("release", "r-2026-11-26")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "gymops_collect_error", &[("source", "docker")]),
        Some(0.0)
    );

    // serve: scrapes read the cached collection; a burst does not make new ones.
    let port = free_port();
    let child = stack
        .gymops()
        .env("GYMOPS_WEBHOOK_URL", receiver.url("/relay"))
        .env("GYMOPS_METRICS_RELAY_TOKEN", RELAY_TOKEN)
        .args([
            "metrics",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--interval",
            "1h",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let (status, _) = http_get(port, "/metrics");
            if status == 200 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let scrapes: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    (0..25)
                        .map(|_| http_get(port, "/metrics"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(scrapes.len(), 200);
    let stamps: std::collections::BTreeSet<String> = scrapes
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200);
            let samples = parse(body);
            value(&samples, "gymops_collect_timestamp_seconds", &[])
                .unwrap()
                .to_string()
        })
        .take(20)
        .collect();
    assert_eq!(stamps.len(), 1, "every scrape saw the same collection");
    assert!(scrapes.iter().all(|(_, body)| body == &scrapes[0].1));
    assert_eq!(http_get(port, "/nope").0, 404);

    // The Alertmanager relay hands alerts to the notifier's webhook.
    let payload = r#"{"version":"4","status":"firing","receiver":"ops","alerts":[{"status":"firing","labels":{"alertname":"PostgresDown","severity":"critical","instance":"db"},"annotations":{"summary":"PostgreSQL does not answer"},"startsAt":"2026-11-27T10:00:00Z"}]}"#;
    // Without the bearer token, or with a wrong one: 401, and nothing is sent.
    assert_eq!(http_post(port, "/alertmanager", payload), 401);
    assert_eq!(
        http_post_as(port, "/alertmanager", payload, Some("guess")),
        401
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        receiver.requests().is_empty(),
        "nothing sent without the token"
    );
    // With it: answered at once (202), delivered from the queue.
    assert_eq!(
        http_post_as(port, "/alertmanager", payload, Some(RELAY_TOKEN)),
        202
    );
    assert_eq!(
        http_post_as(port, "/alertmanager", "{not json", Some(RELAY_TOKEN)),
        400
    );
    // Too many alerts in one request.
    let flood = format!(
        r#"{{"alerts":[{}]}}"#,
        vec![r#"{"status":"firing","labels":{"alertname":"X"}}"#; 101].join(",")
    );
    assert_eq!(
        http_post_as(port, "/alertmanager", &flood, Some(RELAY_TOKEN)),
        413
    );
    // Alertmanager's resend of the same alert carries the same idempotency key.
    assert_eq!(
        http_post_as(port, "/alertmanager", payload, Some(RELAY_TOKEN)),
        202
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while receiver.requests().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "not delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let relayed = receiver.requests();
    assert_eq!(relayed.len(), 2);
    let ids: Vec<serde_json::Value> = relayed
        .iter()
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids[0], ids[1], "same alert, same key: {ids:?}");
    let event: serde_json::Value = serde_json::from_str(&relayed[0].body).unwrap();
    assert_eq!(event["alert_type"], "PostgresDown");
    assert_eq!(event["severity"], "critical");
    assert_eq!(event["details"]["instance"], "db");

    // SIGTERM stops it cleanly.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // monitor notifies the configured channel of what crosses a threshold.
    let output = run(stack
        .gymops()
        .env("GYMOPS_WEBHOOK_URL", receiver.url("/monitor"))
        .args(["monitor", "--once", "--disk", "1"]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let sent: Vec<serde_json::Value> = receiver
        .requests()
        .iter()
        .filter(|r| r.path == "/monitor")
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    // One message for the round: the disk alert itself, or a digest of every change.
    assert_eq!(sent.len(), 1, "{sent:?}");
    let event = &sent[0];
    assert!(
        (event["alert_type"] == "DiskSpaceLow" && event["details"]["target"] == "host /")
            || (event["alert_type"] == "ChecksChanged"
                && event["details"]["disk of host /"]
                    .as_str()
                    .is_some_and(|line| line.starts_with("WARNING: disk of host /"))),
        "{event:#}"
    );
    let output = run(stack
        .gymops()
        .env("GYMOPS_WEBHOOK_URL", receiver.url("/silent"))
        .args(["monitor", "--once", "--disk", "1", "--no-notify"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(!receiver.requests().iter().any(|r| r.path == "/silent"));
}
