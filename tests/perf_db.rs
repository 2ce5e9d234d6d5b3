//! `gymops perf db <view>` against a real PostgreSQL (with pg_stat_statements preloaded) and
//! real load: tables written, an index never used, a lock held while another session waits,
//! roles about to expire.

mod support;

use std::time::{Duration, Instant};

use serde::Deserialize;
use support::{run, text, Stack};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct View {
    view: String,
    server_version: String,
    columns: Vec<String>,
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
    note: Option<String>,
}

fn view(stack: &Stack, args: &[&str]) -> View {
    let mut all = vec!["perf", "db"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let output = run(stack.gymops().args(&all));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", text(&output.stdout)))
}

#[test]
fn database_views_show_real_load() {
    let stack = Stack::start();
    stack.psql(
        "CREATE TABLE member (id bigint PRIMARY KEY, name text); \
         CREATE INDEX member_name_idx ON member (name); \
         INSERT INTO member SELECT g, 'member_' || g FROM generate_series(1, 5000) g; \
         UPDATE member SET name = name || 'x' WHERE id <= 100; \
         DELETE FROM member WHERE id > 4900; \
         CREATE TABLE checkin (id bigint); \
         INSERT INTO checkin SELECT g FROM generate_series(1, 10) g; \
         ANALYZE member; ANALYZE checkin; \
         SELECT count(*) FROM member WHERE id < 50;",
    );
    stack.psql("DO $$ BEGIN EXECUTE format('CREATE ROLE expiring_soon LOGIN VALID UNTIL %L', now() + interval '3 days'); \
                  EXECUTE format('CREATE ROLE expiring_later LOGIN VALID UNTIL %L', now() + interval '30 days'); END $$;");

    let size = view(&stack, &["size"]);
    assert_eq!(size.view, "size");
    assert!(size.server_version.starts_with(char::is_numeric));
    let gym = size
        .rows
        .iter()
        .find(|r| r["database"] == "fitness_gym")
        .unwrap();
    assert!(gym["bytes"].as_i64().unwrap() > 1_000_000);

    let writes = view(&stack, &["writes", "--top", "5"]);
    assert_eq!(
        writes.columns,
        vec!["schema", "table", "inserts", "updates", "deletes", "writes"]
    );
    let member = &writes.rows[0];
    assert_eq!(member["table"], "member");
    assert_eq!(
        (
            member["inserts"].as_i64(),
            member["updates"].as_i64(),
            member["deletes"].as_i64()
        ),
        (Some(5000), Some(100), Some(100))
    );
    assert_eq!(member["writes"], 5200);

    let tables = view(&stack, &["tables"]);
    let member = tables.rows.iter().find(|r| r["table"] == "member").unwrap();
    assert_eq!(member["rows_estimate"], 4900);
    assert!(member["index_bytes"].as_i64().unwrap() > 0 && member["last_analyze"].is_string());

    let indexes = view(&stack, &["indexes"]);
    let unused = &indexes.rows[0];
    assert_eq!(
        (unused["index"].as_str(), unused["unused"].as_bool()),
        (Some("member_name_idx"), Some(true))
    );
    let primary = indexes
        .rows
        .iter()
        .find(|r| r["index"] == "member_pkey")
        .unwrap();
    assert_eq!(
        (primary["unique"].as_bool(), primary["unused"].as_bool()),
        (Some(true), Some(false))
    );

    let roles = view(&stack, &["roles"]);
    let names: Vec<&str> = roles
        .rows
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["expiring_soon"]);
    assert!((2.5..=3.0).contains(&roles.rows[0]["days_left"].as_f64().unwrap()));
    let later = view(&stack, &["roles", "--within-days", "40"]);
    assert_eq!(later.rows.len(), 2);

    // gymops's own monitoring (the views just run) is marked and listed after the
    // application's statements.
    let _ = view(&stack, &["tables"]);
    let slow = view(&stack, &["slow-queries", "--top", "50"]);
    assert_eq!(
        slow.columns,
        vec!["calls", "total_ms", "mean_ms", "rows", "source", "query"]
    );
    let sources: Vec<&str> = slow
        .rows
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    let first_monitoring = sources.iter().position(|s| *s == "monitoring");
    assert!(first_monitoring.is_some(), "{:#?}", slow.rows);
    assert!(
        sources[first_monitoring.unwrap()..]
            .iter()
            .all(|s| *s == "monitoring"),
        "{sources:?}"
    );
    for row in &slow.rows {
        let query = row["query"].as_str().unwrap();
        if query.contains("pg_stat_user_tables") {
            assert_eq!(row["source"], "monitoring", "{query}");
        }
        if query.contains("generate_series") {
            assert_eq!(row["source"], "application", "{query}");
        }
    }
    assert!(
        slow.rows
            .iter()
            .any(|r| r["query"].as_str().unwrap().contains("generate_series")),
        "{:#?}",
        slow.rows
    );

    let connections = view(&stack, &["connections"]);
    assert!(
        connections
            .note
            .as_deref()
            .unwrap()
            .contains(" of 100 connections ("),
        "{:?}",
        connections.note
    );
    assert!(connections
        .rows
        .iter()
        .any(|r| r["application"] == "gymops perf db"));

    // A lock held while another session waits on it.
    stack.psql_detached(
        "BEGIN; LOCK TABLE checkin IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;",
    );
    std::thread::sleep(Duration::from_millis(500));
    stack.psql_detached("SELECT count(*) FROM checkin");
    let deadline = Instant::now() + Duration::from_secs(20);
    let locks = loop {
        let locks = view(&stack, &["locks"]);
        if !locks.rows.is_empty() {
            break locks;
        }
        assert!(Instant::now() < deadline, "no blocking chain seen");
        std::thread::sleep(Duration::from_millis(300));
    };
    let chain = &locks.rows[0];
    assert!(
        chain["blocked_query"]
            .as_str()
            .unwrap()
            .contains("SELECT count(*) FROM checkin"),
        "{chain:?}"
    );
    assert!(
        chain["blocking_query"]
            .as_str()
            .unwrap()
            .contains("pg_sleep"),
        "{chain:?}"
    );
    let activity = view(&stack, &["activity"]);
    let waiting = activity
        .rows
        .iter()
        .find(|r| r["query"].as_str().unwrap().contains("FROM checkin"))
        .unwrap();
    assert_eq!(waiting["waiting_on"], "Lock:relation");
    assert_eq!(waiting["blocked_by"], chain["blocking_pid"].to_string());
    assert!(activity
        .rows
        .iter()
        .any(|r| r["query"].as_str().unwrap().contains("pg_sleep")
            && r["duration_seconds"].as_f64().unwrap() >= 0.0));

    let table = run(stack.gymops().args(["perf", "db", "locks"]));
    assert!(
        text(&table.stdout).starts_with("BLOCKED PID"),
        "{}",
        text(&table.stdout)
    );
}

#[test]
fn slow_queries_without_the_extension_says_how_to_enable_it_and_bad_flags_are_refused() {
    let stack = Stack::start();
    let connection = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        stack.postgres_port
    );
    let output =
        run(stack
            .gymops()
            .args(["perf", "db", "slow-queries", "--db-connection", &connection]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error: the pg_stat_statements extension is not installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: enable it: add shared_preload_libraries = 'pg_stat_statements'")
            && stderr.contains("CREATE EXTENSION pg_stat_statements"),
        "{stderr}"
    );

    for (args, expected) in [
        (
            vec!["perf", "db", "size", "--top", "3"],
            "--top does not apply",
        ),
        (
            vec!["perf", "db", "tables", "--within-days", "3"],
            "--within-days applies to the roles view only",
        ),
    ] {
        let output = run(stack.gymops().args(&args));
        assert_eq!(output.status.code(), Some(3));
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn maintenance_runs_quotes_tables_and_asks_before_locking() {
    let stack = Stack::start();
    stack.psql(
        "CREATE TABLE member (id bigint PRIMARY KEY, name text); \
         INSERT INTO member SELECT g, 'member_' || g FROM generate_series(1, 20000) g; \
         DELETE FROM member WHERE id % 2 = 0;",
    );
    let maintain = |args: &[&str]| {
        let mut all = vec!["db", "maintain"];
        all.extend_from_slice(args);
        run(stack.gymops().args(&all))
    };

    let output = maintain(&[
        "vacuum",
        "--analyze",
        "--table",
        "member",
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["operation"], "vacuum-analyze");
    assert_eq!(
        outcome["statement"],
        "VACUUM (ANALYZE) \"public\".\"member\""
    );
    assert!(outcome["elapsed_ms"].as_u64().is_some());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tables = view(&stack, &["tables"]);
        let member = tables.rows.iter().find(|r| r["table"] == "member").unwrap();
        if member["last_vacuum"].is_string() && member["dead_rows"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "vacuum left no trace: {member:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Locking operations: refused without --yes when nobody can be asked.
    let output = maintain(&["vacuum", "--full"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr.contains("vacuum-full locks every table of fitness_gym exclusively")
            && stderr.contains("--yes"),
        "{stderr}"
    );
    let output = maintain(&["reindex", "--table", "member"]);
    assert_eq!(output.status.code(), Some(3));

    let output = maintain(&[
        "vacuum",
        "--full",
        "--analyze",
        "--yes",
        "--table",
        "public.member",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let output = maintain(&["reindex", "--yes", "-o", "json"]);
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["statement"], "REINDEX DATABASE \"fitness_gym\"");
    let output = maintain(&["analyze"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("ANALYZE"));

    // A table name is looked up with bound values, never pasted into SQL.
    let output = maintain(&["analyze", "--table", "member; DROP TABLE member"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("no table `member; DROP TABLE member`"));
    assert_eq!(stack.psql("SELECT count(*) FROM member"), "10000");

    let output = maintain(&["vacuum", "--yes"]);
    assert_eq!(output.status.code(), Some(3), "--yes goes with --full");
}

#[test]
fn pgbench_in_a_scratch_database_agrees_with_its_own_summary_and_leaves_nothing_behind() {
    let stack = Stack::start();
    let databases = |stack: &Stack| {
        stack.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    };
    let before = databases(&stack);
    let output = run(stack.gymops().args([
        "perf", "db", "bench", "-s", "1", "-c", "4", "-j", "2", "-T", "3", "-o", "json",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["scratch"], true);
    assert!(report["database"]
        .as_str()
        .unwrap()
        .starts_with("gymops_bench_"));
    let pgbench = &report["pgbench"];
    let latency = &report["latency"];
    // The log holds every transaction pgbench counted, and the figures agree with its own.
    let counted = pgbench["transactions"].as_u64().unwrap();
    assert!(counted > 50, "{report:#}");
    assert_eq!(
        latency["transactions"].as_u64().unwrap(),
        counted,
        "{report:#}"
    );
    let close = |ours: f64, theirs: f64, within: f64| (ours - theirs).abs() <= theirs * within;
    let (avg, their_avg) = (
        latency["average_ms"].as_f64().unwrap(),
        pgbench["latency_average_ms"].as_f64().unwrap(),
    );
    assert!(
        close(avg, their_avg, 0.02),
        "average {avg} vs pgbench's {their_avg}"
    );
    let (tps, their_tps) = (
        latency["tps"].as_f64().unwrap(),
        pgbench["tps"].as_f64().unwrap(),
    );
    assert!(
        close(tps, their_tps, 0.10),
        "tps {tps} vs pgbench's {their_tps}"
    );
    let p = |k: &str| latency[k].as_f64().unwrap();
    assert!(
        p("p50_ms") <= p("p90_ms")
            && p("p90_ms") <= p("p95_ms")
            && p("p95_ms") <= p("p99_ms")
            && p("p99_ms") <= p("max_ms")
    );
    // Nothing left: the scratch database is gone, and the log files in the container.
    assert_eq!(databases(&stack), before);
    let logs = support::docker(&[
        "exec",
        &stack.postgres,
        "find",
        "/tmp",
        "-maxdepth",
        "1",
        "-name",
        "gymops-pgbench-*",
    ]);
    assert_eq!(
        text(&logs.stdout).trim(),
        "",
        "log files left in the container"
    );

    // An existing database: refused without --yes, nothing changed.
    let output = run(stack.gymops().args([
        "perf",
        "db",
        "bench",
        "--database",
        "fitness_gym",
        "-T",
        "1",
    ]));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("the database fitness_gym exists") && stderr.contains("--yes"),
        "{stderr}"
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'pgbench_%'"),
        "0"
    );
    // With --yes: pgbench's tables for the run only.
    let output = run(stack.gymops().args([
        "perf",
        "db",
        "bench",
        "--database",
        "fitness_gym",
        "--yes",
        "-T",
        "1",
        "-c",
        "2",
        "-j",
        "1",
        "-o",
        "json",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (report["scratch"].as_bool(), report["database"].as_str()),
        (Some(false), Some("fitness_gym"))
    );
    assert_eq!(
        stack.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'pgbench_%'"),
        "0"
    );
    // Bad numbers: exit 3 before anything runs.
    let output = run(stack
        .gymops()
        .args(["perf", "db", "bench", "-c", "2", "-j", "4"]));
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(databases(&stack), before);
}
