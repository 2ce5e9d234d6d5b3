//! Refusals that protect secrets in transit, checked before anything is contacted: SMTP
//! credentials over a clear-text connection to another host, a backup uploaded over plain
//! http to another host.

mod support;

use support::{gymops, run, text};

fn write(dir: &std::path::Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// The arguments of `gymops alert send` of a test alert to `channel`, then `extra`.
fn alert_send(channel: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "alert",
        "send",
        "--alert-type",
        "Test",
        "--message",
        "hello",
        "--channel",
        channel,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

#[test]
fn smtp_credentials_never_go_out_in_clear_text_to_another_host() {
    let dir = tempfile::tempdir().unwrap();
    // 192.0.2.1 is TEST-NET-1: never contacted, the refusal comes first.
    write(
        dir.path(),
        "gymops.yaml",
        "notify:\n  channels: [email]\n  email:\n    smtp_host: 192.0.2.1\n    smtp_port: 25\n    tls: none\n    username: alerts\n    password_file: smtp-password\n    to: [ops@example.com]\n",
    );
    write(dir.path(), "smtp-password", "Sm7p-secret\n");
    let output = run(gymops(dir.path()).args(alert_send("email", &[])));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("clear text"), "{stderr}");
    assert!(!stderr.contains("Sm7p-secret"));
}

#[test]
fn a_backup_is_not_uploaded_over_plain_http_to_another_host_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "gymops.yaml",
        "backup:\n  s3:\n    endpoint: http://192.0.2.1:9000\n    bucket: gym-backups\n",
    );
    let output = run(gymops(dir.path())
        .env("GYMOPS_S3_ACCESS_KEY_ID", "k")
        .env("GYMOPS_S3_SECRET_ACCESS_KEY", "s")
        .args(["backup", "create", "--upload-s3", "--no-encrypt"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("plain http to another host") && stderr.contains("--allow-insecure"),
        "{stderr}"
    );
    assert!(!dir.path().join("backups").exists(), "nothing was started");
}

#[test]
fn a_two_gigabyte_answer_does_not_grow_memory() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = sent.clone();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            // A receiver (or someone in its place) answering with 2 GB.
            let total: u64 = 2 << 30;
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {total}\r\n\r\n"
            );
            let chunk = vec![b'x'; 256 * 1024];
            let mut written = 0u64;
            while written < total {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                written += chunk.len() as u64;
                counted.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("/usr/bin/time");
    command
        .args(["-f", "max-rss-kb %M"])
        .arg(support::gymops_bin())
        .current_dir(dir.path())
        .args(alert_send(
            "webhook",
            &["--webhook-url", &format!("http://127.0.0.1:{port}/hook")],
        ));
    let output = run(&mut command);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.join().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "not delivered: {stderr}");
    let rss: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("max-rss-kb "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in {stderr}"));
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB");
    assert!(
        sent.load(std::sync::atomic::Ordering::SeqCst) < 1 << 30,
        "gymops stopped reading long before 2 GB"
    );
}

#[test]
fn a_url_that_cannot_work_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    // A long backoff makes a retry visible in the time taken.
    write(
        dir.path(),
        "gymops.yaml",
        "notify:\n  retries: 3\n  backoff: 5s\n",
    );
    let started = std::time::Instant::now();
    let output = run(gymops(dir.path()).args(alert_send(
        "webhook",
        &["--webhook-url", "ftp://127.0.0.1/hook"],
    )));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cannot be used"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "retried: {:?}",
        started.elapsed()
    );
}

#[test]
fn output_files_are_regular_files_reached_through_links_and_parents_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let closed = support::free_port();
    let health = |file: &str| {
        run(gymops(dir.path()).args([
            "-o",
            "json",
            "health",
            "--check",
            "db",
            "--timeout",
            "1s",
            "--db-connection",
            &format!("postgres://gym@127.0.0.1:{closed}/gym"),
            "--output-file",
            file,
        ]))
    };
    // A FIFO would block the writer (and a reader could take the report): refused at once.
    let fifo = dir.path().join("report.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let output = health("report.fifo");
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("is not a regular file"));
    // A relative report path whose directories do not exist yet.
    let output = health("reports/2026/health.json");
    assert_eq!(output.status.code(), Some(2), "the database is down");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("reports/2026/health.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["status"], "critical");
    // Through a symlink (a "latest" link): the target is written, the link stays a link.
    std::os::unix::fs::symlink("reports/2026/health.json", dir.path().join("latest.json")).unwrap();
    health("latest.json");
    assert!(std::fs::symlink_metadata(dir.path().join("latest.json"))
        .unwrap()
        .file_type()
        .is_symlink());
}
