//! gymops run the way it is really run: the schedule it generates, executed as cron and
//! systemd execute it — a minimal environment (`env -i`, cron's PATH), from `/`, no
//! terminal — against a real stack. Each job must do its work, quietly when all is well.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::{age_keygen, gymops_bin, run, run_ok, text, SmallDisk, Stack, PASSWORD};

/// Run a command line the way cron does: `/bin/sh -c LINE` from `/`, with only cron's
/// environment (HOME, LOGNAME, SHELL, PATH=/usr/bin:/bin).
fn as_cron(line: &str, home: &Path) -> std::process::Output {
    run(Command::new("/usr/bin/env")
        .current_dir("/")
        .stdin(Stdio::null())
        .args(["-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=root"])
        .arg(format!("HOME={}", home.display()))
        .args(["/bin/sh", "-c", line]))
}

/// The crontab lines of `schedule print --target cron`, as (job name, command).
fn cron_jobs(crontab: &str) -> Vec<(String, String)> {
    crontab
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (command, name) = line.rsplit_once("  # gymops job ").unwrap();
            // Five time fields, then the command; cron turns an unescaped % into a newline.
            let command: String = command.splitn(6, ' ').nth(5).unwrap().to_string();
            (name.to_string(), command.replace("\\%", "%"))
        })
        .collect()
}

fn project(stack: &Stack) -> std::path::PathBuf {
    let dir = stack.rig.dir.path().to_path_buf();
    let (_, public) = age_keygen(&dir);
    // The password where cron finds it: the env file beside gymops.yaml. The monthly drill
    // decrypts: the identity is where backup.identity_file says.
    std::fs::write(dir.join(".env"), format!("POSTGRES_PASSWORD={PASSWORD}\n")).unwrap();
    stack.rig.write_config(&format!(
        "{}backup:\n  recipients: [\"{public}\"]\n  identity_file: key.txt\nschedule:\n  binary: {}\n  user: root\n",
        stack.config_yaml(),
        gymops_bin().display()
    ));
    dir
}

#[test]
fn the_generated_cron_jobs_work_under_crons_environment() {
    let stack = Stack::start();
    stack.psql("CREATE TABLE member (id int); INSERT INTO member SELECT generate_series(1, 100);");
    let dir = project(&stack);
    // The operator prints the schedule from a subdirectory of the project.
    let sub = dir.join("ops");
    std::fs::create_dir(&sub).unwrap();
    let crontab = run_ok(support::gymops(&sub).args(["schedule", "print", "--target", "cron"]));
    let jobs = cron_jobs(&crontab);
    let names: Vec<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["backup", "daily-report", "dr-drill", "health"],
        "{crontab}"
    );
    let home = tempfile::tempdir().unwrap();
    for (name, line) in &jobs {
        let output = as_cron(line, home.path());
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        match name.as_str() {
            // Quiet when all is well: cron mails nothing.
            "health" | "backup" => {
                assert_eq!(output.status.code(), Some(0), "{name}: {stdout}{stderr}");
                assert!(
                    stdout.is_empty() && stderr.is_empty(),
                    "{name}: {stdout}{stderr}"
                );
            }
            // The report is written where the job runs (the project), whatever its status.
            "daily-report" => {
                assert!(output.status.code().unwrap_or(9) <= 2, "{stderr}");
                let report = std::fs::read_to_string(dir.join("reports/daily-check.md"))
                    .unwrap_or_else(|err| panic!("no report ({err}): {stderr}"));
                assert!(report.starts_with("# Daily check"), "{report}");
            }
            // The monthly drill restores the backup the job above made (only logical ones
            // here) into a scratch database, quietly, and leaves its record.
            "dr-drill" => {
                assert_eq!(output.status.code(), Some(0), "{name}: {stdout}{stderr}");
                assert!(
                    stdout.is_empty() && stderr.is_empty(),
                    "{name}: {stdout}{stderr}"
                );
                let records = std::fs::read_dir(dir.join("backups/drills"))
                    .unwrap()
                    .count();
                assert_eq!(records, 2, "dr-drill-YYYYMMDD.md and .json");
            }
            other => panic!("unexpected job {other}"),
        }
    }
    // The backup the job made is there, encrypted, and monitor / prune see it under cron too.
    let backups: Vec<String> = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".age"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let config = dir.join("gymops.yaml");
    let monitor = as_cron(
        &format!(
            "{} --config {} backup monitor --max-age 1h",
            gymops_bin().display(),
            config.display()
        ),
        home.path(),
    );
    let monitor_out = text(&monitor.stdout);
    assert_eq!(
        monitor.status.code(),
        Some(1),
        "only never verified: {monitor_out}"
    );
    assert!(monitor_out.contains("succeeded"), "{monitor_out}");
    let prune = as_cron(
        &format!(
            "{} --config {} backup prune --dry-run",
            gymops_bin().display(),
            config.display()
        ),
        home.path(),
    );
    assert_eq!(prune.status.code(), Some(0), "{}", text(&prune.stderr));
    assert!(text(&prune.stdout).contains(&backups[0]));
}

#[test]
fn the_generated_systemd_units_run_from_their_working_directory_with_a_bare_environment() {
    let stack = Stack::start();
    let dir = project(&stack);
    let units = run_ok(support::gymops(&dir).args(["schedule", "print", "--target", "systemd"]));
    // The health service: WorkingDirectory and ExecStart, unquoted as systemd does.
    let service = units
        .split("### ")
        .find(|u| u.starts_with("fitnessgym-health.service"))
        .unwrap_or_else(|| panic!("{units}"));
    let value = |key: &str| {
        service
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_string()
    };
    assert_eq!(value("User"), "root");
    let unquote = |text: &str| -> Vec<String> {
        shell_words::split(text)
            .unwrap()
            .into_iter()
            .map(|w| w.replace("%%", "%").replace("$$", "$"))
            .collect()
    };
    let working_dir = unquote(&value("WorkingDirectory")).remove(0);
    let argv = unquote(&value("ExecStart"));
    let home = tempfile::tempdir().unwrap();
    let output = run(Command::new("/usr/bin/env")
        .current_dir(&working_dir)
        .stdin(Stdio::null())
        .args(["-i", "PATH=/usr/bin:/bin"])
        .arg(format!("HOME={}", home.path().display()))
        .args(&argv));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{argv:?}: {}",
        text(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "quiet when healthy");
}

#[test]
fn an_operators_incident_from_a_subdirectory_lands_in_the_project() {
    let stack = Stack::start();
    let dir = project(&stack);
    // The operator is somewhere inside the project, not where gymops.yaml is.
    let sub = dir.join("docs/notes");
    std::fs::create_dir_all(&sub).unwrap();
    let gymops_here = || {
        let mut command = stack.gymops();
        command.current_dir(&sub);
        command
    };
    let opened = run_ok(gymops_here().args([
        "-o",
        "json",
        "incident",
        "new",
        "--severity",
        "critical",
        "--summary",
        "API returns 502",
    ]));
    let opened: serde_json::Value = serde_json::from_str(&opened).unwrap();
    let id = opened["id"].as_str().unwrap().to_string();
    assert!(dir
        .join("incidents")
        .join(&id)
        .join("incident.json")
        .is_file());
    assert!(
        !sub.join("incidents").exists(),
        "not in the working directory"
    );
    run_ok(gymops_here().args([
        "incident",
        "update",
        &id,
        "--status",
        "investigating",
        "--note",
        "pool exhausted",
    ]));
    run_ok(gymops_here().args([
        "incident",
        "resolve",
        &id,
        "--root-cause",
        "pool too small",
        "--fix",
        "pool 20 -> 50",
    ]));
    let listed = run_ok(gymops_here().args(["incident", "list"]));
    assert!(listed.contains(&id), "{listed}");
    run_ok(gymops_here().args(["incident", "review", &id]));
    let review = std::fs::read_to_string(dir.join("incidents").join(&id).join("review.md"))
        .expect("the review is written beside the record");
    assert!(review.contains("pool too small"), "{review}");
}

#[test]
fn a_disk_that_fills_during_a_backup_leaves_nothing_that_looks_complete_and_monitor_says_so() {
    let stack = Stack::start();
    stack.psql(
        "CREATE TABLE big (id bigint, a text); \
         INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 300000) g;",
    );
    let dir = project(&stack);
    // 3 MB: the run log and a first record fit, the encrypted dump (~25 MB) does not.
    let _disk = SmallDisk::mount(&dir.join("backups"), "3m");
    let output = run(stack
        .gymops()
        .args(["backup", "create", "--compress", "none"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("nothing was kept"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(dir.join("backups"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("_db_backup_"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let monitor = run(stack.gymops().args(["-o", "json", "backup", "monitor"]));
    assert_eq!(monitor.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&monitor.stdout).unwrap();
    let last_run = support::finding(&report, "last run");
    assert_eq!(last_run["status"], "critical", "{last_run}");
    assert!(
        last_run["detail"].as_str().unwrap().contains("failed"),
        "{last_run}"
    );
}
