//! The log-line parser and the streaming stats collector on arbitrary lines.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gymops::logs::parse::parse_line(data);
    let _ = gymops::logs::parse::classify(data);
    let _ = gymops::logs::parse::parse_timestamp(data);
    let text = String::from_utf8_lossy(data);
    let mut collector = gymops::logs::stats::Collector::new(gymops::logs::stats::StatsOptions {
        since: None,
        until: None,
        top: 3,
        topic: None,
        prefer_source_time: true,
    });
    for line in text.lines() {
        collector.line(line.as_bytes(), None);
    }
    let _ = collector.finish();
});
