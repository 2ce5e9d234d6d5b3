//! The alert path end to end, in time: `monitoring init`'s files run by Debian's real
//! Prometheus and Alertmanager (on this host, with the container host names pointed at
//! loopback), `gymops metrics serve` as the exporter and the authenticated relay, and a
//! webhook receiver. Stopping the backend must page (critical) within 60 s plus
//! Alertmanager's group_wait; starting it again must send the resolution.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{docker_ok, free_port, run, run_ok, text, Forwarder, Receiver, Stack};

fn spawn(command: &mut Command, log: &Path) -> Forwarder {
    let log = std::fs::File::create(log).unwrap();
    Forwarder(
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}")),
    )
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// Relayed events, as (alertname, severity, status).
fn events(receiver: &Receiver) -> Vec<(String, String, String)> {
    receiver
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .map(|e| {
            (
                e["alert_type"].as_str().unwrap_or("").to_string(),
                e["severity"].as_str().unwrap_or("").to_string(),
                e["details"]["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_stopped_backend_pages_within_a_minute_and_its_return_resolves_it() {
    let stack = Stack::start();
    let dir = stack.rig.dir.path().to_path_buf();
    let (metrics_port, prometheus_port, alertmanager_port) =
        (free_port(), free_port(), free_port());
    let receiver = Receiver::start(&[(200, "ok")]);
    std::fs::write(
        dir.join("gymops.yaml"),
        format!(
            "{}metrics:\n  listen: 127.0.0.1:{metrics_port}\n  scrape_target: 127.0.0.1:{metrics_port}\n  interval: 5s\n  relay_token_file: monitoring/secrets/relay_token\n\
             monitoring:\n  node_exporter: false\n  cadvisor: false\n\
             notify:\n  channels: [webhook]\n  retries: 1\n",
            stack.config_yaml()
        ),
    )
    .unwrap();
    let gymops = || {
        let mut command = stack.gymops();
        command.env("GYMOPS_WEBHOOK_URL", receiver.url("/alerts"));
        command
    };
    let init = run(gymops().args(["monitoring", "init", "--dir", "monitoring"]));
    assert!(init.status.success(), "{}", text(&init.stderr));
    let monitoring = dir.join("monitoring");
    // The stack's container names on this host's loopback.
    let rewrite = |file: &str, pairs: &[(&str, String)]| {
        let path = monitoring.join(file);
        let mut contents = std::fs::read_to_string(&path).unwrap();
        for (from, to) in pairs {
            assert!(contents.contains(from), "{from} not in {file}:\n{contents}");
            contents = contents.replace(from, to);
        }
        std::fs::write(&path, contents).unwrap();
    };
    rewrite(
        "prometheus.yml",
        &[
            (
                "alertmanager:9093",
                format!("127.0.0.1:{alertmanager_port}"),
            ),
            ("localhost:9090", format!("127.0.0.1:{prometheus_port}")),
        ],
    );
    rewrite(
        "alertmanager.yml",
        &[(
            "/etc/alertmanager/secrets/relay_token",
            monitoring.join("secrets/relay_token").display().to_string(),
        )],
    );

    let _serve = spawn(gymops().args(["metrics", "serve"]), &dir.join("serve.log"));
    let _prometheus = spawn(
        Command::new("prometheus")
            .current_dir(&monitoring)
            .arg("--config.file=prometheus.yml")
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}")),
        &dir.join("prometheus.log"),
    );
    let _alertmanager = spawn(
        Command::new("prometheus-alertmanager")
            .current_dir(&monitoring)
            .arg("--config.file=alertmanager.yml")
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!(
                "--web.listen-address=127.0.0.1:{alertmanager_port}"
            ))
            .arg("--cluster.listen-address="),
        &dir.join("alertmanager.log"),
    );
    let logs = || {
        ["serve.log", "prometheus.log", "alertmanager.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Everything up: Prometheus scrapes gymops and sees the backend's API answer.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let answer = http_get(
            prometheus_port,
            "/api/v1/query?query=gymops_probe_up%7Bcheck%3D%22api%22%2Cname%3D%22health%22%7D",
        );
        if answer.contains("\"value\":[") && answer.contains("\"1\"]") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never scraped: {answer}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        events(&receiver).is_empty(),
        "nothing fires while healthy: {:?}",
        events(&receiver)
    );

    // The backend stops: a critical page within 60 s + group_wait (10 s).
    let stopped = Instant::now();
    docker_ok(&["stop", "-t", "1", &stack.backend]);
    loop {
        let fired = events(&receiver)
            .into_iter()
            .any(|(_, severity, status)| severity == "critical" && status == "firing");
        if fired {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(70),
            "no critical alert within 70 s: {:?}\n{}",
            events(&receiver),
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let paged_after = stopped.elapsed();
    let fired: Vec<String> = events(&receiver)
        .into_iter()
        .filter(|(_, _, status)| status == "firing")
        .map(|(name, _, _)| name)
        .collect();
    assert!(
        fired.iter().any(|n| n == "APIDown" || n == "ContainerDown"),
        "{fired:?}"
    );
    eprintln!("paged {paged_after:?} after the backend stopped: {fired:?}");

    // It comes back: the resolution is sent.
    run_ok(Command::new("docker").args(["start", &stack.backend]));
    let started = Instant::now();
    loop {
        let resolved = events(&receiver)
            .into_iter()
            .any(|(_, _, status)| status == "resolved");
        if resolved {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no resolution within 120 s: {:?}\n{}",
            events(&receiver),
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
