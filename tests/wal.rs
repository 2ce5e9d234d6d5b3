//! WAL archiving, base backups and point-in-time restore against the rig's PostgreSQL:
//! the receiver sidecar on its slot, a refused replication connection explained, the
//! receiver killed and restarted without a lost segment, sealed segments readable with
//! age and zstd.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{age_keygen, docker, docker_ok, run, run_ok, text, Stack};

/// Removes the receiver of a stack's PostgreSQL whatever the test did.
struct ReceiverGuard(String);

impl Drop for ReceiverGuard {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

fn receiver_name(stack: &Stack) -> String {
    format!("{}-gymops-wal", stack.postgres)
}

/// Let the receiver in: the rig's pg_hba.conf allows replication only from localhost.
fn allow_replication(stack: &Stack) {
    docker_ok(&[
        "exec",
        &stack.postgres,
        "/usr/bin/sh",
        "-c",
        &format!(
            "echo 'host replication all 0.0.0.0/0 scram-sha-256' >> {}/pg_hba.conf",
            stack.pgdata()
        ),
    ]);
    stack.psql("SELECT pg_reload_conf()");
}

fn with_key(stack: &Stack) -> (std::path::PathBuf, String) {
    let dir = stack.rig.dir.path();
    let (key, public) = age_keygen(dir);
    let config = std::fs::read_to_string(dir.join("gymops.yaml")).unwrap();
    std::fs::write(
        dir.join("gymops.yaml"),
        format!("{config}backup:\n  recipients: [\"{public}\"]\n"),
    )
    .unwrap();
    (key, public)
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "not JSON ({err}): {}\nstderr: {}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

fn wal_status(stack: &Stack) -> (Option<i32>, serde_json::Value) {
    let output = run(stack
        .gymops()
        .args(["-o", "json", "backup", "wal", "status"]));
    (output.status.code(), json(&output))
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn archived_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("backups/wal"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".zst.age"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_receiver_streams_on_its_slot_survives_a_kill_and_seals_segments_for_age_and_zstd() {
    let stack = Stack::start();
    let _guard = ReceiverGuard(receiver_name(&stack));
    let dir = stack.rig.dir.path().to_path_buf();
    let (key, _) = with_key(&stack);

    // Replication refused by pg_hba.conf: one error, and the line to add.
    let refused = run(stack
        .gymops()
        .args(["backup", "wal", "start", "--wait", "6s"]));
    let stderr = text(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("pg_hba.conf") && stderr.contains("host replication postgres"),
        "{stderr}"
    );
    assert!(
        docker(&["inspect", &receiver_name(&stack)]).status.code() != Some(0),
        "the refused receiver was removed"
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_replication_slots"),
        "0",
        "the slot made for it was dropped"
    );

    allow_replication(&stack);
    let started = run(stack.gymops().args(["backup", "wal", "start"]));
    assert_eq!(started.status.code(), Some(0), "{}", text(&started.stderr));
    // Labelled as gymops's, restarted by the engine, no password in its config.
    let inspect = docker_ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"io.gymops.role\"}} {{.HostConfig.RestartPolicy.Name}} {{json .Config.Env}} {{json .Config.Cmd}}",
        &receiver_name(&stack),
    ]);
    assert!(
        inspect.starts_with("wal-receiver unless-stopped"),
        "{inspect}"
    );
    assert!(!inspect.contains(support::PASSWORD), "{inspect}");
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(0), "{status:#}");
    assert_eq!(status["receiver_state"], "running");
    assert_eq!(status["slot_state"]["active"], true);

    stack.psql("CREATE TABLE visit (id int PRIMARY KEY, at timestamptz DEFAULT now()); INSERT INTO visit SELECT g FROM generate_series(1, 100) g");
    stack.psql("SELECT pg_switch_wal()");

    // Killed (not stopped): the engine restarts it; meanwhile the slot keeps the WAL.
    let pid = docker_ok(&["inspect", "-f", "{{.State.Pid}}", &receiver_name(&stack)]);
    run_ok(Command::new("kill").args(["-9", &pid]));
    stack.psql("INSERT INTO visit SELECT g FROM generate_series(101, 200) g");
    stack.psql("SELECT pg_switch_wal()");
    stack.psql("INSERT INTO visit SELECT g FROM generate_series(201, 300) g");
    stack.psql("SELECT pg_switch_wal()");
    wait_for(
        "the receiver to stream again",
        Duration::from_secs(60),
        || {
            let (_, status) = wal_status(&stack);
            status["slot_state"]["active"] == true
                && status["restarts"].as_i64().unwrap_or(0) >= 1
                && status["slot_state"]["lag_bytes"]
                    .as_u64()
                    .unwrap_or(u64::MAX)
                    < 1024 * 1024
        },
    );

    let archived = run(stack
        .gymops()
        .args(["-o", "json", "backup", "wal", "archive"]));
    assert_eq!(
        archived.status.code(),
        Some(0),
        "{}",
        text(&archived.stderr)
    );
    let names = archived_names(&dir);
    assert!(names.len() >= 3, "{names:?}");
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(0), "{status:#}");
    assert_eq!(status["gaps"].as_array().unwrap().len(), 0, "{status:#}");

    // A sealed segment is age, then zstd, then WAL of this system.
    let first = dir.join("backups/wal").join(&names[0]);
    let decrypted = run(Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(&first));
    assert!(decrypted.status.success(), "{}", text(&decrypted.stderr));
    let wal = zstd_decode(&decrypted.stdout);
    assert_eq!(wal.len(), 16 * 1024 * 1024);
    let system = stack.psql("SELECT system_identifier FROM pg_control_system()");
    assert_eq!(
        u64::from_le_bytes(wal[24..32].try_into().unwrap()).to_string(),
        system
    );

    // With no base backup, the drill falls back to the newest logical backup.
    run_ok(stack.gymops().args(["backup", "create"]));
    let drilled = run(stack
        .gymops()
        .args(["-o", "json", "dr", "drill", "--identity"])
        .arg(&key));
    assert_eq!(drilled.status.code(), Some(0), "{}", text(&drilled.stderr));
    let drill = json(&drilled);
    assert_eq!(drill["method"], "logical", "{drill:#}");
    assert_eq!(drill["checks"][0]["status"], "ok", "{drill:#}");
    assert!(dir.join("backups/drills").read_dir().unwrap().count() == 2);

    // Stopped: the container is gone and the slot dropped.
    run_ok(stack.gymops().args(["backup", "wal", "stop"]));
    assert!(docker(&["inspect", &receiver_name(&stack)]).status.code() != Some(0));
    assert_eq!(stack.psql("SELECT count(*) FROM pg_replication_slots"), "0");
    let (code, _) = wal_status(&stack);
    assert_eq!(code, Some(2));
    // PostgreSQL down: critical, said so, not an error of gymops.
    docker_ok(&["stop", "-t", "5", &stack.postgres]);
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(2), "{status:#}");
    assert!(
        status["problems"][0]
            .as_str()
            .unwrap()
            .contains("PostgreSQL does not answer"),
        "{status:#}"
    );
}

fn zstd_decode(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("zstd")
        .args(["-d", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("zstd");
    let mut input = child.stdin.take().unwrap();
    let bytes = bytes.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&bytes));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Removes what a restore into `project` made, whatever the test did.
struct ProjectGuard(String);

impl Drop for ProjectGuard {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &format!("{}-replace-1", self.0)]);
        let _ = docker(&["rm", "-f", &format!("{}-postgres-1", self.0)]);
        let _ = docker(&["volume", "rm", &format!("{}_postgres_data", self.0)]);
        let _ = docker(&["network", "rm", &format!("{}_default", self.0)]);
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn db_now(stack: &Stack) -> String {
    stack.psql(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    )
}

fn count_in(container: &str, table: &str) -> String {
    let psql = format!("{}/psql", support::pg_bin_dir().display());
    docker_ok(&[
        "exec",
        container,
        &psql,
        "-h",
        "/tmp",
        "-U",
        "postgres",
        "-d",
        "fitness_gym",
        "-qAt",
        "-c",
        &format!("SELECT count(*) FROM {table}"),
    ])
}

#[test]
fn point_in_time_restore_brings_back_exactly_the_rows_before_the_target() {
    let stack = Stack::start();
    let _guard = ReceiverGuard(receiver_name(&stack));
    let dir = stack.rig.dir.path().to_path_buf();
    let (key, _) = with_key(&stack);
    allow_replication(&stack);
    run_ok(stack.gymops().args(["backup", "wal", "start"]));
    stack.psql("CREATE TABLE payment (id int PRIMARY KEY, amount numeric, at timestamptz DEFAULT clock_timestamp())");
    stack.psql("INSERT INTO payment SELECT g, g * 10 FROM generate_series(1, 500) g");

    // A target before any base backup: one error, nothing made.
    let early = db_now(&stack);
    let base = run(stack
        .gymops()
        .args(["-o", "json", "backup", "create", "--type", "base"]));
    assert_eq!(base.status.code(), Some(0), "{}", text(&base.stderr));
    let manifest = json(&base)["manifest"].clone();
    assert_eq!(manifest["format"], "tar");
    assert_eq!(
        manifest["base"]["system_identifier"].as_str().unwrap(),
        stack.psql("SELECT system_identifier FROM pg_control_system()")
    );

    // t1: 50 visits committed; the target; t2: 50 more.
    stack.psql("INSERT INTO payment SELECT g, 1 FROM generate_series(501, 550) g");
    std::thread::sleep(Duration::from_millis(1200));
    let target = db_now(&stack);
    std::thread::sleep(Duration::from_millis(1200));
    stack.psql("INSERT INTO payment SELECT g, 2 FROM generate_series(551, 600) g");
    stack.psql("SELECT pg_switch_wal()");
    std::thread::sleep(Duration::from_millis(1500));

    let refused = run(stack
        .gymops()
        .args(["backup", "restore", "--at", &early, "--identity"])
        .arg(&key));
    let stderr = text(&refused.stderr);
    assert_eq!(
        refused.status.code(),
        Some(3).or(refused.status.code()).filter(|c| *c != 0),
        "{stderr}"
    );
    assert!(stderr.contains("before the oldest base backup"), "{stderr}");
    let future = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--at",
            "2099-01-01 00:00:00",
            "--identity",
        ])
        .arg(&key));
    assert!(
        text(&future.stderr).contains("in the future"),
        "{}",
        text(&future.stderr)
    );

    // A wrong key: refused before anything is made.
    let other = tempfile::tempdir().unwrap();
    let (wrong, _) = age_keygen(other.path());
    let project = unique("pitrwrong");
    let _wrong_guard = ProjectGuard(project.clone());
    let wrong_run = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--at",
            &target,
            "--into",
            &project,
            "--identity",
        ])
        .arg(&wrong));
    assert_ne!(wrong_run.status.code(), Some(0));
    assert!(
        docker(&["inspect", &format!("{project}-postgres-1")])
            .status
            .code()
            != Some(0)
    );
    assert!(
        docker(&["volume", "inspect", &format!("{project}_postgres_data")])
            .status
            .code()
            != Some(0)
    );

    // --force over a PostgreSQL whose data is in its container's own layer: refused
    // before anything is made or taken (it cannot be replaced from outside).
    let project = unique("pitrlayer");
    let _layer_guard = ProjectGuard(project.clone());
    let backups_before = std::fs::read_dir(dir.join("backups")).unwrap().count();
    let layer = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--at",
            &target,
            "--force",
            "--into",
            &project,
            "--identity",
        ])
        .arg(&key));
    let stderr = text(&layer.stderr);
    assert_ne!(layer.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("own layer, not on a volume") && stderr.contains("nothing was restored"),
        "{stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        2,
        "one error and its hint: {stderr}"
    );
    assert!(
        docker(&["inspect", &format!("{project}-postgres-1")])
            .status
            .code()
            != Some(0)
    );
    assert_eq!(
        std::fs::read_dir(dir.join("backups")).unwrap().count(),
        backups_before,
        "no safety backup was taken"
    );
    assert_eq!(stack.psql("SELECT count(*) FROM payment"), "600");

    // To the target: exactly the t1 rows.
    let project = unique("pitr");
    let _project_guard = ProjectGuard(project.clone());
    let restored = run(stack
        .gymops()
        .args([
            "-o",
            "json",
            "backup",
            "restore",
            "--at",
            &target,
            "--into",
            &project,
            "--identity",
        ])
        .arg(&key));
    assert_eq!(
        restored.status.code(),
        Some(0),
        "{}",
        text(&restored.stderr)
    );
    let report = json(&restored);
    assert_eq!(report["tables"]["public.payment"], 550, "{report:#}");
    assert_eq!(count_in(&format!("{project}-postgres-1"), "payment"), "550");
    // Recovery over, the restored server runs with the live one's settings: no
    // restore_command, no recovery target left in postgresql.auto.conf.
    let conf = docker_ok(&[
        "exec",
        &format!("{project}-postgres-1"),
        "cat",
        "/var/lib/gymops-restore/data/postgresql.auto.conf",
    ]);
    assert!(
        !conf.contains("restore_command") && !conf.contains("recovery_target"),
        "{conf}"
    );
    let psql = format!("{}/psql", support::pg_bin_dir().display());
    let setting = docker_ok(&[
        "exec",
        &format!("{project}-postgres-1"),
        &psql,
        "-h",
        "/tmp",
        "-U",
        "postgres",
        "-qAt",
        "-c",
        "SHOW restore_command",
    ]);
    assert_eq!(setting, "", "reloaded");
    // The live database was not touched.
    assert_eq!(stack.psql("SELECT count(*) FROM payment"), "600");

    // To the end of the archive: every row.
    let project = unique("pitrlatest");
    let _latest_guard = ProjectGuard(project.clone());
    let latest = run(stack
        .gymops()
        .args([
            "-o",
            "json",
            "backup",
            "restore",
            "--latest",
            "--type",
            "base",
            "--into",
            &project,
            "--identity",
        ])
        .arg(&key));
    assert_eq!(latest.status.code(), Some(0), "{}", text(&latest.stderr));
    assert_eq!(json(&latest)["tables"]["public.payment"], 600);

    // Ctrl-C in the middle of a restore: what it made is removed, nothing half-restored
    // is left to look like a restore.
    let project = unique("pitrint");
    let _interrupted_guard = ProjectGuard(project.clone());
    let child = stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--latest",
            "--type",
            "base",
            "--into",
            &project,
            "--identity",
        ])
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the restore's container", Duration::from_secs(60), || {
        docker(&["inspect", &format!("{project}-postgres-1")])
            .status
            .code()
            == Some(0)
    });
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("interrupted by Ctrl-C"), "{stderr}");
    assert!(
        docker(&["inspect", &format!("{project}-postgres-1")])
            .status
            .code()
            != Some(0),
        "{stderr}"
    );
    assert!(
        docker(&["volume", "inspect", &format!("{project}_postgres_data")])
            .status
            .code()
            != Some(0)
    );
    assert!(
        docker(&["network", "inspect", &format!("{project}_default")])
            .status
            .code()
            != Some(0)
    );

    // The drill: the newest base backup and the WAL into a scratch stack, rows against
    // the live database, RTO and RPO measured, the record written, the stack removed.
    let reports = dir.join("drills");
    let before = Instant::now();
    let drilled = run(stack
        .gymops()
        .args(["-o", "json", "dr", "drill", "--report-dir"])
        .arg(&reports)
        .arg("--identity")
        .arg(&key));
    let wall = before.elapsed().as_secs_f64();
    assert_eq!(drilled.status.code(), Some(0), "{}", text(&drilled.stderr));
    let drill = json(&drilled);
    assert_eq!(drill["method"], "base+wal", "{drill:#}");
    let payment = drill["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "public.payment")
        .cloned()
        .unwrap();
    assert_eq!(payment["restored"], 600);
    assert_eq!(payment["live"], 600);
    // The backend's copy answered on the restored database, as the live one does.
    let checks = drill["checks"].as_array().unwrap();
    let api: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c["check"].as_str().unwrap().starts_with("api "))
        .collect();
    assert!(api.len() >= 2, "{drill:#}");
    assert!(api.iter().all(|c| c["status"] == "ok"), "{drill:#}");
    let rto = drill["rto_seconds"].as_f64().unwrap();
    assert!(rto > 0.0 && rto < wall, "RTO {rto} within the run's {wall}");
    let rpo = drill["rpo_seconds"].as_f64().unwrap();
    assert!((0.0..5.0).contains(&rpo), "RPO {rpo}");
    let stem = format!("dr-drill-{}", chrono_today());
    let record = std::fs::read_to_string(reports.join(format!("{stem}.md"))).unwrap();
    assert!(
        record.contains("| Result | OK |") && record.contains("public.payment | 600 | 600 | OK"),
        "{record}"
    );
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join(format!("{stem}.json"))).unwrap())
            .unwrap();
    assert_eq!(saved["rto_seconds"], drill["rto_seconds"]);
    let into = drill["restored_into"].as_str().unwrap();
    assert!(
        docker(&["inspect", &format!("{into}-postgres-1")])
            .status
            .code()
            != Some(0),
        "the scratch stack is removed"
    );
    assert!(
        docker(&["volume", "inspect", &format!("{into}_postgres_data")])
            .status
            .code()
            != Some(0)
    );

    // A segment removed from the middle of the chain is named before anything is made.
    run_ok(stack.gymops().args(["backup", "wal", "archive"]));
    let names = archived_names(&dir);
    let base_start = manifest["base"]["start_lsn"].as_str().unwrap().to_string();
    let start_segment = format!(
        "00000001{:08X}{:08X}",
        0,
        u64::from_str_radix(base_start.split('/').nth(1).unwrap(), 16).unwrap()
            / (16 * 1024 * 1024)
    );
    let victim = names
        .iter()
        .find(|n| n.as_str() > start_segment.as_str())
        .expect("a segment after the base backup's start")
        .clone();
    std::fs::remove_file(dir.join("backups/wal").join(&victim)).unwrap();
    let project = unique("pitrgap");
    let _gap_guard = ProjectGuard(project.clone());
    let gap = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--latest",
            "--type",
            "base",
            "--into",
            &project,
            "--identity",
        ])
        .arg(&key));
    let stderr = text(&gap.stderr);
    assert_ne!(gap.status.code(), Some(0), "{stderr}");
    let segment = victim.trim_end_matches(".zst.age");
    assert!(
        stderr.contains(segment) && stderr.contains("missing"),
        "{stderr}"
    );
    assert!(
        docker(&["inspect", &format!("{project}-postgres-1")])
            .status
            .code()
            != Some(0)
    );
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(2), "the gap is critical: {status:#}");

    // An archive of another database system: refused before anything is made.
    let identity_path = dir.join("backups/wal/archive.json");
    let identity = std::fs::read_to_string(&identity_path).unwrap();
    let system = stack.psql("SELECT system_identifier FROM pg_control_system()");
    std::fs::write(
        &identity_path,
        identity.replace(&system, "7000000000000000001"),
    )
    .unwrap();
    let project = unique("pitrother");
    let _other_guard = ProjectGuard(project.clone());
    let other = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--at",
            &target,
            "--into",
            &project,
            "--identity",
        ])
        .arg(&key));
    let stderr = text(&other.stderr);
    assert_ne!(other.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("7000000000000000001") && stderr.contains("different databases"),
        "{stderr}"
    );
    assert!(
        docker(&["inspect", &format!("{project}-postgres-1")])
            .status
            .code()
            != Some(0)
    );
    // And `wal start` will not mix two systems in one archive.
    run_ok(stack.gymops().args(["backup", "wal", "stop"]));
    let mixed = run(stack.gymops().args(["backup", "wal", "start"]));
    assert!(
        text(&mixed.stderr).contains("is of database system 7000000000000000001"),
        "{}",
        text(&mixed.stderr)
    );
    assert!(docker(&["inspect", &receiver_name(&stack)]).status.code() != Some(0));
}

fn chrono_today() -> String {
    let output = Command::new("date").arg("+%Y%m%d").output().unwrap();
    text(&output.stdout).trim().to_string()
}

/// `backup prune` keeping one backup by every rule.
const KEEP_ONE: [&str; 8] = [
    "--keep-last",
    "1",
    "--keep-daily",
    "1",
    "--keep-weekly",
    "1",
    "--keep-monthly",
    "1",
];

/// The WAL segments and their records in an archive directory, local or S3's (not the
/// archive's lock or its own state file), sorted.
fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.len() > 24 && n[..24].bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    names.sort();
    names
}

#[test]
fn a_base_backup_restores_by_hand_with_age_zstd_tar_and_postgres() {
    let stack = Stack::start();
    let _guard = ReceiverGuard(receiver_name(&stack));
    let dir = stack.rig.dir.path().to_path_buf();
    let (key, _) = with_key(&stack);
    allow_replication(&stack);
    run_ok(stack.gymops().args(["backup", "wal", "start"]));
    stack.psql("CREATE TABLE member (id int PRIMARY KEY, name text); INSERT INTO member SELECT g, 'm' || g FROM generate_series(1, 1234) g");
    run_ok(stack.gymops().args(["backup", "create"]));
    std::thread::sleep(Duration::from_millis(1100));
    let base = run(stack
        .gymops()
        .args(["-o", "json", "backup", "create", "--type", "base"]));
    assert_eq!(base.status.code(), Some(0), "{}", text(&base.stderr));
    let created = json(&base);
    let path = created["path"].as_str().unwrap().to_string();
    // `restore --latest` into a database takes the newest logical backup, not the newer
    // base backup.
    let copy = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--latest",
            "--database",
            "member_copy",
            "--create",
            "--identity",
        ])
        .arg(&key));
    assert_eq!(copy.status.code(), Some(0), "{}", text(&copy.stderr));
    assert_eq!(
        stack.psql_in("member_copy", "SELECT count(*) FROM member"),
        "1234"
    );
    let manifest = created["manifest"].clone();

    // Archived segments go to S3 too (backup.wal.upload_s3); an S3 that refuses costs no
    // local segment, and the next pass uploads what is left.
    let public = text(&run(Command::new("age-keygen").arg("-y").arg(&key)).stdout)
        .trim()
        .to_string();
    let server = support::S3Server::start(&["gym-backups"]);
    let s3_config = |port: u16| {
        format!(
            "{}backup:\n  recipients: [\"{public}\"]\n  wal:\n    upload_s3: true\n  s3:\n    endpoint: http://127.0.0.1:{port}\n    bucket: gym-backups\n    prefix: nightly/\n    retries: 1\n    timeout: 5s\n",
            stack.config_yaml()
        )
    };
    let with_s3 = |command: &mut Command| {
        command
            .env("GYMOPS_S3_ACCESS_KEY_ID", support::S3_ACCESS_KEY)
            .env("GYMOPS_S3_SECRET_ACCESS_KEY", support::S3_SECRET_KEY);
    };
    // No credentials at all: the segments are sealed here all the same.
    stack.rig.write_config(&s3_config(support::free_port()));
    let uncredentialed = run(stack.gymops().args(["backup", "wal", "archive"]));
    assert_eq!(
        uncredentialed.status.code(),
        Some(1),
        "{}",
        text(&uncredentialed.stderr)
    );
    assert!(
        text(&uncredentialed.stderr).contains("no S3 credentials"),
        "{}",
        text(&uncredentialed.stderr)
    );
    assert!(!archived_names(&dir).is_empty());
    stack.psql("INSERT INTO member SELECT g, 'n' || g FROM generate_series(2001, 2100) g; SELECT pg_switch_wal()");
    std::thread::sleep(Duration::from_millis(1500));
    let mut refused = stack.gymops();
    with_s3(&mut refused);
    let refused = run(refused.args(["-o", "json", "backup", "wal", "archive"]));
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("S3 upload failed"),
        "{}",
        text(&refused.stderr)
    );
    let names = archived_names(&dir);
    assert!(!names.is_empty());
    stack.rig.write_config(&s3_config(server.port));
    let mut uploading = stack.gymops();
    with_s3(&mut uploading);
    let uploaded = run(uploading.args(["-o", "json", "backup", "wal", "archive"]));
    assert_eq!(
        uploaded.status.code(),
        Some(0),
        "{}",
        text(&uploaded.stderr)
    );
    for name in archived_names(&dir) {
        let remote = server
            .root
            .path()
            .join("gym-backups/nightly/wal")
            .join(&name);
        assert_eq!(
            std::fs::read(&remote).unwrap_or_default(),
            std::fs::read(dir.join("backups/wal").join(&name)).unwrap(),
            "{name} in S3"
        );
        assert!(server
            .root
            .path()
            .join("gym-backups/nightly/wal")
            .join(format!("{name}.json"))
            .is_file());
    }
    // Two base backups uploaded to S3 with the WAL archived and uploaded around them:
    // `prune --remote` keeping one deletes the older and the S3 WAL copies before the kept
    // one's start (data and records), keeps the rest, and leaves the local archive be.
    let s3_wal = server.root.path().join("gym-backups/nightly/wal");
    let s3_names = || segment_files(&s3_wal);
    let base_to_s3 = || -> serde_json::Value {
        let mut command = stack.gymops();
        with_s3(&mut command);
        let created = run(command.args([
            "-o",
            "json",
            "backup",
            "create",
            "--type",
            "base",
            "--upload-s3",
        ]));
        assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
        stack
            .psql("INSERT INTO member SELECT max(id) + 1, 'o' FROM member; SELECT pg_switch_wal()");
        std::thread::sleep(Duration::from_millis(1500));
        let mut archive = stack.gymops();
        with_s3(&mut archive);
        run_ok(archive.args(["backup", "wal", "archive"]));
        json(&created)
    };
    let older = base_to_s3();
    std::thread::sleep(Duration::from_millis(1100));
    let newer = base_to_s3();
    let local_before = archived_names(&dir);
    let before = s3_names();
    let start_lsn = newer["manifest"]["base"]["start_lsn"].as_str().unwrap();
    let (high, low) = start_lsn.split_once('/').unwrap();
    let segment = ((u64::from_str_radix(high, 16).unwrap() << 32)
        | u64::from_str_radix(low, 16).unwrap())
        / (16 << 20);
    let kept_from = format!("00000001{:08X}{:08X}", segment / 256, segment % 256);
    assert!(before.iter().any(|n| *n < kept_from), "{before:?}");
    let mut prune = stack.gymops();
    with_s3(&mut prune);
    let pruned = run(prune
        .args(["-o", "json", "backup", "prune", "--remote"])
        .args(KEEP_ONE));
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned.stderr));
    let after = s3_names();
    assert!(
        after.iter().all(|n| *n >= kept_from),
        "{after:?} from {kept_from}"
    );
    let kept: Vec<&String> = before.iter().filter(|n| **n >= kept_from).collect();
    assert_eq!(after.iter().collect::<Vec<_>>(), kept);
    assert!(
        after.iter().any(|n| n.ends_with(".zst.age.json")),
        "{after:?}"
    );
    assert_eq!(
        archived_names(&dir),
        local_before,
        "--remote leaves local WAL"
    );
    let bucket = server.root.path().join("gym-backups/nightly");
    let file_of =
        |created: &serde_json::Value| created["manifest"]["file"].as_str().unwrap().to_string();
    assert!(!bucket.join(file_of(&older)).exists());
    assert!(bucket.join(file_of(&newer)).is_file());

    // backup list and verify know it.
    let listed = run_ok(stack.gymops().args(["backup", "list"]));
    assert!(listed.contains("base"), "{listed}");
    run_ok_output(
        stack
            .gymops()
            .args(["backup", "verify", &path, "--identity"])
            .arg(&key),
    );

    // By hand: age -d | zstd -d | tar -x, the WAL from its start to its end into pg_wal
    // (age -d | zstd -d each), then postgres on the directory.
    let restore = dir.join("by-hand");
    std::fs::create_dir_all(&restore).unwrap();
    let pipeline = format!(
        "age -d -i '{}' '{}' | zstd -d | tar -x -C '{}'",
        key.display(),
        path,
        restore.display()
    );
    run_ok(Command::new("sh").args(["-c", &pipeline]));
    assert!(restore.join("PG_VERSION").is_file() && restore.join("backup_label").is_file());
    let start: u64 = u64::from_str_radix(
        manifest["base"]["start_lsn"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap(),
        16,
    )
    .unwrap()
        / (16 << 20);
    let stop: u64 = u64::from_str_radix(
        manifest["base"]["stop_lsn"]
            .as_str()
            .unwrap()
            .split('/')
            .nth(1)
            .unwrap(),
        16,
    )
    .unwrap()
        / (16 << 20);
    std::fs::create_dir_all(restore.join("pg_wal")).unwrap();
    for number in start..=stop {
        let name = format!("00000001{:08X}{:08X}", 0, number);
        let sealed = dir.join("backups/wal").join(format!("{name}.zst.age"));
        assert!(sealed.is_file(), "{} archived", sealed.display());
        let command = format!(
            "age -d -i '{}' '{}' | zstd -d > '{}'",
            key.display(),
            sealed.display(),
            restore.join("pg_wal").join(&name).display()
        );
        run_ok(Command::new("sh").args(["-c", &command]));
    }
    run_ok(
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&restore),
    );
    run_ok(Command::new("chmod").args(["700"]).arg(&restore));
    let uid = text(&run(Command::new("id").args(["-u", "postgres"])).stdout)
        .trim()
        .to_string();
    let name = format!("{}-byhand", stack.rig.name);
    let _byhand = ContainerGuard(name.clone());
    let bin = support::pg_bin_dir();
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--user",
        &uid,
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/etc:/etc:ro",
        "-v",
        &format!("{}:/restore", restore.display()),
        support::IMAGE,
        &format!("{}/postgres", bin.display()),
        "-D",
        "/restore",
        "-k",
        "/tmp",
        "-c",
        "listen_addresses=",
    ]);
    let psql = format!("{}/psql", bin.display());
    wait_for(
        "postgres on the hand-restored directory",
        Duration::from_secs(60),
        || {
            docker(&[
                "exec",
                &name,
                &psql,
                "-h",
                "/tmp",
                "-U",
                "postgres",
                "-d",
                "fitness_gym",
                "-qAt",
                "-c",
                "SELECT count(*) FROM member",
            ])
            .stdout
            .starts_with(b"1234")
        },
    );

    // The local prune, once the newest base backup is verified (as a nightly `backup
    // verify` does): keeping one, the two older base backups go, and with them the archived
    // WAL before the kept one's start (segments and their records); the kept one's WAL
    // stays, and the logical backup is pruned by its own count.
    let newer_path = newer["path"].as_str().unwrap().to_string();
    run_ok_output(
        stack
            .gymops()
            .args(["backup", "verify", &newer_path, "--identity"])
            .arg(&key),
    );
    let wal_files = || segment_files(&dir.join("backups/wal"));
    let local_before = wal_files();
    assert!(
        local_before.iter().any(|n| *n < kept_from),
        "WAL archived before the newer base backup: {local_before:?}"
    );
    // As cron runs it: from /, a bare environment, the settings named, no terminal.
    let pruned = run(support::gymops(Path::new("/"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .arg("--config")
        .arg(dir.join("gymops.yaml"))
        .args(["-o", "json", "backup", "prune"])
        .args(KEEP_ONE));
    assert_eq!(pruned.status.code(), Some(0), "{}", text(&pruned.stderr));
    assert!(
        !Path::new(&path).exists(),
        "the first base backup is pruned"
    );
    assert!(!Path::new(&format!("{path}.json")).exists());
    assert!(!Path::new(older["path"].as_str().unwrap()).exists());
    assert!(Path::new(&newer_path).is_file());
    let local_after = wal_files();
    let expected: Vec<&String> = local_before.iter().filter(|n| **n >= kept_from).collect();
    assert_eq!(local_after.iter().collect::<Vec<_>>(), expected);
    assert!(
        local_after.iter().any(|n| n.ends_with(".zst.age.json")),
        "{local_after:?}"
    );
    // What is left has no gap: `wal status` reads the archive from the kept start on.
    let (_, status) = wal_status(&stack);
    assert_eq!(status["gaps"], serde_json::json!([]), "{status}");
    run_ok(stack.gymops().args(["backup", "wal", "stop"]));
}

struct ContainerGuard(String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// What is left of a restore's project: its containers (the restored PostgreSQL, the
/// helper that refills the live data directory), its volume and its network.
fn leftovers(project: &str) -> Vec<String> {
    let mut left: Vec<String> = text(
        &docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Names}}",
        ])
        .stdout,
    )
    .lines()
    .map(str::to_string)
    .collect();
    for (kind, name) in [
        ("volume", format!("{project}_postgres_data")),
        ("network", format!("{project}_default")),
    ] {
        if docker(&[kind, "inspect", &name]).status.code() == Some(0) {
            left.push(name);
        }
    }
    left
}

#[test]
fn force_replaces_the_live_data_with_the_point_in_time_after_a_safety_base_backup() {
    let stack = Stack::start_on_volume();
    let _guard = ReceiverGuard(receiver_name(&stack));
    let scratch = unique("pitrforce");
    let _scratch_guard = ProjectGuard(scratch.clone());
    let dir = stack.rig.dir.path().to_path_buf();
    let (key, _) = with_key(&stack);
    allow_replication(&stack);
    run_ok(stack.gymops().args(["backup", "wal", "start"]));
    stack.psql("CREATE TABLE checkin (id int PRIMARY KEY, member int, at timestamptz DEFAULT clock_timestamp())");
    stack.psql("INSERT INTO checkin SELECT g, g % 40 FROM generate_series(1, 300) g");
    let base = run(stack.gymops().args(["backup", "create", "--type", "base"]));
    assert_eq!(base.status.code(), Some(0), "{}", text(&base.stderr));
    stack.psql("INSERT INTO checkin SELECT g, 7 FROM generate_series(301, 340) g");
    std::thread::sleep(Duration::from_millis(1200));
    let target = db_now(&stack);
    std::thread::sleep(Duration::from_millis(1200));
    // After the target: the rows a bad import wrote, and a table it made.
    stack.psql("INSERT INTO checkin SELECT g, -1 FROM generate_series(341, 900) g");
    stack.psql("CREATE TABLE bad_import (x int); INSERT INTO bad_import VALUES (1)");
    let live_id = docker_ok(&["inspect", "-f", "{{.Id}}", &stack.postgres]);
    let system = stack.psql("SELECT system_identifier FROM pg_control_system()");

    // Run as cron would: no TTY, another working directory, the settings named. And
    // Ctrl-C while the data directory is swapped (the live container stopped): stopping
    // there would leave it half-filled, so gymops says it finishes first, and does.
    let mut child = stack
        .gymops()
        .current_dir("/")
        .env("GYMOPS_CONFIG", dir.join("gymops.yaml"))
        .args([
            "-o",
            "json",
            "backup",
            "restore",
            "--at",
            &target,
            "--force",
            "--identity",
        ])
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut interrupted = false;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("restore --force did not end within 10 minutes");
        }
        if !interrupted
            && docker(&["inspect", "-f", "{{.State.Running}}", &stack.postgres]).stdout
                == b"false\n"
        {
            run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
            interrupted = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let replaced = child.wait_with_output().unwrap();
    let stderr = text(&replaced.stderr);
    assert!(
        interrupted,
        "the live container was never seen stopped: {stderr}"
    );
    assert_eq!(replaced.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Ctrl-C: the data directory of")
            && stderr.contains("gymops finishes that first"),
        "{stderr}"
    );
    let report = json(&replaced);

    // The same live container (compose's: name, ID, mounts), on the restored data:
    // exactly the rows before the target, the table made after it gone.
    assert_eq!(
        docker_ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{.State.Running}}",
            &stack.postgres
        ]),
        format!("{live_id} true")
    );
    assert_eq!(stack.psql("SELECT count(*) FROM checkin"), "340");
    assert_eq!(
        stack.psql("SELECT count(*) FROM checkin WHERE member = -1"),
        "0"
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'bad_import'"),
        "0"
    );
    assert_eq!(
        stack.psql("SELECT system_identifier FROM pg_control_system()"),
        system
    );
    assert_eq!(stack.psql("SELECT pg_is_in_recovery()"), "f");
    assert_eq!(
        report["live_container"],
        stack.postgres.as_str(),
        "{report:#}"
    );
    assert_eq!(report["live_tables"]["public.checkin"], 340, "{report:#}");
    assert_eq!(
        report["problems"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    assert!(
        report["live_data"]
            .as_str()
            .unwrap()
            .contains(stack.data_volume.as_deref().unwrap()),
        "{report:#}"
    );
    // The restored server's settings are the live one's again (no restore_command).
    assert_eq!(stack.psql("SHOW restore_command"), "");

    // The safety base backup holds what was live before: listed, signed, a base backup
    // of the same system, and verifiable.
    let safety = report["safety_backup"].as_str().unwrap().to_string();
    assert!(safety.contains("pre-restore"), "{safety}");
    let verified = run(stack
        .gymops()
        .args(["backup", "verify", &safety, "--identity"])
        .arg(&key));
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        text(&verified.stderr)
    );
    let listed = json(&run_ok_output(
        stack.gymops().args(["-o", "json", "backup", "list"]),
    ));
    assert!(
        listed.as_array().unwrap().iter().any(|b| b["name"]
            .as_str()
            .unwrap_or("")
            .contains("pre-restore")
            && b["manifest"]["base"]["system_identifier"] == system.as_str()),
        "{listed:#}"
    );

    // WAL archiving goes on for the restored server: a new slot, the receiver streaming.
    assert_eq!(
        report["receiver"],
        receiver_name(&stack).as_str(),
        "{report:#}"
    );
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(0), "{status:#}");
    assert_eq!(
        stack.psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'gymops_wal'"),
        "t"
    );

    // Nothing of the scratch restore is left.
    assert_eq!(leftovers(&scratch), Vec::<String>::new());

    // A live server that does not answer cannot be backed up first: refused before
    // anything is made (--no-safety-backup is the operator's explicit choice).
    docker_ok(&["stop", "-t", "5", &stack.postgres]);
    let down = unique("pitrdown");
    let _down_guard = ProjectGuard(down.clone());
    let refused = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            "--latest",
            "--type",
            "base",
            "--force",
            "--into",
            &down,
            "--identity",
        ])
        .arg(&key));
    let stderr = text(&refused.stderr);
    assert_ne!(refused.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no safety base backup"), "{stderr}");
    assert!(stderr.contains("--no-safety-backup"), "{stderr}");
    assert_eq!(leftovers(&down), Vec::<String>::new());
}

/// WAL archiving running, the rows `before` makes, a base backup, a target time, then
/// what `after` does: the restore key and the target.
fn archived_with_a_target(stack: &Stack, before: &str, after: &str) -> (PathBuf, String) {
    let (key, _) = with_key(stack);
    allow_replication(stack);
    run_ok(stack.gymops().args(["backup", "wal", "start"]));
    stack.psql(before);
    run_ok(stack.gymops().args(["backup", "create", "--type", "base"]));
    std::thread::sleep(Duration::from_millis(1200));
    let target = db_now(stack);
    std::thread::sleep(Duration::from_millis(1200));
    stack.psql(after);
    (key, target)
}

/// The error names the safety backup, and it is there.
fn assert_names_the_safety_backup(stderr: &str) {
    let safety = stderr
        .split("the safety backup: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no safety backup named: {stderr}"))
        .trim_end_matches([';', ',', ':']);
    assert!(Path::new(safety).is_file(), "{safety}: {stderr}");
}

/// Ctrl-C while `--force` waits for the restarted live server (slow to answer): gymops
/// stops waiting — the server already runs on the restored data — and says so, names the
/// safety backup and the kept copy, and that WAL archiving is stopped with the command
/// that starts it; following that advice works.
#[test]
fn ctrl_c_while_force_waits_for_the_live_server_says_what_is_left_and_how_to_go_on() {
    let stack = Stack::start_on_volume();
    let _guard = ReceiverGuard(receiver_name(&stack));
    let (key, target) = archived_with_a_target(
        &stack,
        "CREATE TABLE checkin (id int PRIMARY KEY, member int); INSERT INTO checkin SELECT g, g % 40 FROM generate_series(1, 120) g",
        "INSERT INTO checkin SELECT g, -1 FROM generate_series(121, 500) g",
    );
    // The live server's next start takes 20 s before PostgreSQL runs (the rig's hook).
    docker_ok(&[
        "exec",
        &stack.postgres,
        "/usr/bin/touch",
        "/tmp/gymops-test-slow-start",
    ]);
    let project = unique("pitrwait");
    let _project_guard = ProjectGuard(project.clone());
    let mut child = stack
        .gymops()
        .args([
            "backup", "restore", "--at", &target, "--force", "--into", &project,
        ])
        .arg("--identity")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped for the refill, then started again: then Ctrl-C while gymops waits.
    let running =
        || docker(&["inspect", "-f", "{{.State.Running}}", &stack.postgres]).stdout == b"true\n";
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen_stopped = false;
    loop {
        assert!(
            Instant::now() < deadline,
            "the live container was not restarted"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "restore --force ended before the live server was restarted"
        );
        let up = running();
        if !up {
            seen_stopped = true;
        } else if seen_stopped {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("interrupted by Ctrl-C while waiting for")
            && stderr.contains("it was started on the restored data"),
        "{stderr}"
    );
    assert!(
        stderr.contains("WAL archiving is stopped: start it with `gymops backup wal start`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("kept in volume {project}_postgres_data")),
        "the kept copy is named: {stderr}"
    );
    assert_names_the_safety_backup(&stderr);

    // The server comes up on the restored data by itself: the rows before the target.
    wait_for("the live server", Duration::from_secs(90), || {
        docker(&[
            "exec",
            &stack.postgres,
            "/usr/bin/sh",
            "-c",
            "$PGBIN/pg_isready -h /var/run/postgresql -q",
        ])
        .status
        .success()
    });
    assert_eq!(stack.psql("SELECT count(*) FROM checkin"), "120");
    // The advice works: WAL archiving starts again (a new slot on the new timeline).
    run_ok(stack.gymops().args(["backup", "wal", "start"]));
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(0), "{status:#}");
}

/// The refill of `--force` killed half-way (an OOM kill, an operator's `docker kill`):
/// the live container stays stopped, the error says its data directory is incomplete and
/// names the kept restored copy and the safety backup; the hint's way on — the same
/// restore again with `--no-safety-backup` — brings the live server back on the
/// restored data.
#[test]
fn a_refill_killed_half_way_keeps_the_restored_copy_and_the_advice_recovers() {
    let stack = Stack::start_on_volume();
    let _guard = ReceiverGuard(receiver_name(&stack));
    // Enough data that copying it takes a while.
    let (key, target) = archived_with_a_target(
        &stack,
        "CREATE TABLE checkin (id int PRIMARY KEY, member int, note text); INSERT INTO checkin SELECT g, g % 40, repeat(md5(g::text), 6) FROM generate_series(1, 1000000) g",
        "DELETE FROM checkin WHERE id > 1000",
    );
    let project = unique("pitrkill");
    let _project_guard = ProjectGuard(project.clone());
    let second = unique("pitrkill2");
    let _second_guard = ProjectGuard(second.clone());
    let restore = |into: &str, extra: &[&str]| {
        stack
            .gymops()
            .args([
                "backup", "restore", "--at", &target, "--force", "--into", into,
            ])
            .args(extra)
            .arg("--identity")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = restore(&project, &[]);
    // Kill the helper that empties or refills the live data directory.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut killed = false;
    while !killed && child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no refill helper seen");
        let helpers = text(
            &docker(&[
                "ps",
                "-q",
                "--filter",
                &format!("name=^{project}-replace-1$"),
                "--filter",
                "status=running",
            ])
            .stdout,
        );
        for id in helpers.lines() {
            killed |= docker(&["kill", id]).status.success();
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(killed, "the refill helper was never seen running: {stderr}");
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is stopped and its data directory") && stderr.contains("is incomplete"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "with --no-safety-backup and another --into than {project}"
        )) && stderr.contains("WAL archiving is stopped: start it with `gymops backup wal start`"),
        "the way on is told: {stderr}"
    );
    let kept = format!("{project}_postgres_data");
    assert!(
        stderr.contains(&format!("kept in volume {kept}")),
        "{stderr}"
    );
    assert_eq!(
        docker_ok(&["volume", "inspect", "-f", "{{.Name}}", &kept]).trim(),
        kept
    );
    assert_names_the_safety_backup(&stderr);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &stack.postgres]).trim(),
        "false"
    );

    // The advice: the same restore again without a safety backup (the server is down),
    // into another project (the first holds the kept copy).
    let again = restore(&second, &["--no-safety-backup"])
        .wait_with_output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(stack.psql("SELECT count(*) FROM checkin"), "1000000");
    // And WAL archiving, as the first error said.
    run_ok(stack.gymops().args(["backup", "wal", "start"]));
    let (code, status) = wal_status(&stack);
    assert_eq!(code, Some(0), "{status:#}");
}

fn run_ok_output(command: &mut Command) -> std::process::Output {
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output.stderr));
    output
}

/// A WAL segment of database system `system`, number `number` on timeline 1: the long
/// page header PostgreSQL 15 writes, then bytes that do not compress (its sealed copy is
/// as big as it is).
fn incompressible_segment(system: u64, number: u64) -> Vec<u8> {
    const BYTES: u64 = 16 * 1024 * 1024;
    let mut data = vec![0u8; BYTES as usize];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ number;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    data[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
    data[2..4].copy_from_slice(&0x0006u16.to_le_bytes());
    data[4..8].copy_from_slice(&1u32.to_le_bytes());
    data[8..16].copy_from_slice(&(number * BYTES).to_le_bytes());
    data[16..24].fill(0);
    data[24..32].copy_from_slice(&system.to_le_bytes());
    data[32..36].copy_from_slice(&(BYTES as u32).to_le_bytes());
    data
}

#[test]
fn a_disk_that_fills_while_archiving_keeps_the_segment_and_the_next_pass_seals_it() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = age_keygen(dir.path());
    std::fs::write(
        dir.path().join("gymops.yaml"),
        format!("backup:\n  dir: backups\n  recipients: [\"{public}\"]\n"),
    )
    .unwrap();
    // The archive on a 40 MiB disk: a 16 MiB segment received, 12 MiB of something else,
    // less room than the segment's sealed copy needs.
    let wal = dir.path().join("backups/wal");
    let _disk = support::SmallDisk::mount(&wal, "40m");
    let system: u64 = 7_300_000_000_000_000_001;
    std::fs::write(
        wal.join("archive.json"),
        serde_json::json!({
            "system_identifier": system.to_string(),
            "database": "fitness_gym",
            "slot": "gymops_wal",
            "segment_bytes": 16 * 1024 * 1024,
            "encrypted": true,
            "created_at": "2026-11-29T08:00:00Z",
        })
        .to_string(),
    )
    .unwrap();
    let incoming = wal.join("receiver/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let name = "000000010000000000000003";
    let segment = incompressible_segment(system, 3);
    std::fs::write(incoming.join(name), &segment).unwrap();
    let filler = wal.join("filler");
    std::fs::write(&filler, vec![1u8; 12 * 1024 * 1024]).unwrap();

    // Run from another directory, as cron does.
    let archive = || {
        run(support::gymops(Path::new("/"))
            .env("GYMOPS_CONFIG", dir.path().join("gymops.yaml"))
            .env("XDG_CONFIG_HOME", dir.path().join(".config"))
            .args(["-o", "json", "backup", "wal", "archive"]))
    };
    let full = archive();
    let said = format!("{}{}", text(&full.stdout), text(&full.stderr));
    assert_eq!(full.status.code(), Some(2), "{said}");
    assert!(said.contains("No space left on device"), "{said}");
    // The segment is where it was, whole; nothing half-written looks archived.
    assert!(std::fs::read(incoming.join(name)).unwrap() == segment);
    let left: Vec<String> = std::fs::read_dir(&wal)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(name))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Room again: the next pass seals it, and it reads back with age and zstd.
    std::fs::remove_file(&filler).unwrap();
    let again = archive();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(json(&again)["archived"][0], name);
    assert!(!incoming.join(name).exists());
    let decrypted = run(Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(wal.join(format!("{name}.zst.age"))));
    assert!(decrypted.status.success(), "{}", text(&decrypted.stderr));
    assert!(zstd_decode(&decrypted.stdout) == segment);
}
