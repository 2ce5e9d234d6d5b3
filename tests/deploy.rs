//! `gymops up`, `down`, `stop`, `start`, `restart` on the real engine with the rig's local
//! image: up from nothing, an idempotent re-up, one changed service recreated alone, a
//! failing healthcheck, bad compose files (nothing started), a busy port found by the
//! preflight, volumes kept unless confirmed, and interop with Debian's docker-compose both
//! ways.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use support::{docker, docker_ok, ensure_image, gymops, run, run_ok, text};

const IMAGE: &str = "gymops-test-rootfs:3";

/// A compose project of this test, removed (containers, networks, volumes) on drop.
struct Deployment {
    name: String,
    dir: tempfile::TempDir,
}

impl Deployment {
    fn new(tag: &str, compose: &str) -> Deployment {
        ensure_image();
        let name = format!("gymopsd{tag}{}", std::process::id() % 100_000);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "services:\n  db: {container: null}\n  web: {container: null}\ndeploy:\n  gate: [containers]\n  wait_timeout: 30s\n  stop_timeout: 1s\n",
        )
        .unwrap();
        Deployment { name, dir }
    }

    fn gymops(&self) -> Command {
        let mut command = gymops(self.dir.path());
        command.env("GYMOPS_PROJECT", &self.name);
        command
    }

    fn compose(&self, args: &[&str]) -> std::process::Output {
        run(Command::new("docker-compose")
            .current_dir(self.dir.path())
            .args(["-p", &self.name])
            .args(args))
    }

    /// Container ID of a service, by compose labels.
    fn id(&self, service: &str) -> Option<String> {
        let ids = docker_ok(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        ids.lines().next().map(str::to_string)
    }

    fn containers(&self) -> Vec<String> {
        docker_ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        for id in text(&ids.stdout).lines() {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        for kind in ["network", "volume"] {
            let list = docker(&[kind, "ls", "-q", "--filter", &filter]);
            for id in text(&list.stdout).lines() {
                let _ = docker(&[kind, "rm", id]);
            }
        }
    }
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

fn up(deployment: &Deployment, env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut command = deployment.gymops();
    command.args(["up", "-o", "json"]);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = run(&mut command);
    let stderr = text(&output.stderr);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}{stderr}", text(&output.stdout)));
    (output.status.code().unwrap(), report, stderr)
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
    let (code, report, stderr) = up(&deployment, &[]);
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
    let (code, report, _) = up(&deployment, &[]);
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

    // One service changed: only it is recreated.
    let (code, report, stderr) = up(&deployment, &[("MODE", "two")]);
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
    let (code, report, stderr) = up(&deployment, &[]);
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
            "services:\n  db:\n    image: x\n    privileged: true\n",
            "unknown key `privileged`",
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
