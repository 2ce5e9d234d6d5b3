//! `gymops health` and `gymops ps` against a real stack: Docker, PostgreSQL in a container,
//! and the backend and MinIO stand-ins.

mod support;

use std::time::{Duration, Instant};

use serde::Deserialize;
use support::{docker_ok, run, text, Stack, PASSWORD};

/// The documented JSON shape of `gymops health --output json` (docs/json-output.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthReport {
    status: String,
    exit_code: u8,
    checked_at: String,
    elapsed_ms: u64,
    timeout_ms: u64,
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    check: String,
    name: String,
    service: Option<String>,
    target: String,
    status: String,
    latency_ms: Option<f64>,
    summary: String,
    hint: Option<String>,
    details: serde_json::Map<String, serde_json::Value>,
}

impl HealthReport {
    fn find(&self, check: &str, name: &str) -> &Check {
        self.checks
            .iter()
            .find(|c| c.check == check && c.name == name)
            .unwrap_or_else(|| panic!("no {check}/{name} check in {:#?}", self.checks))
    }
}

fn health_json(stack: &Stack, extra: &[&str]) -> (i32, HealthReport, String) {
    let mut args = vec!["health", "--output", "json"];
    args.extend_from_slice(extra);
    let output = run(stack.gymops().args(&args));
    let stdout = text(&output.stdout);
    let report: HealthReport = serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!(
            "health JSON does not match the documented shape: {err}\n{stdout}\n{}",
            text(&output.stderr)
        )
    });
    (output.status.code().unwrap(), report, text(&output.stderr))
}

#[test]
fn a_healthy_stack_is_ok_with_exit_0_in_table_and_json() {
    let stack = Stack::start();

    let output = run(stack.gymops().arg("health"));
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(
        !stdout.contains('\u{1b}'),
        "no colors when piped: {stdout:?}"
    );
    assert!(
        stdout.lines().next().unwrap().starts_with("CHECK"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "127.0.0.1:{}/fitness_gym as postgres",
            stack.postgres_port
        )),
        "{stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("status: OK (11 ok)"),
        "{stdout}"
    );

    let (code, report, _) = health_json(&stack, &[]);
    assert_eq!(
        (code, report.status.as_str(), report.exit_code),
        (0, "ok", 0)
    );
    assert_eq!(report.timeout_ms, 5000);
    assert!(chrono::DateTime::parse_from_rfc3339(&report.checked_at).is_ok());
    assert!(report.elapsed_ms < 5000);
    let kinds: Vec<(&str, &str)> = report
        .checks
        .iter()
        .map(|c| (c.check.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("docker", "daemon"),
            ("container", "backend"),
            ("container", "minio"),
            ("container", "postgres"),
            ("api", "login"),
            ("api", "health"),
            ("api", "health_db"),
            ("minio", "live"),
            ("minio", "ready"),
            ("minio", "console"),
            ("db", "postgres"),
        ]
    );
    assert!(
        report.checks.iter().all(|c| c.status == "ok"),
        "{:#?}",
        report.checks
    );
    let daemon = report.find("docker", "daemon");
    assert_eq!(
        daemon.details["api_version"], "1.41",
        "API version negotiated down to the engine's"
    );
    let postgres = report.find("container", "postgres");
    assert_eq!(postgres.target, stack.postgres);
    assert_eq!(postgres.details["resolution"], "compose-labels");
    assert_eq!(postgres.details["container"]["health"], "healthy");
    assert_eq!(
        report.find("container", "minio").details["resolution"],
        "explicit-name"
    );
    let db = report.find("db", "postgres");
    assert_eq!(db.service.as_deref(), Some("postgres"));
    assert!(db.details["connections"].as_i64().unwrap() >= 1);
    assert!(db.details["database_size_bytes"].as_i64().unwrap() > 1_000_000);
    assert_eq!(db.details["max_connections"], 100);
    let actuator = report.find("api", "health_db");
    assert_eq!(actuator.details["actuator_status"], "UP");
    assert!(actuator.latency_ms.unwrap() > 0.0);
    assert!(report
        .checks
        .iter()
        .all(|c| c.hint.is_none() && !c.summary.is_empty()));
}

#[test]
fn filters_select_checks_and_the_report_can_go_to_a_file() {
    let stack = Stack::start();

    let (code, report, _) = health_json(&stack, &["--service", "postgres"]);
    let kinds: Vec<(&str, &str)> = report
        .checks
        .iter()
        .map(|c| (c.check.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(code, 0);
    assert_eq!(
        kinds,
        vec![
            ("docker", "daemon"),
            ("container", "postgres"),
            ("db", "postgres")
        ]
    );

    let (_, report, _) = health_json(&stack, &["--check", "api", "--check", "minio"]);
    assert!(report
        .checks
        .iter()
        .all(|c| c.check == "api" || c.check == "minio"));
    assert_eq!(report.checks.len(), 6);

    let url = format!(
        "http://127.0.0.1:{}/springboot1ngh61a2/actuator/health",
        stack.backend_port
    );
    let (code, report, _) = health_json(&stack, &["--check", "api", "--endpoint", &url]);
    assert_eq!(code, 0);
    assert_eq!(report.checks.len(), 1);
    assert_eq!(
        (
            report.checks[0].target.as_str(),
            report.checks[0].name.as_str()
        ),
        (url.as_str(), "/springboot1ngh61a2/actuator/health")
    );

    let missing = format!(
        "http://127.0.0.1:{}/springboot1ngh61a2/no/such/path",
        stack.backend_port
    );
    let (code, report, _) = health_json(&stack, &["--check", "api", "--endpoint", &missing]);
    assert_eq!(
        (
            code,
            report.checks[0].status.as_str(),
            report.checks[0].summary.as_str()
        ),
        (2, "critical", "HTTP 404")
    );

    // --db-connection: the flag wins over gymops.yaml; the password stays in the environment.
    let connection = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        stack.postgres_port
    );
    let (code, report, _) = health_json(&stack, &["--check", "db", "--db-connection", &connection]);
    assert_eq!(code, 0);
    assert_eq!(
        report.checks[0].target,
        format!("127.0.0.1:{}/postgres as postgres", stack.postgres_port)
    );

    let out_file = stack.rig.dir.path().join("reports").join("health.json");
    std::fs::create_dir(out_file.parent().unwrap()).unwrap();
    let output = run(stack
        .gymops()
        .args(["health", "--output", "json", "--output-file"])
        .arg(&out_file));
    assert_eq!(output.status.code(), Some(0));
    assert!(
        output.stdout.is_empty(),
        "the report goes to the file, not stdout"
    );
    let saved: HealthReport =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(saved.status, "ok");
    let leftovers: Vec<_> = std::fs::read_dir(out_file.parent().unwrap())
        .unwrap()
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "no temporary file left beside the report"
    );

    let output = run(stack.gymops().args(["health", "--service", "nginx"]));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "error: unknown service `nginx`\nhint: services are: backend, minio, postgres"
        ),
        "{stderr}"
    );
}

#[test]
fn a_stopped_backend_is_critical_with_exit_2() {
    let stack = Stack::start();
    // --quiet, as cron runs it: nothing at all while everything is OK.
    let quiet = run(stack.gymops().args(["health", "--quiet"]));
    assert_eq!(quiet.status.code(), Some(0), "{}", text(&quiet.stderr));
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
    docker_ok(&["stop", "-t", "1", &stack.backend]);
    // ...and only the failing rows once something is down.
    let quiet = run(stack
        .gymops()
        .args(["health", "--quiet", "--timeout", "3s"]));
    let stdout = text(&quiet.stdout);
    assert_eq!(quiet.status.code(), Some(2));
    assert!(
        stdout.contains("backend") && stdout.contains("CRITICAL"),
        "{stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.contains(" OK ")),
        "no OK rows: {stdout}"
    );

    let (code, report, stderr) = health_json(&stack, &["--timeout", "3s"]);
    assert_eq!(
        (code, report.status.as_str()),
        (2, "critical"),
        "{report:#?}"
    );
    let backend = report.find("container", "backend");
    assert_eq!(backend.status, "critical");
    assert!(
        backend.summary.starts_with("exited with exit code"),
        "{}",
        backend.summary
    );
    for name in ["login", "health", "health_db"] {
        let api = report.find("api", name);
        assert_eq!(api.status, "critical", "{api:?}");
        assert!(api.summary.starts_with("cannot connect"), "{}", api.summary);
    }
    for (check, name) in [
        ("container", "postgres"),
        ("db", "postgres"),
        ("minio", "live"),
        ("container", "minio"),
    ] {
        assert_eq!(
            report.find(check, name).status,
            "ok",
            "{check}/{name} is not affected"
        );
    }
    assert!(stderr.is_empty(), "{stderr}");

    let table = run(stack.gymops().arg("health"));
    let stdout = text(&table.stdout);
    assert_eq!(table.status.code(), Some(2));
    let row = stdout
        .lines()
        .find(|l| l.starts_with("container") && l.contains("backend"))
        .unwrap();
    assert!(row.contains("CRITICAL"), "{row}");
    assert!(
        stdout.contains("status: CRITICAL (4 critical, 7 ok)"),
        "{stdout}"
    );
}

#[test]
fn a_paused_postgres_times_out_within_the_probe_timeout_with_exit_2() {
    let stack = Stack::start();
    docker_ok(&["pause", &stack.postgres]);

    let started = Instant::now();
    let (code, report, _) = health_json(&stack, &["--timeout", "2s"]);
    let wall = started.elapsed();
    assert_eq!(code, 2, "{report:#?}");
    assert_eq!(report.timeout_ms, 2000);
    let db = report.find("db", "postgres");
    assert_eq!(
        (db.status.as_str(), db.summary.as_str()),
        ("critical", "no answer within 2s")
    );
    assert!(db.latency_ms.unwrap() <= 2100.0, "{db:?}");
    let container = report.find("container", "postgres");
    assert_eq!(
        (container.status.as_str(), container.summary.as_str()),
        ("critical", "paused: its processes are frozen")
    );
    // The backend's actuator hangs on the frozen database too; its login page does not.
    assert_eq!(report.find("api", "health_db").status, "critical");
    assert_eq!(report.find("api", "login").status, "ok");
    // Bounded by the timeout: generous slack for a loaded machine, far below any hang.
    assert!(
        wall < Duration::from_secs(2) + Duration::from_secs(4),
        "health took {wall:?} with a 2s timeout"
    );
}

#[test]
fn ps_lists_every_service_with_image_state_health_uptime_restarts_and_ports() {
    let stack = Stack::start();

    let output = run(stack.gymops().args(["ps", "--output", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let ps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ps["project"], stack.rig.name.as_str());
    let services = ps["services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["backend", "minio", "postgres"]);
    let postgres = &services[2];
    assert_eq!(postgres["container"], stack.postgres.as_str());
    assert_eq!(
        (postgres["image"].as_str(), postgres["tag"].as_str()),
        (Some("gymops-test-rootfs"), Some("3"))
    );
    assert_eq!(
        (postgres["state"].as_str(), postgres["health"].as_str()),
        (Some("running"), Some("healthy"))
    );
    assert_eq!(postgres["restart_count"], 0);
    assert!(postgres["uptime_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(
        postgres["ports"],
        serde_json::json!([format!("127.0.0.1:{}->5432/tcp", stack.postgres_port)])
    );
    assert_eq!(
        services[1]["health"],
        serde_json::Value::Null,
        "minio has no healthcheck"
    );

    docker_ok(&["stop", "-t", "1", &stack.backend]);
    let output = run(stack.gymops().args(["service", "ps"]));
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    let header = stdout.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        vec![
            "SERVICE",
            "CONTAINER",
            "IMAGE",
            "TAG",
            "STATE",
            "HEALTH",
            "UPTIME",
            "RESTARTS",
            "PORTS"
        ]
    );
    let backend = stdout.lines().find(|l| l.starts_with("backend")).unwrap();
    assert!(backend.contains("exited"), "{backend}");

    let only = run(stack.gymops().args(["ps", "postgres", "--output", "json"]));
    let only: serde_json::Value = serde_json::from_slice(&only.stdout).unwrap();
    assert_eq!(only["services"].as_array().unwrap().len(), 1);

    // A service with no container at all.
    std::fs::write(
        stack.rig.dir.path().join("gymops.yaml"),
        stack.config_yaml() + "  # \n",
    )
    .unwrap();
    docker_ok(&["rm", "-f", &stack.minio]);
    let output = run(stack.gymops().args(["ps", "--output", "json"]));
    let ps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ps["services"][1]["state"], "missing");
    assert_eq!(ps["services"][1]["container"], serde_json::Value::Null);
}

#[test]
fn an_unreachable_docker_host_is_unknown_with_exit_3_and_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(support::gymops(dir.path())
        .args(["health", "--check", "containers"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1"));
    assert_eq!(output.status.code(), Some(3));
    let stdout = text(&output.stdout);
    let daemon = stdout.lines().find(|l| l.starts_with("docker")).unwrap();
    assert!(
        daemon.contains("UNKNOWN") && daemon.contains("cannot reach Docker at tcp://127.0.0.1:1"),
        "{daemon}"
    );
    assert!(
        stdout.contains("not checked: Docker unreachable"),
        "{stdout}"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("hint (docker daemon): is the Docker engine running"),
        "{stderr}"
    );

    let output = run(support::gymops(dir.path())
        .arg("ps")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "one error line and one hint: {stderr}");
    assert!(
        lines[0].starts_with("error: cannot reach Docker at unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("hint: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));

    // --quiet keeps stderr for errors only: the health hint goes, the ps error stays.
    let quiet = run(support::gymops(dir.path())
        .args(["-q", "health", "--check", "containers"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1"));
    assert_eq!(
        (quiet.status.code(), text(&quiet.stderr)),
        (Some(3), String::new())
    );
    assert!(text(&quiet.stdout).contains("UNKNOWN"));
    let quiet = run(support::gymops(dir.path())
        .args(["ps", "--quiet"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1"));
    assert!(text(&quiet.stderr).starts_with("error: cannot reach Docker"));
}

#[test]
fn an_unreachable_engine_beside_a_healthy_stack_is_still_unknown() {
    let stack = Stack::start();
    let output = run(stack
        .gymops()
        .args(["health", "--output", "json"])
        .env("DOCKER_HOST", "tcp://127.0.0.1:1"));
    let report: HealthReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (output.status.code(), report.status.as_str()),
        (Some(3), "unknown")
    );
    assert_eq!(report.find("db", "postgres").status, "ok");
    assert_eq!(report.find("api", "login").status, "ok");
    assert_eq!(report.find("container", "backend").status, "unknown");
}

#[test]
fn secrets_never_reach_stdout_stderr_or_logs() {
    let stack = Stack::start();
    let with_password = format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/fitness_gym",
        stack.postgres_port
    );
    for args in [
        vec!["health", "-vvv"],
        vec!["health", "-vvv", "--output", "json"],
        vec!["config", "show"],
        vec!["config", "show", "--output", "json"],
        vec![
            "health",
            "-vv",
            "--check",
            "db",
            "--db-connection",
            &with_password,
        ],
        vec!["config", "check"],
    ] {
        let output = run(stack.gymops().args(&args));
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(
            !all.contains(PASSWORD),
            "{args:?} printed the password:\n{all}"
        );
        assert!(
            matches!(output.status.code(), Some(0 | 1)),
            "{args:?}: {all}"
        );
    }
    let output =
        run(stack
            .gymops()
            .args(["health", "--check", "db", "--db-connection", &with_password]));
    assert!(text(&output.stderr).contains("warning: a password in --db-connection is visible"));
    // -v logs go to stderr; stdout stays parseable.
    let output = run(stack.gymops().args(["health", "-vv", "--output", "json"]));
    assert!(serde_json::from_slice::<HealthReport>(&output.stdout).is_ok());
    assert!(
        text(&output.stderr).contains("connected to Docker"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_wrong_password_is_a_critical_db_check_naming_the_server_error() {
    let stack = Stack::start();
    let output = run(stack
        .gymops()
        .args(["health", "--check", "db", "--output", "json"])
        .env("GYMOPS_POSTGRES_PASSWORD", "wrong"));
    let report: HealthReport = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let db = report.find("db", "postgres");
    assert!(
        db.summary
            .contains("password authentication failed for user \"postgres\""),
        "{}",
        db.summary
    );
}

/// The backend behind a servlet container redirects `/ctx` to `/ctx/`: the probe follows the
/// redirect, as the old script's `curl -L` did, and judges the page it lands on; a redirect
/// loop is a critical check that names it, answered in well under the probe timeout.
#[test]
fn an_api_probe_follows_a_redirect_and_a_redirect_loop_is_critical() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gymops.yaml"), "health:\n  timeout: 5s\n").unwrap();
    let backend = support::Receiver::start_with_headers(&[
        (302, &[("Location", "/springboot1ngh61a2/")], ""),
        (200, &[], r#"{"status":"UP"}"#),
    ]);
    let output = run(support::gymops(dir.path()).args([
        "health",
        "--check",
        "api",
        "--endpoint",
        &backend.url("/springboot1ngh61a2"),
        "-o",
        "json",
    ]));
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    let report: HealthReport = serde_json::from_str(&stdout).unwrap();
    let check = report.find("api", "/springboot1ngh61a2");
    assert_eq!(check.details["actuator_status"], "UP", "{check:?}");
    let paths: Vec<String> = backend.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/springboot1ngh61a2", "/springboot1ngh61a2/"]);

    let looping = support::Receiver::start_with_headers(&[(301, &[("Location", "/again")], "")]);
    let started = Instant::now();
    let output = run(support::gymops(dir.path()).args([
        "health",
        "--check",
        "api",
        "--endpoint",
        &looping.url("/again"),
        "-o",
        "json",
    ]));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let report: HealthReport = serde_json::from_slice(&output.stdout).unwrap();
    let check = report.find("api", "/again");
    assert_eq!(check.status, "critical");
    assert!(
        check.summary.contains("more than 10 redirects"),
        "{check:?}"
    );
    assert_eq!(
        looping.requests().len(),
        11,
        "the first request and ten redirects"
    );
}
