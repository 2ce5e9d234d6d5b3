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

/// An HTTP proxy in front of the S3 server that changes one byte of the `nth` download of
/// `path` (the same length: a swap the size check cannot see). One request per connection.
struct SwapProxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    downloads: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl SwapProxy {
    fn start(target: u16, path: String, nth: u32) -> SwapProxy {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let downloads = std::sync::Arc::new(AtomicU32::new(0));
        let (stopping, counting) = (stop.clone(), downloads.clone());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(300);
            while !stopping.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let Ok((mut client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                // The request: head, then Content-Length bytes of body.
                let mut request = Vec::new();
                let mut buffer = [0u8; 65536];
                let head_end = loop {
                    let n = client.read(&mut buffer).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(end + 4);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    let n = client.read(&mut buffer).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                let request_line = head.lines().next().unwrap_or("").to_string();
                // Forward with Connection: close, read the whole answer.
                let mut forwarded: Vec<u8> = head
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
                    .map(|l| format!("{l}\r\n"))
                    .collect::<String>()
                    .into_bytes();
                forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
                forwarded.extend_from_slice(&request[head_end..]);
                let Ok(mut server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = server.write_all(&forwarded);
                let mut answer = Vec::new();
                let _ = server.read_to_end(&mut answer);
                let is_download = request_line.starts_with("GET ")
                    && request_line
                        .split_whitespace()
                        .nth(1)
                        .map(|p| p.split('?').next().unwrap_or(p))
                        == Some(path.as_str());
                if is_download && counting.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                    if let Some(body) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                        // A hex digit in the middle of the data: still a valid dump.
                        let start = body + 4 + (answer.len() - body - 4) / 2;
                        if let Some(offset) =
                            answer[start..].iter().position(|b| b"abcdef".contains(b))
                        {
                            answer[start + offset] = if answer[start + offset] == b'a' {
                                b'b'
                            } else {
                                b'a'
                            };
                        }
                    }
                }
                let _ = client.write_all(&answer);
            }
        });
        SwapProxy {
            port,
            stop,
            downloads,
        }
    }
}

impl Drop for SwapProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_backup_changed_between_the_check_and_the_load_is_rolled_back() {
    let stack = Stack::start();
    stack.psql(SEED);
    let server = S3Server::start(&["gym-backups"]);
    config(&stack, server.port, "");
    let created = run_ok(gymops(&stack).args([
        "-o",
        "json",
        "backup",
        "create",
        "--upload-s3",
        "--compress",
        "none",
        "--no-encrypt",
    ]));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let name = created["manifest"]["file"].as_str().unwrap().to_string();
    // Downloads through the proxy: the first read (the checksum check) is the real file,
    // the second (the load) has one byte changed.
    let proxy = SwapProxy::start(server.port, format!("/gym-backups/nightly/{name}"), 2);
    config(&stack, proxy.port, "");
    let output = run(gymops(&stack).args([
        "backup",
        "restore",
        &format!("s3://gym-backups/nightly/{name}"),
        "--database",
        "swapped_midway",
        "--create",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(
        proxy.downloads.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "checked once, loaded once: {stderr}"
    );
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("not the ones the manifest describes") && stderr.contains("rolled back"),
        "{stderr}"
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_database WHERE datname = 'swapped_midway'"),
        "0"
    );
    // The same restore without the swap goes through (the proxy changes only download 2).
    let output = run(gymops(&stack).args([
        "backup",
        "restore",
        &format!("s3://gym-backups/nightly/{name}"),
        "--database",
        "straight",
        "--create",
    ]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(member_count(&stack, "straight"), "90000/5000");
}
