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
    pub fn from_word(word: &[u8]) -> Option<Level> {
        let word = word.strip_suffix(b":").unwrap_or(word);
        if word.is_empty() || word.len() > 8 {
            return None;
        }
        let mut upper = [0u8; 8];
        for (slot, byte) in upper.iter_mut().zip(word) {
            *slot = byte.to_ascii_uppercase();
        }
        match &upper[..word.len()] {
            b"ERROR" | b"FATAL" | b"PANIC" | b"SEVERE" | b"CRITICAL" => Some(Level::Error),
            b"WARN" | b"WARNING" => Some(Level::Warn),
            b"INFO" | b"LOG" | b"NOTICE" => Some(Level::Info),
            b"DEBUG" | b"DEBUG1" | b"DEBUG2" | b"DEBUG3" | b"DEBUG4" | b"DEBUG5" | b"FINE" => {
                Some(Level::Debug)
            }
            b"TRACE" | b"FINER" | b"FINEST" => Some(Level::Trace),
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
    Blank,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// Seconds since the Unix epoch (UTC; a time without a zone is taken as UTC).
    pub timestamp: Option<i64>,
    pub level: Option<Level>,
    pub logger: Text<'a>,
    pub message: Text<'a>,
}

/// Text of a line: borrowed from plain lines, owned when it came out of JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Text<'a> {
    Borrowed(&'a [u8]),
    Owned(String),
}

impl Text<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Borrowed(bytes) => bytes,
            Text::Owned(text) => text.as_bytes(),
        }
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
        None => Line::Continuation,
    }
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
    let tail = &rest[after_level..];
    // Spring: `12345 --- [main] c.e.Logger : message` — message after the first " : ".
    let spring_colon = memchr::memmem::find(tail, b" : ")
        .or_else(|| tail.ends_with(b" :").then(|| tail.len() - 2));
    if let Some(colon) = spring_colon {
        let head = trim_end(&tail[..colon]);
        let logger_start = head
            .iter()
            .rposition(|b| *b == b' ' || *b == b']')
            .map(|p| p + 1)
            .unwrap_or(0);
        return Event {
            timestamp,
            level,
            logger: Text::Borrowed(&head[logger_start..]),
            message: Text::Borrowed(&tail[skip_spaces(tail, (colon + 3).min(tail.len()))..]),
        };
    }
    // logback: `c.e.Logger - message`.
    let logger_end = word_end(tail, 0);
    if tail.get(logger_end..logger_end + 3) == Some(b" - ") {
        return Event {
            timestamp,
            level,
            logger: Text::Borrowed(&tail[..logger_end]),
            message: Text::Borrowed(&tail[logger_end + 3..]),
        };
    }
    Event {
        timestamp,
        level,
        logger: Text::Borrowed(b""),
        message: Text::Borrowed(tail),
    }
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
        logger: Text::Owned(parsed.logger.unwrap_or_default()),
        message: Text::Owned(parsed.message.unwrap_or_default()),
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
    let year = digits(bytes, 0, 4)?;
    if bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || !matches!(bytes.get(10), Some(b' ' | b'T'))
    {
        return None;
    }
    let (month, day) = (digits(bytes, 5, 2)?, digits(bytes, 8, 2)?);
    if bytes.get(13) != Some(&b':') || bytes.get(16) != Some(&b':') {
        return None;
    }
    let (hour, minute, second) = (
        digits(bytes, 11, 2)?,
        digits(bytes, 14, 2)?,
        digits(bytes, 17, 2)?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
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
    let days = days_from_civil(year, month, day);
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

    fn text(t: &Text) -> String {
        String::from_utf8_lossy(t.as_bytes()).into_owned()
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
        assert_eq!(text(&boot2.logger), "c.e.gym.web.MemberController");
        assert_eq!(text(&boot2.message), "Member 42 not found");
        let boot3 = event("2024-01-15T10:30:45.123+08:00  WARN 1 --- [gym] [           main] o.h.engine.jdbc.spi.SqlExceptionHelper   : SQL Error: 0, SQLState: 08001");
        assert_eq!(boot3.level, Some(Level::Warn));
        assert_eq!(
            text(&boot3.logger),
            "o.h.engine.jdbc.spi.SqlExceptionHelper"
        );
        assert_eq!(text(&boot3.message), "SQL Error: 0, SQLState: 08001");
    }

    #[test]
    fn logback_file_layout_and_postgres_layout() {
        let logback = event("2024-01-15 10:30:45.123 [http-nio-8080-exec-3] INFO  com.gym.App - Started App in 3.2 seconds");
        assert_eq!(
            (logback.level, text(&logback.logger), text(&logback.message)),
            (
                Some(Level::Info),
                "com.gym.App".into(),
                "Started App in 3.2 seconds".into()
            )
        );
        let pg = event("2024-01-15 10:30:45.123 UTC [27] FATAL:  password authentication failed for user \"gym\"");
        assert_eq!(pg.level, Some(Level::Error));
        assert_eq!(
            text(&pg.message),
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
            (text(&json.logger), text(&json.message)),
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
            "\t... 23 common frames omitted",
            "{not json",
        ] {
            assert_eq!(parse_line(line.as_bytes()), Line::Continuation, "{line}");
        }
        assert_eq!(parse_line(b"   \r"), Line::Blank);
    }

    #[test]
    fn a_timestamped_line_without_a_level_is_an_event_without_level() {
        let plain = event("2024-01-15 10:30:45 something happened");
        assert_eq!(
            (plain.level, text(&plain.message)),
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
