//! Services that run as swarm services of a stack (as `docker stack deploy` names and labels
//! them) on a one-node swarm: a second dockerd of the tests', made a manager. `health` and
//! `ps` show running against desired tasks; a service below its desired count is critical.

mod support;

use std::time::{Duration, Instant};

use support::{run, text, SecondEngine, IMAGE};

fn create_service(engine: &SecondEngine, name: &str, replicas: &str) {
    let output = engine.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        name,
        "--label",
        "com.docker.stack.namespace=gsw",
        "--replicas",
        replicas,
        "--network",
        "host",
        "--mount",
        "type=bind,src=/usr,dst=/usr,readonly",
        "--mount",
        "type=bind,src=/etc,dst=/etc,readonly",
        IMAGE,
        "/usr/bin/sleep",
        "600",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// The `web` check of a health report.
fn web_check(report: &serde_json::Value) -> serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "web")
        .unwrap_or_else(|| panic!("no web check: {report:#}"))
        .clone()
}

#[test]
fn swarm_services_show_running_against_desired_tasks() {
    let engine = SecondEngine::start();
    engine.swarm_init();
    create_service(&engine, "gsw_web", "2");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: gsw\nservices:\n  web: {container: null}\n",
    )
    .unwrap();
    let health = || {
        let output = run(support::gymops(dir.path())
            .env("DOCKER_HOST", engine.address())
            .args(["health", "--check", "containers", "-o", "json"]));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
        (output.status.code(), report)
    };
    // Converged: both tasks running.
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let (code, report) = health();
        if code == Some(0) {
            break report;
        }
        assert!(Instant::now() < deadline, "never converged: {report:#}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let web = web_check(&report);
    assert_eq!(
        web["summary"],
        "swarm service gsw_web: 2 of 2 tasks running"
    );
    assert_eq!(web["target"], "gsw_web");
    let output = run(support::gymops(dir.path())
        .env("DOCKER_HOST", engine.address())
        .args(["ps", "-o", "json"]));
    let ps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ps["services"][0]["state"], "2/2 tasks running");
    assert_eq!(ps["services"][0]["swarm"]["desired_tasks"], 2);
    assert_eq!(ps["services"][0]["image"], IMAGE.split(':').next().unwrap());

    // Four wanted, and no node may take the extra tasks: below its desired count.
    let output = engine.docker(&[
        "service",
        "update",
        "--detach",
        "--replicas",
        "4",
        "--constraint-add",
        "node.labels.nowhere==1",
        "gsw_web",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, report) = health();
        let web = web_check(&report);
        if code == Some(2) {
            assert_eq!(web["status"], "critical");
            assert!(
                web["summary"]
                    .as_str()
                    .unwrap()
                    .contains("of 4 tasks running"),
                "{web:#}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never below desired: {web:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
    // down takes the stack as `docker stack rm` does: services, secrets, configs.
    let secret_file = dir.path().join("pw");
    std::fs::write(&secret_file, "not-in-any-output-7q").unwrap();
    let secret_path = secret_file.display().to_string();
    for kind in ["secret", "config"] {
        let output = engine.docker(&[
            kind,
            "create",
            "--label",
            "com.docker.stack.namespace=gsw",
            &format!("gsw_{kind}"),
            &secret_path,
        ]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let output = run(support::gymops(dir.path())
        .env("DOCKER_HOST", engine.address())
        .args(["down", "-t", "1", "-o", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let steps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let kinds: Vec<(String, String)> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        ("swarm service", "gsw_web"),
        ("swarm secret", "gsw_secret"),
        ("swarm config", "gsw_config"),
    ] {
        assert!(
            kinds.contains(&(expected.0.into(), expected.1.into())),
            "{kinds:?}"
        );
    }
    for kind in ["service", "secret", "config"] {
        let listed = engine.docker(&[kind, "ls", "-q"]);
        assert!(
            text(&listed.stdout).trim().is_empty(),
            "{kind} left: {}",
            text(&listed.stdout)
        );
    }
    assert!(!text(&output.stdout).contains("not-in-any-output-7q"));

    // A plain engine has no swarm: the service is simply missing there.
    let output =
        run(support::gymops(dir.path()).args(["health", "--check", "containers", "-o", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let web = web_check(&report);
    assert_eq!(web["status"], "critical");
    assert!(
        !web["summary"].as_str().unwrap().contains("swarm"),
        "{web:#}"
    );
}
