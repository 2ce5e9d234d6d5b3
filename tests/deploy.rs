//! `gymops up`, `down`, `stop`, `start`, `restart` on the real engine with the rig's local
//! image: up from nothing, an idempotent re-up, one changed service recreated alone, a
//! failing healthcheck, bad compose files (nothing started), a busy port found by the
//! preflight, volumes kept unless confirmed, and interop with Debian's docker-compose both
//! ways.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use support::deployment::{Deployment, IMAGE};
use support::{docker, docker_ok, run, run_ok, text};

/// db, and app on `NAMEapp:${APP_TAG}` with a healthcheck on /healthy.
fn versioned(name: &str) -> String {
    format!(
        r#"services:
  db:
    image: {IMAGE}
    command: ["/usr/bin/sleep", "600"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
  app:
    image: {name}app:${{APP_TAG:-1}}
    command: ["/usr/bin/sleep", "601"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
    depends_on: [db]
    healthcheck: {{test: ["CMD", "/usr/bin/test", "-f", "/healthy"], interval: 1s, retries: 2}}
"#
    )
}

/// Two services: `db` with a healthcheck, `web` after it, a named volume and a port.
fn stack(port: u16, db_health: &str) -> String {
    format!(
        r#"services:
  db:
    image: {IMAGE}
    command: ["/usr/bin/sleep", "600"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro", "data:/data"]
    labels: {{gymops.test: "1"}}
    healthcheck: {{test: ["CMD", "{db_health}"], interval: 1s, retries: 2}}
  web:
    image: {IMAGE}
    command: ["/usr/bin/sleep", "601"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
    environment: {{MODE: "${{MODE:-one}}"}}
    labels: {{gymops.test: "1"}}
    ports: ["127.0.0.1:{port}:80"]
    depends_on: {{db: {{condition: service_healthy}}}}
volumes:
  data:
"#
    )
}

fn actions(report: &Value) -> BTreeMap<String, String> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn up_creates_in_order_changes_nothing_twice_and_recreates_only_what_changed() {
    let port = support::free_port();
    let deployment = Deployment::new("a", &stack(port, "/usr/bin/true"));
    let (code, report, stderr) = deployment.up(&[], &[]);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(
        actions(&report),
        BTreeMap::from([
            ("db".into(), "created".into()),
            ("web".into(), "created".into())
        ])
    );
    assert_eq!(report["services"][0]["service"], "db", "dependencies first");
    assert_eq!(report["services"][0]["health"], "healthy");
    assert_eq!(report["gate"]["status"], "ok");
    let labels: Value = serde_json::from_str(&docker_ok(&[
        "inspect",
        "-f",
        "{{json .Config.Labels}}",
        &deployment.id("web").unwrap(),
    ]))
    .unwrap();
    assert_eq!(
        labels["com.docker.compose.project"],
        deployment.name.as_str()
    );
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let env = docker_ok(&[
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        &deployment.id("web").unwrap(),
    ]);
    assert!(env.contains("MODE=one"), "{env}");

    // docker-compose lists what gymops started.
    let ps = deployment.compose(&["ps"]);
    let listing = text(&ps.stdout);
    assert!(
        listing.contains(&format!("{}_db_1", deployment.name))
            && listing.contains(&format!("{}_web_1", deployment.name)),
        "{listing}{}",
        text(&ps.stderr)
    );

    // Nothing changed: nothing is touched.
    let (db, web) = (deployment.id("db"), deployment.id("web"));
    let (code, report, _) = deployment.up(&[], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        actions(&report),
        BTreeMap::from([
            ("db".into(), "unchanged".into()),
            ("web".into(), "unchanged".into())
        ])
    );
    assert_eq!(
        (deployment.id("db"), deployment.id("web")),
        (db.clone(), web.clone())
    );
    let history = deployment.history();
    assert_eq!(
        history["releases"].as_array().unwrap().len(),
        1,
        "a no-op up records no new release: {history}"
    );
    assert_eq!(
        report["release"], history["releases"][0]["id"],
        "the current release"
    );

    // One service changed: only it is recreated.
    let (code, report, stderr) = deployment.up(&[], &[("MODE", "two")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        actions(&report),
        BTreeMap::from([
            ("db".into(), "unchanged".into()),
            ("web".into(), "recreated".into())
        ])
    );
    assert_eq!(deployment.id("db"), db);
    assert_ne!(deployment.id("web"), web);
    let env = docker_ok(&[
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        &deployment.id("web").unwrap(),
    ]);
    assert!(env.contains("MODE=two"), "{env}");
    assert_eq!(
        deployment.containers().len(),
        2,
        "the old container is gone"
    );
    let releases = deployment.history()["releases"].as_array().unwrap().clone();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[1]["kind"], "deploy");
    assert_eq!(releases[1]["services"]["web"]["image"], IMAGE);
    assert_eq!(
        releases[1]["services"]["web"]["config_hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    // stop / start / restart.
    let stopped = run_ok(deployment.gymops().args(["stop", "web", "-t", "1"]));
    assert!(stopped.contains("stopped"), "{stopped}");
    let state = |service: &str| {
        docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}}",
            &deployment.id(service).unwrap(),
        ])
    };
    assert_eq!(
        (state("db").as_str(), state("web").as_str()),
        ("running", "exited")
    );
    run_ok(deployment.gymops().args(["start"]));
    assert_eq!(state("web"), "running");
    let restarted = run_ok(
        deployment
            .gymops()
            .args(["restart", "-t", "1", "-o", "json"]),
    );
    let steps: Value = serde_json::from_str(&restarted).unwrap();
    assert_eq!(steps.as_array().unwrap().len(), 2);
    assert!(steps
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["result"] == "restarted"));
    let output = run(deployment.gymops().args(["stop", "nosuch"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("no container of service `nosuch`"));

    // down keeps the volume without --yes off a terminal, and says why.
    let output = run(deployment.gymops().args(["down", "--volumes"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("refusing without --yes"));
    assert_eq!(deployment.containers().len(), 2, "nothing was done");
    run_ok(deployment.gymops().args(["down", "-t", "1"]));
    assert!(deployment.containers().is_empty());
    let volumes = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", deployment.name),
    ]);
    assert_eq!(
        volumes.lines().count(),
        1,
        "the data volume is kept: {volumes}"
    );
}

#[test]
fn a_failing_healthcheck_fails_up_with_its_log_and_exit_2() {
    let port = support::free_port();
    let deployment = Deployment::new("b", &stack(port, "/usr/bin/false"));
    let (code, report, stderr) = deployment.up(&[], &[]);
    assert_eq!(
        code, 2,
        "web cannot start: db never becomes healthy\n{report}\n{stderr}"
    );
    assert!(stderr.contains("db is unhealthy"), "{stderr}");
    assert_eq!(report["wait_failures"][0]["service"], "db");
    // web was never created; db is there for inspection.
    assert!(deployment.id("web").is_none());
    assert!(deployment.id("db").is_some());

    // Without dependents, the failing healthcheck is the gate: exit 2 and the log.
    let single = format!(
        "services:\n  db:\n    image: {IMAGE}\n    command: [\"/usr/bin/sh\", \"-c\", \"echo db says goodbye; exec /usr/bin/sleep 600\"]\n    volumes: [\"/usr:/usr:ro\", \"/etc:/etc:ro\"]\n    labels: {{gymops.test: \"1\"}}\n    healthcheck: {{test: [\"CMD\", \"/usr/bin/false\"], interval: 1s, retries: 2}}\n"
    );
    std::fs::write(deployment.dir.path().join("single.yml"), single).unwrap();
    let output = run(deployment.gymops().args(["down", "-t", "1"]));
    assert_eq!(output.status.code(), Some(0));
    let output = run(deployment
        .gymops()
        .args(["up", "-f", "single.yml", "-o", "json"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["status"], "critical");
    assert_eq!(report["wait_failures"][0]["service"], "db");
    assert!(
        stderr.contains("db says goodbye"),
        "the failing container's log: {stderr}"
    );
}

#[test]
fn bad_compose_files_and_a_busy_port_start_nothing() {
    let deployment = Deployment::new("c", &stack(support::free_port(), "/usr/bin/true"));
    let cases = [
        (
            "unknown.yml",
            "services:\n  db:\n    image: x\n    cap_addd: [NET_ADMIN]\n",
            "unknown.yml (line 4): services.db: unknown key `cap_addd` (did you mean `cap_add`?)",
        ),
        (
            "variable.yml",
            "services:\n  db:\n    image: ${IMAGE_TAG:?set IMAGE_TAG}\n",
            "required variable IMAGE_TAG is not set",
        ),
        (
            "cycle.yml",
            "services:\n  db: {image: x, depends_on: [web]}\n  web: {image: x, depends_on: [db]}\n",
            "dependency cycle",
        ),
        (
            "dependency.yml",
            "services:\n  web: {image: x, depends_on: [database]}\n",
            "depends on `database`, which is not a service",
        ),
    ];
    for (file, yaml, expected) in cases {
        std::fs::write(deployment.dir.path().join(file), yaml).unwrap();
        let output = run(deployment.gymops().args(["up", "-f", file]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert!(
            deployment.containers().is_empty(),
            "{file}: nothing started"
        );
    }
    // A port held by another process, a variable set nowhere and no env file to set it in:
    // all reported at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(
        deployment.dir.path().join("busy.yml"),
        stack(port, "/usr/bin/true").replace("${MODE:-one}", "${UNSET_MODE}"),
    )
    .unwrap();
    let output = run(deployment.gymops().args(["up", "-f", "busy.yml"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("preflight found 3 problem(s)"), "{stderr}");
    assert!(stderr.contains(".env not found"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "host port 127.0.0.1:{port} (service web) is in use"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("variable UNSET_MODE is not set"),
        "{stderr}"
    );
    assert!(deployment.containers().is_empty());
    drop(listener);
}

#[test]
fn gymops_manages_what_docker_compose_started() {
    let port = support::free_port();
    let deployment = Deployment::new("d", &stack(port, "/usr/bin/true"));
    let output = deployment.compose(&["up", "-d"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stopped = run_ok(deployment.gymops().args(["stop", "-t", "1", "-o", "json"]));
    let steps: Value = serde_json::from_str(&stopped).unwrap();
    let services: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, vec!["web", "db"], "dependents stop first");
    run_ok(deployment.gymops().args(["start"]));
    let ps = text(&deployment.compose(&["ps"]).stdout);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    let down =
        run_ok(
            deployment
                .gymops()
                .args(["down", "-t", "1", "--volumes", "--yes", "-o", "json"]),
        );
    let steps: Value = serde_json::from_str(&down).unwrap();
    let kinds: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["container", "container", "network", "volume"]);
    assert!(deployment.containers().is_empty());
}

#[test]
fn a_failing_release_is_rolled_back_and_any_kept_release_can_be_put_back() {
    let mut deployment = Deployment::with_services("r", "", &["db", "app"]);
    std::fs::write(
        deployment.dir.path().join("docker-compose.yml"),
        versioned(&deployment.name),
    )
    .unwrap();
    std::fs::write(deployment.dir.path().join(".env"), "").unwrap();
    let v1 = deployment.image(1, true);
    let v2 = deployment.image(2, false);
    let v3 = deployment.image(3, true);
    let _ = &mut deployment;

    let (code, report, stderr) = deployment.up(&[], &[("APP_TAG", "1")]);
    assert_eq!(code, 0, "{stderr}");
    let first = report["release"].as_str().unwrap().to_string();
    assert_eq!(deployment.running_image("app"), v1);

    // v2 fails its healthcheck: v1 is put back, verified healthy, both reported, exit 2.
    let (code, report, stderr) = deployment.up(&[], &[("APP_TAG", "2")]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(report["status"], "critical");
    assert!(report["release"].is_null(), "a failed deploy is no release");
    assert_eq!(report["wait_failures"][0]["service"], "app");
    let rollback = &report["rollback"];
    assert_eq!(rollback["status"], "ok", "{rollback}");
    assert_eq!(rollback["target"], first.as_str());
    assert_eq!(deployment.running_image("app"), v1);
    assert_eq!(
        docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Health.Status}}",
            &deployment.id("app").unwrap()
        ]),
        "healthy"
    );
    let history = deployment.history();
    let releases = history["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[1]["kind"], "rollback");
    assert_eq!(
        releases[1]["services"]["app"]["image"],
        format!("{}app:1", deployment.name)
    );
    assert_eq!(releases[1]["services"]["app"]["image_id"], v1.as_str());
    let markdown =
        std::fs::read_to_string(deployment.dir.path().join("deployment_report.md")).unwrap();
    assert!(markdown.contains("## Automatic rollback"), "{markdown}");
    assert!(
        markdown.contains(&format!(
            "| {}_app_1 | recreated | {}app:1 (",
            deployment.name, deployment.name
        )),
        "old -> new per service: {markdown}"
    );
    assert!(markdown.contains("| health waits |"), "{markdown}");

    // The v1 image stays available even when its tag is gone.
    let _ = docker(&["rmi", &format!("{}app:1", deployment.name)]);

    // A good v3, then back to v1 by tag, then "previous" (v3).
    let (code, _, stderr) = deployment.up(&[], &[("APP_TAG", "3")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(deployment.running_image("app"), v3);
    let listed: Value = serde_json::from_str(&run_ok(
        deployment
            .gymops()
            .args(["rollback", "--list", "-o", "json"]),
    ))
    .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["images_kept"] == true),
        "{listed}"
    );
    let output = run(deployment
        .gymops()
        .args(["rollback", "--to", "1", "-o", "json"])
        .env("APP_TAG", "3"));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(deployment.running_image("app"), v1);
    let output = run(deployment
        .gymops()
        .args(["rollback", "-o", "json"])
        .env("APP_TAG", "3"));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["kind"], "rollback");
    assert_eq!(deployment.running_image("app"), v3);
    assert_eq!(
        deployment.history()["releases"].as_array().unwrap().len(),
        5
    );

    // --no-rollback leaves the failed release for inspection.
    let output = run(deployment
        .gymops()
        .args(["up", "--no-rollback"])
        .env("APP_TAG", "2"));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(deployment.running_image("app"), v2);
    let output = run(deployment.gymops().args(["rollback", "--to", "nosuch"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("no release nosuch"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_concurrent_deploy_is_refused_by_the_lock_and_a_stale_lock_is_broken_explicitly() {
    let deployment = Deployment::with_services("l", "", &["db"]);
    // db takes a few seconds to become healthy: the first up holds the lock meanwhile.
    let slow = format!(
        "services:\n  db:\n    image: {IMAGE}\n    command: [\"/usr/bin/sleep\", \"600\"]\n    volumes: [\"/usr:/usr:ro\", \"/etc:/etc:ro\"]\n    healthcheck: {{test: [\"CMD\", \"/usr/bin/true\"], interval: 3s, retries: 3}}\n"
    );
    std::fs::write(deployment.dir.path().join("docker-compose.yml"), slow).unwrap();
    let first = deployment
        .gymops()
        .arg("up")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = deployment.dir.path().join(".gymops/deploy.lock");
    let started = std::time::Instant::now();
    while !lock.exists() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(lock.exists(), "the first up takes the lock");
    let output = run(deployment.gymops().arg("up"));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("another deploy holds the lock"), "{stderr}");
    assert!(
        stderr.contains("`gymops up`") && stderr.contains("pid "),
        "holder named: {stderr}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(!lock.exists(), "released at the end");

    // A lock left by a killed deploy is stale: reported, then broken on request.
    std::fs::write(
        &lock,
        format!(
            "{{\"pid\":999999999,\"host\":\"{}\",\"command\":\"gymops up\",\"since\":\"2026-01-01T00:00:00Z\"}}",
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim()
        ),
    )
    .unwrap();
    let output = run(deployment.gymops().arg("up"));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("is stale"),
        "{}",
        text(&output.stderr)
    );
    assert!(text(&output.stderr).contains("--break-lock"));
    let output = run(deployment.gymops().args(["up", "--break-lock"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

#[test]
fn monitoring_only_starts_the_monitoring_compose_file_as_its_own_project() {
    let deployment = Deployment::new("m", &stack(support::free_port(), "/usr/bin/true"));
    std::fs::create_dir_all(deployment.dir.path().join("monitoring")).unwrap();
    std::fs::write(
        deployment.dir.path().join("monitoring/docker-compose.yml"),
        format!("services:\n  prometheus:\n    image: {IMAGE}\n    command: [\"/usr/bin/sleep\", \"600\"]\n    volumes: [\"/usr:/usr:ro\", \"/etc:/etc:ro\"]\n    extra_hosts: ['host.docker.internal:host-gateway']\n"),
    )
    .unwrap();
    let output = run(deployment
        .gymops()
        .args(["up", "--monitoring-only", "-o", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let project = format!("{}_monitoring", deployment.name);
    assert_eq!(report["project"], project.as_str());
    assert_eq!(report["services"][0]["service"], "prometheus");
    assert!(
        deployment.containers().is_empty(),
        "the application is left alone"
    );
    assert!(
        !deployment.dir.path().join(".gymops/releases.json").exists(),
        "no release"
    );
    let hosts = docker_ok(&[
        "inspect",
        "-f",
        "{{json .HostConfig.ExtraHosts}}",
        &format!("{project}_prometheus_1"),
    ]);
    assert!(
        hosts.contains("host.docker.internal:host-gateway"),
        "{hosts}"
    );
    run_ok(
        deployment
            .gymops()
            .args(["down", "--monitoring-only", "-t", "1"]),
    );
    let left = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert!(left.is_empty());
}

#[test]
fn up_builds_missing_images_honours_pull_never_and_rollback_takes_an_image() {
    let deployment = Deployment::with_services("b", "", &["app"]);
    let name = deployment.name.clone();
    let context = deployment.dir.path().join("app");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("healthy"), "").unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {IMAGE}\nARG VERSION\nCOPY healthy /healthy\nLABEL gymops.test.version=$VERSION\n"),
    )
    .unwrap();
    let compose = |version: u32| {
        format!(
            "services:\n  app:\n    build: {{context: ./app, args: {{VERSION: \"{version}\"}}}}\n    image: {name}app:built\n    command: [\"/usr/bin/sleep\", \"600\"]\n    volumes: [\"/usr:/usr:ro\", \"/etc:/etc:ro\"]\n    healthcheck: {{test: [\"CMD\", \"/usr/bin/test\", \"-f\", \"/healthy\"], interval: 1s, retries: 2}}\n"
        )
    };
    std::fs::write(deployment.dir.path().join("docker-compose.yml"), compose(7)).unwrap();
    let (code, report, stderr) = deployment.up(&[], &[]);
    assert_eq!(code, 0, "the missing image is built: {stderr}");
    assert_eq!(report["services"][0]["action"], "created");
    let label = |image: &str| {
        docker_ok(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"gymops.test.version\"}}",
            image,
        ])
    };
    assert_eq!(label(&deployment.running_image("app")), "7");
    let first = deployment.running_image("app");
    docker_ok(&["tag", &first, &format!("{name}app:first")]);

    // A changed build argument with --build: rebuilt and recreated.
    std::fs::write(deployment.dir.path().join("docker-compose.yml"), compose(8)).unwrap();
    let output = run(deployment.gymops().args(["up", "--build", "-o", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["services"][0]["action"], "recreated");
    assert_eq!(label(&deployment.running_image("app")), "8");

    // Roll back to a given image.
    let output = run(deployment.gymops().args([
        "rollback",
        "--image",
        &format!("{name}app:first"),
        "--service",
        "app",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(deployment.running_image("app"), first);

    // --pull never: a missing image is an error before anything changes.
    std::fs::write(
        deployment.dir.path().join("missing.yml"),
        format!("services:\n  app:\n    image: {name}app:nosuch\n"),
    )
    .unwrap();
    let output = run(deployment
        .gymops()
        .args(["up", "--pull", "never", "-f", "missing.yml"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("is not on this engine"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(deployment.running_image("app"), first, "nothing changed");

    // The engine unreachable: still every problem at once.
    std::fs::write(
        deployment.dir.path().join("unset.yml"),
        format!("services:\n  app:\n    image: {name}app:${{UNSET_TAG}}\n"),
    )
    .unwrap();
    let output = run(deployment
        .gymops()
        .env(
            "DOCKER_HOST",
            format!("tcp://127.0.0.1:{}", support::free_port()),
        )
        .args(["up", "-f", "unset.yml"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("preflight found 3 problem(s)"), "{stderr}");
    assert!(
        stderr.contains("cannot reach Docker")
            && stderr.contains("UNSET_TAG")
            && stderr.contains(".env not found"),
        "{stderr}"
    );
}

#[test]
fn a_ci_deploy_step_runs_up_for_production_without_a_terminal() {
    let port = support::free_port();
    let deployment = Deployment::new("ci", &stack(port, "/usr/bin/true"));
    let dir = deployment.dir.path();
    // The production override and its env file, as a repository has them.
    std::fs::write(
        dir.join("docker-compose.prod.yml"),
        "services:\n  web:\n    environment: {MODE: \"${MODE:-prod}\"}\n",
    )
    .unwrap();
    std::fs::write(dir.join(".env.production"), "MODE=production\n").unwrap();
    // A CI runner: a bare environment, no terminal, the job's working directory a level down.
    let ci = dir.join("ci");
    std::fs::create_dir(&ci).unwrap();
    let output = run(Command::new("/usr/bin/env")
        .current_dir(&ci)
        .stdin(std::process::Stdio::null())
        .args(["-i", "PATH=/usr/bin:/bin", "CI=true"])
        .arg(format!("HOME={}", dir.display()))
        .arg(format!("GYMOPS_PROJECT={}", deployment.name))
        .arg(support::gymops_bin())
        .args(["up", "--environment", "production"]));
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stdout.contains('\u{1b}'),
        "no terminal codes in CI logs"
    );
    let report = std::fs::read_to_string(dir.join("deployment_report.md"))
        .expect("the report lands in the project, not the job's directory");
    assert!(report.contains("production"), "{report}");
    let environment = docker_ok(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &deployment.id("web").unwrap(),
    ]);
    assert!(
        environment.lines().any(|l| l == "MODE=production"),
        "{environment}"
    );
    assert_eq!(
        deployment.history()["releases"][0]["environment"],
        "production"
    );
}
