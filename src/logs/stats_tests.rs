//! Tests of `stats.rs`.
use super::*;

const SAMPLE: &str = "\
2024-01-15 10:00:01.001  INFO 1 --- [main] com.gym.App : Started App in 3.2 seconds
2024-01-15 10:05:00.000 ERROR 1 --- [exec-1] c.g.web.MemberController : Member 42 not found
2024-01-15 10:06:00.000 ERROR 1 --- [exec-2] c.g.web.MemberController : Member 7 not found
2024-01-15 10:07:00.000 ERROR 1 --- [exec-3] c.g.pay.PaymentService : Payment failed

java.lang.IllegalStateException: gateway timeout after 3000 ms
\tat com.gym.pay.PaymentService.pay(PaymentService.java:42)
\tat java.base/java.lang.Thread.run(Thread.java:833)
2024-01-15 11:00:00.000  WARN 1 --- [pool] com.zaxxer.hikari.pool.HikariPool : HikariPool-1 - Connection is not available
2024-01-15 11:30:00.000 DEBUG 1 --- [main] com.gym.App : logging configured
2024-01-15 11:31:00.000 ERROR 1 --- [exec-4] c.g.pay.PaymentService :
java.net.SocketTimeoutException: Read timed out
";

fn collect(text: &str, options: StatsOptions) -> LogStats {
    let mut collector = Collector::new(options);
    for line in text.lines() {
        collector.line(line.as_bytes(), None);
    }
    collector.finish()
}

fn options() -> StatsOptions {
    StatsOptions {
        since: None,
        until: None,
        top: 10,
        topics: Vec::new(),
        prefer_source_time: false,
    }
}

#[test]
fn an_unparsed_line_never_becomes_part_of_an_error_event() {
    let text =
        "2024-01-15 12:00:00.000 ERROR 1 --- [x] a.Pay :\nStarting the worker\n\tat orphan.Frame\n";
    let stats = collect(text, options());
    assert_eq!(stats.levels.error, 1);
    assert_eq!(stats.unparsed_lines, 2, "the line and the frame after it");
    assert_eq!(stats.continuation_lines, 0);
    assert!(
        stats
            .top_errors
            .iter()
            .all(|e| !e.example.contains("Starting the worker")),
        "{:#?}",
        stats.top_errors
    );
}

#[test]
fn counts_levels_events_and_stack_trace_lines() {
    let stats = collect(SAMPLE, options());
    assert_eq!(stats.lines, 12);
    assert_eq!(stats.events, 7);
    assert_eq!(stats.continuation_lines, 4);
    assert_eq!(stats.blank_lines, 1);
    assert_eq!(
        stats.levels,
        LevelCounts {
            error: 4,
            warn: 1,
            info: 1,
            debug: 1,
            trace: 0
        }
    );
    assert_eq!(stats.first_event.as_deref(), Some("2024-01-15T10:00:01Z"));
    assert_eq!(
        stats.errors_per_hour,
        vec![
            HourCount {
                hour: "2024-01-15T10:00:00Z".into(),
                count: 3
            },
            HourCount {
                hour: "2024-01-15T11:00:00Z".into(),
                count: 1
            },
        ]
    );
}

#[test]
fn errors_group_by_fingerprint_with_first_and_last_seen() {
    let stats = collect(SAMPLE, options());
    assert_eq!(stats.distinct_errors, 3);
    let top = &stats.top_errors[0];
    assert_eq!(
        top.fingerprint,
        "c.g.web.MemberController: Member <n> not found"
    );
    assert_eq!(
        (
            top.count,
            top.first_seen.as_deref(),
            top.last_seen.as_deref()
        ),
        (
            2,
            Some("2024-01-15T10:05:00Z"),
            Some("2024-01-15T10:06:00Z")
        )
    );
    assert_eq!(top.example, "c.g.web.MemberController: Member 42 not found");
    // An error without a message is named by the exception below it.
    assert!(
        stats.top_errors.iter().any(|g| g.example
            == "c.g.pay.PaymentService: java.net.SocketTimeoutException: Read timed out"),
        "{:#?}",
        stats.top_errors
    );
}

#[test]
fn the_window_leaves_out_events_and_their_stack_traces() {
    let since = super::super::parse::parse_timestamp(b"2024-01-15 10:06:30")
        .unwrap()
        .0;
    let until = super::super::parse::parse_timestamp(b"2024-01-15 11:00:00")
        .unwrap()
        .0;
    let stats = collect(
        SAMPLE,
        StatsOptions {
            since: Some(since),
            until: Some(until),
            ..options()
        },
    );
    assert_eq!(stats.events, 2);
    assert_eq!(stats.outside_window, 5);
    assert_eq!(stats.continuation_lines, 3);
    assert_eq!(stats.levels.error, 1);
}

#[test]
fn topics_count_keyword_lines_per_hour() {
    let stats = collect(
        SAMPLE,
        StatsOptions {
            topics: vec![Topic::Pool],
            ..options()
        },
    );
    let topic = &stats.topics[0];
    assert_eq!(topic.matches, 1);
    assert_eq!(
        topic.per_hour,
        vec![HourCount {
            hour: "2024-01-15T11:00:00Z".into(),
            count: 1
        }]
    );
    let slow = collect(
        SAMPLE,
        StatsOptions {
            topics: vec![Topic::Slow],
            ..options()
        },
    )
    .topics
    .remove(0);
    assert_eq!(slow.matches, 2, "{slow:#?}");
    let memory = collect(
        SAMPLE,
        StatsOptions {
            topics: vec![Topic::Memory],
            ..options()
        },
    )
    .topics
    .remove(0);
    assert_eq!(memory.matches, 0, "`logging` is not a GC message");
    // Several at once: each counted on its own, in the order given.
    let both = collect(
        SAMPLE,
        StatsOptions {
            topics: vec![Topic::Slow, Topic::Pool],
            ..options()
        },
    );
    let counted: Vec<(Topic, u64)> = both.topics.iter().map(|t| (t.topic, t.matches)).collect();
    assert_eq!(counted, [(Topic::Slow, 2), (Topic::Pool, 1)]);
}

#[test]
fn lines_before_any_event_are_unparsed() {
    let stats = collect(
        "garbage\n\x00\x01\x02\n2024-01-15 10:00:00 ERROR x : y\n",
        options(),
    );
    assert_eq!(
        (stats.unparsed_lines, stats.events, stats.levels.error),
        (2, 1, 1)
    );
}

#[test]
fn memory_stays_bounded_with_endless_distinct_errors() {
    let mut collector = Collector::new(options());
    for i in 0..(MAX_GROUPS + 50) {
        // Letters only (no digits to mask): every error is distinct.
        let kind: String = i
            .to_string()
            .bytes()
            .map(|d| (b'g' + d - b'0') as char)
            .collect();
        let line = format!("2024-01-15 10:00:00 ERROR x : error kind {kind}");
        collector.line(line.as_bytes(), None);
    }
    let stats = collector.finish();
    assert_eq!(stats.distinct_errors as usize, MAX_GROUPS);
    assert!(stats.untracked_errors > 0);
    assert_eq!(stats.levels.error as usize, MAX_GROUPS + 50);
}
