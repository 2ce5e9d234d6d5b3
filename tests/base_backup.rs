//! Base backups through the sidecar: pg_basebackup in a one-shot container of
//! PostgreSQL's image writes its tar into a FIFO in backup.dir (the fast way); where it
//! cannot (replication refused from 127.0.0.1), the same backup comes by docker exec.
//! Run as cron runs it; what a killed run left is swept; Ctrl-C leaves nothing behind.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{age_keygen, docker, docker_ok, run, run_ok, text, Stack};

/// The base backup sidecars of `postgres` (running or not): only this test's, when other
/// tests take base backups on the same engine.
fn sidecars(postgres: &str) -> Vec<String> {
    let filter = format!("label=io.gymops.base.for={postgres}");
    text(
        &docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=io.gymops.role=base-backup",
            "--filter",
            &filter,
        ])
        .stdout,
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Removes the sidecars of a PostgreSQL container whatever the test did.
struct SidecarGuard(String);

impl Drop for SidecarGuard {
    fn drop(&mut self) {
        for id in sidecars(&self.0) {
            let _ = docker(&["rm", "-f", &id]);
        }
    }
}

/// What is in the backup directory besides backups and manifests: sidecar directories,
/// partial files.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".gymops-base-") || n.ends_with(".partial"))
        .collect()
}

/// No sidecar of `postgres` on the engine, no sidecar directory or partial file in `dir`.
fn assert_nothing_left(postgres: &str, dir: &Path) {
    assert!(sidecars(postgres).is_empty(), "{:?}", sidecars(postgres));
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

/// The path of the backup a `-o json backup create` made.
fn created_path(output: &std::process::Output) -> String {
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    created["path"].as_str().unwrap().to_string()
}

fn backups(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tar.") && !n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// gymops as cron runs it: from /, a bare environment (cron's PATH, HOME, the password
/// the crontab sets), no terminal.
fn cron(stack: &Stack, args: &[&str]) -> std::process::Output {
    let dir = stack.rig.dir.path();
    let mut command = support::gymops(Path::new("/"));
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("GYMOPS_POSTGRES_PASSWORD", support::PASSWORD)
        .arg("--config")
        .arg(dir.join("gymops.yaml"))
        .args(args);
    run(&mut command)
}

fn verify(stack: &Stack, path: &str, key: &Path) {
    let output = run(stack
        .gymops()
        .args(["backup", "verify", path, "--identity"])
        .arg(key));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

/// The files of a base backup's tar (age -d | zstd -d | tar -t).
fn tar_listing(path: &str, key: &Path) -> Vec<String> {
    let pipeline = format!("age -d -i '{}' '{path}' | zstd -d | tar -t", key.display());
    let listing = run_ok(Command::new("sh").args(["-c", &pipeline]));
    let mut files: Vec<String> = listing.lines().map(str::to_string).collect();
    files.sort();
    files
}

#[test]
fn a_base_backup_streams_through_a_sidecar_fifo_and_falls_back_to_exec_when_refused() {
    let stack = Stack::start();
    let _guard = SidecarGuard(stack.postgres.clone());
    let dir = stack.rig.dir.path().to_path_buf();
    let (key, public) = age_keygen(&dir);
    let config = std::fs::read_to_string(dir.join("gymops.yaml")).unwrap();
    std::fs::write(
        dir.join("gymops.yaml"),
        format!("{config}backup:\n  recipients: [\"{public}\"]\n  compression: zstd\n"),
    )
    .unwrap();
    stack.psql("CREATE TABLE member (id int PRIMARY KEY, name text); INSERT INTO member SELECT g, 'member ' || g FROM generate_series(1, 20000) g");

    // A first backup makes the backup directory; then what a killed run would have left:
    // its private directory with the FIFO, and its ended sidecar.
    let first = cron(
        &stack,
        &["-o", "json", "backup", "create", "--type", "base"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let first_path = created_path(&first);
    let backup_dir: PathBuf = Path::new(&first_path).parent().unwrap().to_path_buf();
    let stale = backup_dir.join(".gymops-base-1-dead");
    std::fs::create_dir(&stale).unwrap();
    run_ok(Command::new("mkfifo").arg(stale.join("tar")));
    let image = docker_ok(&["inspect", "--format", "{{.Image}}", &stack.postgres])
        .trim()
        .to_string();
    docker_ok(&[
        "create",
        "--name",
        &format!("{}-gymops-base-dead", stack.postgres),
        "--label",
        "io.gymops.role=base-backup",
        "--label",
        &format!("io.gymops.base.for={}", stack.postgres),
        &image,
        "true",
    ]);
    assert_eq!(sidecars(&stack.postgres).len(), 1);

    // The fast way, as cron runs it: the sidecar's FIFO (-vv says so), and nothing of it
    // — nor of the killed run — left.
    std::thread::sleep(Duration::from_millis(1100));
    let fast = cron(
        &stack,
        &["-vv", "-o", "json", "backup", "create", "--type", "base"],
    );
    let stderr = text(&fast.stderr);
    assert_eq!(fast.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("through a sidecar's FIFO"), "{stderr}");
    assert!(
        !stderr.contains(support::PASSWORD),
        "the password is never logged"
    );
    let fast_path = created_path(&fast);
    assert_nothing_left(&stack.postgres, &backup_dir);
    verify(&stack, &fast_path, &key);
    let files = tar_listing(&fast_path, &key);
    for expected in [
        "PG_VERSION",
        "backup_label",
        "backup_manifest",
        "global/pg_control",
    ] {
        assert!(files.iter().any(|f| f == expected), "{expected}: {files:?}");
    }

    // Replication refused from 127.0.0.1 (a hardened pg_hba.conf): the sidecar sends
    // nothing, and the same backup comes by exec over the container's local socket.
    let hba = format!("{}/pg_hba.conf", stack.pgdata());
    docker_ok(&[
        "exec",
        &stack.postgres,
        "/usr/bin/sed",
        "-i",
        "1i host replication all 127.0.0.1/32 reject",
        &hba,
    ]);
    stack.psql("SELECT pg_reload_conf()");
    std::thread::sleep(Duration::from_millis(1100));
    let slow = run(stack
        .gymops()
        .args(["-v", "-o", "json", "backup", "create", "--type", "base"]));
    let stderr = text(&slow.stderr);
    assert_eq!(slow.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("runs by exec"), "{stderr}");
    assert!(
        stderr.contains("pg_hba.conf"),
        "the sidecar's refusal is told: {stderr}"
    );
    let slow_path = created_path(&slow);
    assert_nothing_left(&stack.postgres, &backup_dir);
    verify(&stack, &slow_path, &key);
    // The same files either way (the data directory's, pg_basebackup's two of its own).
    let without_logs = |files: Vec<String>| -> Vec<String> {
        files
            .into_iter()
            .filter(|f| !f.starts_with("log/") && !f.starts_with("pg_log/"))
            .collect()
    };
    assert_eq!(
        without_logs(tar_listing(&slow_path, &key)),
        without_logs(files)
    );

    // Replication allowed again, but a backup directory other users may write into: no
    // FIFO there (they could swap its directory for theirs); the backup comes by exec.
    docker_ok(&["exec", &stack.postgres, "/usr/bin/sed", "-i", "1d", &hba]);
    stack.psql("SELECT pg_reload_conf()");
    let mode = |mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&backup_dir, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    mode(0o770);
    std::thread::sleep(Duration::from_millis(1100));
    let shared = run(stack
        .gymops()
        .args(["-v", "-o", "json", "backup", "create", "--type", "base"]));
    mode(0o700);
    let stderr = text(&shared.stderr);
    assert_eq!(shared.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("chmod go-w") && stderr.contains("runs by exec"),
        "{stderr}"
    );
    assert_nothing_left(&stack.postgres, &backup_dir);
    verify(&stack, &created_path(&shared), &key);

    // Ctrl-C while the sidecar streams: nothing kept, nothing of the sidecar left.
    stack.psql("CREATE TABLE visit AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS note FROM generate_series(1, 1500000) g");
    let before = backups(&backup_dir);
    std::thread::sleep(Duration::from_millis(1100));
    let child = stack
        .gymops()
        .args(["backup", "create", "--type", "base"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sidecars(&stack.postgres).is_empty() {
        assert!(Instant::now() < deadline, "no sidecar started");
        std::thread::sleep(Duration::from_millis(20));
    }
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("interrupted by Ctrl-C"), "{stderr}");
    assert_nothing_left(&stack.postgres, &backup_dir);
    assert_eq!(backups(&backup_dir), before);
}
