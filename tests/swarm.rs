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

/// The rig's stack: a web server on the host network (ingress needs iptables, which the
/// second engine has not), healthy only while its MODE is good; a secret and a config.
fn stack_compose(port: u16) -> String {
    format!(
        r#"services:
  web:
    image: {IMAGE}
    command: ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
    working_dir: /tmp
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
    environment:
      MODE: ${{MODE}}
      RELEASE: ${{RELEASE:-1}}
    networks: [hostnet]
    secrets: [pw, token]
    configs: [{{source: greeting, target: /greeting.txt}}]
    healthcheck:
      test: ["CMD", "/usr/bin/python3", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/'); assert os.environ['MODE'] == 'good'"]
      interval: 1s
      timeout: 3s
      retries: 2
    deploy:
      replicas: 1
      labels: {{tier: front}}
      update_config: {{order: stop-first, failure_action: pause, monitor: 3s}}
      restart_policy: {{condition: any, delay: 1s}}
networks:
  hostnet: {{external: true, name: host}}
secrets:
  pw: {{file: ./pw.txt}}
  token: {{external: true, name: shared_token}}
configs:
  greeting: {{content: "hello from the stack"}}
"#
    )
}

/// The environment of the stack's service as Swarm holds it.
fn service_env(engine: &SecondEngine) -> String {
    let output = engine.docker(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        "gst_web",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn up_deploys_the_compose_model_as_a_stack_and_swarm_rolls_back_what_fails() {
    let engine = SecondEngine::start();
    engine.swarm_init();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    std::fs::write(dir.path().join("docker-compose.yml"), stack_compose(port)).unwrap();
    // An external secret: made outside the stack, referred to as it is.
    std::fs::write(dir.path().join("token.txt"), "-shared").unwrap();
    let token = dir.path().join("token.txt").display().to_string();
    let made = engine.docker(&["secret", "create", "shared_token", &token]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    std::fs::write(dir.path().join("pw.txt"), "stack-secret-never-printed-4k").unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: gst\ndeploy:\n  orchestrator: swarm\n  gate: [containers]\n  wait_timeout: 90s\nservices:\n  web: {container: null}\n",
    )
    .unwrap();
    // Run as a user would: from a subdirectory, found by walking up to gymops.yaml.
    let sub = dir.path().join("ops");
    std::fs::create_dir(&sub).unwrap();
    let gymops = |mode: &str, release: &str, args: &[&str]| {
        run(support::gymops(&sub)
            .env("DOCKER_HOST", engine.address())
            .env("MODE", mode)
            .env("RELEASE", release)
            .args(args))
    };
    let up = |mode: &str, release: &str| {
        let output = gymops(mode, release, &["up", "-o", "json"]);
        let stdout = text(&output.stdout);
        assert!(
            !stdout.contains("stack-secret-never-printed-4k")
                && !text(&output.stderr).contains("stack-secret-never-printed-4k")
        );
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|_| panic!("{stdout}\n{}", text(&output.stderr)));
        (output.status.code(), report)
    };

    // First deploy: created, converged, gated, recorded.
    let (code, report) = up("good", "1");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["services"][0]["action"], "created");
    assert_eq!(report["services"][0]["container"], "gst_web");
    assert_eq!(report["services"][0]["state"], "1/1 tasks running");
    assert_eq!(report["gate"]["status"], "ok");
    assert!(report["release"].is_string(), "{report:#}");
    // As `docker stack deploy` labels it: the docker CLI sees the stack.
    let stacks = engine.docker(&["stack", "ls", "--format", "{{.Name}} {{.Services}}"]);
    assert_eq!(text(&stacks.stdout).trim(), "gst 1");
    let labels = engine.docker(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.Labels}}",
        "gst_web",
    ]);
    assert!(
        text(&labels.stdout).contains(r#""tier":"front""#),
        "{}",
        text(&labels.stdout)
    );
    // It answers, with its secret and config as swarm objects in the task's container.
    let body = reqwest_get(port);
    assert!(body.contains("Directory listing"), "{body}");
    let task_container = engine.docker(&[
        "ps",
        "-q",
        "--filter",
        "label=com.docker.swarm.service.name=gst_web",
    ]);
    let cid = text(&task_container.stdout)
        .trim()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let secret = engine.docker(&[
        "exec",
        &cid,
        "/usr/bin/cat",
        "/run/secrets/pw",
        "/run/secrets/token",
        "/greeting.txt",
    ]);
    assert_eq!(
        text(&secret.stdout),
        "stack-secret-never-printed-4k-sharedhello from the stack"
    );
    let secrets = engine.docker(&["secret", "ls", "--format", "{{.Name}}"]);
    let mut names: Vec<String> = text(&secrets.stdout).lines().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["gst_pw", "shared_token"]);

    // Its log: every task's lines, as `docker service logs` shows them (the healthcheck's
    // requests are in the server's log).
    let output = gymops("good", "1", &["logs", "web", "--tail", "20"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("\"GET / HTTP/1.1\" 200"),
        "{}",
        text(&output.stdout)
    );

    // perf stats samples the task's container on this engine.
    let output = gymops("good", "1", &["perf", "stats", "web", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let row = &stats["services"][0];
    assert!(
        row["container"].as_str().unwrap().starts_with("gst_web.1."),
        "{stats:#}"
    );
    assert_eq!(row["state"], "running", "{stats:#}");
    assert!(row["pids"].as_u64().unwrap() >= 1, "{stats:#}");

    // The same files again: nothing changes.
    let (code, report) = up("good", "1");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["services"][0]["action"], "unchanged");

    // A release whose tasks never become healthy: Swarm pauses the update, and up puts the
    // previous spec back through Swarm's own rollback.
    let (code, report) = up("bad", "1");
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(report["services"][0]["action"], "updated", "{report:#}");
    assert!(
        report["wait_failures"][0]["error"]
            .as_str()
            .unwrap()
            .contains("gst_web"),
        "{report:#}"
    );
    let rollback = &report["rollback"];
    assert_eq!(rollback["kind"], "automatic-rollback", "{report:#}");
    assert_eq!(rollback["status"], "ok", "{rollback:#}");
    assert!(
        service_env(&engine).contains("MODE=good"),
        "{}",
        service_env(&engine)
    );
    let output = gymops(
        "good",
        "1",
        &["health", "--check", "containers", "-o", "json"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));

    // A good release 2, then `rollback`: Swarm's previous spec, release 1, comes back.
    let (code, report) = up("good", "2");
    assert_eq!(code, Some(0), "{report:#}");
    assert!(service_env(&engine).contains("RELEASE=2"));
    let output = gymops("good", "2", &["rollback", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["kind"], "rollback");
    assert!(
        service_env(&engine).contains("RELEASE=1"),
        "{}",
        service_env(&engine)
    );
    let output = gymops("good", "2", &["rollback", "--to", "1"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("one previous spec per service"),
        "{}",
        text(&output.stderr)
    );

    // down removes the stack: service, secret, config; the external secret is not the
    // stack's and stays.
    let output = gymops("good", "1", &["down", "-t", "1", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    for kind in ["service", "config"] {
        let listed = engine.docker(&[kind, "ls", "-q"]);
        assert!(text(&listed.stdout).trim().is_empty(), "{kind} left");
    }
    let secrets = engine.docker(&["secret", "ls", "--format", "{{.Name}}"]);
    assert_eq!(text(&secrets.stdout).trim(), "shared_token");
}

/// GET / of the stack's web server on loopback.
fn reqwest_get(port: u16) -> String {
    let output = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            &format!("import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())"),
        ])
        .output()
        .unwrap();
    text(&output.stdout)
}
