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
    // A busy loop takes whatever CPU it is given; on a loaded 2-core CI machine that can be
    // well under one CPU, so only "clearly busy" is asserted.
    assert!(
        burning.cpu_percent.unwrap() > 3.0,
        "a busy loop uses CPU: {burning:?}"
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
        capped.cpu_percent.unwrap() < 1.0,
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

#[test]
fn ps_watch_piped_prints_a_block_per_round_and_ends_on_sigterm_with_its_status() {
    let project = Project::new();
    project.run("worker", &[], &["/usr/bin/sleep", "600"]);
    project.write_config(&format!(
        "project: {}\nservices:\n  worker: {{container: null}}\n",
        project.name
    ));
    let mut child = project
        .gymops()
        .args(["ps", "--watch", "--interval", "200ms"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read until the third round's time line: two whole blocks are in by then.
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let third = line.starts_with("== ")
                && lines
                    .iter()
                    .filter(|l: &&String| l.starts_with("== "))
                    .count()
                    == 2;
            lines.push(line);
            if third {
                break;
            }
        }
        lines
    });
    let started = std::time::Instant::now();
    while !reader.is_finished() && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = support::wait_within(
        &mut child,
        std::time::Duration::from_secs(5),
        "ps --watch did not end on SIGTERM",
    );
    let lines = reader.join().unwrap();
    let headings: Vec<&String> = lines.iter().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(headings.len(), 3, "{lines:#?}");
    assert!(headings[0].starts_with("== every 200ms, at "), "{lines:#?}");
    // Each round is a whole table of its own: a header and the worker's row.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("SERVICE")).count(),
        2,
        "{lines:#?}"
    );
    let rows: Vec<&String> = lines.iter().filter(|l| l.starts_with("worker")).collect();
    assert_eq!(rows.len(), 2, "{lines:#?}");
    assert!(rows.iter().all(|row| row.contains("running")), "{rows:?}");
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "no terminal codes in a pipe"
    );
    assert_eq!(
        status.code(),
        Some(0),
        "ps --watch ends as its last round said"
    );
}

#[test]
fn perf_api_times_each_phase_over_plain_http_and_tls() {
    let stack = support::Stack::start();
    let output = run(stack.gymops().args([
        "perf",
        "api",
        "--endpoint",
        "login",
        "-n",
        "5",
        "-o",
        "json",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["url"],
        format!(
            "http://127.0.0.1:{}/springboot1ngh61a2/user/login",
            stack.backend_port
        )
    );
    assert_eq!(
        (report["requests"].as_u64(), report["succeeded"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(report["statuses"], serde_json::json!({"200": 5}));
    let phases = &report["phases_ms"];
    assert!(phases["tls"].is_null(), "plain http has no TLS phase");
    let (connect, first_byte, total) = (
        phases["connect"]["p50"].as_f64().unwrap(),
        phases["first_byte"]["p50"].as_f64().unwrap(),
        phases["total"]["max"].as_f64().unwrap(),
    );
    assert!(
        phases["dns"]["min"].as_f64().unwrap() <= connect
            && connect <= first_byte
            && first_byte <= total,
        "{phases}"
    );
    for phase in ["dns", "connect", "first_byte", "total"] {
        let s = &phases[phase];
        let order = [
            s["min"].as_f64(),
            s["p50"].as_f64(),
            s["p95"].as_f64(),
            s["p99"].as_f64(),
            s["max"].as_f64(),
        ];
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{phase}: {s}");
    }

    // An answer of 404 is a failed request; a refused connection is counted by what went wrong.
    let missing = format!(
        "http://127.0.0.1:{}/springboot1ngh61a2/nope",
        stack.backend_port
    );
    let output = run(stack
        .gymops()
        .args(["perf", "api", &missing, "-n", "2", "-o", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (output.status.code(), report["statuses"].clone()),
        (Some(2), serde_json::json!({"404": 2}))
    );
    let closed = format!("http://127.0.0.1:{}/", support::free_port());
    let output = run(stack
        .gymops()
        .args(["perf", "api", &closed, "-n", "2", "-o", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let (error, count) = report["errors"].as_object().unwrap().iter().next().unwrap();
    assert!(error.starts_with("cannot connect to 127.0.0.1:"), "{error}");
    assert_eq!(count, 2);

    // TLS in front of the backend (stunnel, a test CA): the TLS phase appears.
    let certs = tempfile::tempdir().unwrap();
    support::make_certificates(certs.path());
    let port = support::free_port();
    let config = certs.path().join("stunnel.conf");
    std::fs::write(
        &config,
        format!(
            "foreground = yes\npid =\n[backend]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
            stack.backend_port,
            certs.path().join("server-cert.pem").display(),
            certs.path().join("server-key.pem").display()
        ),
    )
    .unwrap();
    let mut stunnel = std::process::Command::new("stunnel4");
    stunnel.arg(&config);
    let _terminator = support::listening(stunnel, port);
    let https = format!("https://127.0.0.1:{port}/springboot1ngh61a2/user/login");
    let ca = certs.path().join("ca.pem");
    let output = run(stack.gymops().args([
        "perf",
        "api",
        &https,
        "-n",
        "3",
        "--ca-file",
        ca.to_str().unwrap(),
        "-o",
        "json",
    ]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let phases = &report["phases_ms"];
    let (connect, tls, first_byte) = (
        phases["connect"]["p50"].as_f64().unwrap(),
        phases["tls"]["p50"].as_f64().unwrap(),
        phases["first_byte"]["p50"].as_f64().unwrap(),
    );
    assert!(connect <= tls && tls <= first_byte, "{phases}");
    // Without the CA the server is not trusted.
    let output = run(stack
        .gymops()
        .args(["perf", "api", &https, "-n", "1", "-o", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2));
    let error = report["errors"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    assert!(
        error.contains("TLS handshake with 127.0.0.1 failed"),
        "{error}"
    );

    let table = run(stack.gymops().args(["perf", "api", "-n", "2"]));
    assert!(
        text(&table.stdout).starts_with("PHASE (ms from start)"),
        "{}",
        text(&table.stdout)
    );
}

#[test]
fn perf_load_counts_requests_statuses_and_latency_and_refuses_remote_targets() {
    let stack = support::Stack::start();
    let login = format!(
        "http://127.0.0.1:{}/springboot1ngh61a2/user/login",
        stack.backend_port
    );

    // The stand-in closes every connection after its answer: reconnects are not errors.
    let output = run(stack
        .gymops()
        .args(["perf", "load", &login, "-c", "4", "-n", "60", "-o", "json"]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["requests"], 60);
    assert_eq!(report["statuses"], serde_json::json!({"200": 60}));
    assert_eq!(report["errors"], serde_json::json!({}));
    let latency = &report["latency"];
    let order: Vec<f64> = ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"]
        .iter()
        .map(|k| latency[k].as_f64().unwrap())
        .collect();
    assert!(
        order[0] > 0.0 && order.windows(2).all(|w| w[0] <= w[1]),
        "{latency}"
    );
    assert!(report["requests_per_second"].as_f64().unwrap() > 0.0);

    // Paced: 20 requests/s for 1.5 s is about 30 requests.
    let output = run(stack.gymops().args([
        "perf", "load", &login, "-c", "2", "-d", "1500ms", "--rate", "20", "-o", "json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let sent = report["requests"].as_u64().unwrap();
    assert!((25..=31).contains(&sent), "paced to 20/s for 1.5 s: {sent}");

    // POST with a body and a header; a 404 path is counted by status.
    let missing = format!("http://127.0.0.1:{}/nope", stack.backend_port);
    let output = run(stack.gymops().args([
        "perf",
        "load",
        &missing,
        "-n",
        "5",
        "-c",
        "1",
        "--method",
        "post",
        "--body",
        "{}",
        "--header",
        "Content-Type: application/json",
        "-o",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["statuses"], serde_json::json!({"404": 5}));

    // A port nobody listens on: connection errors, counted, bounded by -n.
    let closed = format!("http://127.0.0.1:{}/", support::free_port());
    let output = run(stack
        .gymops()
        .args(["perf", "load", &closed, "-n", "3", "-c", "1", "-o", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (output.status.code(), report["errors"]["connect"].as_u64()),
        (Some(1), Some(3))
    );

    // Not loopback, not the deployment: refused before any request.
    for target in ["http://10.11.12.13/", "http://example.invalid/"] {
        let output = run(stack.gymops().args(["perf", "load", target, "-n", "1"]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("neither loopback nor a host of the deployment")
                && stderr.contains("no request was sent"),
            "{stderr}"
        );
    }
    let output = run(stack.gymops().args(["perf", "load", &login, "-d", "2h"]));
    assert!(text(&output.stderr).contains("longer than the 1h bound"));
}

#[test]
fn monitor_checks_containers_and_disks_against_thresholds_with_health_exit_codes() {
    let project = Project::new();
    project.run("burner", &[], &["/usr/bin/sha256sum", "/dev/zero"]);
    project.run("limited", &["--memory", "64m"], &["/usr/bin/sleep", "600"]);
    let stopped = project.run("stopped", &[], &["/usr/bin/true"]);
    let _ = docker_ok(&["wait", &stopped]);
    let config = |services: &[&str]| {
        let mut yaml = format!("project: {}\nservices:\n", project.name);
        for service in services {
            yaml.push_str(&format!("  {service}: {{container: null}}\n"));
        }
        project.write_config(&yaml);
    };

    config(&["burner", "limited", "stopped"]);
    let output = run(project
        .gymops()
        // 3%: a busy loop is above it even on a loaded machine; sleep stays near 0%.
        .args(["monitor", "--cpu", "3", "--output", "json"]));
    assert_eq!(
        output.status.code(),
        Some(2),
        "a stopped container is critical: {}",
        text(&output.stdout)
    );
    let round: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let find = |check: &str, target: &str| -> serde_json::Value {
        round["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check && f["target"] == target)
            .cloned()
            .unwrap_or_else(|| panic!("no {check}/{target}: {round:#}"))
    };
    assert_eq!(find("cpu", "burner")["status"], "warning");
    assert_eq!(find("cpu", "limited")["status"], "ok");
    assert_eq!(find("memory", "limited")["status"], "ok");
    assert_eq!(find("container", "stopped")["status"], "critical");
    assert_eq!(find("disk", "host /")["threshold_percent"], 90.0);
    assert_eq!(round["thresholds"]["cpu_percent"], 3.0);
    assert!(
        text(&output.stderr).contains("warning: cpu of burner: CPU"),
        "{}",
        text(&output.stderr)
    );

    config(&["limited"]);
    let output = run(project.gymops().args(["monitor", "--once"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains("status: OK"));
    let output = run(project
        .gymops()
        .args(["monitor", "--disk", "0.001", "-o", "json"]));
    let round: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (output.status.code(), round["status"].as_str()),
        (Some(1), Some("warning"))
    );

    let output = run(project.gymops().args(["monitor", "--cpu", "-5"]));
    assert_eq!(output.status.code(), Some(3));
    let output = run(project
        .gymops()
        .args(["monitor", "--once", "--interval", "1s"]));
    assert_eq!(
        output.status.code(),
        Some(3),
        "--once and --interval exclude each other"
    );
}

/// socat on a free loopback port forwarding to the engine's socket: a "remote" engine.
fn tcp_engine() -> (support::Forwarder, u16) {
    let port = support::free_port();
    let mut socat = std::process::Command::new("socat");
    socat.args([
        format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
        "UNIX-CONNECT:/var/run/docker.sock".to_string(),
    ]);
    (support::listening(socat, port), port)
}

#[test]
fn kernel_counters_on_this_host_agree_with_the_engine_api_of_a_remote_engine() {
    let project = Project::new();
    project.run("burner", &[], &["/usr/bin/sha256sum", "/dev/zero"]);
    project.run("limited", &["--memory", "64m"], &["/usr/bin/sleep", "600"]);
    project.write_config(&format!(
        "project: {}\nservices:\n  burner: {{container: null}}\n  limited: {{container: null}}\n",
        project.name
    ));
    let read = |docker_host: Option<String>| -> Output {
        let local = docker_host.is_none();
        let mut command = project.gymops();
        command.args(["-vv", "perf", "stats", "--output", "json"]);
        if let Some(host) = docker_host {
            command.env("DOCKER_HOST", host);
        }
        let output = run(&mut command);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        if local {
            assert!(
                !stderr.contains("using the Engine API"),
                "on this host every container is read from the kernel: {stderr}"
            );
        }
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let local = read(None);
    let (_socat, port) = tcp_engine();
    let remote = read(Some(format!("tcp://127.0.0.1:{port}")));
    let row = |output: &Output, service: &str| -> (f64, u64, u64, u64) {
        let row = output
            .services
            .iter()
            .find(|r| r.service == service)
            .unwrap();
        (
            row.cpu_percent.unwrap(),
            row.memory_used_bytes.unwrap(),
            row.memory_limit_bytes.unwrap(),
            row.pids.unwrap(),
        )
    };
    let (local_cpu, _, local_limit, local_pids) = row(&local, "burner");
    let (remote_cpu, _, remote_limit, remote_pids) = row(&remote, "burner");
    assert!(
        local_cpu > 3.0 && remote_cpu > 3.0,
        "{local_cpu} {remote_cpu}"
    );
    assert_eq!(
        local_limit, remote_limit,
        "unlimited: the host's memory either way"
    );
    assert_eq!(local_pids, remote_pids);
    let (idle_cpu, used, limit, pids) = row(&local, "limited");
    let (_, remote_used, remote_limit, remote_pids) = row(&remote, "limited");
    assert!(idle_cpu < 1.0);
    assert_eq!((limit, pids), (remote_limit, remote_pids));
    assert_eq!(limit, 64 * 1024 * 1024);
    // The two reads are moments apart: the kernel's own accounting (slab, page tables)
    // moves by a few hundred KiB under load, a wrong reading by megabytes.
    assert!(
        used.abs_diff(remote_used) <= 512 * 1024,
        "an idle sleep's memory reads the same: {used} vs {remote_used}"
    );
}

#[test]
fn ctrl_c_stops_monitor_at_once_even_in_the_middle_of_a_notification() {
    let project = Project::new();
    let stopped = project.run("stopped", &[], &["/usr/bin/true"]);
    let _ = docker_ok(&["wait", &stopped]);
    // A receiver that accepts connections and never answers: the notification of the
    // stopped container hangs for notify.timeout (30 s) times the retries.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    project.write_config(&format!(
        "project: {}\nservices:\n  stopped: {{container: null}}\nnotify:\n  channels: [webhook]\n  timeout: 30s\n",
        project.name
    ));
    let mut child = project
        .gymops()
        .env(
            "GYMOPS_WEBHOOK_URL",
            format!("http://127.0.0.1:{port}/hook"),
        )
        .args(["monitor", "--interval", "1m"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the notification is under way (the receiver got its connection).
    silent.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let _held = loop {
        if let Ok((stream, _)) = silent.accept() {
            break stream;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notification was attempted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let signalled = std::time::Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = support::wait_within(
        &mut child,
        std::time::Duration::from_secs(10),
        "monitor still running 10 s after Ctrl-C",
    );
    assert!(
        signalled.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        signalled.elapsed()
    );
    assert!(status.code().is_some(), "it exited, not killed: {status:?}");
}

#[test]
fn perf_top_puts_the_spinning_process_first_and_the_big_one_first_by_memory_here_and_remotely() {
    let project = Project::new();
    let worker = project.run(
        "worker",
        &[],
        &[
            "/usr/bin/sh",
            "-c",
            "/usr/bin/python3 -c 'import time; b = b\"x\" * (64 << 20); time.sleep(600)' & exec /usr/bin/sha256sum /dev/zero",
        ],
    );
    project.write_config(&format!(
        "project: {}\nservices:\n  worker: {{container: null}}\n",
        project.name
    ));
    let top = |args: &[&str], docker_host: Option<&str>| -> serde_json::Value {
        let mut command = project.gymops();
        if let Some(host) = docker_host {
            command.env("DOCKER_HOST", host);
        }
        let output = run(command
            .args(["perf", "top", "worker", "-o", "json"])
            .args(args));
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    // The python process has its 64 MiB in place before the checks.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let by_memory = loop {
        let by_memory = top(&["--sort", "mem"], None);
        if by_memory["processes"][0]["rss_bytes"].as_u64().unwrap_or(0) >= 64 << 20
            || std::time::Instant::now() > deadline
        {
            break by_memory;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let first = &by_memory["processes"][0];
    assert!(
        first["command"].as_str().unwrap().contains("python3"),
        "{by_memory:#}"
    );
    assert!(
        first["rss_bytes"].as_u64().unwrap() >= 64 << 20,
        "{by_memory:#}"
    );

    let by_cpu = top(&[], None);
    assert_eq!(by_cpu["cpu_basis"], "window");
    assert_eq!(by_cpu["container"], worker.as_str());
    assert_eq!(
        by_cpu["total"], 2,
        "sha256sum (pid 1 after exec) and python: {by_cpu:#}"
    );
    let spinner = &by_cpu["processes"][0];
    assert!(
        spinner["command"]
            .as_str()
            .unwrap()
            .starts_with("/usr/bin/sha256sum"),
        "{by_cpu:#}"
    );
    assert!(
        spinner["cpu_percent"].as_f64().unwrap() > 20.0,
        "{by_cpu:#}"
    );
    assert_eq!(spinner["pid"], 1, "the PID inside the container");
    assert!(spinner["host_pid"].as_i64().unwrap() > 1);
    let limited = top(&["--limit", "1"], None);
    assert_eq!(
        (
            limited["total"].as_u64(),
            limited["processes"].as_array().unwrap().len()
        ),
        (Some(2), 1)
    );

    // A remote engine: the Engine API's top, ps's figures.
    let (_socat, port) = tcp_engine();
    let remote = top(&[], Some(&format!("tcp://127.0.0.1:{port}")));
    assert_eq!(remote["cpu_basis"], "lifetime");
    assert_eq!(remote["total"], 2);
    assert!(
        remote["processes"][0]["command"]
            .as_str()
            .unwrap()
            .contains("sha256sum"),
        "{remote:#}"
    );
    assert_eq!(remote["processes"][0]["host_pid"], spinner["host_pid"]);

    let table = text(&run(project.gymops().args(["perf", "top", "worker"])).stdout);
    assert!(
        table.starts_with("PID") && table.contains("sha256sum"),
        "{table}"
    );
    assert!(table.contains("2 of 2 processes in"), "{table}");

    // A stopped container: one clear error, exit 3.
    docker_ok(&["stop", "-t", "1", &worker]);
    let output = run(project.gymops().args(["perf", "top", "worker"]));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("is exited: it has no processes"),
        "{stderr}"
    );
}
