//! `monitoring init` checked by the stack's own tools (promtool, amtool, docker-compose), and
//! `schedule print / install / remove` round trips on a temporary crontab and unit directory.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support::{gymops, run, text};

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

fn tool_ok(program: &str, args: &[&str], dir: &Path) -> String {
    let output = run(Command::new(program).args(args).current_dir(dir));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "{program} {args:?} rejected the file:\n{all}"
    );
    all
}

const NOTIFY: &str = "metrics:\n  listen: 172.17.0.1:9464\nnotify:\n  channels: [email, slack, webhook]\n  email:\n    smtp_host: smtp.example.com\n    username: alerts\n    password_file: smtp-password\n";

#[test]
fn monitoring_init_writes_files_the_stack_accepts() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", NOTIFY);
    write(dir.path(), "smtp-password", "Sm7p-secret\n");
    let output = run(gymops(dir.path())
        .env(
            "GYMOPS_SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T0/B0/SECRET",
        )
        .env(
            "GYMOPS_METRICS_RELAY_TOKEN",
            "relay-T0ken-0123456789abcdef0123456789",
        )
        .args(["monitoring", "init", "--dir", "monitoring"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("SECRET") && !stderr.contains("Sm7p-secret"));
    let monitoring = dir.path().join("monitoring");

    let checked = tool_ok(
        "promtool",
        &["check", "config", "prometheus.yml"],
        &monitoring,
    );
    assert!(checked.contains("SUCCESS: 1 rule files found"), "{checked}");
    let rules = tool_ok("promtool", &["check", "rules", "alerts.yml"], &monitoring);
    assert!(rules.contains("SUCCESS: 8 rules found"), "{rules}");
    let alerts = std::fs::read_to_string(monitoring.join("alerts.yml")).unwrap();
    for name in [
        "HighCPUUsage",
        "ServiceDown",
        "APIDown",
        "ContainerDown",
        "BackupStale",
        "PostgresDown",
    ] {
        assert!(alerts.contains(&format!("alert: {name}")), "{name} missing");
    }
    let am = tool_ok("amtool", &["check-config", "alertmanager.yml"], &monitoring);
    assert!(am.contains("SUCCESS"), "{am}");
    let alertmanager = std::fs::read_to_string(monitoring.join("alertmanager.yml")).unwrap();
    assert!(alertmanager.contains("smtp_smarthost: 'smtp.example.com:587'"));
    assert!(alertmanager.contains("api_url_file: /etc/alertmanager/secrets/slack_webhook_url"));
    assert!(!alertmanager.contains("SECRET") && !alertmanager.contains("Sm7p-secret"));
    // Alertmanager authenticates to the relay with the token from its secret file.
    assert!(
        alertmanager.contains("credentials_file: /etc/alertmanager/secrets/relay_token")
            && !alertmanager.contains("relay-T0ken"),
        "{alertmanager}"
    );
    // The secrets Alertmanager reads are files of their own, readable by the owner only.
    for (name, value) in [
        (
            "secrets/slack_webhook_url",
            "https://hooks.slack.com/services/T0/B0/SECRET",
        ),
        ("secrets/smtp_password", "Sm7p-secret"),
        (
            "secrets/relay_token",
            "relay-T0ken-0123456789abcdef0123456789\n",
        ),
    ] {
        let path = monitoring.join(name);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), value);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    tool_ok(
        "docker-compose",
        &["-f", "docker-compose.yml", "config", "-q"],
        &monitoring,
    );
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(monitoring.join("grafana/dashboards/fitness-gym.json")).unwrap(),
    )
    .unwrap();
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for title in [
        "CPU usage by core",
        "Memory and swap",
        "Disk I/O",
        "Network traffic",
        "System load",
        "Request rate",
        "Response time P95 / P99",
        "Error rate (4xx / 5xx)",
        "Database connections",
    ] {
        assert!(titles.contains(&title), "panel {title} missing: {titles:?}");
    }

    // Existing files stay as they are without --force.
    write(&monitoring, "prometheus.yml", "# edited by hand\n");
    let output = run(gymops(dir.path()).args(["monitoring", "init", "--dir", "monitoring"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("already has prometheus.yml") && stderr.contains("--force"));
    assert_eq!(
        std::fs::read_to_string(monitoring.join("prometheus.yml")).unwrap(),
        "# edited by hand\n"
    );
    let output =
        run(gymops(dir.path()).args(["monitoring", "init", "--dir", "monitoring", "--force"]));
    // The Slack secret is gone from the environment now: a warning says which file is missing.
    // The relay token is not configured either: the one written before is kept, and said so.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("secrets/slack_webhook_url was not written"));
    assert!(text(&output.stderr).contains("kept the relay's bearer token"));
    // A loopback listener the containers cannot reach is said, with what to do.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    write(&plain, "gymops.yaml", "notify:\n  channels: []\n");
    let output = run(gymops(&plain).args(["monitoring", "init", "--dir", "monitoring"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("is loopback, which the monitoring containers cannot reach"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(monitoring.join("secrets/relay_token")).unwrap(),
        "relay-T0ken-0123456789abcdef0123456789\n"
    );
    assert_ne!(
        std::fs::read_to_string(monitoring.join("prometheus.yml")).unwrap(),
        "# edited by hand\n"
    );
}

const SCHEDULE: &str = "schedule:\n  binary: /opt/gymops/bin/gymops\n  user: gymops\n  jobs:\n    backup:\n      enabled: false\n    weekly-check:\n      every: weekly\n      weekday: sun\n      at: \"03:30\"\n      args: [check, weekly, --output, markdown, --output-file, reports/weekly 100%.md]\n";

#[test]
fn a_crontab_round_trip_leaves_other_lines_alone() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", SCHEDULE);
    let original = "MAILTO=ops@example.com\n# rotate nginx\n15 4 * * * /usr/sbin/logrotate /etc/logrotate.conf\n";
    write(dir.path(), "crontab", original);
    let install = |dir: &Path| {
        run(gymops(dir).args([
            "schedule",
            "install",
            "--target",
            "cron",
            "--crontab-file",
            "crontab",
        ]))
    };
    let output = install(dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let installed = std::fs::read_to_string(dir.path().join("crontab")).unwrap();
    assert!(installed.starts_with(original));
    let base = dir.path().canonicalize().unwrap();
    let config = base.join("gymops.yaml");
    let expected_health = format!(
        "0 * * * * cd {} && /opt/gymops/bin/gymops --config {} --environment development health --quiet  # gymops job health",
        base.display(),
        config.display()
    );
    assert!(installed.contains(&expected_health), "{installed}");
    assert!(installed.contains("0 9 * * * cd "), "{installed}");
    assert!(
        installed.contains("30 3 * * 0 ") && installed.contains("'reports/weekly 100\\%.md'"),
        "{installed}"
    );
    assert!(
        !installed.contains("backup create"),
        "a disabled job is left out"
    );

    // Twice is the same as once.
    let output = install(dir.path());
    assert!(text(&output.stderr).contains("already up to date"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("crontab")).unwrap(),
        installed
    );
    // A line the operator adds after the block survives install and remove.
    let edited = format!("{installed}0 5 * * * /usr/local/bin/other-job\n");
    write(dir.path(), "crontab", &edited);
    let output = run(gymops(dir.path()).args([
        "schedule",
        "remove",
        "--target",
        "cron",
        "--crontab-file",
        "crontab",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("crontab")).unwrap(),
        format!("{original}0 5 * * * /usr/local/bin/other-job\n")
    );
}

#[test]
fn systemd_units_are_installed_idempotently_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", SCHEDULE);
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    write(
        &units,
        "unrelated.service",
        "[Service]\nExecStart=/bin/true\n",
    );
    let args = [
        "schedule",
        "install",
        "--target",
        "systemd",
        "--unit-dir",
        "units",
        "--no-systemctl",
    ];
    let output = run(gymops(dir.path()).args(args));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&units)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "fitnessgym-daily-report.service",
            "fitnessgym-daily-report.timer",
            "fitnessgym-dr-drill.service",
            "fitnessgym-dr-drill.timer",
            "fitnessgym-health.service",
            "fitnessgym-health.timer",
            "fitnessgym-weekly-check.service",
            "fitnessgym-weekly-check.timer",
            "unrelated.service",
        ]
    );
    let timer = std::fs::read_to_string(units.join("fitnessgym-weekly-check.timer")).unwrap();
    assert!(timer.contains("OnCalendar=Sun *-*-* 03:30:00"), "{timer}");
    // The monthly drill (guide 8.6) is a default job; WAL archiving's minutely job is off
    // until it is set up.
    let drill = std::fs::read_to_string(units.join("fitnessgym-dr-drill.timer")).unwrap();
    assert!(drill.contains("OnCalendar=*-*-01 04:00:00"), "{drill}");
    // systemd itself accepts the calendar expressions and the unit files.
    for calendar in ["Sun *-*-* 03:30:00", "*-*-* *:00:00", "*-*-* 09:00:00"] {
        tool_ok("systemd-analyze", &["calendar", calendar], dir.path());
    }
    let service = std::fs::read_to_string(units.join("fitnessgym-weekly-check.service")).unwrap();
    assert!(service.contains("\"reports/weekly 100%%.md\""), "{service}");

    let output = run(gymops(dir.path()).args(args));
    assert!(text(&output.stderr).contains("already up to date"));

    let output = run(gymops(dir.path()).args([
        "schedule",
        "remove",
        "--target",
        "systemd",
        "--unit-dir",
        "units",
        "--no-systemctl",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let left: Vec<String> = std::fs::read_dir(&units)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(left, ["unrelated.service"]);
}

/// Two sites' schedules in one crontab: each job runs with its `--site`, and installing
/// one site's block (or removing it) leaves the other's alone; systemd units and Windows
/// tasks are named per site.
#[test]
fn each_sites_schedule_is_its_own() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "gymops.yaml",
        &format!("{SCHEDULE}sites:\n  gym-a: {{}}\n  gym-b: {{}}\n"),
    );
    write(dir.path(), "crontab", "");
    let schedule = |site: &str, verb: &str| {
        let output = run(gymops(dir.path()).args([
            "--site",
            site,
            "schedule",
            verb,
            "--target",
            "cron",
            "--crontab-file",
            "crontab",
        ]));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        std::fs::read_to_string(dir.path().join("crontab")).unwrap()
    };
    schedule("gym-a", "install");
    let both = schedule("gym-b", "install");
    for site in ["gym-a", "gym-b"] {
        assert!(
            both.contains(&format!(
                "--site {site} --environment development health --quiet"
            )),
            "{both}"
        );
    }
    let only_b = schedule("gym-a", "remove");
    assert!(
        !only_b.contains("--site gym-a") && only_b.contains("--site gym-b"),
        "{only_b}"
    );
    let output = run(gymops(dir.path()).args([
        "--site", "gym-b", "schedule", "print", "--target", "systemd",
    ]));
    let units = text(&output.stdout);
    assert!(
        units.contains("### fitnessgym-gym-b-health.service"),
        "{units}"
    );
    let output = run(gymops(dir.path()).args([
        "--site", "gym-a", "schedule", "print", "--target", "windows",
    ]));
    assert!(text(&output.stdout).contains("-TaskName 'FitnessGym-gym-a-health'"));
}

#[test]
fn schedule_print_renders_every_target_and_rejects_bad_jobs() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "gymops.yaml", SCHEDULE);
    let output = run(gymops(dir.path()).args(["schedule", "print", "--target", "windows"]));
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(stdout.contains("Register-ScheduledTask -TaskName 'FitnessGym-health' -Force -Xml @'"));
    assert!(stdout.contains("<Interval>PT1H</Interval>"));
    assert!(stdout.contains("<Sunday />"));
    assert!(stdout.contains("<Command>/opt/gymops/bin/gymops</Command>"));
    assert!(stdout.contains("&quot;reports/weekly 100%.md&quot;"));

    let output = run(gymops(dir.path()).args(["-o", "json", "schedule", "print"]));
    let jobs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["daily-report", "dr-drill", "health", "weekly-check"]
    );
    assert_eq!(jobs[3]["on_calendar"], "Sun *-*-* 03:30:00");
    assert_eq!(jobs[1]["on_calendar"], "*-*-01 04:00:00");

    write(
        dir.path(),
        "gymops.yaml",
        "schedule:\n  jobs:\n    nightly:\n      at: \"25:00\"\n      args: [health]\n",
    );
    let output = run(gymops(dir.path()).args(["schedule", "print"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr.contains("schedule.jobs.nightly.at: hour `25` is not 0-23"),
        "{stderr}"
    );
    write(
        dir.path(),
        "gymops.yaml",
        "schedule:\n  jobs:\n    nightly:\n      at: \"01:00\"\n      args: [helth]\n",
    );
    let output = run(gymops(dir.path()).args(["schedule", "print"]));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("schedule.jobs.nightly.args is not a gymops command"),
        "{stderr}"
    );
}

#[test]
fn generated_schedules_cannot_be_injected_and_systemd_never_defaults_to_root() {
    let dir = tempfile::tempdir().unwrap();
    // A newline in an argument would end the crontab line and start a job of its own.
    write(
        dir.path(),
        "gymops.yaml",
        "schedule:\n  jobs:\n    nightly:\n      at: \"01:00\"\n      args: [health, --output-file, \"x\\n* * * * * root touch /tmp/gymops-injected\"]\n",
    );
    for target in ["cron", "systemd", "windows"] {
        let output = run(gymops(dir.path()).args(["schedule", "print", "--target", target]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{target}: {stderr}");
        assert!(stderr.contains("control character"), "{target}: {stderr}");
        assert!(output.stdout.is_empty(), "{target}: nothing printed");
    }
    let crontab = dir.path().join("crontab");
    let output = run(gymops(dir.path())
        .args(["schedule", "install", "--crontab-file"])
        .arg(&crontab));
    assert_eq!(output.status.code(), Some(3));
    assert!(!crontab.exists(), "nothing installed");

    // A project or prefix that would name a path outside the unit directory.
    write(
        dir.path(),
        "gymops.yaml",
        "schedule:\n  user: gymops\n  name_prefix: ../../evil\n",
    );
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let output = run(gymops(dir.path()).args([
        "schedule",
        "install",
        "--target",
        "systemd",
        "--unit-dir",
        "units",
        "--no-systemctl",
    ]));
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("schedule.name_prefix"));
    assert_eq!(std::fs::read_dir(&units).unwrap().count(), 0);
    assert!(!dir.path().join("evil-health.service").exists());

    // No schedule.user: systemd units are refused rather than run as root.
    write(dir.path(), "gymops.yaml", "project: fitness_gym\n");
    let output = run(gymops(dir.path()).args(["schedule", "print", "--target", "systemd"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("schedule.user is not set"));
    write(dir.path(), "gymops.yaml", "schedule:\n  user: root\n");
    let output = run(gymops(dir.path()).args(["schedule", "print", "--target", "systemd"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("\nUser=root\n"));
}

#[test]
fn every_alerts_runbook_exists() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(gymops(dir.path()).args(["monitoring", "init", "--dir", "monitoring"]));
    assert!(
        output.status.code().unwrap_or(9) <= 1,
        "{}",
        text(&output.stderr)
    );
    let alerts = std::fs::read_to_string(dir.path().join("monitoring/alerts.yml")).unwrap();
    let runbooks = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbooks.md"),
    )
    .unwrap();
    let mut links = 0;
    for line in alerts.lines() {
        let Some(url) = line.trim().strip_prefix("runbook_url: ") else {
            continue;
        };
        links += 1;
        let anchor = url
            .trim_matches('\'')
            .strip_prefix("docs/runbooks.md#")
            .unwrap_or_else(|| panic!("{url}"));
        assert!(
            runbooks.contains(&format!("\n## {anchor}\n")),
            "docs/runbooks.md has no section {anchor}"
        );
    }
    assert_eq!(links, 8);
}
