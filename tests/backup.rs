//! Backups against real PostgreSQL in a container: every format / compression / encryption
//! round trip with row counts compared, wrong keys, damaged files, interop with the standard
//! age / zstd / psql tools, refusals that leave the target untouched, and a PostgreSQL
//! container killed mid-dump.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::{age_keygen, run, run_ok, text, Stack, PASSWORD};

const SEED: &str = "
CREATE TABLE member (id bigint PRIMARY KEY, name text NOT NULL, notes text);
INSERT INTO member SELECT g, 'member_' || g, md5(g::text) FROM generate_series(1, 3000) g;
CREATE TABLE checkin (id bigint PRIMARY KEY, member_id bigint REFERENCES member, at timestamptz);
INSERT INTO checkin SELECT g, 1 + g % 3000, timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 7000) g;
CREATE SCHEMA \"Reports\";
CREATE TABLE \"Reports\".\"Monthly Sum\" (month date, total numeric);
INSERT INTO \"Reports\".\"Monthly Sum\" VALUES ('2026-10-01', 12.5), ('2026-11-01', 99);
CREATE TABLE empty_table (id int);
";

fn counts(stack: &Stack, database: &str) -> BTreeMap<String, i64> {
    let out = stack.psql_in(
        database,
        "SELECT 'member', count(*) FROM member UNION ALL SELECT 'checkin', count(*) FROM checkin \
         UNION ALL SELECT 'monthly', count(*) FROM \"Reports\".\"Monthly Sum\" \
         UNION ALL SELECT 'empty', count(*) FROM empty_table",
    );
    out.lines()
        .map(|line| {
            let (name, count) = line.split_once('|').unwrap();
            (name.to_string(), count.parse().unwrap())
        })
        .collect()
}

fn expected() -> BTreeMap<String, i64> {
    BTreeMap::from([
        ("checkin".to_string(), 7000),
        ("empty".to_string(), 0),
        ("member".to_string(), 3000),
        ("monthly".to_string(), 2),
    ])
}

/// The backup files (not manifests) in a directory, sorted.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().to_string();
                    name.contains("_db_backup_")
                        && !name.ends_with(".json")
                        && !name.starts_with('.')
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn newest_backup(dir: &Path) -> PathBuf {
    backups(dir).pop().expect("a backup file")
}

#[test]
fn every_format_compression_and_encryption_round_trips_with_equal_row_counts() {
    let stack = Stack::start();
    stack.psql(SEED);
    assert_eq!(counts(&stack, "fitness_gym"), expected());
    let dir = stack.rig.dir.path();
    let (key, public) = age_keygen(dir);
    std::fs::write(dir.join("passphrase"), "correct horse battery staple\n").unwrap();
    let mut n = 0;
    for format in ["plain", "custom"] {
        for compress in ["zstd", "gzip", "none"] {
            for encryption in ["none", "x25519", "passphrase"] {
                n += 1;
                let label = format!("t{n}");
                let mut create = stack.gymops();
                create.args([
                    "-o",
                    "json",
                    "backup",
                    "create",
                    "--format",
                    format,
                    "--compress",
                    compress,
                    "--label",
                    &label,
                ]);
                match encryption {
                    "x25519" => {
                        create.args(["--recipient", &public]);
                    }
                    "passphrase" => {
                        create.args(["--passphrase-file", "passphrase"]);
                    }
                    _ => {
                        create.arg("--no-encrypt");
                    }
                }
                let created: serde_json::Value =
                    serde_json::from_str(&run_ok(&mut create)).unwrap();
                let path = created["path"].as_str().unwrap().to_string();
                let manifest = &created["manifest"];
                assert_eq!(manifest["format"], format);
                assert_eq!(manifest["compression"], compress);
                assert_eq!(
                    manifest["tables"]["public.member"], 3000,
                    "{format} {compress}"
                );
                assert_eq!(manifest["tables"]["\"Reports\".\"Monthly Sum\""], 2);
                let mode = std::fs::metadata(&path).unwrap();
                assert_eq!(
                    std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
                    0o600
                );
                let database = format!("restored_{n}");
                let mut restore = stack.gymops();
                restore.args([
                    "backup",
                    "restore",
                    &path,
                    "--database",
                    &database,
                    "--create",
                ]);
                match encryption {
                    "x25519" => {
                        restore.arg("--identity").arg(&key);
                    }
                    "passphrase" => {
                        restore.args(["--passphrase-file", "passphrase"]);
                    }
                    _ => {}
                }
                let out = run_ok(&mut restore);
                assert!(out.contains("as in the backup"), "{out}");
                assert_eq!(
                    counts(&stack, &database),
                    expected(),
                    "{format} {compress} {encryption}"
                );
            }
        }
    }
    let list = run_ok(stack.gymops().args(["-o", "json", "backup", "list"]));
    let list: Vec<ListedBackup> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 18);
    assert!(list.iter().all(|b| b.manifest.is_some() && b.size > 0));
}

/// `backup list --output json`, pinned (the manifest is the file's own, parsed by gymops
/// with its own strict types).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ListedBackup {
    name: String,
    location: String,
    time: Option<String>,
    size: u64,
    manifest: Option<serde_json::Value>,
}

/// `backup monitor --output json`, pinned.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MonitorReport {
    status: String,
    checked_at: String,
    dir: String,
    backups: usize,
    newest: Option<String>,
    findings: Vec<MonitorFinding>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MonitorFinding {
    check: String,
    status: String,
    detail: String,
    action: String,
}

#[test]
fn damaged_backups_and_wrong_keys_fail_before_the_target_is_touched() {
    let stack = Stack::start();
    stack.psql(SEED);
    let dir = stack.rig.dir.path();
    let (key, public) = age_keygen(dir);
    let other_dir = dir.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let (other_key, _) = age_keygen(&other_dir);
    run_ok(
        stack
            .gymops()
            .args(["backup", "create", "--recipient", &public]),
    );
    let backup = newest_backup(&dir.join("backups"));
    let path = backup.to_str().unwrap();

    // The interop guarantee: standard tools restore a gymops backup, no gymops needed.
    stack.psql("CREATE DATABASE interop");
    let pipeline = format!(
        "age -d -i '{}' '{path}' | zstd -d | psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {} -U postgres -d interop",
        key.display(),
        stack.postgres_port
    );
    let output = run(Command::new("bash")
        .args(["-o", "pipefail", "-c", &pipeline])
        .env("PGPASSWORD", PASSWORD));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(counts(&stack, "interop"), expected());

    // verify: a good backup reads back as written, and the manifest records it.
    let out = run_ok(
        stack
            .gymops()
            .args(["backup", "verify", "--latest", "--identity"])
            .arg(&key),
    );
    assert!(out.contains("match the manifest"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{path}.json")).unwrap()).unwrap();
    assert!(manifest["verified"]["at"].is_string());

    // The wrong key: refused at once, naming both fingerprints; nothing created.
    let output = run(stack
        .gymops()
        .args([
            "backup",
            "restore",
            path,
            "--database",
            "wrong_key",
            "--create",
            "--identity",
        ])
        .arg(&other_key));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is not a recipient of this backup"),
        "{stderr}"
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_database WHERE datname = 'wrong_key'"),
        "0"
    );

    // A truncated copy and a bit-flipped copy (with the original manifest beside them).
    let bytes = std::fs::read(&backup).unwrap();
    let manifest_bytes = std::fs::read(format!("{path}.json")).unwrap();
    let name = backup.file_name().unwrap().to_string_lossy().to_string();
    let damaged = dir.join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    let truncated = damaged.join(format!("trunc_{name}"));
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    std::fs::write(format!("{}.json", truncated.display()), &manifest_bytes).unwrap();
    let flipped = damaged.join(format!("flip_{name}"));
    let mut flipped_bytes = bytes.clone();
    let middle = flipped_bytes.len() / 2;
    flipped_bytes[middle] ^= 0x01;
    std::fs::write(&flipped, &flipped_bytes).unwrap();
    std::fs::write(format!("{}.json", flipped.display()), &manifest_bytes).unwrap();
    for (file, what) in [(&truncated, "truncated"), (&flipped, "altered")] {
        let output = run(stack
            .gymops()
            .args(["backup", "verify"])
            .arg(file)
            .arg("--identity")
            .arg(&key));
        let stdout = text(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{what}: {stdout}{}",
            text(&output.stderr)
        );
        assert!(stdout.contains(what), "{what}: {stdout}");
        let database = format!("from_{}", &what[..4]);
        let output = run(stack
            .gymops()
            .args(["backup", "restore"])
            .arg(file)
            .args(["--database", &database, "--create", "--identity"])
            .arg(&key));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("does not read back as written"), "{stderr}");
        assert!(
            stderr.contains(&format!("nothing was restored into {database}")),
            "{stderr}"
        );
        assert_eq!(
            stack.psql(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{database}'"
            )),
            "0"
        );
    }

    // Over a database with tables: refused without --force; with it, a safety backup first.
    let output = run(stack
        .gymops()
        .args(["backup", "restore", path, "--identity"])
        .arg(&key));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is not empty") && stderr.contains("--force"),
        "{stderr}"
    );
    stack.psql("INSERT INTO member VALUES (9999, 'added after the backup', NULL)");
    let before = backups(&dir.join("backups")).len();
    let out = run_ok(
        stack
            .gymops()
            .args(["backup", "restore", path, "--force", "--identity"])
            .arg(&key),
    );
    assert!(out.contains("safety backup"), "{out}");
    assert_eq!(
        counts(&stack, "fitness_gym"),
        expected(),
        "the backup's rows, not the later ones"
    );
    let after = backups(&dir.join("backups"));
    assert_eq!(after.len(), before + 1);
    assert!(after
        .iter()
        .any(|p| p.to_string_lossy().contains("_pre-restore.")));

    // A passphrase on the command line is refused.
    let output = run(stack
        .gymops()
        .args(["backup", "create", "--passphrase", "hunter2"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr.contains("--passphrase is refused") && stderr.contains("--passphrase-file"));
    assert!(!stderr.contains("hunter2"));
}

#[test]
fn missing_roles_are_found_before_restoring_and_no_owner_restores_anyway() {
    let stack = Stack::start();
    stack.psql("CREATE ROLE gym_owner; CREATE TABLE owned (id int); INSERT INTO owned VALUES (1), (2); ALTER TABLE owned OWNER TO gym_owner;");
    for format in ["plain", "custom"] {
        let created = run_ok(stack.gymops().args([
            "-o",
            "json",
            "backup",
            "create",
            "--no-encryption",
            "--format",
            format,
        ]));
        let created: serde_json::Value = serde_json::from_str(&created).unwrap();
        assert_eq!(created["manifest"]["roles"][0], "gym_owner", "{format}");
    }
    stack.psql("DROP TABLE owned; DROP ROLE gym_owner;");
    for backup in backups(&stack.rig.dir.path().join("backups")) {
        let path = backup.to_str().unwrap();
        let output = run(stack.gymops().args([
            "backup",
            "restore",
            path,
            "--database",
            "no_roles",
            "--create",
        ]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("role(s) this server does not have: gym_owner")
                && stderr.contains("--no-owner"),
            "{stderr}"
        );
        assert_eq!(
            stack.psql("SELECT count(*) FROM pg_database WHERE datname = 'no_roles'"),
            "0"
        );
        run_ok(stack.gymops().args([
            "backup",
            "restore",
            path,
            "--database",
            "no_roles",
            "--create",
            "--no-owner",
        ]));
        let rows = stack.psql_in("no_roles", "SELECT count(*) FROM owned");
        assert_eq!(rows, "2");
        stack.psql("DROP DATABASE no_roles");
    }
}

#[test]
fn a_killed_postgres_leaves_no_backup_the_lock_names_its_holder_and_local_tools_work() {
    let stack = Stack::start();
    stack.psql(SEED);
    let dir = stack.rig.dir.path();
    let backups_dir = dir.join("backups");

    // --local: the host's pg_dump and psql against the server in --db-connection.
    let url = db_connection(&stack);
    let created = run_ok(stack.gymops().args([
        "-o",
        "json",
        "backup",
        "create",
        "--local",
        "--no-encryption",
        "--db-connection",
        &url,
    ]));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["manifest"]["source"], "on this host");
    let path = created["path"].as_str().unwrap().to_string();
    run_ok(stack.gymops().args([
        "backup",
        "restore",
        &path,
        "--local",
        "--db-connection",
        &url,
        "--database",
        "local_copy",
        "--create",
    ]));
    assert_eq!(counts(&stack, "local_copy"), expected());
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(format!("{path}.json")).unwrap();

    // Enough data that gzip -9 takes a few seconds over it.
    stack.psql(
        "CREATE TABLE big (id bigint, a text, b text); \
         INSERT INTO big SELECT g, md5(g::text) || md5((g * 3)::text), md5((g * 7)::text) FROM generate_series(1, 600000) g;",
    );
    let child = backup_until_writing(
        &stack,
        &backups_dir,
        &["--no-encryption", "--compress", "gzip", "--level", "9"],
    );
    // A second backup while the first runs: refused, naming the holder.
    let output = run(stack.gymops().args(["backup", "create", "--no-encryption"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("another backup or restore is running")
            && stderr.contains(&format!("pid {}", child.id()))
            && stderr.contains("gymops backup create"),
        "{stderr}"
    );
    support::docker_ok(&["kill", &stack.postgres]);
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("failed; nothing was kept"), "{stderr}");
    assert!(
        backups(&backups_dir).is_empty(),
        "no file that looks like a backup"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&backups_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".json"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // backup monitor sees the failed run (and no backup).
    let output =
        run(stack
            .gymops()
            .args(["-o", "json", "backup", "monitor", "--report", "report.md"]));
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let last_run = support::finding(&report, "last run");
    assert_eq!(last_run["status"], "critical");
    assert!(last_run["detail"].as_str().unwrap().contains("failed"));
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(markdown.starts_with("# Backup monitor"), "{markdown}");
}

/// `--db-connection` for the stack's PostgreSQL from this host (the `--local` tools).
fn db_connection(stack: &Stack) -> String {
    format!(
        "postgres://postgres@127.0.0.1:{}/fitness_gym",
        stack.postgres_port
    )
}

/// `sha256sum FILE` -> the hex digest.
fn sha256_of(path: &Path) -> String {
    let out = support::run_ok(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().unwrap().to_string()
}

fn database_exists(stack: &Stack, name: &str) -> bool {
    stack.psql(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
    )) == "1"
}

#[test]
fn a_swapped_backup_is_refused_and_nothing_in_it_runs() {
    let stack = Stack::start();
    stack.psql(SEED);
    let dir = stack.rig.dir.path();
    let url = db_connection(&stack);
    // A real backup: its manifest is signed with this host's key (made on first use, 0600).
    let created = run_ok(stack.gymops().args([
        "-o",
        "json",
        "backup",
        "create",
        "--no-encrypt",
        "--compress",
        "none",
    ]));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let genuine = PathBuf::from(created["path"].as_str().unwrap());
    assert!(created["manifest"]["signature"]["key"]
        .as_str()
        .unwrap()
        .starts_with("ed25519:"));
    let key_file = dir.join(".config/gymops/backup-signing.key");
    let mode = std::fs::metadata(&key_file).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // The attacker's file: psql meta-commands that would run as root on this host (--local).
    let owned = dir.join("owned");
    let owned_mid_line = dir.join("owned-mid-line");
    let swapped = dir.join("swapped");
    std::fs::create_dir(&swapped).unwrap();
    let evil = swapped.join("fitness_gym_db_backup_full_20261128_020000.sql");
    let write_evil = |body: &str| {
        std::fs::write(
            &evil,
            format!(
                "SET client_encoding = 'UTF8';\n{body}\nCREATE TABLE planted (id int);\n--\n-- PostgreSQL database dump complete\n--\n"
            ),
        )
        .unwrap();
    };
    write_evil(&format!("\\! touch {}", owned.display()));
    // A manifest forged to match it, from the genuine one: right hash and size, no signature.
    let forge = |signature: bool, sha: Option<String>| {
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{}.json", genuine.display())).unwrap())
                .unwrap();
        let size = std::fs::metadata(&evil).unwrap().len();
        manifest["file"] = evil.file_name().unwrap().to_string_lossy().into();
        manifest["sha256"] = sha.unwrap_or_else(|| sha256_of(&evil)).into();
        manifest["stored_bytes"] = size.into();
        manifest["dump_bytes"] = size.into();
        manifest["tables"] = serde_json::json!({});
        manifest["row_counts"] = "none".into();
        if !signature {
            manifest.as_object_mut().unwrap().remove("signature");
        }
        std::fs::write(
            format!("{}.json", evil.display()),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    };
    let restore = |database: &str, extra: &[&str]| {
        let mut command = stack.gymops();
        command
            .args(["backup", "restore"])
            .arg(&evil)
            .args(["--local", "--db-connection", &url, "--database", database])
            .arg("--create")
            .args(extra);
        run(&mut command)
    };

    // 1. No manifest; 2. a forged unsigned one; 3. the genuine signature over other values.
    let _ = std::fs::remove_file(format!("{}.json", evil.display()));
    for (why, manifest) in [
        ("has no manifest", None),
        ("is not signed", Some(false)),
        ("does not match", Some(true)),
    ] {
        if let Some(signed) = manifest {
            forge(signed, None);
        }
        let output = restore("swapped", &[]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{why}: {stderr}");
        assert!(
            stderr.contains("is refused") && stderr.contains(why),
            "{why}: {stderr}"
        );
        assert!(stderr.contains("--trust-unsigned"), "{stderr}");
        assert!(!owned.exists(), "{why}: the meta-command ran");
        assert!(!database_exists(&stack, "swapped"), "{why}");
        // verify says the same (and runs nothing either).
        let output = run(stack.gymops().args(["backup", "verify"]).arg(&evil));
        assert_eq!(output.status.code(), Some(2), "{why}");
        assert!(text(&output.stdout).contains("not trusted"), "{why}");
    }

    // 4. Signed by a key this host does not trust (another gymops's).
    let other = dir.join("other-site");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("gymops.yaml"), stack.config_yaml()).unwrap();
    let foreign = run_ok(
        stack
            .gymops()
            .current_dir(&other)
            .env("XDG_CONFIG_HOME", other.join(".config"))
            .args([
                "-o",
                "json",
                "backup",
                "create",
                "--no-encrypt",
                "--compress",
                "none",
            ]),
    );
    let foreign: serde_json::Value = serde_json::from_str(&foreign).unwrap();
    let foreign_path = foreign["path"].as_str().unwrap();
    let output = run(stack.gymops().args([
        "backup",
        "restore",
        foreign_path,
        "--database",
        "foreign",
        "--create",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("not this host's key"), "{stderr}");
    // Trusting it in settings lets it in.
    let public = foreign["manifest"]["signature"]["key"].as_str().unwrap();
    stack.rig.write_config(&format!(
        "{}backup:\n  encrypt: false\n  trusted_keys: [\"{public}\"]\n",
        stack.config_yaml()
    ));
    run_ok(stack.gymops().args([
        "backup",
        "restore",
        foreign_path,
        "--database",
        "foreign",
        "--create",
    ]));
    assert_eq!(counts(&stack, "foreign"), expected());

    // 5. --trust-unsigned: the stream itself is checked; the meta-command line never reaches
    // psql, the transaction is not committed, and the new database goes again.
    forge(false, None);
    let output = restore("trusted_anyway", &["--trust-unsigned"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("psql meta-command"), "{stderr}");
    assert!(stderr.contains("dropped again"), "{stderr}");
    assert!(!owned.exists(), "the meta-command ran");
    assert!(!database_exists(&stack, "trusted_anyway"));

    // 6. A meta-command in the middle of a line: psql's \restrict (this psql has it) stops it.
    write_evil(&format!("SELECT 1; \\! touch {}", owned_mid_line.display()));
    forge(false, None);
    let output = restore("mid_line", &["--trust-unsigned"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("restricted"), "{stderr}");
    assert!(!owned_mid_line.exists(), "the meta-command ran");
    assert!(!database_exists(&stack, "mid_line"));

    // 7. COPY ... TO PROGRAM hidden in SQL: only the signature stands between it and the
    // server; without --trust-unsigned it never reaches PostgreSQL.
    write_evil("COPY (SELECT 1) TO PROGRAM 'touch /tmp/gymops-never';");
    forge(false, None);
    let output = restore("program", &[]);
    assert_eq!(output.status.code(), Some(3));
    assert!(!database_exists(&stack, "program"));
}

#[test]
fn backups_are_never_silently_plaintext_and_the_run_log_tells_the_truth() {
    let stack = Stack::start();
    stack.psql(SEED);
    let dir = stack.rig.dir.path();
    let backups_dir = dir.join("backups");

    // No key set up at all: refused before anything is written.
    let output = run(stack.gymops().args(["backup", "create"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no encryption key is set up") && stderr.contains("--no-encrypt"),
        "{stderr}"
    );
    assert!(backups(&backups_dir).is_empty());
    // An encryption request that yields no key: an empty recipients file, an empty passphrase.
    std::fs::write(dir.join("recipients.txt"), "# nobody yet\n\n").unwrap();
    std::fs::write(dir.join("empty-passphrase"), "\n").unwrap();
    for (flag, file, says) in [
        (
            "--recipients-file",
            "recipients.txt",
            "names no age public key",
        ),
        ("--passphrase-file", "empty-passphrase", "is empty"),
    ] {
        let output = run(stack.gymops().args(["backup", "create", flag, file]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{flag}: {stderr}");
        assert!(stderr.contains(says), "{flag}: {stderr}");
        assert!(backups(&backups_dir).is_empty(), "{flag}");
    }

    // Plaintext on purpose, from settings.
    stack.rig.write_config(&format!(
        "{}backup:\n  encrypt: false\n",
        stack.config_yaml()
    ));
    let output = run(stack.gymops().args(["backup", "create"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("not encrypted (backup.encrypt: false)"));
    let monitor = || {
        let output = run(stack.gymops().args(["-o", "json", "backup", "monitor"]));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let _: MonitorReport = serde_json::from_value(report.clone()).unwrap();
        (output.status.code(), support::finding(&report, "last run"))
    };
    let (_, last_run) = monitor();
    assert_eq!(last_run["status"], "ok", "{last_run}");

    // A full disk cut the run log's last record short: that run counts as failed...
    let runs = backups_dir.join(".gymops-backup-runs.jsonl");
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(&runs)
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"time\":\"2026-11-28T02:00:00Z\",\"ok\":tr").unwrap();
    drop(log);
    let (code, last_run) = monitor();
    assert_eq!(code, Some(2));
    assert_eq!(last_run["status"], "critical");
    assert!(
        last_run["detail"]
            .as_str()
            .unwrap()
            .contains("not a run record"),
        "{last_run}"
    );
    // ...and the next run's record is not glued to the torn line.
    run_ok(
        stack
            .gymops()
            .args(["backup", "create", "--label", "after"]),
    );
    let (code, last_run) = monitor();
    assert_eq!(last_run["status"], "ok", "{last_run}");
    assert_eq!(code, Some(1), "only the never-verified warning is left");

    // restore --latest, run from elsewhere on a file: no backups/ or lock made there.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::write(
        elsewhere.join("gymops.yaml"),
        format!("{}backup:\n  encrypt: false\n", stack.config_yaml()),
    )
    .unwrap();
    let newest = newest_backup(&backups_dir);
    run_ok(
        stack
            .gymops()
            .current_dir(&elsewhere)
            .arg("backup")
            .arg("restore")
            .arg(&newest)
            .args(["--database", "from_elsewhere", "--create"]),
    );
    assert_eq!(counts(&stack, "from_elsewhere"), expected());
    assert!(!elsewhere.join("backups").exists(), "no backup dir made");
    run_ok(stack.gymops().args([
        "backup",
        "restore",
        "--latest",
        "--database",
        "latest_copy",
        "--create",
    ]));
    assert_eq!(counts(&stack, "latest_copy"), expected());

    // Once encryption is set up, a plaintext backup is refused (this host signed it, but a
    // plaintext file where encrypted ones are expected is not to be trusted blindly).
    let (_, public) = age_keygen(dir);
    stack.rig.write_config(&format!(
        "{}backup:\n  recipients: [\"{public}\"]\n",
        stack.config_yaml()
    ));
    let output = run(stack.gymops().args([
        "backup",
        "restore",
        "--latest",
        "--database",
        "plain_refused",
        "--create",
    ]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("not encrypted, while encryption is set up"),
        "{stderr}"
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_database WHERE datname = 'plain_refused'"),
        "0"
    );
}

/// Whether a hidden partial backup file in `dir` has bytes (a dump is under way).
fn partial_growing(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                e.file_name().to_string_lossy().ends_with(".partial")
                    && e.metadata().map(|m| m.len() > 0).unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

/// `backup create ARGS` in the background, returned once its hidden partial file in `dir`
/// has bytes (the dump is under way).
fn backup_until_writing(stack: &Stack, dir: &Path, args: &[&str]) -> std::process::Child {
    let child = stack
        .gymops()
        .args(["backup", "create"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !partial_growing(dir) {
        assert!(
            std::time::Instant::now() < deadline,
            "the backup never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

/// Wait (at most a minute) until PostgreSQL answers queries again.
fn wait_for_postgres(stack: &Stack) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = stack.try_psql("SELECT 1");
        if answer.status.success() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PostgreSQL does not answer: {}",
            text(&answer.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `backup restore PATH --database DATABASE --create` in the background, returned once its
/// COPY runs in PostgreSQL.
fn restore_until_loading(stack: &Stack, path: &str, database: &str) -> std::process::Child {
    let child = stack
        .gymops()
        .args([
            "backup",
            "restore",
            path,
            "--database",
            database,
            "--create",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let loading = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND query LIKE 'COPY%'"
    );
    while stack.psql(&loading) != "1" {
        assert!(
            std::time::Instant::now() < deadline,
            "the restore never started loading"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

#[test]
fn a_stalled_dump_and_an_interrupted_restore_leave_nothing_behind() {
    let stack = Stack::start();
    stack.psql(SEED);
    stack.psql(
        "CREATE TABLE big (id bigint, a text, b text); \
         INSERT INTO big SELECT g, md5(g::text) || md5((g * 3)::text), md5((g * 7)::text) FROM generate_series(1, 1200000) g;",
    );
    let dir = stack.rig.dir.path();
    let backups_dir = dir.join("backups");
    stack.rig.write_config(&format!(
        "{}backup:\n  encrypt: false\n  stall_timeout: 2s\n",
        stack.config_yaml()
    ));
    let created =
        run_ok(
            stack
                .gymops()
                .args(["-o", "json", "backup", "create", "--compress", "none"]),
        );
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let path = created["path"].as_str().unwrap().to_string();

    // SIGTERM in the middle of a restore into a new database: rolled back, database gone.
    let child = restore_until_loading(&stack, &path, "interrupted");
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGTERM") && stderr.contains("was dropped again"),
        "{stderr}"
    );
    assert!(!database_exists(&stack, "interrupted"));

    // A restore whose PostgreSQL freezes mid-load: it ends at the stall timeout instead of
    // hanging, and names the database it could not drop.
    let child = restore_until_loading(&stack, &path, "frozen");
    support::docker_ok(&["pause", &stack.postgres]);
    let frozen_at = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    support::docker_ok(&["unpause", &stack.postgres]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("took no input for 2s"), "{stderr}");
    assert!(
        stderr.contains("is left over") && stderr.contains("DROP DATABASE"),
        "the database it could not drop is named: {stderr}"
    );
    assert!(frozen_at.elapsed() < std::time::Duration::from_secs(60));
    // Thawed, the server may take a moment (or a crash recovery) before it answers again.
    wait_for_postgres(&stack);
    stack.psql("DROP DATABASE IF EXISTS frozen WITH (FORCE)");

    // pg_dump that sends nothing (its container frozen): the run ends at the stall timeout.
    let before = backups(&backups_dir);
    let started = std::time::Instant::now();
    let child = backup_until_writing(
        &stack,
        &backups_dir,
        &["--compress", "none", "--label", "stalled"],
    );
    support::docker_ok(&["pause", &stack.postgres]);
    // The container's PostgreSQL trusts its socket: pg_dump runs without the password in
    // its environment (the host sees the container's processes).
    let mut dumps = 0;
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains("pg_dump") && cmdline.contains("--lock-wait-timeout") {
            dumps += 1;
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&environ).contains(&format!("PGPASSWORD={PASSWORD}")),
                "gymops put the password in pg_dump's environment"
            );
        }
    }
    assert!(dumps > 0, "pg_dump was found");
    let output = child.wait_with_output().unwrap();
    support::docker_ok(&["unpause", &stack.postgres]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("pg_dump sent nothing for 2s"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(backups(&backups_dir), before, "nothing kept");
    let partials = std::fs::read_dir(&backups_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .count();
    assert_eq!(partials, 0);
}
