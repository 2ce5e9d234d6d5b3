//! Settings as an operator meets them: `config show`, `config check`, and errors that name
//! the file, the line and the key. No Docker needed.

mod support;

use std::process::Command;

use serde::Deserialize;
use support::{gymops, run, text};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigShow {
    config_file: Option<String>,
    environment: String,
    env_file: String,
    env_file_found: bool,
    settings: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: String,
    value: String,
    source: String,
    secret: bool,
}

fn show(dir: &std::path::Path, envs: &[(&str, &str)], args: &[&str]) -> ConfigShow {
    let mut command = gymops(dir);
    command
        .args(["config", "show", "--output", "json"])
        .args(args);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn entry<'a>(show: &'a ConfigShow, key: &str) -> &'a Entry {
    show.settings
        .iter()
        .find(|e| e.key == key)
        .unwrap_or_else(|| panic!("no {key}"))
}

#[test]
fn defaults_are_the_guides_deployment_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let shown = show(dir.path(), &[], &[]);
    assert_eq!(shown.config_file, None);
    assert_eq!(shown.environment, "development");
    assert!(!shown.env_file_found);
    for (key, value) in [
        ("project", "fitness_gym"),
        ("services.backend.container", "fitness_gym_backend"),
        ("services.postgres.container", "fitness_gym_postgres"),
        ("services.minio.container", "fitness_gym_minio"),
        ("backend.url", "http://localhost:8080/springboot1ngh61a2"),
        ("backend.endpoints.login", "/user/login"),
        ("backend.endpoints.health", "/actuator/health"),
        ("backend.endpoints.health_db", "/actuator/health/db"),
        ("postgres.user", "postgres"),
        ("postgres.database", "fitness_gym"),
        ("postgres.host", "localhost"),
        ("postgres.port", "5432"),
        ("minio.url", "http://localhost:9000/"),
        ("minio.live_path", "/minio/health/live"),
        ("minio.ready_path", "/minio/health/ready"),
        ("minio.console_url", "http://localhost:9001/"),
        ("minio.console_path", "/login"),
        ("health.timeout", "5s"),
    ] {
        let found = entry(&shown, key);
        assert_eq!(
            (found.value.as_str(), found.source.as_str()),
            (value, "default"),
            "{key}"
        );
    }
}

#[test]
fn every_layer_overrides_the_one_before_and_is_named_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: from_yaml\npostgres:\n  port: 6001\n  user: yaml_user\nhealth:\n  timeout: 9s\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env.staging"), "POSTGRES_USER=envfile_user\nPOSTGRES_PASSWORD=envfile-secret-123\nGYMOPS_HEALTH_TIMEOUT=8s\n").unwrap();
    let shown = show(
        dir.path(),
        &[
            ("GYMOPS_HEALTH_TIMEOUT", "7s"),
            ("GYMOPS_ENVIRONMENT", "staging"),
        ],
        &[],
    );
    let yaml = dir.path().join("gymops.yaml");
    let env_file = dir.path().join(".env.staging");
    assert_eq!(shown.environment, "staging");
    assert!(shown.env_file_found);
    assert_eq!(shown.env_file, env_file.display().to_string());
    assert_eq!(
        entry(&shown, "project").source,
        format!("file {}", yaml.display())
    );
    assert_eq!(entry(&shown, "postgres.port").value, "6001");
    assert_eq!(entry(&shown, "postgres.user").value, "envfile_user");
    assert_eq!(
        entry(&shown, "postgres.user").source,
        format!("env file {} (POSTGRES_USER)", env_file.display())
    );
    assert_eq!(entry(&shown, "health.timeout").value, "7s");
    assert_eq!(
        entry(&shown, "health.timeout").source,
        "environment GYMOPS_HEALTH_TIMEOUT"
    );
    let password = entry(&shown, "postgres.password");
    assert_eq!(
        (password.value.as_str(), password.secret),
        ("********", true)
    );
    assert_eq!(
        password.source,
        format!("env file {} (POSTGRES_PASSWORD)", env_file.display())
    );

    // Flags beat everything; the table says the same in words.
    let output = run(gymops(dir.path())
        .args(["-e", "staging", "config", "show"])
        .env("GYMOPS_POSTGRES_PASSWORD", "env-secret-456"));
    let stdout = text(&output.stdout);
    assert!(
        !stdout.contains("envfile-secret-123") && !stdout.contains("env-secret-456"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("postgres.password "))
        .unwrap();
    assert!(
        line.contains("********") && line.contains("environment GYMOPS_POSTGRES_PASSWORD"),
        "{line}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("environment "))
        .unwrap();
    assert!(
        line.contains("staging") && line.contains("flag --environment"),
        "{line}"
    );
}

#[test]
fn a_config_file_named_with_config_is_read_from_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("prod.yaml");
    std::fs::write(&path, "project: named\n").unwrap();
    let shown = show(dir.path(), &[], &["--config", path.to_str().unwrap()]);
    assert_eq!(entry(&shown, "project").value, "named");
    let shown = show(
        dir.path(),
        &[("GYMOPS_CONFIG", path.to_str().unwrap())],
        &[],
    );
    assert_eq!(shown.config_file.as_deref(), Some(path.to_str().unwrap()));

    let output = run(gymops(dir.path()).args(["config", "show", "--config", "missing.yaml"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).starts_with("error: cannot read config file"),
        "{}",
        text(&output.stderr)
    );
}

/// Each bad input: one `error:` line naming what and where, one `hint:` line, exit 3.
fn assert_one_clear_error(output: &std::process::Output, expected: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(output.stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[1].starts_with("hint: "),
        "{stderr}"
    );
    for part in expected {
        assert!(
            lines[0].contains(part),
            "`{part}` missing from: {}",
            lines[0]
        );
    }
}

#[test]
fn bad_settings_are_one_clear_error_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("gymops.yaml");
    let cases: &[(&str, &[&str])] = &[
        (
            "project: x\nbackend:\n  urll: http://x\n",
            &["gymops.yaml: line 3", "key `backend.urll`", "unknown key"],
        ),
        (
            "health:\n  timeout: soon\n",
            &["line 2", "key `health.timeout`", "expected a duration"],
        ),
        (
            "postgres:\n  port: 99999\n",
            &["line 2", "key `postgres.port`"],
        ),
        (
            "backend:\n  url: not a url\n",
            &["line 2", "key `backend.url`"],
        ),
        (
            "postgres:\n  password: hunter2\n",
            &[
                "line 2",
                "postgres.password",
                "secrets are not read from gymops.yaml",
            ],
        ),
        ("environment: qa\n", &["unknown environment `qa`"]),
    ];
    for (content, expected) in cases {
        std::fs::write(&yaml, content).unwrap();
        for command in [["config", "show"], ["config", "check"]] {
            let output = run(gymops(dir.path()).args(command));
            assert_one_clear_error(&output, expected);
            assert!(!text(&output.stderr).contains("hunter2"));
        }
    }
    std::fs::remove_file(&yaml).unwrap();

    let output = run(gymops(dir.path())
        .args(["config", "show"])
        .env("GYMOPS_POSTGRES_PORT", "fivefour"));
    assert_one_clear_error(
        &output,
        &["GYMOPS_POSTGRES_PORT", "postgres.port", "expected a number"],
    );
    let output = run(gymops(dir.path())
        .args(["config", "show"])
        .env("GYMOPS_BAKCEND_URL", "http://x"));
    assert_one_clear_error(&output, &["GYMOPS_BAKCEND_URL is not a gymops setting"]);
    std::fs::write(
        dir.path().join(".env"),
        "POSTGRES_PORT=5432\nthis line is broken\n",
    )
    .unwrap();
    let output = run(gymops(dir.path()).args(["config", "show"]));
    assert_one_clear_error(
        &output,
        &[
            "env file",
            ".env: line 2: cannot parse `this line is broken`",
        ],
    );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    status: String,
    findings: Vec<Finding>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    item: String,
    status: String,
    detail: String,
}

#[test]
fn config_check_reports_what_parses_but_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "POSTGRES_PASSWORD=pw\n").unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), "services: {}\n").unwrap();
    let output = run(gymops(dir.path()).args(["config", "check", "--output", "json"]));
    let check: Check = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (output.status.code(), check.status.as_str()),
        (Some(0), "ok"),
        "{check:#?}"
    );

    // Values that cannot work are refused when settings load, for every command: exit 3,
    // one line naming the key and where it came from.
    for (yaml, key) in [
        (
            "backend:\n  endpoints:\n    login: user/login\n",
            "backend.endpoints.login",
        ),
        ("health:\n  timeout: 0s\n", "health.timeout"),
        ("monitor:\n  interval: 5h\n", "monitor.interval"),
        ("disk:\n  critical_percent: 150\n", "disk.critical_percent"),
    ] {
        std::fs::write(dir.path().join("gymops.yaml"), yaml).unwrap();
        for command in [&["config", "check"][..], &["ps"], &["backup", "list"]] {
            let output = run(gymops(dir.path()).args(command));
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(3), "{command:?} {key}: {stderr}");
            assert!(
                stderr.contains(&format!("invalid setting `{key}` (from "))
                    && stderr.contains("gymops.yaml"),
                "{command:?}: {stderr}"
            );
            assert!(output.stdout.is_empty());
        }
    }

    std::fs::write(dir.path().join("gymops.yaml"), "backend:\n  service: api\n").unwrap();
    std::fs::remove_file(dir.path().join(".env")).unwrap();
    let output = run(gymops(dir.path()).args(["config", "check", "--output", "json"]));
    let check: Check = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (output.status.code(), check.status.as_str()),
        (Some(2), "critical")
    );
    let status_of = |item: &str| {
        check
            .findings
            .iter()
            .find(|f| f.item == item)
            .map(|f| (f.status.as_str(), f.detail.as_str()))
    };
    assert_eq!(
        status_of("backend.service").unwrap(),
        ("critical", "`api` is not under `services:`")
    );
    assert_eq!(status_of("env file").unwrap().0, "warning");
    assert_eq!(status_of("postgres.password").unwrap().0, "warning");
}

#[test]
fn relative_paths_in_settings_are_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("gymops.yaml"),
        "postgres:\n  password_file: secrets/pg\n",
    )
    .unwrap();
    std::fs::create_dir(conf.join("secrets")).unwrap();
    std::fs::write(conf.join("secrets/pg"), "file-secret-789\n").unwrap();
    std::fs::write(conf.join(".env"), "POSTGRES_DB=from_conf_env\n").unwrap();
    let shown = show(dir.path(), &[], &["--config", "conf/gymops.yaml"]);
    assert_eq!(entry(&shown, "postgres.database").value, "from_conf_env");
    let password = entry(&shown, "postgres.password");
    assert_eq!(password.value, "********");
    assert!(password.source.starts_with("file "), "{}", password.source);
}

#[test]
fn the_shipped_examples_are_valid_settings() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(examples.join("gymops.yaml"), dir.path().join("gymops.yaml")).unwrap();
    std::fs::copy(
        examples.join("docker-compose.yml"),
        dir.path().join("docker-compose.yml"),
    )
    .unwrap();
    std::fs::copy(examples.join("env.example"), dir.path().join(".env")).unwrap();
    let output = run(gymops(dir.path()).args(["config", "check", "--output", "json"]));
    let check: Check = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    assert_eq!(
        (output.status.code(), check.status.as_str()),
        (Some(0), "ok"),
        "{check:#?}"
    );
    let shown = show(dir.path(), &[], &[]);
    assert_eq!(entry(&shown, "project").value, "fitness_gym");
    assert!(entry(&shown, "postgres.password")
        .source
        .contains("(POSTGRES_PASSWORD)"));
}

#[test]
fn files_people_really_have_load_and_odd_ones_fail_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    // A BOM (Windows editors) and CRLF line ends: read as if they were not there.
    std::fs::write(
        path.join("gymops.yaml"),
        "\u{feff}project: bom_project\r\nhealth:\r\n  timeout: 3s\r\n",
    )
    .unwrap();
    std::fs::write(
        path.join("docker-compose.yml"),
        "\u{feff}services:\r\n  web:\r\n    image: nginx:1.27\r\n",
    )
    .unwrap();
    let shown = text(&run(gymops(path).args(["config", "show", "-o", "json"])).stdout);
    assert!(shown.contains("bom_project"), "{shown}");
    let output = run(gymops(path).args(["service", "config", "--services"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout).trim(), "web");

    // Found from a subdirectory, like cargo and docker-compose find theirs.
    let deep = path.join("reports/2026/11");
    std::fs::create_dir_all(&deep).unwrap();
    let shown = text(&run(gymops(&deep).args(["config", "show", "-o", "json"])).stdout);
    assert!(
        shown.contains("bom_project"),
        "found from {}: {shown}",
        deep.display()
    );

    // A FIFO, a device, a 10 MB file, a deeply nested one: an error within a second.
    let fifo = path.join("fifo.yaml");
    assert!(run(Command::new("mkfifo").arg(&fifo)).status.success());
    std::fs::write(path.join("big.yaml"), "a: b\n".repeat(2_500_000)).unwrap();
    std::fs::write(
        path.join("deep.yaml"),
        format!("x: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
    )
    .unwrap();
    for (file, says) in [
        (fifo.to_str().unwrap().to_string(), "not a regular file"),
        ("/dev/zero".to_string(), "not a regular file"),
        ("big.yaml".to_string(), "more than the"),
        ("deep.yaml".to_string(), "nested more than"),
    ] {
        let started = std::time::Instant::now();
        let output = run(gymops(path).args(["--config", &file, "config", "show"]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{file}: {stderr}");
        assert!(stderr.contains(says), "{file}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{file}"
        );
    }

    // `services: {}` is an error, not the guide's three; so is a compose file without
    // services, or a service name that is a variable (keys are not interpolated).
    std::fs::write(path.join("gymops.yaml"), "services: {}\n").unwrap();
    let output = run(gymops(path).args(["ps"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("`services` is empty"),
        "{}",
        text(&output.stderr)
    );
    std::fs::write(path.join("gymops.yaml"), "project: p\n").unwrap();
    for (compose, says) in [
        ("services: {}\n", "no services are defined"),
        ("version: '3.8'\n", "no services are defined"),
        (
            "services:\n  ${SVC}:\n    image: nginx\n",
            "service name `${SVC}` is not valid",
        ),
    ] {
        std::fs::write(path.join("docker-compose.yml"), compose).unwrap();
        let output = run(gymops(path).args(["service", "config"]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{compose}: {stderr}");
        assert!(stderr.contains(says), "{compose}: {stderr}");
    }
}

#[test]
fn empty_answers_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "backup:\n  dir: /srv/nowhere/backups\nincident:\n  dir: records\n",
    )
    .unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = text(&run(gymops(&sub).args(["backup", "list"])).stdout);
    assert_eq!(out, "no backups in /srv/nowhere/backups\n");
    let out = text(&run(gymops(&sub).args(["incident", "list"])).stdout);
    assert_eq!(
        out,
        format!("no incidents in {}\n", dir.path().join("records").display())
    );
    let out = text(
        &run(gymops(&sub)
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(["releases"]))
        .stdout,
    );
    assert!(
        out.contains(
            &dir.path()
                .join(".gymops/releases.json")
                .display()
                .to_string()
        ),
        "{out}"
    );
}
