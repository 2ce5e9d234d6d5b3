//! Notifications where operators expect them, as cron runs gymops: `health --notify` tells
//! the team about changes only (one message per run, nothing while nothing changes, the
//! recovery when it comes), and a failed `backup create` is told.

mod support;

use std::path::Path;
use std::process::Command;

use support::{free_port, gymops, listening, run, text, Receiver};

fn events(receiver: &Receiver) -> Vec<serde_json::Value> {
    receiver
        .requests()
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

/// `health --check api --endpoint URL --notify`, as a cron job runs it (no TTY).
fn health(dir: &Path, hook: &str, endpoint: &str) -> Option<i32> {
    health_output(dir, hook, endpoint).status.code()
}

/// `health --check api --endpoint ENDPOINT --notify -o json` with the webhook at `hook`.
fn health_output(dir: &Path, hook: &str, endpoint: &str) -> std::process::Output {
    let output = run(gymops(dir).env("GYMOPS_WEBHOOK_URL", hook).args([
        "health",
        "--check",
        "api",
        "--endpoint",
        endpoint,
        "--notify",
        "-o",
        "json",
    ]));
    assert!(!text(&output.stderr).contains("panicked"));
    output
}

#[test]
fn health_notify_tells_changes_once_and_the_recovery() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "services:\n  web: {container: gym_web}\nhealth:\n  timeout: 2s\n  notify_quiet: 0s\nnotify:\n  channels: [webhook]\n  retries: 0\n  timeout: 3s\n",
    )
    .unwrap();
    let receiver = Receiver::start(&[(200, "ok")]);
    let hook = receiver.url("/ops");
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}/health");
    // Down: told once.
    assert_eq!(health(dir.path(), &hook, &endpoint), Some(2));
    let told = events(&receiver);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["alert_type"], "CheckChanged", "{:#}", told[0]);
    assert_eq!(told[0]["severity"], "critical");
    assert!(
        told[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("CRITICAL: "),
        "{}",
        told[0]["message"]
    );
    // Still down: nothing new.
    assert_eq!(health(dir.path(), &hook, &endpoint), Some(2));
    assert_eq!(events(&receiver).len(), 1);
    let state = dir.path().join(".gymops/health-notify.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Back up: the recovery goes out at the problem's severity, once.
    let mut server = Command::new("/usr/bin/python3");
    server
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir.path());
    std::fs::write(dir.path().join("health"), "UP").unwrap();
    let _server = listening(server, port);
    assert_eq!(health(dir.path(), &hook, &endpoint), Some(0));
    let told = events(&receiver);
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!(told[1]["alert_type"], "Resolved");
    assert_eq!(told[1]["severity"], "critical");
    assert_eq!(health(dir.path(), &hook, &endpoint), Some(0));
    assert_eq!(events(&receiver).len(), 2);

    // A damaged state file is started over (every bad check told again), not a crash.
    std::fs::write(&state, "{not json").unwrap();
    let output = health_output(dir.path(), &hook, &endpoint);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("is damaged"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_fifo_planted_as_the_state_file_is_an_error_at_once_not_a_hung_cron_job() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "services:\n  web: {container: gym_web}\nhealth:\n  timeout: 2s\nnotify:\n  channels: [webhook]\n  retries: 0\n  timeout: 3s\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join(".gymops")).unwrap();
    let state = dir.path().join(".gymops/health-notify.json");
    assert!(Command::new("mkfifo")
        .arg(&state)
        .status()
        .unwrap()
        .success());
    let receiver = Receiver::start(&[(200, "ok")]);
    let endpoint = format!("http://127.0.0.1:{}/health", free_port());
    let mut child = gymops(dir.path())
        .env("GYMOPS_WEBHOOK_URL", receiver.url("/ops"))
        .args([
            "health",
            "--check",
            "api",
            "--endpoint",
            &endpoint,
            "--notify",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = support::wait_within(
        &mut child,
        std::time::Duration::from_secs(20),
        "health --notify hung on a FIFO",
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(receiver.requests().is_empty());
}

#[test]
fn a_failed_backup_is_told() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "notify:\n  channels: [webhook]\n  retries: 0\n  timeout: 3s\nbackup:\n  encrypt: false\n",
    )
    .unwrap();
    let receiver = Receiver::start(&[(200, "ok")]);
    let closed = free_port();
    let output = run(gymops(dir.path())
        .env("GYMOPS_WEBHOOK_URL", receiver.url("/ops"))
        .env("GYMOPS_POSTGRES_PASSWORD", "pw-never-sent-3x")
        .args([
            "backup",
            "create",
            "--local",
            "--db-connection",
            &format!("postgres://gym@127.0.0.1:{closed}/fitness_gym"),
        ]));
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let told = events(&receiver);
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["alert_type"], "BackupFailed");
    assert_eq!(told[0]["severity"], "error");
    assert!(!receiver.requests()[0].body.contains("pw-never-sent-3x"));
}
