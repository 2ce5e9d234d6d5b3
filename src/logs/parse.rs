//! Recognising log lines: Spring Boot's console layout (Boot 2 and 3), logback's usual file
//! layout, PostgreSQL's default layout, and JSON lines. Works on bytes, allocates nothing on
//! the plain-text path, so it keeps up with `wc -l`. Pure.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
        Level::Trace,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// A level word as loggers write it (`WARN`, `warning`, PostgreSQL's `LOG:`...).
    /// The word is packed into a u64 and compared with constants: this runs once per line.
    pub fn from_word(word: &[u8]) -> Option<Level> {
        let word = word.strip_suffix(b":").unwrap_or(word);
        if word.is_empty() || word.len() > 8 {
            return None;
        }
        let mut key = 0u64;
        for (index, byte) in word.iter().enumerate() {
            key |= u64::from(byte.to_ascii_uppercase()) << (8 * index);
        }
        const fn pack(word: &[u8]) -> u64 {
            let mut key = 0u64;
            let mut index = 0;
            while index < word.len() {
                key |= (word[index] as u64) << (8 * index);
                index += 1;
            }
            key
        }
        const ERROR: u64 = pack(b"ERROR");
        const FATAL: u64 = pack(b"FATAL");
        const PANIC: u64 = pack(b"PANIC");
        const SEVERE: u64 = pack(b"SEVERE");
        const CRITICAL: u64 = pack(b"CRITICAL");
        const WARN: u64 = pack(b"WARN");
        const WARNING: u64 = pack(b"WARNING");
        const INFO: u64 = pack(b"INFO");
        const LOG: u64 = pack(b"LOG");
        const NOTICE: u64 = pack(b"NOTICE");
        const DEBUG: u64 = pack(b"DEBUG");
        const DEBUG1: u64 = pack(b"DEBUG1");
        const DEBUG2: u64 = pack(b"DEBUG2");
        const DEBUG3: u64 = pack(b"DEBUG3");
        const DEBUG4: u64 = pack(b"DEBUG4");
        const DEBUG5: u64 = pack(b"DEBUG5");
        const FINE: u64 = pack(b"FINE");
        const TRACE: u64 = pack(b"TRACE");
        const FINER: u64 = pack(b"FINER");
        const FINEST: u64 = pack(b"FINEST");
        match key {
            INFO | LOG | NOTICE => Some(Level::Info),
            ERROR | FATAL | PANIC | SEVERE | CRITICAL => Some(Level::Error),
            WARN | WARNING => Some(Level::Warn),
            DEBUG | DEBUG1 | DEBUG2 | DEBUG3 | DEBUG4 | DEBUG5 | FINE => Some(Level::Debug),
            TRACE | FINER | FINEST => Some(Level::Trace),
            _ => None,
        }
    }
}

/// What one line is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    /// The start of a log event.
    Event(Event<'a>),
    /// A line that belongs to the event before it (a stack trace, a wrapped message).
    Continuation,
    /// Neither an event nor a recognisable part of one (no time, not indented, not a stack
    /// trace line): counted, never attached to the event before it.
    Unparsed,
    Blank,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// Seconds since the Unix epoch (UTC; a time without a zone is taken as UTC).
    pub timestamp: Option<i64>,
    pub level: Option<Level>,
    body: Body<'a>,
}

/// What follows the level: split into logger and message only when asked, so that the
/// common INFO line costs no search.
#[derive(Debug, Clone, PartialEq)]
enum Body<'a> {
    Plain(&'a [u8]),
    Json { logger: String, message: String },
}

impl Event<'_> {
    /// (logger, message); the logger is empty when the layout has none.
    pub fn logger_and_message(&self) -> (&[u8], &[u8]) {
        match &self.body {
            Body::Plain(tail) => split_logger(tail),
            Body::Json { logger, message } => (logger.as_bytes(), message.as_bytes()),
        }
    }
}

/// What a line is, without its text: cheap to keep for many lines and send between threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Blank,
    Continuation,
    Unparsed,
    Event {
        timestamp: Option<i64>,
        level: Option<Level>,
    },
}

pub fn classify(line: &[u8]) -> Kind {
    match parse_line(line) {
        Line::Blank => Kind::Blank,
        Line::Continuation => Kind::Continuation,
        Line::Unparsed => Kind::Unparsed,
        Line::Event(event) => Kind::Event {
            timestamp: event.timestamp,
            level: event.level,
        },
    }
}

/// Classify one line (without its newline).
pub fn parse_line(line: &[u8]) -> Line<'_> {
    let line = trim_end(line);
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    if start == line.len() {
        return Line::Blank;
    }
    if start > 0 {
        // Indented: a stack frame (`\tat ...`) or a wrapped message.
        return Line::Continuation;
    }
    if line[0] == b'{' {
        if let Some(event) = parse_json(line) {
            return Line::Event(event);
        }
    }
    match parse_timestamp(line) {
        Some((timestamp, used)) => {
            Line::Event(parse_after_timestamp(&line[used..], Some(timestamp)))
        }
        None if continues_a_trace(line) => Line::Continuation,
        None => Line::Unparsed,
    }
}

/// An unindented line that is part of a stack trace: `Caused by: ...`, `Suppressed: ...`,
/// `... 23 more`, `Traceback (most recent call last):`, or an exception line
/// (`java.lang.IllegalStateException: boom`, `org.postgresql.util.PSQLException`).
fn continues_a_trace(line: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 4] = [b"Caused by:", b"Suppressed:", b"...", b"Traceback ("];
    if PREFIXES.iter().any(|p| line.starts_with(p)) {
        return true;
    }
    let name_end = line
        .iter()
        .position(|b| *b == b':' || b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let identifier = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.');
    name.contains(&b'.')
        && name.iter().all(identifier)
        && name.first().is_some_and(|b| b.is_ascii_alphabetic())
        && (name.ends_with(b"Exception")
            || name.ends_with(b"Error")
            || name.ends_with(b"Throwable")
            || memchr::memmem::find(name, b"Exception").is_some())
}

fn trim_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\r' | b'\n' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && (bytes[at] == b' ' || bytes[at] == b'\t') {
        at += 1;
    }
    at
}

fn word_end(bytes: &[u8], at: usize) -> usize {
    let mut end = at;
    while end < bytes.len() && bytes[end] != b' ' && bytes[end] != b'\t' {
        end += 1;
    }
    end
}

/// After the timestamp: `LEVEL pid --- [thread] logger : message` (Spring),
/// `[thread] LEVEL logger - message` (logback), `UTC [pid] LEVEL:  message` (PostgreSQL).
fn parse_after_timestamp(rest: &[u8], timestamp: Option<i64>) -> Event<'_> {
    let mut at = skip_spaces(rest, 0);
    // A zone name (PostgreSQL writes `UTC`, `CST`).
    let end = word_end(rest, at);
    if end > at
        && end - at <= 5
        && rest[at..end].iter().all(u8::is_ascii_uppercase)
        && Level::from_word(&rest[at..end]).is_none()
    {
        at = skip_spaces(rest, end);
    }
    // A thread or pid in brackets before the level.
    if rest.get(at) == Some(&b'[') {
        if let Some(close) = memchr::memchr(b']', &rest[at..]) {
            at = skip_spaces(rest, at + close + 1);
        }
    }
    let end = word_end(rest, at);
    let level = Level::from_word(&rest[at..end]);
    let after_level = if level.is_some() {
        skip_spaces(rest, end)
    } else {
        at
    };
    Event {
        timestamp,
        level,
        body: Body::Plain(&rest[after_level..]),
    }
}

/// " : " (Spring's separator before the message), searched with a prebuilt searcher.
static SPRING_SEPARATOR: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b" : "));

/// Spring: `12345 --- [main] c.e.Logger : message` — the message after the first " : ";
/// logback: `c.e.Logger - message`; otherwise all of it is the message.
fn split_logger(tail: &[u8]) -> (&[u8], &[u8]) {
    let spring_colon = SPRING_SEPARATOR
        .find(tail)
        .or_else(|| tail.ends_with(b" :").then(|| tail.len() - 2));
    if let Some(colon) = spring_colon {
        let head = trim_end(&tail[..colon]);
        let logger_start = head
            .iter()
            .rposition(|b| *b == b' ' || *b == b']')
            .map(|p| p + 1)
            .unwrap_or(0);
        return (
            &head[logger_start..],
            &tail[skip_spaces(tail, (colon + 3).min(tail.len()))..],
        );
    }
    let logger_end = word_end(tail, 0);
    if tail.get(logger_end..logger_end + 3) == Some(b" - ") {
        return (&tail[..logger_end], &tail[logger_end + 3..]);
    }
    (b"", tail)
}

#[derive(Deserialize)]
struct JsonLine {
    #[serde(
        rename = "@timestamp",
        alias = "timestamp",
        alias = "time",
        alias = "ts"
    )]
    timestamp: Option<String>,
    #[serde(alias = "log.level", alias = "severity", alias = "lvl")]
    level: Option<String>,
    #[serde(alias = "logger_name", alias = "log.logger", alias = "loggerName")]
    logger: Option<String>,
    #[serde(alias = "msg")]
    message: Option<String>,
}

fn parse_json(line: &[u8]) -> Option<Event<'static>> {
    let parsed: JsonLine = serde_json::from_slice(line).ok()?;
    let timestamp = parsed
        .timestamp
        .as_deref()
        .and_then(|t| parse_timestamp(t.as_bytes()))
        .map(|(t, _)| t);
    Some(Event {
        timestamp,
        level: parsed
            .level
            .as_deref()
            .and_then(|l| Level::from_word(l.as_bytes())),
        body: Body::Json {
            logger: parsed.logger.unwrap_or_default(),
            message: parsed.message.unwrap_or_default(),
        },
    })
}

fn digits(bytes: &[u8], at: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(at..at + count)?;
    let mut value = 0i64;
    for byte in slice {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.fff|,fff][Z|±HH:MM|±HHMM]` at the start of `bytes`:
/// (seconds since the epoch, bytes used).
pub fn parse_timestamp(bytes: &[u8]) -> Option<(i64, usize)> {
    // Consecutive lines share their date: remember the last one per thread.
    thread_local! {
        static LAST_DATE: std::cell::Cell<([u8; 10], i64)> = const { std::cell::Cell::new(([0; 10], 0)) };
    }
    let date: [u8; 10] = bytes.get(..10)?.try_into().ok()?;
    if !matches!(bytes.get(10), Some(b' ' | b'T')) {
        return None;
    }
    let (cached_date, cached_days) = LAST_DATE.get();
    let days = if cached_date == date {
        cached_days
    } else {
        let year = digits(bytes, 0, 4)?;
        if date[4] != b'-' || date[7] != b'-' {
            return None;
        }
        let (month, day) = (digits(bytes, 5, 2)?, digits(bytes, 8, 2)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let days = days_from_civil(year, month, day);
        LAST_DATE.set((date, days));
        days
    };
    if bytes.get(13) != Some(&b':') || bytes.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (
        digits(bytes, 11, 2)?,
        digits(bytes, 14, 2)?,
        digits(bytes, 17, 2)?,
    );
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    if matches!(bytes.get(at), Some(b'.' | b',')) {
        at += 1;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
    }
    let mut offset = 0i64;
    match bytes.get(at) {
        Some(b'Z') => at += 1,
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'+' { 1 } else { -1 };
            if let (Some(h), Some(m)) = (digits(bytes, at + 1, 2), digits(bytes, at + 4, 2)) {
                if bytes.get(at + 3) == Some(&b':') {
                    offset = sign * (h * 3600 + m * 60);
                    at += 6;
                }
            } else if let (Some(h), Some(m)) = (digits(bytes, at + 1, 2), digits(bytes, at + 3, 2))
            {
                offset = sign * (h * 3600 + m * 60);
                at += 5;
            }
        }
        _ => {}
    }
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        at,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event<'_> {
        match parse_line(line.as_bytes()) {
            Line::Event(event) => event,
            other => panic!("{line:?} is {other:?}"),
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn logger(event: &Event) -> String {
        text(event.logger_and_message().0)
    }

    fn message(event: &Event) -> String {
        text(event.logger_and_message().1)
    }

    #[test]
    fn timestamps_in_every_common_shape() {
        let utc = 1_705_314_645; // 2024-01-15T10:30:45Z
        assert_eq!(
            parse_timestamp(b"2024-01-15 10:30:45.123  INFO"),
            Some((utc, 23))
        );
        assert_eq!(parse_timestamp(b"2024-01-15T10:30:45,123"), Some((utc, 23)));
        assert_eq!(
            parse_timestamp(b"2024-01-15T18:30:45.123+08:00  INFO")
                .unwrap()
                .0,
            utc
        );
        assert_eq!(parse_timestamp(b"2024-01-15T05:30:45-0500").unwrap().0, utc);
        assert_eq!(
            parse_timestamp(b"2024-01-15T10:30:45.123456789Z").unwrap(),
            (utc, 30)
        );
        assert_eq!(parse_timestamp(b"1970-01-01 00:00:00"), Some((0, 19)));
        assert_eq!(parse_timestamp(b"2024-13-15 10:30:45"), None);
        assert_eq!(parse_timestamp(b"12345"), None);
    }

    #[test]
    fn spring_boot_2_and_3_console_layouts() {
        let boot2 = event("2024-01-15 10:30:45.123 ERROR 12345 --- [nio-8080-exec-1] c.e.gym.web.MemberController   : Member 42 not found");
        assert_eq!(boot2.level, Some(Level::Error));
        assert_eq!(logger(&boot2), "c.e.gym.web.MemberController");
        assert_eq!(message(&boot2), "Member 42 not found");
        let boot3 = event("2024-01-15T10:30:45.123+08:00  WARN 1 --- [gym] [           main] o.h.engine.jdbc.spi.SqlExceptionHelper   : SQL Error: 0, SQLState: 08001");
        assert_eq!(boot3.level, Some(Level::Warn));
        assert_eq!(logger(&boot3), "o.h.engine.jdbc.spi.SqlExceptionHelper");
        assert_eq!(message(&boot3), "SQL Error: 0, SQLState: 08001");
    }

    #[test]
    fn logback_file_layout_and_postgres_layout() {
        let logback = event("2024-01-15 10:30:45.123 [http-nio-8080-exec-3] INFO  com.gym.App - Started App in 3.2 seconds");
        assert_eq!(
            (logback.level, logger(&logback), message(&logback)),
            (
                Some(Level::Info),
                "com.gym.App".into(),
                "Started App in 3.2 seconds".into()
            )
        );
        let pg = event("2024-01-15 10:30:45.123 UTC [27] FATAL:  password authentication failed for user \"gym\"");
        assert_eq!(pg.level, Some(Level::Error));
        assert_eq!(
            message(&pg),
            "password authentication failed for user \"gym\""
        );
        assert_eq!(
            event("2024-01-15 10:30:45.123 UTC [1] LOG:  database system is ready").level,
            Some(Level::Info)
        );
    }

    #[test]
    fn json_lines() {
        let json = event(
            r#"{"@timestamp":"2024-01-15T10:30:45.123Z","log.level":"ERROR","log.logger":"com.gym.Pay","message":"timeout after 3000 ms"}"#,
        );
        assert_eq!(
            (json.timestamp, json.level),
            (Some(1_705_314_645), Some(Level::Error))
        );
        assert_eq!(
            (logger(&json), message(&json)),
            ("com.gym.Pay".into(), "timeout after 3000 ms".into())
        );
        let logstash = event(
            r#"{"timestamp":"2024-01-15T10:30:45Z","level":"WARN","logger_name":"x","message":"m"}"#,
        );
        assert_eq!(logstash.level, Some(Level::Warn));
    }

    #[test]
    fn stack_traces_and_other_lines_continue_the_event_before() {
        for line in [
            "\tat com.gym.Service.pay(Service.java:42)",
            "    at java.base/java.lang.Thread.run(Thread.java:833)",
            "Caused by: java.net.SocketTimeoutException: Read timed out",
            "java.lang.IllegalStateException: boom",
            "org.postgresql.util.PSQLException",
            "\t... 23 common frames omitted",
            "... 23 more",
            "Suppressed: java.io.IOException: closed",
        ] {
            assert_eq!(parse_line(line.as_bytes()), Line::Continuation, "{line}");
        }
        // Lines that are neither: never part of the event before them.
        for line in [
            "{not json",
            "Starting the worker",
            "cache: warmed",
            "com.gym.App started",
            "WARNING: no timestamp here",
        ] {
            assert_eq!(parse_line(line.as_bytes()), Line::Unparsed, "{line}");
        }
        assert_eq!(parse_line(b"   \r"), Line::Blank);
    }

    #[test]
    fn a_timestamped_line_without_a_level_is_an_event_without_level() {
        let plain = event("2024-01-15 10:30:45 something happened");
        assert_eq!(
            (plain.level, message(&plain)),
            (None, "something happened".into())
        );
    }

    #[test]
    fn binary_garbage_does_not_panic() {
        let garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let _ = parse_line(&garbage);
        let _ = parse_line(b"2024-01-15 10:30:45 \xff\xfe ERROR \x00 : \xc3");
        let _ = parse_line(b"2024-01-15 10:30:45 [unclosed ERROR");
    }
}
