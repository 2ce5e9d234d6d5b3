//! Refusals that protect secrets in transit, checked before anything is contacted: SMTP
//! credentials over a clear-text connection to another host, a backup uploaded over plain
//! http to another host.

mod support;

use support::{gymops, run, text};

fn write(dir: &std::path::Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
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
    let output = run(gymops(dir.path()).args([
        "alert",
        "send",
        "--alert-type",
        "Test",
        "--message",
        "hello",
        "--channel",
        "email",
    ]));
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
