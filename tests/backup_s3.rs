//! Backups to a real S3 server (s3s-fs): streaming multipart upload, list, verify, restore
//! and prune from S3; the server going away mid-upload (with and without coming back).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    age_keygen, run, run_ok, text, CutProxy, S3Server, Stack, S3_ACCESS_KEY, S3_SECRET_KEY,
};

/// About 9 MB of dump that does not compress away: two 5 MiB parts.
const SEED: &str = "
CREATE TABLE member (id bigint PRIMARY KEY, a text, b text);
INSERT INTO member SELECT g, md5(g::text) || md5((g * 7)::text), md5((g * 13)::text) FROM generate_series(1, 90000) g;
CREATE TABLE payment (id bigint PRIMARY KEY, amount numeric);
INSERT INTO payment SELECT g, g / 100.0 FROM generate_series(1, 5000) g;
";

fn gymops(stack: &Stack) -> Command {
    let mut command = stack.gymops();
    command
        .env("GYMOPS_S3_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("GYMOPS_S3_SECRET_ACCESS_KEY", S3_SECRET_KEY);
    command
}

fn config(stack: &Stack, port: u16, extra: &str) {
    stack.rig.write_config(&format!(
        "{}backup:\n  s3:\n    endpoint: http://127.0.0.1:{port}\n    bucket: gym-backups\n    prefix: nightly/\n    part_size_mib: 5\n{extra}",
        stack.config_yaml()
    ));
}

fn object(server: &S3Server, name: &str) -> std::path::PathBuf {
    server.root.path().join("gym-backups/nightly").join(name)
}

fn member_count(stack: &Stack, database: &str) -> String {
    stack.psql_in(
        database,
        "SELECT (SELECT count(*) FROM member) || '/' || (SELECT count(*) FROM payment)",
    )
}

#[test]
fn backups_go_to_s3_in_parts_and_come_back_from_it() {
    let stack = Stack::start();
    stack.psql(SEED);
    let server = S3Server::start(&["gym-backups"]);
    config(&stack, server.port, "");
    let dir = stack.rig.dir.path();
    let (key, public) = age_keygen(dir);

    let mut names = Vec::new();
    for label in ["one", "two", "three"] {
        let created = run_ok(gymops(&stack).args([
            "-o",
            "json",
            "backup",
            "create",
            "--upload-s3",
            "--compress",
            "none",
            "--recipient",
            &public,
            "--label",
            label,
        ]));
        let created: serde_json::Value = serde_json::from_str(&created).unwrap();
        let name = created["manifest"]["file"].as_str().unwrap().to_string();
        assert_eq!(
            created["uploaded"],
            format!("s3://gym-backups/nightly/{name}").as_str()
        );
        let local = std::fs::read(created["path"].as_str().unwrap()).unwrap();
        assert!(local.len() > 5 * 1024 * 1024, "more than one part");
        assert_eq!(std::fs::read(object(&server, &name)).unwrap(), local);
        assert!(object(&server, &format!("{name}.json")).exists());
        names.push(name);
        std::thread::sleep(Duration::from_millis(1100));
    }

    let listed: serde_json::Value = serde_json::from_str(&run_ok(
        gymops(&stack).args(["-o", "json", "backup", "list", "--remote"]),
    ))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[0]["manifest"]["label"], "three", "newest first");

    let url = format!("s3://gym-backups/nightly/{}", names[0]);
    let verified = run_ok(
        gymops(&stack)
            .args(["backup", "verify", &url, "--identity"])
            .arg(&key),
    );
    assert!(verified.contains("match the manifest"), "{verified}");
    run_ok(
        gymops(&stack)
            .args([
                "backup",
                "restore",
                &url,
                "--database",
                "from_s3",
                "--create",
                "--identity",
            ])
            .arg(&key),
    );
    assert_eq!(member_count(&stack, "from_s3"), "90000/5000");

    // Prune in S3: keep the newest one, and the verified one (the first).
    let pruned = run_ok(gymops(&stack).args([
        "backup",
        "prune",
        "--remote",
        "--keep-last",
        "1",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "0",
        "--keep-monthly",
        "0",
    ]));
    assert!(pruned.contains("newest verified"), "{pruned}");
    assert!(object(&server, &names[0]).exists(), "verified one kept");
    assert!(!object(&server, &names[1]).exists(), "deleted");
    assert!(!object(&server, &format!("{}.json", names[1])).exists());
    assert!(object(&server, &names[2]).exists(), "newest kept");
}

fn backup_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("_db_backup_") && !n.starts_with('.') && !n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[test]
fn an_s3_server_that_goes_away_mid_upload() {
    let stack = Stack::start();
    stack.psql(SEED);
    let server = S3Server::start(&["gym-backups"]);
    let fast = "    retries: 1\n    timeout: 5s\n";

    // It stops for good after 6 MB: the local backup is complete, the upload is reported.
    let proxy = CutProxy::start(server.port, 6 * 1024 * 1024, None);
    config(&stack, proxy.port, fast);
    let output = run(gymops(&stack).args([
        "backup",
        "create",
        "--upload-s3",
        "--compress",
        "none",
        "--no-encryption",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is complete here, but the S3 upload failed"),
        "{stderr}"
    );
    assert!(proxy.cut.load(std::sync::atomic::Ordering::SeqCst));
    let backups = stack.rig.dir.path().join("backups");
    let local = backup_files(&backups);
    assert_eq!(local.len(), 1);
    run_ok(gymops(&stack).args(["backup", "verify", "--latest"]));
    assert!(
        !object(&server, &local[0]).exists(),
        "no object that looks complete in S3"
    );
    drop(proxy);

    // It comes back after a second: the retries carry the upload through.
    std::thread::sleep(Duration::from_millis(1100));
    let proxy = CutProxy::start(server.port, 6 * 1024 * 1024, Some(Duration::from_secs(1)));
    config(&stack, proxy.port, "    retries: 4\n    timeout: 5s\n");
    let created = run_ok(gymops(&stack).args([
        "-o",
        "json",
        "backup",
        "create",
        "--upload-s3",
        "--compress",
        "none",
        "--no-encryption",
    ]));
    assert!(
        proxy.cut.load(std::sync::atomic::Ordering::SeqCst),
        "the cut happened"
    );
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let name = created["manifest"]["file"].as_str().unwrap();
    assert_eq!(
        std::fs::read(object(&server, name)).unwrap(),
        std::fs::read(created["path"].as_str().unwrap()).unwrap()
    );
}

#[test]
fn an_s3_server_refusing_from_the_start_never_costs_the_local_backup() {
    let stack = Stack::start();
    stack.psql(SEED);
    let backups = stack.rig.dir.path().join("backups");
    let fast = "    retries: 1\n    timeout: 5s\n";

    // Nothing listens (connection refused), then a real server with wrong credentials.
    let closed = support::free_port();
    let server = S3Server::start(&["gym-backups"]);
    for (port, credentials, case) in [
        (closed, (S3_ACCESS_KEY, S3_SECRET_KEY), "connection refused"),
        (
            server.port,
            ("wrong-key", "wrong-secret"),
            "bad credentials",
        ),
    ] {
        config(&stack, port, fast);
        let before = backup_files(&backups_or_empty(&backups)).len();
        let output = run(stack
            .gymops()
            .env("GYMOPS_S3_ACCESS_KEY_ID", credentials.0)
            .env("GYMOPS_S3_SECRET_ACCESS_KEY", credentials.1)
            .args([
                "backup",
                "create",
                "--upload-s3",
                "--compress",
                "none",
                "--no-encrypt",
                "--label",
                if port == closed { "refused" } else { "denied" },
            ]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{case}: {stderr}");
        assert!(
            stderr.contains("is complete here, but the S3 upload failed"),
            "{case}: {stderr}"
        );
        let files = backup_files(&backups);
        assert_eq!(files.len(), before + 1, "{case}: the local backup was kept");
        // The kept backup is whole: it verifies against its signed manifest.
        run_ok(gymops(&stack).args(["backup", "verify", "--latest"]));
    }
    // No S3 settings at all is the same: the backup is made, the upload reported.
    stack.rig.write_config(&stack.config_yaml());
    let output = run(gymops(&stack).args([
        "backup",
        "create",
        "--upload-s3",
        "--no-encrypt",
        "--label",
        "nobucket",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no S3 bucket configured"), "{stderr}");
    assert_eq!(backup_files(&backups).len(), 3);
}

fn backups_or_empty(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}
