//! `alert send` against real receivers: a local HTTP server for Slack and webhooks, and a
//! real SMTP server (aiosmtpd) with STARTTLS and AUTH for email.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{free_port, gymops, listening, make_certificates, run, text, Receiver};

const TOKEN: &str = "T000-SECRET-hook-9f2b";

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// Quick retries so the tests do not wait on real backoff.
const FAST_RETRIES: &str = "notify:\n  retries: 3\n  backoff: 50ms\n  timeout: 3s\n";

#[test]
fn a_webhook_that_first_fails_gets_the_event_once_more_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", FAST_RETRIES);
    let receiver = Receiver::start(&[(500, "busy"), (200, "ok")]);
    let output = run(gymops(dir.path())
        .env(
            "GYMOPS_WEBHOOK_URL",
            receiver.url(&format!("/hook/{TOKEN}")),
        )
        .args([
            "-vvv",
            "-o",
            "json",
            "alert",
            "send",
            "--alert-type",
            "ServiceDown",
            "--message",
            "API service is down",
            "--severity",
            "critical",
            "--channel",
            "webhook",
            "--detail",
            "service=backend",
        ]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one failed attempt, one delivered");
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.header("Idempotency-Key").unwrap().to_string())
        .collect();
    assert_eq!(keys[0], keys[1], "a retry is the same event");
    let body: serde_json::Value = serde_json::from_str(&requests[1].body).unwrap();
    assert_eq!(body["alert_type"], "ServiceDown");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["message"], "API service is down");
    assert_eq!(body["details"]["service"], "backend");
    assert_eq!(body["id"], keys[0].as_str());
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["deliveries"][0]["delivered"], true);
    assert_eq!(report["deliveries"][0]["attempts"], 2);
    assert_eq!(report["deliveries"][0]["target"], "127.0.0.1");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the webhook URL is a secret:\n{stdout}\n{stderr}"
    );
}

/// A webhook that answers with a redirect does not get the event sent on: the URL is a
/// secret the operator gave for one address, and whoever answers there cannot forward the
/// request (and its secret-bearing path) to another.
#[test]
fn a_webhook_redirect_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", FAST_RETRIES);
    let elsewhere = Receiver::start(&[(200, "ok")]);
    let location = elsewhere.url("/collect");
    let receiver = Receiver::start_with_headers(&[(307, &[("Location", location.as_str())], "")]);
    let output = run(gymops(dir.path())
        .env(
            "GYMOPS_WEBHOOK_URL",
            receiver.url(&format!("/hook/{TOKEN}")),
        )
        .args([
            "-o",
            "json",
            "alert",
            "send",
            "--alert-type",
            "ServiceDown",
            "--message",
            "API service is down",
            "--channel",
            "webhook",
        ]));
    let stdout = text(&output.stdout);
    assert_ne!(output.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["deliveries"][0]["delivered"], false, "{report}");
    assert!(!receiver.requests().is_empty());
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.requests()
    );
}

#[test]
fn slack_gets_its_message_format_and_a_refusal_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", FAST_RETRIES);
    let slack = Receiver::start(&[(200, "ok")]);
    write(
        dir.path(),
        "slack-url",
        &format!("{}\n", slack.url(&format!("/services/{TOKEN}"))),
    );
    let config = format!("{FAST_RETRIES}  slack:\n    webhook_url_file: slack-url\n");
    write(dir.path(), "gymops.yaml", &config);
    let output = run(gymops(dir.path()).args([
        "alert",
        "send",
        "--alert-type",
        "HighCPU",
        "--message",
        "CPU usage > 80%",
        "--severity",
        "warning",
        "--channel",
        "slack",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("sent") && !stdout.contains(TOKEN),
        "{stdout}"
    );
    let requests = slack.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, format!("/services/{TOKEN}"));
    let body: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(body["text"], "[WARNING] HighCPU: CPU usage > 80%");
    assert_eq!(body["attachments"][0]["color"], "#F2C744");

    // 404 from Slack (a revoked hook) cannot be fixed by retrying.
    let revoked = Receiver::start(&[(404, "no_service")]);
    let output = run(gymops(dir.path())
        .env(
            "GYMOPS_SLACK_WEBHOOK_URL",
            revoked.url(&format!("/services/{TOKEN}")),
        )
        .args([
            "alert",
            "send",
            "--alert-type",
            "HighCPU",
            "--message",
            "CPU usage > 80%",
            "--channel",
            "slack",
        ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("HTTP 404 (no_service)"), "{stderr}");
    assert!(!stderr.contains(TOKEN));
    assert_eq!(
        revoked.requests().len(),
        1,
        "a permanent failure is not retried"
    );
}

#[test]
fn a_receiver_that_keeps_failing_gets_one_try_plus_the_retries_then_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "gymops.yaml",
        "notify:\n  retries: 2\n  backoff: 50ms\n  timeout: 3s\n",
    );
    let receiver = Receiver::start(&[(503, "down")]);
    let started = Instant::now();
    let output = run(gymops(dir.path())
        .env("GYMOPS_WEBHOOK_URL", receiver.url("/hook"))
        .args([
            "alert",
            "send",
            "--alert-type",
            "BackupStale",
            "--message",
            "no backup for 30 hours",
            "--channel",
            "webhook",
        ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("after 3 attempt(s): HTTP 503 (down)"),
        "{stderr}"
    );
    assert_eq!(receiver.requests().len(), 3);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn channel_errors_say_what_is_missing_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(gymops(dir.path()).args([
        "alert",
        "send",
        "--alert-type",
        "X",
        "--message",
        "y",
        "--channel",
        "email",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr.contains("error: the email channel has no SMTP server")
            && stderr.contains("hint: set notify.email.smtp_host"),
        "{stderr}"
    );
    // No channel at all.
    let output =
        run(gymops(dir.path()).args(["alert", "send", "--alert-type", "X", "--message", "y"]));
    assert!(text(&output.stderr).contains("no channel to send to"));
    // A secret in gymops.yaml is refused with its line.
    write(
        dir.path(),
        "gymops.yaml",
        "notify:\n  slack:\n    webhook_url: https://hooks.slack.com/services/X\n",
    );
    let output = run(gymops(dir.path()).args(["config", "show"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr.contains("line 3") && stderr.contains("notify.slack.webhook_url"),
        "{stderr}"
    );
    assert!(stderr.contains("GYMOPS_SLACK_WEBHOOK_URL"), "{stderr}");
}

struct Sink {
    _process: support::Forwarder,
    port: u16,
    out: tempfile::TempDir,
    certs: tempfile::TempDir,
}

fn smtp_sink(password: &str) -> Sink {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut command = Command::new("/usr/bin/python3");
    command.arg(script).args([
        port.to_string().as_str(),
        certs.path().join("server-cert.pem").to_str().unwrap(),
        certs.path().join("server-key.pem").to_str().unwrap(),
        out.path().to_str().unwrap(),
        "alerts",
        password,
    ]);
    Sink {
        _process: listening(command, port),
        port,
        out,
        certs,
    }
}

fn messages(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn email_goes_over_starttls_with_auth_and_a_wrong_password_fails_once() {
    let sink = smtp_sink("smtp-Pa55-word");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "smtp-password", "smtp-Pa55-word\n");
    let config = format!(
        "notify:\n  retries: 2\n  backoff: 50ms\n  timeout: 5s\n  email:\n    smtp_host: 127.0.0.1\n    smtp_port: {}\n    tls: starttls\n    ca_file: {}\n    username: alerts\n    password_file: smtp-password\n    from: alerts@fitness-gym.example\n    to: [ops@fitness-gym.example]\n",
        sink.port,
        sink.certs.path().join("ca.pem").display()
    );
    write(dir.path(), "gymops.yaml", &config);
    let output = run(gymops(dir.path()).args([
        "-vvv",
        "alert",
        "send",
        "--alert-type",
        "HighCPU",
        "--message",
        "CPU usage > 80%",
        "--channel",
        "email",
        "--to",
        "oncall@fitness-gym.example",
    ]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stderr.contains("smtp-Pa55-word") && !stdout.contains("smtp-Pa55-word"));
    let mail = messages(sink.out.path());
    assert_eq!(mail.len(), 1, "one message");
    let mail = &mail[0];
    assert!(mail.contains("X-Sink-Login: alerts"), "{mail}");
    assert!(mail.contains("X-Sink-TLS: yes"), "{mail}");
    assert!(
        mail.contains("X-Sink-Rcpt: oncall@fitness-gym.example"),
        "{mail}"
    );
    assert!(
        mail.contains("Subject: [gymops][WARNING] HighCPU - fitness_gym (development)"),
        "{mail}"
    );
    assert!(mail.contains("From: alerts@fitness-gym.example"), "{mail}");
    assert!(mail.contains("CPU usage > 80%"), "{mail}");

    // A wrong password is a permanent SMTP error: reported, not retried.
    let output = run(gymops(dir.path())
        .env("GYMOPS_SMTP_PASSWORD", "wrong-password")
        .args([
            "alert",
            "send",
            "--alert-type",
            "HighCPU",
            "--message",
            "again",
            "--channel",
            "email",
        ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("after 1 attempt(s)"), "{stderr}");
    assert!(!stderr.contains("wrong-password"));
    assert_eq!(messages(sink.out.path()).len(), 1);
    let failed = std::fs::read_to_string(sink.out.path().join("failed-auth.log")).unwrap();
    assert_eq!(failed.lines().count(), 1, "one login attempt: {failed}");
}
