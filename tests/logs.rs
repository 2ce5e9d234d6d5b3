//! `gymops logs`, `logs stats`, `logs files`, `logs clean` and `disk` against real containers
//! that write known lines, and against files.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use support::{docker_ok, run, text, Project};

/// 9 lines on stdout: 6 events (2 ERROR, 1 WARN, 2 INFO, 1 DEBUG), one stack trace of 3 lines.
const BACKEND_STDOUT: &str = "\
2024-01-15 10:00:01.000  INFO 1 --- [main] com.gym.App : Started App in 3.2 seconds
2024-01-15 10:05:00.000 ERROR 1 --- [exec-1] c.g.web.MemberController : Member 42 not found
2024-01-15 10:06:00.000 ERROR 1 --- [exec-2] c.g.web.MemberController : Member 7 not found
java.lang.IllegalStateException: lookup failed
\tat com.gym.web.MemberController.get(MemberController.java:42)
\tat java.base/java.lang.Thread.run(Thread.java:833)
2024-01-15 11:00:00.000  WARN 1 --- [pool] com.zaxxer.hikari.pool.HikariPool : HikariPool-1 - Connection is not available, request timed out after 30004ms.
2024-01-15 11:30:00.000 DEBUG 1 --- [main] com.gym.App : cache warmed
2024-01-15 11:31:00.000  INFO 1 --- [main] com.gym.App : LAST-STDOUT-LINE
";
/// 2 lines on stderr.
const BACKEND_STDERR: &str = "\
2024-01-15 10:07:00.000  WARN 1 --- [main] com.gym.App : written to stderr
2024-01-15 10:08:00.000  INFO 1 --- [main] com.gym.App : LAST-STDERR-LINE
";
const WORKER_STDOUT: &str = "worker line one\nworker line two\nworker line three\n";

fn project_with_emitters() -> (Project, String, String) {
    let project = Project::new();
    let backend = project.emitter("backend", BACKEND_STDOUT, BACKEND_STDERR);
    let worker = project.emitter("worker", WORKER_STDOUT, "");
    project.write_config(&format!(
        "project: {}\nservices:\n  backend: {{container: null}}\n  worker: {{container: null}}\n  postgres: {{container: null}}\n  minio: {{container: null}}\n",
        project.name
    ));
    // Wait until both have written everything (a bounded poll).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let backend_log = run(std::process::Command::new("docker").args(["logs", &backend]));
        let worker_log = run(std::process::Command::new("docker").args(["logs", &worker]));
        let all = format!(
            "{}{}{}",
            text(&backend_log.stdout),
            text(&backend_log.stderr),
            text(&worker_log.stdout)
        );
        if all.contains("LAST-STDOUT-LINE")
            && all.contains("LAST-STDERR-LINE")
            && all.contains("worker line three")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "emitters did not write their lines: {all}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (project, backend, worker)
}

fn stdout_of(project: &Project, args: &[&str]) -> String {
    let output = run(project.gymops().args(args));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn logs_show_both_streams_prefixed_filtered_and_merged() {
    let (project, _, _) = project_with_emitters();

    let all = stdout_of(&project, &["logs", "backend", "worker"]);
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 9 + 2 + 3, "{all}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("backend | ")).count(),
        11
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("worker  | ")).count(),
        3,
        "names are aligned"
    );
    assert!(all.contains(
        "backend | 2024-01-15 10:07:00.000  WARN 1 --- [main] com.gym.App : written to stderr"
    ));
    assert!(!all.contains('\u{1b}'), "no colors when piped");

    let tail = stdout_of(&project, &["logs", "--tail", "2", "worker"]);
    assert_eq!(
        tail,
        "worker | worker line two\nworker | worker line three\n"
    );

    let errors = stdout_of(&project, &["logs", "backend", "--level", "error"]);
    let errors: Vec<&str> = errors.lines().collect();
    assert_eq!(
        errors.len(),
        5,
        "2 ERROR events and the stack trace of the second: {errors:#?}"
    );
    assert!(errors[4].contains("Thread.run"));

    let grep = stdout_of(&project, &["logs", "--grep", "Member \\d+ not", "backend"]);
    assert_eq!(grep.lines().count(), 2);
    // Filter, then tail (like `grep | tail`): the last matching lines, not the matches
    // among the last lines.
    let last_errors = stdout_of(
        &project,
        &["logs", "backend", "--level", "error", "--tail", "2"],
    );
    assert_eq!(
        last_errors.lines().collect::<Vec<_>>(),
        errors[3..],
        "the last 2 lines of the error events"
    );
    let last_match = stdout_of(
        &project,
        &[
            "logs",
            "--grep",
            "Member \\d+ not",
            "--tail",
            "1",
            "backend",
        ],
    );
    assert_eq!(last_match.lines().count(), 1, "{last_match}");
    assert_eq!(last_match.trim_end(), grep.lines().last().unwrap());

    let merged = stdout_of(&project, &["logs", "--merge", "-t"]);
    let times: Vec<String> = merged
        .lines()
        .map(|l| {
            l.split(" | ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> = times
        .iter()
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
        .collect();
    assert!(
        parsed.windows(2).all(|w| w[0] <= w[1]),
        "merged lines are in time order: {merged}"
    );
    assert_eq!(parsed.len(), 14);

    let json = stdout_of(
        &project,
        &["logs", "worker", "--output", "json", "--tail", "1"],
    );
    let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (
            line["service"].as_str(),
            line["stream"].as_str(),
            line["text"].as_str()
        ),
        (Some("worker"), Some("stdout"), Some("worker line three"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap()).is_ok());
    let stderr_line = stdout_of(
        &project,
        &["logs", "backend", "-o", "json", "--grep", "LAST-STDERR"],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(stderr_line.trim()).unwrap()["stream"],
        "stderr"
    );

    let file = project.dir.path().join("exported.log");
    let output = run(project
        .gymops()
        .args(["logs", "worker", "--output-file"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
}

#[derive(Debug, Deserialize)]
struct Stats {
    sources: Vec<String>,
    lines: u64,
    events: u64,
    continuation_lines: u64,
    unparsed_lines: u64,
    levels: serde_json::Value,
    errors_per_hour: Vec<serde_json::Value>,
    top_errors: Vec<serde_json::Value>,
    topics: Vec<serde_json::Value>,
}

fn stats(project: &Project, args: &[&str]) -> Stats {
    let mut all = vec!["logs", "stats", "--output", "json"];
    all.extend_from_slice(args);
    let out = stdout_of(project, &all);
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"))
}

#[test]
fn logs_stats_counts_exactly_from_a_container_and_from_files() {
    let (project, backend, _) = project_with_emitters();

    let from_container = stats(&project, &["backend"]);
    assert_eq!(from_container.sources, vec![format!("backend:{backend}")]);
    assert_eq!(
        (
            from_container.lines,
            from_container.events,
            from_container.continuation_lines
        ),
        (11, 8, 3)
    );
    assert_eq!(
        from_container.levels,
        serde_json::json!({"ERROR": 2, "WARN": 2, "INFO": 3, "DEBUG": 1, "TRACE": 0})
    );
    let top = &from_container.top_errors[0];
    assert_eq!(
        (top["count"].as_u64(), top["fingerprint"].as_str()),
        (
            Some(2),
            Some("c.g.web.MemberController: Member <n> not found")
        )
    );
    // Container logs are bucketed by Docker's clock (now), not the text's 2024 dates.
    let bucket = from_container.errors_per_hour[0]["hour"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        bucket.starts_with(&chrono::Utc::now().format("%Y-").to_string()),
        "{bucket}"
    );

    // The same text as files, plain and gzip: the text's own times.
    let plain = project.dir.path().join("app.log");
    std::fs::write(&plain, format!("{BACKEND_STDOUT}{BACKEND_STDERR}")).unwrap();
    let gz = project.dir.path().join("app.log.1.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(BACKEND_STDOUT.as_bytes()).unwrap();
    encoder.finish().unwrap();
    let files = stats(
        &project,
        &[
            "--file",
            plain.to_str().unwrap(),
            "--file",
            gz.to_str().unwrap(),
        ],
    );
    assert_eq!(
        (files.lines, files.events, files.continuation_lines),
        (20, 14, 6)
    );
    assert_eq!(files.levels["ERROR"], 4);
    assert_eq!(
        files.errors_per_hour,
        vec![serde_json::json!({"hour": "2024-01-15T10:00:00Z", "count": 4})]
    );
    let pool = stats(
        &project,
        &["--file", plain.to_str().unwrap(), "--topic", "pool"],
    );
    assert_eq!(pool.topics.len(), 1);
    assert_eq!(pool.topics[0]["matches"], 1);
    let window = stats(
        &project,
        &[
            "--file",
            plain.to_str().unwrap(),
            "--since",
            "2024-01-15T10:30:00Z",
            "--until",
            "2024-01-15T11:30:30Z",
        ],
    );
    assert_eq!(
        (window.events, window.levels["ERROR"].as_u64()),
        (2, Some(0))
    );

    // Binary garbage is counted, not crashed on.
    let garbage = project.dir.path().join("garbage.bin");
    let mut bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    bytes.extend_from_slice(b"\n2024-01-15 10:00:00.000 ERROR 1 --- [x] y : after garbage\n");
    std::fs::write(&garbage, bytes).unwrap();
    let counted = stats(&project, &["--file", garbage.to_str().unwrap()]);
    assert_eq!(counted.levels["ERROR"], 1);
    assert!(counted.unparsed_lines > 0);

    let table = stdout_of(
        &project,
        &["logs", "stats", "--file", plain.to_str().unwrap()],
    );
    assert!(
        table.contains("c.g.web.MemberController: Member 42 not found"),
        "{table}"
    );
}

#[test]
fn logs_stats_reads_a_file_inside_the_container_as_it_reads_the_same_file_here() {
    let (project, backend, _) = project_with_emitters();
    // The same text here and in the container's /app/logs: plain, gzip, and an 8 MB one.
    let staging = project.dir.path().join("logs");
    std::fs::create_dir(&staging).unwrap();
    let text = format!("{BACKEND_STDOUT}{BACKEND_STDERR}");
    std::fs::write(staging.join("app.log"), &text).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(staging.join("app.log.1.gz")).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap();
    let big = text.repeat(8 * 1024 * 1024 / text.len() + 1);
    std::fs::write(staging.join("big.log"), &big).unwrap();
    docker_ok(&[
        "cp",
        &format!("{}/.", staging.display()),
        &format!("{backend}:/app/logs/"),
    ]);
    let here = |name: &str| staging.join(name).to_str().unwrap().to_string();
    let same = |a: &Stats, b: &Stats| {
        assert_eq!(
            (
                a.lines,
                a.events,
                a.continuation_lines,
                a.unparsed_lines,
                &a.levels,
                &a.errors_per_hour,
                &a.top_errors,
                &a.topics
            ),
            (
                b.lines,
                b.events,
                b.continuation_lines,
                b.unparsed_lines,
                &b.levels,
                &b.errors_per_hour,
                &b.top_errors,
                &b.topics
            )
        );
    };
    for name in ["app.log", "app.log.1.gz", "big.log"] {
        let inside = format!("backend:/app/logs/{name}");
        let from_container = stats(
            &project,
            &["--file", &inside, "--topic", "slow", "--topic", "pool"],
        );
        let from_here = stats(
            &project,
            &["--file", &here(name), "--topic", "slow", "--topic", "pool"],
        );
        assert_eq!(from_container.sources, vec![inside.clone()]);
        same(&from_container, &from_here);
        assert_eq!(from_container.topics.len(), 2, "{name}");
        assert_eq!(from_container.topics[0]["topic"], "slow");
        assert_eq!(from_container.topics[1]["topic"], "pool");
    }
    let big_stats = stats(&project, &["--file", "backend:/app/logs/big.log"]);
    assert_eq!(big_stats.lines, big.lines().count() as u64);
    // A stopped container's files are read too (no process needed in it).
    docker_ok(&["stop", "-t", "1", &backend]);
    let stopped = stats(&project, &["--file", "backend:/app/logs/app.log"]);
    assert_eq!(stopped.levels["ERROR"], 2);
    // Several --file of both kinds add up.
    let both = stats(
        &project,
        &[
            "--file",
            "backend:/app/logs/app.log",
            "--file",
            &here("app.log"),
        ],
    );
    assert_eq!(both.lines, 2 * stopped.lines);

    assert_error(
        &project,
        &["logs", "stats", "--file", "backend:/app/logs"],
        "/app/logs is a directory",
    );
    assert_error(
        &project,
        &["logs", "stats", "--file", "backend:/app/logs/missing.log"],
        "no such file",
    );
    assert_error(
        &project,
        &[
            "logs",
            "stats",
            "--file",
            "backend:/app/logs/../../etc/passwd",
        ],
        "without `.` or `..` parts",
    );
    assert_error(
        &project,
        &["logs", "stats", "--file", "nosuch:/app/logs/app.log"],
        "nosuch",
    );
}

fn assert_error(project: &Project, args: &[&str], expected: &str) {
    let output = run(project.gymops().args(args));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(expected),
        "{args:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let project = Project::new();
    project.write_config(&format!(
        "project: {}\nservices:\n  backend: {{container: null}}\n",
        project.name
    ));
    assert_error(
        &project,
        &["logs", "--grep", "(unclosed"],
        "--grep: invalid regular expression",
    );
    assert_error(&project, &["logs", "nginx"], "unknown service `nginx`");
    assert_error(
        &project,
        &["logs", "--since", "last tuesday"],
        "cannot read `last tuesday` as a time",
    );
    assert_error(
        &project,
        &["logs", "--since", "1h", "--until", "2h"],
        "--since is after --until",
    );
    assert_error(
        &project,
        &["logs", "stats", "--file", "/nonexistent/app.log"],
        "cannot open log file /nonexistent/app.log",
    );
    let truncated = project.dir.path().join("cut.log.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(BACKEND_STDOUT.repeat(200).as_bytes())
        .unwrap();
    let full = encoder.finish().unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    assert_error(
        &project,
        &["logs", "stats", "--file", truncated.to_str().unwrap()],
        "cannot read log file",
    );
    assert_error(
        &project,
        &["logs", "backend"],
        "no container found for backend",
    );
}

#[test]
fn follow_reattaches_after_a_restart_without_repeating_lines() {
    let (project, backend, _) = project_with_emitters();
    let mut child = project
        .gymops()
        .args(["logs", "--follow", "backend"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    let (sender, receiver) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let wait_for = |marker: &str, times: usize, seen: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(40);
        while seen.iter().filter(|l| l.contains(marker)).count() < times {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "never saw {marker} {times} times: {seen:#?}"
            );
            if let Ok(line) = receiver.recv_timeout(left.min(Duration::from_millis(500))) {
                seen.push(line);
            }
        }
    };
    wait_for("LAST-STDOUT-LINE", 1, &mut seen);
    wait_for("LAST-STDERR-LINE", 1, &mut seen);
    docker_ok(&["restart", "-t", "1", &backend]);
    // After the restart the emitter writes its lines again, with new Docker timestamps.
    wait_for("LAST-STDOUT-LINE", 2, &mut seen);
    wait_for("LAST-STDERR-LINE", 2, &mut seen);
    std::thread::sleep(Duration::from_millis(800));
    while let Ok(line) = receiver.try_recv() {
        seen.push(line);
    }
    let starts = seen.iter().filter(|l| l.contains("Started App")).count();
    assert_eq!(starts, 2, "each run's lines exactly once: {seen:#?}");
    assert_eq!(seen.len(), 22, "{seen:#?}");
}

#[derive(Debug, Deserialize)]
struct Clean {
    dry_run: bool,
    freed_bytes: u64,
    kept: usize,
    touched: Vec<serde_json::Value>,
}

#[test]
fn log_files_are_listed_compressed_and_deleted_inside_the_container() {
    let (project, backend, _) = project_with_emitters();
    // Files with known ages, copied in with their modification times.
    let staging = project.dir.path().join("logs");
    std::fs::create_dir(&staging).unwrap();
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    for (name, days_old, size) in [
        ("springboot-schema.log", 0u32, 5000usize),
        ("springboot-schema.log.2024-01-14.0", 3, 40_000),
        ("springboot-schema.log.2024-01-01.0", 10, 30_000),
        ("springboot-schema.log.2023-12-01.0.gz", 40, 2000),
        ("springboot-schema.log.2024-01-15.0.gz", 2, 2000),
        ("heapdump.hprof", 100, 100),
    ] {
        let path = staging.join(name);
        std::fs::write(
            &path,
            "2024-01-15 10:00:00.000  INFO 1 --- [main] a.b : compressible line\n"
                .repeat(size / 66 + 1),
        )
        .unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(now - day * days_old).unwrap();
    }
    docker_ok(&[
        "cp",
        &format!("{}/.", staging.display()),
        &format!("{backend}:/app/logs/"),
    ]);

    let listing: serde_json::Value =
        serde_json::from_str(&stdout_of(&project, &["logs", "files", "--output", "json"])).unwrap();
    assert_eq!(listing["container"], backend.as_str());
    let names: Vec<&str> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "{listing:#}");
    let live = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "springboot-schema.log")
        .unwrap();
    assert_eq!(live["kind"], "active");

    let dry: Clean = serde_json::from_str(&stdout_of(
        &project,
        &["logs", "clean", "--dry-run", "--output", "json"],
    ))
    .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.touched.len(), 3, "{dry:#?}");
    let after_dry = docker_ok(&["exec", &backend, "ls", "/app/logs"]);
    assert_eq!(after_dry.lines().count(), 6, "a dry run changes nothing");

    let done: Clean =
        serde_json::from_str(&stdout_of(&project, &["logs", "clean", "--output", "json"])).unwrap();
    let actions: Vec<(String, String)> = done
        .touched
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (
                "springboot-schema.log.2023-12-01.0.gz".to_string(),
                "delete".to_string()
            ),
            (
                "springboot-schema.log.2024-01-01.0".to_string(),
                "delete".to_string()
            ),
            (
                "springboot-schema.log.2024-01-14.0".to_string(),
                "compress".to_string()
            ),
        ]
    );
    assert!(
        done.touched.iter().all(|t| t["error"].is_null()),
        "{done:#?}"
    );
    assert_eq!(done.kept, 3);
    assert!(done.freed_bytes > 30_000 + 2000, "{}", done.freed_bytes);
    let mut remaining: Vec<String> = docker_ok(&["exec", &backend, "ls", "/app/logs"])
        .lines()
        .map(str::to_string)
        .collect();
    remaining.sort();
    assert_eq!(
        remaining,
        vec![
            "heapdump.hprof",
            "springboot-schema.log",
            "springboot-schema.log.2024-01-14.0.gz",
            "springboot-schema.log.2024-01-15.0.gz",
        ]
    );

    assert_error(
        &project,
        &["logs", "clean", "--dir", "/etc"],
        "outside the configured log directory /app/logs",
    );
    assert_error(
        &project,
        &["logs", "files", "--dir", "/app/logs/../../etc"],
        "outside the configured log directory",
    );
}

#[test]
fn disk_reports_docker_usage_and_host_file_systems_with_thresholds() {
    let project = Project::new();
    project.write_config(&format!("project: {}\n", project.name));
    let output = run(project.gymops().args(["disk", "--output", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    let kinds: Vec<&str> = report["docker"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["images", "containers", "local volumes", "build cache"]
    );
    let images = &report["docker"][0];
    assert!(
        images["total"].as_u64().unwrap() >= 1,
        "the rig's image at least: {images}"
    );
    let names: Vec<&str> = report["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["docker data root", "backups"]);
    let used = report["filesystems"][1]["used_percent"].as_f64().unwrap();
    assert!(used > 0.0 && used < 100.0);
    let expected = match report["status"].as_str().unwrap() {
        "ok" => 0,
        "warning" => 1,
        "critical" => 2,
        _ => 3,
    };
    assert_eq!(output.status.code(), Some(expected));

    // Thresholds below the current use make it critical.
    project.write_config(&format!(
        "project: {}\ndisk:\n  warning_percent: 1\n  critical_percent: 1\n",
        project.name
    ));
    let output = run(project.gymops().arg("disk"));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains("CRITICAL"));
}

#[test]
fn disk_volumes_lists_each_volume_with_its_size_and_the_service_that_mounts_it() {
    let project = Project::new();
    let data = project.volume("pgdata");
    let spare = project.volume("spare");
    // 3 MiB written into the service's volume.
    project.run(
        "postgres",
        &["-v", &format!("{data}:/data")],
        &[
            "/usr/bin/sh",
            "-c",
            "/usr/bin/head -c 3145728 /dev/zero > /data/blob && exec /usr/bin/sleep 600",
        ],
    );
    project.write_config(&format!(
        "project: {}\nservices:\n  postgres: {{container: null}}\n",
        project.name
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        let output = run(project.gymops().args(["disk", "--volumes", "-o", "json"]));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
        let written = report["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == data.as_str() && v["size_bytes"].as_u64() >= Some(3 << 20));
        if written || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let volume = |name: &str| {
        report["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name}: {report}"))
            .clone()
    };
    let pgdata = volume(&data);
    assert!(
        pgdata["size_bytes"].as_u64().unwrap() >= 3 << 20,
        "{pgdata}"
    );
    assert_eq!(
        pgdata["services"],
        serde_json::json!(["postgres"]),
        "{pgdata}"
    );
    assert_eq!(pgdata["links"], 1);
    let unused = volume(&spare);
    assert_eq!(
        (
            unused["links"].as_u64(),
            unused["services"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    let table = text(&run(project.gymops().args(["disk", "--volumes"])).stdout);
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"))
            .to_string()
    };
    assert!(table.contains("USED BY"), "{table}");
    let data_row = row(&data);
    assert!(
        data_row.contains("MiB") && data_row.trim_end().ends_with("postgres"),
        "{data_row}"
    );
    assert!(row(&spare).contains("nothing (prunable)"), "{table}");
    // Without --volumes, no volume section.
    let plain = run(project.gymops().args(["disk", "-o", "json"]));
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(plain.get("volumes").is_none());
}
