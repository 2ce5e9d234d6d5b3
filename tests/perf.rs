//! `gymops perf stats` against real containers: a CPU burner, one with a memory limit, one
//! stopped.

mod support;

use serde::Deserialize;
use support::{docker_ok, run, text, Project};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Output {
    read_at: String,
    services: Vec<Row>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    service: String,
    container: Option<String>,
    state: String,
    cpu_percent: Option<f64>,
    memory_used_bytes: Option<u64>,
    memory_limit_bytes: Option<u64>,
    memory_percent: Option<f64>,
    net_rx_bytes: Option<u64>,
    net_tx_bytes: Option<u64>,
    block_read_bytes: Option<u64>,
    block_write_bytes: Option<u64>,
    pids: Option<u64>,
    error: Option<String>,
}

#[test]
fn perf_stats_reads_cpu_memory_and_pids_like_docker_stats() {
    let project = Project::new();
    let burner = project.run("burner", &[], &["/usr/bin/sha256sum", "/dev/zero"]);
    let limited = project.run("limited", &["--memory", "64m"], &["/usr/bin/sleep", "600"]);
    let stopped = project.run("stopped", &[], &["/usr/bin/true"]);
    project.write_config(&format!(
        "project: {}\nservices:\n  burner: {{container: null}}\n  limited: {{container: null}}\n  stopped: {{container: null}}\n  missing: {{container: null}}\n",
        project.name
    ));
    let _ = docker_ok(&["wait", &stopped]);

    let output = run(project.gymops().args(["perf", "stats", "--output", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stats: Output = serde_json::from_slice(&output.stdout).unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(&stats.read_at).is_ok());
    let row = |service: &str| {
        stats
            .services
            .iter()
            .find(|r| r.service == service)
            .unwrap()
    };

    let burning = row("burner");
    assert_eq!(
        (burning.container.as_deref(), burning.state.as_str()),
        (Some(burner.as_str()), "running")
    );
    assert!(
        burning.cpu_percent.unwrap() > 30.0,
        "a busy loop uses most of a CPU: {burning:?}"
    );
    assert!(burning.pids.unwrap() >= 1);

    let capped = row("limited");
    assert_eq!(capped.container.as_deref(), Some(limited.as_str()));
    assert_eq!(capped.memory_limit_bytes, Some(64 * 1024 * 1024));
    let used = capped.memory_used_bytes.unwrap();
    assert!(used > 0 && used < 64 * 1024 * 1024);
    let percent = capped.memory_percent.unwrap();
    assert!((percent - used as f64 * 100.0 / (64.0 * 1024.0 * 1024.0)).abs() < 1e-6);
    assert!(
        capped.cpu_percent.unwrap() < 20.0,
        "sleep is idle: {capped:?}"
    );
    assert!(
        capped.net_rx_bytes.is_some()
            && capped.block_read_bytes.is_some()
            && capped.net_tx_bytes.is_some()
            && capped.block_write_bytes.is_some()
    );

    let exited = row("stopped");
    assert_eq!(
        (
            exited.state.as_str(),
            exited.error.as_deref(),
            exited.cpu_percent
        ),
        ("exited", Some("not running"), None)
    );
    let missing = row("missing");
    assert_eq!(
        (missing.state.as_str(), missing.container.as_deref()),
        ("missing", None)
    );

    let table = run(project.gymops().args(["perf", "stats", "limited"]));
    let table = text(&table.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        vec![
            "SERVICE",
            "CONTAINER",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    assert!(table.contains("/ 64.0 MiB"), "{table}");

    // --watch prints a JSON line per round until stopped.
    let mut child = project
        .gymops()
        .args([
            "perf",
            "stats",
            "limited",
            "--watch",
            "--interval",
            "200ms",
            "-o",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(2)
            .collect::<Vec<String>>()
    });
    let started = std::time::Instant::now();
    while !reader.is_finished() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let lines = reader.join().unwrap();
    assert_eq!(lines.len(), 2, "two rounds: {lines:?}");
    for line in lines {
        let round: Output = serde_json::from_str(&line).unwrap();
        assert_eq!(round.services.len(), 1);
    }

    let output = run(project.gymops().args(["perf", "stats", "--interval", "1s"]));
    assert_eq!(output.status.code(), Some(3), "--interval needs --watch");
}
