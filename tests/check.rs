//! `gymops check daily|weekly` against a real stack: every part of the guide's checklists in
//! one report, with what to do about each finding.

mod support;

use serde::Deserialize;
use support::{docker_ok, run, text, Stack};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    checklist: String,
    status: String,
    checked_at: String,
    findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    area: String,
    item: String,
    status: String,
    detail: String,
    action: String,
}

fn report(stack: &Stack, args: &[&str]) -> (i32, Report) {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let output = run(stack.gymops().args(&all));
    let parsed = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}{}", text(&output.stdout), text(&output.stderr)));
    (output.status.code().unwrap(), parsed)
}

#[test]
fn daily_and_weekly_checklists_report_every_part_with_actions() {
    let stack = Stack::start();
    let (code, daily) = report(&stack, &["daily"]);
    assert_eq!(daily.checklist, "daily");
    assert!(chrono::DateTime::parse_from_rfc3339(&daily.checked_at).is_ok());
    let areas: std::collections::BTreeSet<&str> =
        daily.findings.iter().map(|f| f.area.as_str()).collect();
    assert_eq!(
        areas.into_iter().collect::<Vec<_>>(),
        vec!["disk", "health", "logs", "resources"]
    );
    let item = |r: &Report, item: &str| -> (String, String, String) {
        let f = r
            .findings
            .iter()
            .find(|f| f.item == item)
            .unwrap_or_else(|| panic!("no {item}: {:#?}", r.findings));
        (f.status.clone(), f.detail.clone(), f.action.clone())
    };
    assert_eq!(item(&daily, "db postgres").0, "ok");
    assert_eq!(item(&daily, "container backend").0, "ok");
    assert_eq!(item(&daily, "cpu backend").0, "ok");
    let (status, detail, action) = item(&daily, "errors in 24h (backend)");
    assert_eq!(status, "ok", "{detail}");
    assert!(action.is_empty());
    // Every service's log is read, PostgreSQL's too: a failed login is a FATAL there.
    let wrong = run(std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &stack.postgres_port.to_string(),
            "-U",
            "postgres",
            "-c",
            "SELECT 1",
        ])
        .env("PGPASSWORD", "not-the-password"));
    assert!(!wrong.status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, again) = report(&stack, &["daily"]);
        let (status, detail, _) = item(&again, "errors in 24h (postgres)");
        if status == "warning" {
            assert!(
                detail.contains("password authentication failed"),
                "{detail}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}: {detail}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(daily
        .findings
        .iter()
        .filter(|f| f.status != "ok")
        .all(|f| !f.action.is_empty()));
    let expected = match daily.status.as_str() {
        "ok" => 0,
        "warning" => 1,
        "critical" => 2,
        _ => 3,
    };
    assert_eq!(code, expected);

    // Weekly: no backups yet is critical, with what to do.
    let (code, weekly) = report(&stack, &["weekly"]);
    assert_eq!(code, 2, "{weekly:#?}");
    let backups = weekly
        .findings
        .iter()
        .find(|f| f.area == "backups")
        .unwrap();
    assert_eq!(
        (backups.status.as_str(), backups.detail.as_str()),
        (
            "critical",
            "the backup directory does not exist: no backup was ever taken here (check backup.dir)"
        )
    );
    assert!(!backups.action.is_empty());

    // A fresh backup, an expiring role, old log files.
    let dir = stack.rig.dir.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("fitness_gym_db_backup_full_20261125_020000.sql.zst.age"),
        vec![7u8; 4096],
    )
    .unwrap();
    std::fs::write(
        dir.join("fitness_gym_db_backup_full_20261125_020000.sql.zst.age.json"),
        "{}",
    )
    .unwrap();
    stack.psql(
        "DO $$ BEGIN EXECUTE format('CREATE ROLE report_reader LOGIN VALID UNTIL %L', now() + interval '2 days'); END $$;",
    );
    let logs = tempfile::tempdir().unwrap();
    let old = logs.path().join("springboot-schema.log.2024-01-01.0");
    std::fs::write(&old, "old line\n".repeat(100)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400))
        .unwrap();
    docker_ok(&[
        "cp",
        &format!("{}/.", logs.path().display()),
        &format!("{}:/app/logs/", stack.backend),
    ]);

    let (code, weekly) = report(&stack, &["weekly"]);
    assert_eq!(code, 1, "{weekly:#?}");
    let (status, detail, _) = item(&weekly, &format!("backups in {}", dir.display()));
    assert_eq!(status, "ok");
    assert!(
        detail.starts_with("newest fitness_gym_db_backup_full_20261125_020000.sql.zst.age:")
            && detail.ends_with("4.0 KiB"),
        "{detail}"
    );
    let (status, detail, action) = item(&weekly, "role report_reader");
    assert_eq!(status, "warning", "{detail}");
    assert!(action.contains("ALTER ROLE \"report_reader\" VALID UNTIL"));
    let (status, detail, action) = item(&weekly, "log files older than 7 days (/app/logs)");
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("warning", "1 files, 900 B")
    );
    assert!(action.contains("gymops logs clean"));
    assert_eq!(item(&weekly, "write-heavy tables").0, "ok");

    // Markdown for a ticket or the wiki, written atomically to a file.
    let file = stack.rig.dir.path().join("weekly.md");
    let output = run(stack
        .gymops()
        .args(["check", "weekly", "--output", "markdown", "--output-file"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(1));
    let markdown = std::fs::read_to_string(&file).unwrap();
    assert!(
        markdown.starts_with("# Weekly check — ") && markdown.contains(" — WARNING\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| AREA") && markdown.contains("| role report_reader"),
        "{markdown}"
    );
    assert!(!markdown.contains('\u{1b}'));

    // Docker unreachable: still a report, with the engine unknown.
    let output = run(stack
        .gymops()
        .args(["check", "daily", "-o", "json"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1"));
    let unreachable: Report = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(unreachable.findings[0].item, "engine");
    assert_eq!(unreachable.findings[0].status, "unknown");
    assert!(matches!(output.status.code(), Some(2 | 3)));
}

#[test]
fn a_service_logging_to_json_file_without_max_size_is_flagged_with_the_snippet_to_add() {
    // An engine of its own whose daemon.json sets no log-opts: json-file without max-size is
    // what a container gets there unless its compose file says otherwise.
    let engine = support::SecondEngine::start();
    let sleeper = |name: &str, log_opts: &[&str]| {
        let mut args = support::sleeper_args(name);
        let image = args.len() - 3;
        for opt in log_opts.iter().rev() {
            args.insert(image, opt.to_string());
            args.insert(image, "--log-opt".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = engine.docker(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    sleeper("capped", &["max-size=1m", "max-file=2"]);
    sleeper("unbounded", &[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: logrot\nservices:\n  capped: {container: capped}\n  unbounded: {container: unbounded}\n",
    )
    .unwrap();
    for checklist in ["daily", "weekly"] {
        let output = run(support::gymops(dir.path())
            .env("DOCKER_HOST", engine.address())
            .args(["check", checklist, "-o", "json"]));
        let report: Report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", text(&output.stderr)));
        let find = |item: &str| {
            report
                .findings
                .iter()
                .find(|f| f.item == item)
                .unwrap_or_else(|| panic!("{checklist}: no {item}: {:#?}", report.findings))
        };
        let capped = find("log rotation (capped)");
        assert_eq!(
            (
                capped.status.as_str(),
                capped.detail.as_str(),
                capped.action.as_str()
            ),
            ("ok", "json-file, at most 2 × 1m", "")
        );
        let unbounded = find("log rotation (unbounded)");
        assert_eq!(unbounded.status, "warning", "{unbounded:?}");
        assert!(unbounded.detail.contains("no max-size"), "{unbounded:?}");
        assert!(
            unbounded.action.contains("services.unbounded")
                && unbounded.action.contains("max-size: \"10m\""),
            "{unbounded:?}"
        );
        assert!(report.status != "ok" && output.status.code() != Some(0));
        // This host's /etc/docker/daemon.json is not that engine's: no verdict from it.
        assert!(report
            .findings
            .iter()
            .all(|f| !f.item.contains("Docker's default")));
    }

    // The loop an operator goes through: a service deployed by `gymops up` without a
    // logging section is flagged; the snippet from the action, pasted under the service,
    // and `gymops up` again, and it is not.
    let deployed = tempfile::tempdir().unwrap();
    let compose = format!(
        "services:\n  api:\n    image: {}\n    command: [/usr/bin/sleep, \"600\"]\n    network_mode: none\n    volumes: [\"/usr:/usr:ro\"]\n",
        support::IMAGE
    );
    std::fs::write(deployed.path().join("docker-compose.yml"), &compose).unwrap();
    std::fs::write(
        deployed.path().join("gymops.yaml"),
        "project: logup\nservices:\n  api: {container: null}\ndeploy:\n  gate: [containers]\n  wait_timeout: 30s\n  stop_timeout: 1s\n",
    )
    .unwrap();
    let gymops = |args: &[&str]| {
        run(support::gymops(deployed.path())
            .env("DOCKER_HOST", engine.address())
            .args(args))
    };
    let api_rotation = || -> Finding {
        let output = gymops(&["check", "weekly", "-o", "json"]);
        let report: Report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", text(&output.stderr)));
        report
            .findings
            .into_iter()
            .find(|f| f.item == "log rotation (api)")
            .unwrap_or_else(|| panic!("no api finding"))
    };
    let up = gymops(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let before = api_rotation();
    assert_eq!(before.status, "warning", "{before:?}");
    let snippet = before.action.split('`').nth(1).unwrap().to_string();
    assert!(snippet.starts_with("logging: "), "{snippet}");
    std::fs::write(
        deployed.path().join("docker-compose.yml"),
        format!("{compose}    {snippet}\n"),
    )
    .unwrap();
    let up = gymops(&["up"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let after = api_rotation();
    assert_eq!(
        (after.status.as_str(), after.detail.as_str()),
        ("ok", "json-file, at most 3 × 10m"),
        "{after:?}"
    );

    // The host's engine: its default judged from the daemon.json it reads.
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: logrot\nservices:\n  capped: {container: gymops-absent-logrot}\n",
    )
    .unwrap();
    let output = run(support::gymops(dir.path()).args(["check", "daily", "-o", "json"]));
    let report: Report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", text(&output.stderr)));
    if let Ok(daemon) = std::fs::read_to_string("/etc/docker/daemon.json") {
        let config: serde_json::Value = serde_json::from_str(&daemon).unwrap();
        let capped = config["log-opts"]["max-size"].as_str().is_some();
        let default = report
            .findings
            .iter()
            .find(|f| f.item == "log rotation (Docker's default)")
            .unwrap_or_else(|| panic!("{:#?}", report.findings));
        assert_eq!(
            default.status,
            if capped { "ok" } else { "warning" },
            "{default:?}"
        );
    }
}
