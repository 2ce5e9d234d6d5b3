//! `logs stats`: counts per level, errors per hour, top errors by fingerprint, and the
//! guide's keyword views, over any stream of lines. Pure: lines in, [`LogStats`] out.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::ValueEnum;
use serde::Serialize;

use super::fingerprint::{fingerprint, truncate, MAX_TEXT};
use super::parse::{classify, parse_line, Kind, Level, Line};

/// At most this many distinct error fingerprints are tracked, so memory stays bounded
/// whatever the input; errors beyond are counted as `untracked_errors`.
pub const MAX_GROUPS: usize = 20_000;

/// The guide's keyword views (section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// slow, timeout, performance
    Slow,
    /// hikari, connection (the connection pool)
    Pool,
    /// memory, gc, heap
    Memory,
}

impl Topic {
    pub fn keywords(self) -> &'static [&'static str] {
        match self {
            Topic::Slow => &["slow", "timeout", "performance"],
            Topic::Pool => &["hikari", "connection"],
            Topic::Memory => &["memory", "gc", "heap"],
        }
    }
}

#[derive(Debug, Clone)]
pub struct StatsOptions {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub top: usize,
    /// Keyword views (`--topic`, repeatable), each counted on its own.
    pub topics: Vec<Topic>,
    /// Use the time the source recorded (Docker's, in UTC) before the time in the line, which
    /// may be local time without a zone.
    pub prefer_source_time: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LevelCounts {
    #[serde(rename = "ERROR")]
    pub error: u64,
    #[serde(rename = "WARN")]
    pub warn: u64,
    #[serde(rename = "INFO")]
    pub info: u64,
    #[serde(rename = "DEBUG")]
    pub debug: u64,
    #[serde(rename = "TRACE")]
    pub trace: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HourCount {
    /// Start of the hour, RFC 3339 UTC.
    pub hour: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MessageGroup {
    pub fingerprint: String,
    pub count: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub example: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TopicStats {
    pub topic: Topic,
    pub keywords: Vec<String>,
    /// Lines (event lines and stack-trace lines) that mention a keyword.
    pub matches: u64,
    pub per_hour: Vec<HourCount>,
    pub top: Vec<MessageGroup>,
}

/// The result, as `logs stats --output json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogStats {
    pub lines: u64,
    /// Log events (a multi-line stack trace is one event).
    pub events: u64,
    /// Lines that continue the event before them (stack frames, wrapped text).
    pub continuation_lines: u64,
    pub blank_lines: u64,
    /// Lines that are neither an event nor follow one.
    pub unparsed_lines: u64,
    /// Events whose level could not be read.
    pub events_without_level: u64,
    /// Events left out by --since / --until (or without a time when those are given).
    pub outside_window: u64,
    pub levels: LevelCounts,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub errors_per_hour: Vec<HourCount>,
    pub top_errors: Vec<MessageGroup>,
    /// Distinct error fingerprints seen (up to MAX_GROUPS).
    pub distinct_errors: u64,
    /// Errors not grouped because MAX_GROUPS fingerprints were already tracked.
    pub untracked_errors: u64,
    /// One per `--topic`, in the order given.
    pub topics: Vec<TopicStats>,
}

#[derive(Debug, Default)]
struct Group {
    count: u64,
    first: Option<i64>,
    last: Option<i64>,
    example: String,
}

#[derive(Debug, Default)]
struct Groups {
    map: HashMap<String, Group>,
    untracked: u64,
}

impl Groups {
    fn add(&mut self, text: &str, timestamp: Option<i64>) {
        let key = fingerprint(text);
        if !self.map.contains_key(&key) && self.map.len() >= MAX_GROUPS {
            self.untracked += 1;
            return;
        }
        let group = self.map.entry(key).or_default();
        if group.count == 0 {
            group.example = truncate(text, MAX_TEXT).to_string();
        }
        group.count += 1;
        if let Some(t) = timestamp {
            group.first = Some(group.first.map_or(t, |f| f.min(t)));
            group.last = Some(group.last.map_or(t, |l| l.max(t)));
        }
    }

    /// Add a later part's groups: counts add up, first/last widen, the earlier example stays.
    fn merge(&mut self, later: Groups) {
        self.untracked += later.untracked;
        for (key, group) in later.map {
            let room = self.map.len() < MAX_GROUPS;
            match self.map.get_mut(&key) {
                Some(mine) => {
                    mine.count += group.count;
                    mine.first = [mine.first, group.first].into_iter().flatten().min();
                    mine.last = [mine.last, group.last].into_iter().flatten().max();
                }
                None if room => {
                    self.map.insert(key, group);
                }
                None => self.untracked += group.count,
            }
        }
    }

    fn top(&self, n: usize) -> Vec<MessageGroup> {
        let mut groups: Vec<(&String, &Group)> = self.map.iter().collect();
        groups.sort_by(|a, b| {
            b.1.count
                .cmp(&a.1.count)
                .then_with(|| a.1.first.cmp(&b.1.first))
                .then_with(|| a.0.cmp(b.0))
        });
        groups
            .into_iter()
            .take(n)
            .map(|(key, group)| MessageGroup {
                fingerprint: key.clone(),
                count: group.count,
                first_seen: group.first.map(rfc3339),
                last_seen: group.last.map(rfc3339),
                example: group.example.clone(),
            })
            .collect()
    }
}

/// Where the current event stands.
#[derive(Debug)]
enum Current {
    /// No event yet: a continuation line now is unparsed.
    Nothing,
    /// Inside the window.
    Counted {
        timestamp: Option<i64>,
        pending_error: Option<String>,
    },
    /// Left out by the window: its continuation lines are left out too.
    Skipped,
    /// At the start of a block of a larger input: what the continuation lines here belong to
    /// is known only when the block is merged after the one before it.
    BlockStart,
}

/// What one keyword view counted.
#[derive(Default)]
struct TopicCount {
    hits: BTreeMap<i64, u64>,
    groups: Groups,
    matches: u64,
}

/// Feed lines with [`Collector::line`], then [`Collector::finish`].
pub struct Collector {
    options: StatsOptions,
    stats: LogStats,
    levels: [u64; 5],
    errors_per_hour: BTreeMap<i64, u64>,
    errors: Groups,
    /// Per topic of the options, in their order.
    topic_counts: Vec<TopicCount>,
    first: Option<i64>,
    last: Option<i64>,
    current: Current,
    lowered: Vec<u8>,
    /// Block mode: continuation lines before the block's first event, and the first of them.
    leading_lines: u64,
    leading_first: Option<String>,
    saw_event: bool,
}

impl Collector {
    pub fn new(options: StatsOptions) -> Self {
        let options_topics = options.topics.clone();
        Collector {
            options,
            stats: LogStats {
                lines: 0,
                events: 0,
                continuation_lines: 0,
                blank_lines: 0,
                unparsed_lines: 0,
                events_without_level: 0,
                outside_window: 0,
                levels: LevelCounts {
                    error: 0,
                    warn: 0,
                    info: 0,
                    debug: 0,
                    trace: 0,
                },
                first_event: None,
                last_event: None,
                errors_per_hour: Vec::new(),
                top_errors: Vec::new(),
                distinct_errors: 0,
                untracked_errors: 0,
                topics: Vec::new(),
            },
            levels: [0; 5],
            errors_per_hour: BTreeMap::new(),
            errors: Groups::default(),
            topic_counts: options_topics
                .iter()
                .map(|_| TopicCount::default())
                .collect(),
            first: None,
            last: None,
            current: Current::Nothing,
            lowered: Vec::new(),
            leading_lines: 0,
            leading_first: None,
            saw_event: false,
        }
    }

    /// A collector for one block of a larger input, to be [`merge`](Collector::merge)d in
    /// input order into the collector of the blocks before it. Not for --topic.
    pub fn for_block(options: StatsOptions) -> Self {
        let mut collector = Collector::new(options);
        collector.current = Current::BlockStart;
        collector
    }

    /// Add the next block's counts, settling the lines at its start against the event this
    /// collector ended in. The result is what one pass over both would have counted (but
    /// for which fingerprints are kept once more than MAX_GROUPS are seen).
    pub fn merge(&mut self, block: Collector) {
        if block.leading_lines > 0 {
            match &mut self.current {
                Current::Nothing | Current::BlockStart => {
                    self.stats.unparsed_lines += block.leading_lines
                }
                Current::Skipped => {}
                Current::Counted {
                    timestamp,
                    pending_error,
                } => {
                    self.stats.continuation_lines += block.leading_lines;
                    if let Some(prefix) = pending_error.take() {
                        let first = block.leading_first.as_deref().unwrap_or_default();
                        self.errors
                            .add(&format!("{prefix}{}", first.trim()), *timestamp);
                    }
                }
            }
        }
        if block.saw_event {
            self.flush_pending_error();
            self.current = block.current;
            self.saw_event = true;
        }
        let (mine, theirs) = (&mut self.stats, block.stats);
        mine.lines += theirs.lines;
        mine.events += theirs.events;
        mine.continuation_lines += theirs.continuation_lines;
        mine.blank_lines += theirs.blank_lines;
        mine.unparsed_lines += theirs.unparsed_lines;
        mine.events_without_level += theirs.events_without_level;
        mine.outside_window += theirs.outside_window;
        for (count, more) in self.levels.iter_mut().zip(block.levels) {
            *count += more;
        }
        for (hour, count) in block.errors_per_hour {
            *self.errors_per_hour.entry(hour).or_default() += count;
        }
        self.first = [self.first, block.first].into_iter().flatten().min();
        self.last = [self.last, block.last].into_iter().flatten().max();
        self.errors.merge(block.errors);
    }

    /// One line, without its newline. `fallback_time` is the time Docker recorded for it,
    /// used when the line carries none.
    pub fn line(&mut self, line: &[u8], fallback_time: Option<i64>) {
        self.classified(line, classify(line), fallback_time);
    }

    /// One line whose [`Kind`] is known already (classified on another thread).
    pub fn classified(&mut self, line: &[u8], kind: Kind, fallback_time: Option<i64>) {
        self.stats.lines += 1;
        match kind {
            Kind::Blank => self.stats.blank_lines += 1,
            Kind::Continuation => self.continuation(line),
            Kind::Unparsed => {
                // Not part of the event before it: that event ends here.
                self.flush_pending_error();
                self.stats.unparsed_lines += 1;
                self.current = Current::Nothing;
            }
            Kind::Event { timestamp, level } => self.event(line, timestamp, level, fallback_time),
        }
    }

    fn in_window(&self, timestamp: Option<i64>) -> bool {
        match (timestamp, self.options.since, self.options.until) {
            (_, None, None) => true,
            (None, _, _) => false,
            (Some(t), since, until) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u),
        }
    }

    fn event(
        &mut self,
        line: &[u8],
        own_time: Option<i64>,
        level: Option<Level>,
        fallback_time: Option<i64>,
    ) {
        self.flush_pending_error();
        self.saw_event = true;
        let timestamp = if self.options.prefer_source_time {
            fallback_time.or(own_time)
        } else {
            own_time.or(fallback_time)
        };
        if !self.in_window(timestamp) {
            self.stats.outside_window += 1;
            self.current = Current::Skipped;
            return;
        }
        self.stats.events += 1;
        if let Some(t) = timestamp {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
        let mut pending_error = None;
        match level {
            None => self.stats.events_without_level += 1,
            Some(level) => {
                self.levels[level.index()] += 1;
                if level == Level::Error {
                    if let Some(t) = timestamp {
                        *self
                            .errors_per_hour
                            .entry(t.div_euclid(3600) * 3600)
                            .or_default() += 1;
                    }
                    let (logger, message) = logger_and_message(line);
                    let prefix = if logger.is_empty() {
                        String::new()
                    } else {
                        format!("{logger}: ")
                    };
                    if message.trim().is_empty() {
                        // The exception line below says what went wrong.
                        pending_error = Some(prefix);
                    } else {
                        self.errors.add(&format!("{prefix}{message}"), timestamp);
                    }
                }
            }
        }
        self.current = Current::Counted {
            timestamp,
            pending_error,
        };
        if !self.options.topics.is_empty() {
            let text = logger_and_message(line).1;
            self.topic_line(line, &text, timestamp);
        }
    }

    fn continuation(&mut self, line: &[u8]) {
        match &mut self.current {
            Current::Nothing => self.stats.unparsed_lines += 1,
            Current::BlockStart => {
                self.leading_lines += 1;
                if self.leading_first.is_none() {
                    self.leading_first =
                        Some(truncate(&String::from_utf8_lossy(line), MAX_TEXT).to_string());
                }
            }
            Current::Skipped => {}
            Current::Counted {
                timestamp,
                pending_error,
            } => {
                self.stats.continuation_lines += 1;
                let timestamp = *timestamp;
                if let Some(prefix) = pending_error.take() {
                    let text = String::from_utf8_lossy(line);
                    self.errors
                        .add(&format!("{prefix}{}", text.trim()), timestamp);
                }
                if !self.options.topics.is_empty() {
                    let text = String::from_utf8_lossy(line).trim().to_string();
                    self.topic_line(line, &text, timestamp);
                }
            }
        }
    }

    fn flush_pending_error(&mut self) {
        if let Current::Counted {
            timestamp,
            pending_error: Some(prefix),
        } = &mut self.current
        {
            let text = format!("{prefix}(no message)");
            let timestamp = *timestamp;
            self.errors.add(&text, timestamp);
            if let Current::Counted { pending_error, .. } = &mut self.current {
                *pending_error = None;
            }
        }
    }

    fn topic_line(&mut self, line: &[u8], text: &str, timestamp: Option<i64>) {
        self.lowered.clear();
        self.lowered.extend(line.iter().map(u8::to_ascii_lowercase));
        for (topic, count) in self.options.topics.iter().zip(&mut self.topic_counts) {
            if !topic
                .keywords()
                .iter()
                .any(|keyword| contains_keyword(&self.lowered, keyword.as_bytes()))
            {
                continue;
            }
            count.matches += 1;
            if let Some(t) = timestamp {
                *count.hits.entry(t.div_euclid(3600) * 3600).or_default() += 1;
            }
            count.groups.add(text, timestamp);
        }
    }

    pub fn finish(mut self) -> LogStats {
        self.flush_pending_error();
        let [error, warn, info, debug, trace] = self.levels;
        let hours = |map: &BTreeMap<i64, u64>| {
            map.iter()
                .map(|(hour, count)| HourCount {
                    hour: rfc3339(*hour),
                    count: *count,
                })
                .collect()
        };
        let mut stats = self.stats;
        stats.levels = LevelCounts {
            error,
            warn,
            info,
            debug,
            trace,
        };
        stats.first_event = self.first.map(rfc3339);
        stats.last_event = self.last.map(rfc3339);
        stats.errors_per_hour = hours(&self.errors_per_hour);
        stats.top_errors = self.errors.top(self.options.top);
        stats.distinct_errors = self.errors.map.len() as u64;
        stats.untracked_errors = self.errors.untracked;
        let top = self.options.top;
        stats.topics = self
            .options
            .topics
            .iter()
            .zip(&self.topic_counts)
            .map(|(topic, count)| TopicStats {
                topic: *topic,
                keywords: topic.keywords().iter().map(|k| k.to_string()).collect(),
                matches: count.matches,
                per_hour: hours(&count.hits),
                top: count.groups.top(top),
            })
            .collect();
        stats
    }
}

/// The logger and message of an event line, parsed again: only errors and topics need them.
fn logger_and_message(line: &[u8]) -> (String, String) {
    match parse_line(line) {
        Line::Event(event) => {
            let (logger, message) = event.logger_and_message();
            (
                String::from_utf8_lossy(logger).into_owned(),
                String::from_utf8_lossy(message).into_owned(),
            )
        }
        _ => (String::new(), String::from_utf8_lossy(line).into_owned()),
    }
}

/// A keyword in lowercased text; short keywords (`gc`) only as a whole word, so that
/// "logging" is not a GC message.
fn contains_keyword(haystack: &[u8], keyword: &[u8]) -> bool {
    if keyword.len() > 3 {
        return memchr::memmem::find(haystack, keyword).is_some();
    }
    memchr::memmem::find_iter(haystack, keyword).any(|at| {
        let before = at.checked_sub(1).map(|i| haystack[i]);
        let after = haystack.get(at + keyword.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric())
            && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

pub fn rfc3339(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| seconds.to_string())
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
