//! Sites and the fleet: one gymops.yaml naming several branches, `--site` for one of them,
//! `gymops fleet ...` across all. The sites mix the engine's local socket, a TCP endpoint,
//! an ssh:// host (a real sshd on loopback), a dead site and a site that accepts
//! connections and never answers.

mod support;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::{free_port, listening, run, text, Forwarder, Sshd, Stack};

/// Accepts connections and never answers a byte (a hung engine, backend and database).
struct Silent {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent { port, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn docker_socket() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host.trim_start_matches("unix://").to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

struct Fleet {
    stack: Stack,
    _sshd: Sshd,
    _tcp: Forwarder,
    _silent: Silent,
}

const DEAD_SECRET: &str = "dead-site-Secret-41x";

impl Fleet {
    /// One stack reached five ways: `main` (the local socket), `tcp`, `ssh`, `dead` and
    /// `hung`.
    fn start() -> Fleet {
        let stack = Stack::start();
        let sshd = Sshd::start("");
        let tcp_port = free_port();
        let mut socat = Command::new("socat");
        socat
            .arg(format!(
                "TCP-LISTEN:{tcp_port},bind=127.0.0.1,reuseaddr,fork"
            ))
            .arg(format!("UNIX-CONNECT:{}", docker_socket()));
        let tcp = listening(socat, tcp_port);
        let silent = Silent::start();
        let closed = free_port();
        let secret_file = stack.rig.dir.path().join("dead-password");
        std::fs::write(&secret_file, DEAD_SECRET).unwrap();
        let sites = format!(
            "sites:\n\
             \x20 main: {{}}\n\
             \x20 tcp:\n    docker: {{host: \"tcp://127.0.0.1:{tcp_port}\"}}\n\
             \x20 ssh:\n    docker:\n      host: \"{ssh}\"\n      ssh: {{identity_file: {id}, known_hosts_file: {kh}}}\n\
             \x20 dead:\n    docker: {{host: \"tcp://127.0.0.1:{closed}\"}}\n    backend: {{url: \"http://127.0.0.1:{closed}/springboot1ngh61a2\"}}\n    postgres: {{port: {closed}, password_file: {secret}}}\n    minio: {{url: \"http://127.0.0.1:{closed}\", console_url: \"http://127.0.0.1:{closed}\"}}\n\
             \x20 hung:\n    docker: {{host: \"tcp://127.0.0.1:{hung}\"}}\n    backend: {{url: \"http://127.0.0.1:{hung}/springboot1ngh61a2\"}}\n    postgres: {{port: {hung}}}\n    minio: {{url: \"http://127.0.0.1:{hung}\", console_url: \"http://127.0.0.1:{hung}\"}}\n",
            ssh = sshd.address(),
            id = sshd.identity().display(),
            kh = sshd.known_hosts().display(),
            secret = secret_file.display(),
            hung = silent.port,
        );
        stack.rig.write_config(&format!(
            "{}health:\n  timeout: 2s\n{sites}",
            stack.config_yaml()
        ));
        Fleet {
            stack,
            _sshd: sshd,
            _tcp: tcp,
            _silent: silent,
        }
    }

    fn gymops(&self, args: &[&str]) -> Output {
        run(self.stack.gymops().args(args))
    }
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "not JSON ({err}):\n{}\n{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

fn site<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"] == name)
        .unwrap_or_else(|| panic!("no site {name} in {report:#}"))
}

#[test]
fn fleet_health_covers_every_site_and_a_dead_or_hung_one_costs_only_its_timeout() {
    let fleet = Fleet::start();
    let started = Instant::now();
    let output = fleet.gymops(&["fleet", "--site-timeout", "6s", "health", "-o", "json"]);
    let elapsed = started.elapsed();
    let report = json(&output);
    // Every site at once: the hung one costs its probes' 2 s, not the sum of all.
    assert!(elapsed < Duration::from_secs(12), "{elapsed:?}");
    let names: Vec<&str> = report["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["site"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dead", "hung", "main", "ssh", "tcp"]);
    for healthy in ["main", "tcp", "ssh"] {
        let found = site(&report, healthy);
        assert_eq!(found["status"], "ok", "{healthy}: {found:#}");
        let checks = found["report"]["checks"].as_array().unwrap();
        let daemon = checks.iter().find(|c| c["check"] == "docker").unwrap();
        assert_eq!(daemon["status"], "ok");
    }
    assert_eq!(
        site(&report, "ssh")["report"]["checks"][0]["target"],
        fleet._sshd.address()
    );
    let dead = site(&report, "dead");
    assert_eq!(dead["status"], "critical", "{dead:#}");
    let hung = site(&report, "hung");
    assert_ne!(hung["status"], "ok", "{hung:#}");
    assert_eq!(report["status"], "critical");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(report["summary"]["sites"], 5);
    assert_eq!(report["summary"]["ok"], 3);
    // One site's secret is nowhere in the output.
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains(DEAD_SECRET) && !all.contains(support::PASSWORD));

    // The table: a SITE column, every site's rows, a summary line.
    let output = fleet.gymops(&["fleet", "--sites", "main,dead", "health"]);
    let table = text(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{table}");
    assert!(table.lines().next().unwrap().starts_with("SITE"), "{table}");
    assert!(table
        .lines()
        .any(|l| l.starts_with("main ") && l.contains("OK")));
    assert!(table
        .lines()
        .any(|l| l.starts_with("dead ") && l.contains("CRITICAL")));
    let summary = table.lines().last().unwrap();
    assert!(
        summary.starts_with("fleet health: CRITICAL — 2 sites: 1 OK, 1 CRITICAL (dead CRITICAL)"),
        "{summary}"
    );
    // --quiet: only what is not OK.
    let output = fleet.gymops(&["-q", "fleet", "--sites", "main,dead", "health"]);
    let table = text(&output.stdout);
    assert!(!table.lines().any(|l| l.starts_with("main ")), "{table}");
}

#[test]
fn fleet_ps_with_a_site_timeout_and_site_by_site_commands() {
    let fleet = Fleet::start();
    let started = Instant::now();
    let output = fleet.gymops(&[
        "fleet",
        "--site-timeout",
        "2s",
        "--parallel",
        "5",
        "ps",
        "-o",
        "json",
    ]);
    let elapsed = started.elapsed();
    let report = json(&output);
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    let hung = site(&report, "hung");
    assert_eq!(hung["status"], "unknown");
    assert!(
        hung["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 2s"),
        "{hung:#}"
    );
    let dead = site(&report, "dead");
    assert_eq!(dead["status"], "unknown");
    assert!(
        dead["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach Docker"),
        "{dead:#}"
    );
    for reachable in ["main", "tcp", "ssh"] {
        let services = site(&report, reachable)["report"]["services"]
            .as_array()
            .unwrap();
        let backend = services.iter().find(|s| s["service"] == "backend").unwrap();
        assert_eq!(backend["state"], "running", "{reachable}");
    }
    assert_eq!(output.status.code(), Some(3));

    // --site runs any command against one site; its keys beat the environment's.
    let output = run(fleet
        .stack
        .gymops()
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .args(["--site", "tcp", "ps", "-o", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(json(&output)["docker_host"]
        .as_str()
        .unwrap()
        .starts_with("tcp://"));
    let output = fleet.gymops(&["--site", "main", "config", "show"]);
    let shown = text(&output.stdout);
    assert!(shown.contains("postgres.port"), "{shown}");
    let output = fleet.gymops(&["--site", "dead", "config", "show"]);
    let line = text(&output.stdout)
        .lines()
        .find(|l| l.starts_with("docker.host"))
        .unwrap()
        .to_string();
    assert!(line.contains("site dead"), "{line}");

    // Other fleet commands: the same sites, each with its own report.
    let output = fleet.gymops(&[
        "fleet", "--sites", "main,tcp", "perf", "stats", "-o", "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report = json(&output);
    assert!(
        site(&report, "tcp")["report"]["services"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    let output = fleet.gymops(&[
        "fleet", "--sites", "main,ssh", "logs", "stats", "-o", "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(site(&json(&output), "ssh")["report"]["lines"].is_u64());
    let output = fleet.gymops(&[
        "fleet", "--sites", "main", "backup", "monitor", "-o", "json",
    ]);
    let report = json(&output);
    assert_eq!(
        site(&report, "main")["status"],
        "critical",
        "no backups yet: {report:#}"
    );
    let output = fleet.gymops(&[
        "fleet", "--sites", "main,tcp", "check", "daily", "-o", "json",
    ]);
    let report = json(&output);
    assert!(
        site(&report, "tcp")["report"]["findings"]
            .as_array()
            .unwrap()
            .len()
            > 3
    );
}

#[test]
fn unknown_sites_and_bad_site_settings_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("docker-config");
    let made = run(Command::new("docker").arg("--config").arg(&store).args([
        "context",
        "create",
        "gym-x",
        "--docker",
        "host=tcp://127.0.0.1:1",
    ]));
    assert!(made.status.success(), "{}", text(&made.stderr));
    let gymops = |args: &[&str]| {
        run(support::gymops(dir.path())
            .env("DOCKER_CONFIG", &store)
            .args(args))
    };
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "sites:\n  gym-a: {}\n  gym-b:\n    docker: {host: \"unix:///x.sock\"}\n",
    )
    .unwrap();
    for (args, expected) in [
        (vec!["--site", "gym-z", "ps"], "error: unknown site `gym-z`"),
        (
            vec!["fleet", "--sites", "gym-a,gym-z", "ps"],
            "error: unknown site `gym-z`",
        ),
        (
            vec!["--context", "gym-x", "fleet", "ps"],
            "error: --context names one engine",
        ),
    ] {
        let output = gymops(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let output = gymops(&["--site", "gym-z", "ps"]);
    assert!(
        text(&output.stderr).contains("sites in"),
        "{}",
        text(&output.stderr)
    );
    // A mistake in any site fails every command, naming the site and key.
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "sites:\n  gym-a:\n    backend: {urll: x}\n",
    )
    .unwrap();
    let output = gymops(&["ps"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("site `gym-a`: key `backend.urll`"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "sites:\n  gym-a:\n    postgres:\n      password: hunter2\n",
    )
    .unwrap();
    let output = gymops(&["ps"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("secrets are not read from gymops.yaml") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("gymops.yaml"), "sites:\n  gym.a: {}\n").unwrap();
    let output = gymops(&["ps"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("site name `gym.a` is not a name"));
    std::fs::write(dir.path().join("gymops.yaml"), "project: x\n").unwrap();
    let output = gymops(&["fleet", "ps"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("names no sites"),
        "{}",
        text(&output.stderr)
    );
}

/// `fleet up`: site by site, each gated; the first failure stops the sites after it
/// unless --keep-going; each site keeps its own release history, so a failing site is put
/// back to its own previous release.
#[test]
fn fleet_up_deploys_site_by_site_and_rolls_a_failing_site_back_to_its_own_release() {
    use support::deployment::{Deployment, IMAGE};
    let compose = format!(
        r#"services:
  db:
    image: {IMAGE}
    command: ["/usr/bin/sleep", "600"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
    labels: {{gymops.test: "1"}}
    environment: {{MODE: "${{MODE:-one}}"}}
    healthcheck: {{test: ["CMD", "${{HEALTH:-/usr/bin/true}}"], interval: 1s, retries: 2}}
"#
    );
    let a = Deployment::with_services("fa", &compose, &["db"]);
    let b = Deployment::with_services("fb", "", &["db"]);
    let c = Deployment::with_services("fc", "", &["db"]);
    let dir = a.dir.path();
    std::fs::write(dir.join(".env.b"), "HEALTH=/usr/bin/false\n").unwrap();
    let base = std::fs::read_to_string(dir.join("gymops.yaml")).unwrap();
    std::fs::write(
        dir.join("gymops.yaml"),
        format!(
            "{base}sites:\n  a: {{project: {}}}\n  b:\n    project: {}\n    environments: {{development: {{env_file: .env.b}}}}\n  c: {{project: {}}}\n",
            a.name, b.name, c.name
        ),
    )
    .unwrap();
    let fleet_up = |args: &[&str]| {
        let output = run(a.gymops().args(["fleet"]).args(args).args(["-o", "json"]));
        (output.status.code(), json(&output))
    };
    let (code, report) = fleet_up(&["up"]);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(site(&report, "a")["status"], "ok");
    assert_eq!(site(&report, "b")["status"], "critical");
    let skipped = site(&report, "c");
    assert_eq!(skipped["status"], "unknown");
    assert!(
        skipped["error"]
            .as_str()
            .unwrap()
            .contains("stopped after b failed"),
        "{skipped:#}"
    );
    assert!(c.id("db").is_none(), "c was not to be deployed");

    let (code, report) = fleet_up(&["--parallel", "3", "up", "--keep-going"]);
    assert_eq!(code, Some(2), "{report:#}");
    assert_eq!(site(&report, "a")["status"], "ok");
    assert_eq!(site(&report, "c")["status"], "ok");
    assert!(c.id("db").is_some());
    // Each site's state is its own.
    for name in ["a", "c"] {
        assert!(
            dir.join(".gymops")
                .join(name)
                .join("releases.json")
                .is_file(),
            "{name}"
        );
        assert!(
            dir.join(name).join("deployment_report.md").is_file(),
            "{name}"
        );
    }
    assert!(!dir.join(".gymops/releases.json").exists());

    // b healthy once (a release of its own), then a change that fails: b alone is put back
    // to its own release, with the site's own rollback.
    std::fs::write(dir.join(".env.b"), "HEALTH=/usr/bin/true\n").unwrap();
    let (code, report) = fleet_up(&["--sites", "b", "up"]);
    assert_eq!(code, Some(0), "{report:#}");
    let good = site(&report, "b")["report"]["release"]
        .as_str()
        .unwrap()
        .to_string();
    let good_container = b.id("db").unwrap();
    std::fs::write(dir.join(".env.b"), "HEALTH=/usr/bin/false\nMODE=two\n").unwrap();
    let (code, report) = fleet_up(&["--sites", "b", "up"]);
    assert_eq!(code, Some(2), "{report:#}");
    let rollback = &site(&report, "b")["report"]["rollback"];
    assert_eq!(rollback["status"], "ok", "{rollback:#}");
    assert!(
        rollback["target"].as_str().unwrap().contains(&good),
        "{rollback:#}"
    );
    assert_ne!(
        b.id("db").unwrap(),
        good_container,
        "recreated from the release"
    );
    let env = support::docker_ok(&[
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        &b.id("db").unwrap(),
    ]);
    assert!(env.contains("MODE=one"), "{env}");
    // Site a's history never saw b's releases.
    let history = std::fs::read_to_string(dir.join(".gymops/a/releases.json")).unwrap();
    assert!(!history.contains(&good), "{history}");
}

/// A fleet across two engines: the main one and a second dockerd of its own (its own data
/// root, socket and no networking of its own), each site with its worker container.
#[test]
fn a_fleet_spans_two_engines() {
    let second = support::SecondEngine::start();
    let name = format!("gymops-fleet-{}", std::process::id());
    second.run_container(&format!("{name}-b"));
    let args = support::sleeper_args(&format!("{name}-a"));
    let main = support::docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    struct Removed(String);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = support::docker(&["rm", "-f", &self.0]);
        }
    }
    let _main = Removed(main);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        format!(
            "sites:\n  a:\n    services: {{worker: {{container: {name}-a}}}}\n  b:\n    docker: {{host: \"{}\"}}\n    services: {{worker: {{container: {name}-b}}}}\n",
            second.address()
        ),
    )
    .unwrap();
    let fleet = |args: &[&str]| {
        let output = run(support::gymops(dir.path())
            .arg("fleet")
            .args(args)
            .args(["-o", "json"]));
        (output.status.code(), json(&output))
    };
    let (code, report) = fleet(&["health", "--check", "containers"]);
    assert_eq!(code, Some(0), "{report:#}");
    for (site_name, container) in [("a", format!("{name}-a")), ("b", format!("{name}-b"))] {
        let checks = site(&report, site_name)["report"]["checks"]
            .as_array()
            .unwrap()
            .clone();
        let worker = checks.iter().find(|c| c["name"] == "worker").unwrap();
        assert_eq!(worker["status"], "ok", "{worker:#}");
        assert_eq!(worker["target"], container.as_str());
    }
    assert_eq!(
        site(&report, "b")["report"]["checks"][0]["target"],
        second.address().as_str()
    );
    let (code, report) = fleet(&["perf", "stats"]);
    assert_eq!(code, Some(0), "{report:#}");
    let services = site(&report, "b")["report"]["services"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(services[0]["container"], format!("{name}-b").as_str());
    assert!(
        services[0]["memory_used_bytes"].as_u64().unwrap_or(0) > 0,
        "{services:#?}"
    );
    // The main engine does not see the second one's container, nor the other way round.
    assert!(
        support::docker(&["inspect", &format!("{name}-b")])
            .status
            .code()
            != Some(0)
    );
}
